//! The sockgate server measured by `sockgate-bench` (`bench-server --port N`, 127.0.0.1).
//!
//! Handlers on `/`, identical to the Node socket.io and socketioxide comparison servers:
//! `echo` answers its ack with the arguments it received; `broadcast` re-emits `broadcast` with
//! the same data to every socket of `/`. For the `rooms` scenario only: a client whose
//! handshake auth carries `room` joins that room, and `room` re-emits `room` to `data.room`.
//! Default settings otherwise.

use serde_json::Value;
use sockgate::extract::Data;
use sockgate::{AckSender, Payload, SocketIo, SocketRef};

fn port() -> u16 {
    let mut port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3003);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            if let Some(p) = args.next().and_then(|p| p.parse().ok()) {
                port = p;
            }
        } else if let Some(p) = arg.strip_prefix("--port=").and_then(|p| p.parse().ok()) {
            port = p;
        }
    }
    port
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut builder = SocketIo::builder();
    // Experiment knob for measuring the coalescing trade-off; unset means sockgate's default.
    if let Some(ms) = std::env::var("SOCKGATE_WRITE_COALESCING_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.write_coalescing(std::time::Duration::from_millis(ms));
    }
    let io = builder.build();
    let main = io.ns("/", |socket: SocketRef| {
        if let Some(room) = socket.handshake().auth.get("room").and_then(Value::as_str) {
            socket.join(room.to_string());
        }
    });
    // Handlers declared once for the namespace (sockgate's way for handlers every socket
    // shares) instead of once per socket.
    main.on("echo", |payload: Payload, ack: AckSender| {
        let _ = ack.send(payload);
    });
    let handle = io.clone();
    main.on("broadcast", move |payload: Payload| {
        let _ = handle.emit("broadcast", payload);
    });
    let handle = io.clone();
    main.on("room", move |payload: Payload, Data(data): Data<Value>| {
        if let Some(room) = data.get("room").and_then(Value::as_str) {
            let _ = handle.to(room.to_string()).emit("room", payload);
        }
    });
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("sockgate listening on http://127.0.0.1:{port}");
    io.serve(listener).await
}
