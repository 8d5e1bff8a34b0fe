//! One options model (issue 9): every option is set from the builder without resetting
//! another, and huge heartbeats are clamped where they go on the wire.

mod support;

use std::time::Duration;

use sockgate::{SocketIo, SocketRef};
use support::{http, serve};

/// The body of a polling handshake answered by `io`.
async fn handshake(addr: std::net::SocketAddr) -> (u16, String) {
    let (status, body) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"").await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn allow_request_set_after_ping_interval_keeps_both() {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(1234))
        .allow_request(|request| async move {
            match request.uri.query() {
                Some(query) if query.contains("token=ok") => Ok(()),
                _ => Err("no token".to_owned()),
            }
        })
        .build();
    io.ns("/", |_: SocketRef| {});
    let addr = serve(&io).await;

    let (status, body) = handshake(addr).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no token"), "{body}");

    let (status, body) = http(
        addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling&token=ok",
        b"",
    )
    .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    // The interval set before the hook is still the one advertised.
    assert!(body.contains(r#""pingInterval":1234,"#), "{body}");
}

#[tokio::test]
async fn duration_max_heartbeats_are_advertised_within_the_javascript_timer_limit() {
    let io = SocketIo::builder()
        .ping_interval(Duration::MAX)
        .ping_timeout(Duration::MAX)
        .build();
    io.ns("/", |_: SocketRef| {});
    // The server pings at the interval it advertises.
    assert_eq!(
        io.config().engine.session.ping_interval,
        Duration::from_millis((1 << 30) - 1)
    );
    let addr = serve(&io).await;
    let (status, body) = handshake(addr).await;
    assert_eq!(status, 200, "{body}");
    let open: serde_json::Value =
        serde_json::from_str(body.trim_start_matches('0')).expect("an open packet");
    let interval = open["pingInterval"].as_u64().expect("pingInterval");
    let timeout = open["pingTimeout"].as_u64().expect("pingTimeout");
    // A client arms `pingInterval + pingTimeout`; `setTimeout` fires at once above 2^31 - 1.
    assert!(interval + timeout < (1 << 31), "{body}");
    assert_eq!(interval, (1 << 30) - 1);
}
