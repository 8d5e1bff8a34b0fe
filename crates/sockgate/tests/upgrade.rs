//! The polling → WebSocket upgrade under broadcast load, over real TCP: nothing lost,
//! nothing twice, nothing out of order across the switch.

mod support;

use std::time::Duration;

use sockgate::{SocketIo, SocketRef};
use support::{serve, Polling, Ws};

fn numbers(payload: &str, into: &mut Vec<u64>) {
    for packet in payload.split('\u{1e}') {
        if let Some(rest) = packet.strip_prefix("42[\"n\",") {
            into.push(rest.trim_end_matches(']').parse().unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_under_broadcast_load_loses_and_repeats_nothing() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| {});
    let addr = serve(&io).await;
    for round in 0..5 {
        let poller = Polling::connect(addr).await;
        let total = 400u64;
        let sender = {
            let io = io.clone();
            tokio::spawn(async move {
                for i in 0..total {
                    io.emit("n", &i).unwrap();
                    if i % 4 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        };
        let mut got = Vec::new();
        // A few polls under load, then the probe while polls go on.
        for _ in 0..(round + 1) {
            numbers(&poller.get().await, &mut got);
        }
        let mut ws = Ws::upgrade(addr, &format!("&sid={}", poller.sid)).await;
        ws.send_text("2probe").await;
        assert_eq!(
            ws.next_text(Duration::from_secs(5)).await.as_deref(),
            Some("3probe")
        );
        // Poll until the noop that ends polling.
        loop {
            let payload = poller.get().await;
            numbers(&payload, &mut got);
            if payload.split('\u{1e}').any(|p| p == "6") {
                break;
            }
        }
        ws.send_text("5").await;
        while (got.len() as u64) < total {
            match ws.next_text(Duration::from_secs(5)).await {
                Some(text) => numbers(&text, &mut got),
                None => break,
            }
        }
        sender.await.unwrap();
        let expected: Vec<u64> = (0..total).collect();
        assert_eq!(
            got, expected,
            "round {round}: every broadcast once, in order"
        );
    }
}
