//! The sockgate server measured by `sockgate-bench` (`bench-server --port N`, 127.0.0.1).
//!
//! Handlers on `/`, identical to the Node socket.io and socketioxide comparison servers:
//! `echo` answers its ack with the arguments it received; `broadcast` re-emits `broadcast` with
//! the same data to every socket of `/`. For the `rooms` scenario only: a client whose
//! handshake auth carries `room` joins that room, and `room` re-emits `room` to `data.room`.
//! Default settings otherwise. With `--msgpack` the server uses the msgpack parser
//! ([`Parser::Msgpack`], npm `socket.io-msgpack-parser`'s wire format) instead of JSON.
//!
//! With `--redis URL` (the cluster scenarios) the server is one node of a cluster on
//! [`sockgate_redis::ClassicAdapter`] (key `socket.io`, the defaults of Node's
//! `@socket.io/redis-adapter`) over [`sockgate_redis::FredDriver`]: a broadcast issued on one
//! node reaches the clients of every node. It listens only once the adapter has subscribed.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sockgate::extract::Data;
use sockgate::{AckSender, Parser, Payload, SocketIo, SocketRef};
use sockgate_redis::{ClassicAdapter, ClassicConfig, Driver, FredConfig, FredDriver};

/// The value of `--NAME V` or `--NAME=V`.
fn arg(name: &str) -> Option<String> {
    let flag = format!("--{name}");
    let mut args = std::env::args().skip(1);
    let mut found = None;
    while let Some(arg) = args.next() {
        if arg == flag {
            found = args.next();
        } else if let Some(v) = arg.strip_prefix(&format!("{flag}=")) {
            found = Some(v.to_string());
        }
    }
    found
}

fn port() -> u16 {
    arg("port")
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(3003)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = SocketIo::builder();
    // Experiment knob for measuring the coalescing trade-off; unset means sockgate's default.
    if let Some(ms) = std::env::var("SOCKGATE_WRITE_COALESCING_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.write_coalescing(std::time::Duration::from_millis(ms));
    }
    let msgpack = std::env::args().any(|a| a == "--msgpack");
    if msgpack {
        builder = builder.parser(Parser::Msgpack);
    }
    let metrics = std::env::args().any(|a| a == "--metrics");
    if metrics {
        builder = builder.observer(sockgate_metrics::Metrics::new());
    }
    // The adapters made (one per namespace), to wait for their subscriptions before listening.
    let adapters: Arc<Mutex<Vec<Arc<ClassicAdapter>>>> = Arc::default();
    let redis = arg("redis");
    if let Some(url) = &redis {
        let driver: Arc<dyn Driver> = Arc::new(FredDriver::connect(FredConfig::new(url)).await?);
        let made = adapters.clone();
        builder = builder.adapter(move |namespace| {
            let adapter = ClassicAdapter::new(driver.clone(), namespace, ClassicConfig::default());
            if let Ok(mut made) = made.lock() {
                made.push(adapter.clone());
            }
            adapter
        });
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
    let made: Vec<_> = adapters.lock().map(|m| m.clone()).unwrap_or_default();
    for adapter in made {
        tokio::time::timeout(std::time::Duration::from_secs(10), adapter.subscribed())
            .await
            .map_err(|_| "the Redis adapter did not subscribe within 10 s")?;
    }
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let observed = match (metrics, msgpack) {
        (true, true) => " (metrics on, msgpack)",
        (true, false) => " (metrics on)",
        (false, true) => " (msgpack)",
        (false, false) => "",
    };
    match &redis {
        Some(url) => {
            println!("sockgate listening on http://127.0.0.1:{port} (redis {url}){observed}")
        }
        None => println!("sockgate listening on http://127.0.0.1:{port}{observed}"),
    }
    io.serve(listener).await?;
    Ok(())
}
