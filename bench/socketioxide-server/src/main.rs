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
//!
//! `--msgpack`: socketioxide's msgpack parser (`ParserConfig::msgpack`, the `msgpack` feature).
//! `--binary` (the `binary-50` scenario): `echo` takes its argument as [`bytes::Bytes`], the
//! type socketioxide documents for binary data, so the 4 KiB attachment goes back as a binary ack
//! (`serde_json::Value` cannot hold binary: it would fail to deserialize the placeholder).

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};
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
    ($io:expr, $a:ty, $binary:expr) => {
        $io.ns(
            "/",
            async move |s: SocketRef<$a>, TryData(auth): TryData<Value>| {
                if let Ok(Value::Object(auth)) = auth {
                    if let Some(Value::String(room)) = auth.get("room") {
                        s.join(room.clone());
                    }
                }
                if $binary {
                    s.on(
                        "echo",
                        async |Data(data): Data<bytes::Bytes>, ack: AckSender<$a>| {
                            ack.send(&data).ok();
                        },
                    );
                } else {
                    s.on(
                        "echo",
                        async |Data(data): Data<Value>, ack: AckSender<$a>| {
                            ack.send(&data).ok();
                        },
                    );
                }
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

/// The msgpack parser when `msgpack`, else the default (common, JSON) one.
fn with_parser<A: Adapter>(builder: SocketIoBuilder<A>, msgpack: bool) -> SocketIoBuilder<A> {
    if msgpack {
        builder.with_parser(ParserConfig::msgpack())
    } else {
        builder.with_parser(ParserConfig::common())
    }
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
    let flag = |name: &str| std::env::args().any(|a| a == name);
    let binary = flag("--binary");
    let msgpack = flag("--msgpack");
    match arg("redis") {
        None => {
            let (layer, io) = with_parser(SocketIo::builder(), msgpack).build_layer();
            add_ns!(io, socketioxide::adapter::LocalAdapter, binary);
            serve(layer, "").await?;
        }
        Some(url) => {
            // socketioxide-redis's drivers need RESP3.
            let sep = if url.contains('?') { '&' } else { '?' };
            let client = redis::Client::open(format!("{url}{sep}protocol=resp3"))?;
            let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
            let builder = SocketIo::builder().with_adapter::<RedisAdapter<_>>(adapter);
            let (layer, io) = with_parser(builder, msgpack).build_layer();
            add_ns!(io, RedisAdapter<socketioxide::adapter::Emitter>, binary).await?;
            serve(layer, &format!(" (redis {url})")).await?;
        }
    }
    Ok(())
}
