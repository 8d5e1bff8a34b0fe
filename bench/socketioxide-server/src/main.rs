//! socketioxide comparison server for sockgate-bench.
//!
//! Handlers on `/`: `echo` answers its ack with the arguments it received; `broadcast` re-emits
//! `broadcast` with the same data to every socket of `/`. For the `rooms` scenario only: a client
//! whose handshake auth carries `room` joins that room, and `room` re-emits `room` to `data.room`.
//! Default settings; binds 127.0.0.1 on `--port N` (or `PORT`, default 3002).
//!
//! With `--redis URL` (the cluster scenarios) the server is one node of a cluster on the published
//! `socketioxide-redis` adapter (its defaults, RESP3, the `redis` crate driver): a broadcast issued
//! on one node reaches the clients of every node. socketioxide-redis speaks its own protocol, so
//! its nodes only cluster with each other. It listens once the adapter has subscribed.

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::SocketIo;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};

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
        .unwrap_or(3002)
}

/// Adds namespace `/` with the handlers, for the adapter type `$a` (local or Redis). A macro:
/// `SocketIo::ns` needs socketioxide-core's `DefinedAdapter`, which socketioxide does not
/// re-export, so a generic function cannot name the bound.
macro_rules! add_ns {
    ($io:expr, $a:ty) => {
        $io.ns(
            "/",
            async |s: SocketRef<$a>, TryData(auth): TryData<Value>| {
                if let Ok(Value::Object(auth)) = auth {
                    if let Some(Value::String(room)) = auth.get("room") {
                        s.join(room.clone());
                    }
                }
                s.on(
                    "echo",
                    async |Data(data): Data<Value>, ack: AckSender<$a>| {
                        ack.send(&data).ok();
                    },
                );
                s.on(
                    "broadcast",
                    async |io: SocketIo<$a>, Data(data): Data<Value>| {
                        io.emit("broadcast", &data).await.ok();
                    },
                );
                s.on("room", async |io: SocketIo<$a>, Data(data): Data<Value>| {
                    if let Some(Value::String(room)) = data.get("room") {
                        io.to(room.clone()).emit("room", &data).await.ok();
                    }
                });
            },
        )
    };
}

async fn serve<A: Adapter>(
    layer: socketioxide::layer::SocketIoLayer<A>,
    note: &str,
) -> std::io::Result<()> {
    let app = axum::Router::new().layer(layer);
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("socketioxide listening on http://127.0.0.1:{port}{note}");
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match arg("redis") {
        None => {
            let (layer, io) = SocketIo::new_layer();
            add_ns!(io, socketioxide::adapter::LocalAdapter);
            serve(layer, "").await?;
        }
        Some(url) => {
            // socketioxide-redis's drivers need RESP3.
            let sep = if url.contains('?') { '&' } else { '?' };
            let client = redis::Client::open(format!("{url}{sep}protocol=resp3"))?;
            let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
            let (layer, io) = SocketIo::builder()
                .with_adapter::<RedisAdapter<_>>(adapter)
                .build_layer();
            add_ns!(io, RedisAdapter<socketioxide::adapter::Emitter>).await?;
            serve(layer, &format!(" (redis {url})")).await?;
        }
    }
    Ok(())
}
