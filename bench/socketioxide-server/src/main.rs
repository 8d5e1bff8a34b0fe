//! socketioxide comparison server for sockgate-bench.
//!
//! Handlers on `/`: `echo` answers its ack with the arguments it received; `broadcast` re-emits
//! `broadcast` with the same data to every socket of `/`. For the `rooms` scenario only: a client
//! whose handshake auth carries `room` joins that room, and `room` re-emits `room` to `data.room`.
//! Default settings; binds 127.0.0.1 on `--port N` (or `PORT`, default 3002).

use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::SocketIo;

fn port() -> u16 {
    let mut port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3002);
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
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |s: SocketRef, TryData(auth): TryData<Value>| {
        if let Ok(Value::Object(auth)) = auth {
            if let Some(Value::String(room)) = auth.get("room") {
                s.join(room.clone());
            }
        }
        s.on("echo", async |Data(data): Data<Value>, ack: AckSender| {
            ack.send(&data).ok();
        });
        s.on("broadcast", async |io: SocketIo, Data(data): Data<Value>| {
            io.emit("broadcast", &data).await.ok();
        });
        s.on("room", async |io: SocketIo, Data(data): Data<Value>| {
            if let Some(Value::String(room)) = data.get("room") {
                io.to(room.clone()).emit("room", &data).await.ok();
            }
        });
    });
    let app = axum::Router::new().layer(layer);
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("socketioxide listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await
}
