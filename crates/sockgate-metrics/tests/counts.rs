//! Exact counts after a scripted scenario with the in-process client, and an output that
//! `promtool check metrics` accepts (when promtool is installed; `scripts/test.sh` installs
//! it and runs the same check against the chat example with the official clients).

use std::time::Duration;

use sockgate::extract::Data;
use sockgate::testing::TestClient;
use sockgate::{SocketIo, SocketRef};
use sockgate_metrics::Metrics;

/// The value of the sample `series` (name with its labels, as rendered), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
        .unwrap_or(0.0)
}

async fn eventually(metrics: &Metrics, series: &str, expected: f64) {
    for _ in 0..200 {
        if sample(&metrics.render(), series) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{series} never reached {expected}:\n{}", metrics.render());
}

#[tokio::test]
async fn counters_match_a_scripted_scenario_exactly() {
    let metrics = Metrics::new();
    let io = SocketIo::builder().observer(metrics.clone()).build();
    io.ns("/chat", |socket: SocketRef| {
        socket.on("say", |socket: SocketRef, Data(text): Data<String>| {
            socket.namespace().emit("said", &text).unwrap();
        });
        socket.on("number", |Data(_n): Data<u32>| {});
        socket.on("kick", |socket: SocketRef| socket.disconnect());
    });

    const CLIENTS: usize = 4;
    let mut clients = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..CLIENTS {
        let client = TestClient::connect(&io).await.unwrap();
        sockets.push(client.socket("/chat", None).await.unwrap());
        clients.push(client);
    }
    // 3 events, each broadcast to the 4 sockets; 1 rejected by its extractor.
    for i in 0..3 {
        sockets[i].emit("say", "hi").unwrap();
        for socket in &sockets {
            socket
                .wait_for("said", Duration::from_secs(2))
                .await
                .unwrap();
        }
    }
    sockets[0].emit("number", "not a number").unwrap();
    // Disconnects: one by the client, one by the server, one by closing the connection.
    sockets[1].disconnect().unwrap();
    sockets[2].emit("kick", ()).unwrap();
    clients[3].close();

    let ns = r#"namespace="/chat""#;
    eventually(&metrics, &format!("sockgate_sockets{{{ns}}}"), 1.0).await;
    eventually(
        &metrics,
        r#"sockgate_engine_sessions_closed_total{reason="transport close"}"#,
        1.0,
    )
    .await;
    let text = metrics.render();
    let expect = |series: String, value: f64| {
        assert_eq!(sample(&text, &series), value, "{series}\n{text}");
    };
    expect(
        r#"sockgate_engine_sessions_opened_total{transport="websocket"}"#.into(),
        4.0,
    );
    expect(
        r#"sockgate_engine_sessions{transport="websocket"}"#.into(),
        3.0,
    );
    expect(format!("sockgate_connects_total{{{ns}}}"), 4.0);
    expect(
        format!(r#"sockgate_disconnects_total{{{ns},reason="client namespace disconnect"}}"#),
        1.0,
    );
    expect(
        format!(r#"sockgate_disconnects_total{{{ns},reason="server namespace disconnect"}}"#),
        1.0,
    );
    expect(
        format!(r#"sockgate_disconnects_total{{{ns},reason="transport close"}}"#),
        1.0,
    );
    // 3 say + 1 number + 1 kick.
    expect(
        format!(r#"sockgate_packets_received_total{{{ns},type="event"}}"#),
        5.0,
    );
    expect(
        format!(r#"sockgate_packets_received_total{{{ns},type="connect"}}"#),
        4.0,
    );
    expect(
        format!(r#"sockgate_packets_received_total{{{ns},type="disconnect"}}"#),
        1.0,
    );
    // 3 broadcasts × 4 recipients.
    expect(
        format!("sockgate_packets_sent_total{{{ns},type=\"event\"}}"),
        12.0,
    );
    // 4 connect answers, 1 `41` to the kicked socket.
    expect(
        format!("sockgate_packets_sent_total{{{ns},type=\"connect\"}}"),
        4.0,
    );
    expect(
        format!("sockgate_packets_sent_total{{{ns},type=\"disconnect\"}}"),
        1.0,
    );
    expect(format!("sockgate_broadcasts_total{{{ns}}}"), 3.0);
    expect(format!("sockgate_broadcast_deliveries_total{{{ns}}}"), 12.0);
    expect(
        format!(r#"sockgate_handler_failures_total{{{ns},kind="rejected"}}"#),
        1.0,
    );
    // `42/chat,["say","hi"]` is 20 bytes ×3, `42/chat,["number","not a number"]` 33, `42/chat,["kick"]` 16;
    // each CONNECT `40/chat,` 8 and the DISCONNECT `41/chat,` 8.
    expect(
        format!("sockgate_received_bytes_total{{{ns}}}"),
        (3 * 20 + 33 + 16 + 4 * 8 + 8) as f64,
    );
    // The connection handler and 4 event handlers ran (the rejected one was not called).
    expect(
        format!("sockgate_handler_duration_seconds_count{{{ns}}}"),
        (4 + 4) as f64,
    );
    promtool_accepts(&text);
}

#[tokio::test]
async fn a_mapped_namespace_label_groups_dynamic_children() {
    let metrics = Metrics::builder()
        .namespace_label(|name| {
            if name.starts_with("/tenant/") {
                "/tenant/{id}".to_owned()
            } else {
                name.to_owned()
            }
        })
        .build();
    let io = SocketIo::builder().observer(metrics.clone()).build();
    io.dynamic_ns("/tenant/{id}", || {});
    let client = TestClient::connect(&io).await.unwrap();
    for id in ["a", "b", "c"] {
        client.socket(&format!("/tenant/{id}"), None).await.unwrap();
    }
    let series = r#"sockgate_connects_total{namespace="/tenant/{id}"}"#;
    eventually(&metrics, series, 3.0).await;
    assert!(!metrics.render().contains(r#"namespace="/tenant/a""#));
}

/// Runs `promtool check metrics` on `text` when promtool is installed.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: skipped its check here (scripts/test.sh runs it)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool refused the output:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
