//! A sockgate node in a Redis cluster, for the mixed-cluster tests (`e2e/cluster`), which run
//! it next to Node socket.io nodes on `@socket.io/redis-adapter`.
//!
//! `cluster-node --port N --redis redis://127.0.0.1:P [--name B] [--adapter classic|sharded]`
//! serves namespace `/` on 127.0.0.1 with [`sockgate_redis::ClassicAdapter`] (key
//! `socket.io`, Node's default) or [`sockgate_redis::ShardedAdapter`] (Node's defaults). The
//! test's clients drive it with events, each answered by an ack; `e2e/cluster/node-server.mjs`
//! answers the same events the same way:
//!
//! - `join` rooms → the socket's rooms; `set-data` value;
//! - `emit-op` `{ops, event}` + args → emits through `io.broadcast()` and the ops
//!   (`["to", rooms]`, `["except", rooms]`, `["local"]`, `["volatile"]`);
//! - `fetch-sockets` `{ops}` → `[{id, rooms, data}]` sorted by id;
//! - `sockets-join` / `sockets-leave` `{ops, rooms}`; `disconnect-sockets` `{ops, close}`;
//! - `broadcast-ack` `{ops, event, timeout}` + args → `{error, responses}` (answers sorted);
//! - `server-count`; `all-rooms` (sorted);
//! - `server-side-emit` `{event, ack, timeout}` + args → `{error, responses}`;
//! - `server-side-log` → every server-side event received, `[event, ...args]`; an event
//!   received with an ack is answered `"<name> got <event>"`.

use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate::extract::Data;
use sockgate::{AckSender, BroadcastOperators, Payload, SocketIo, SocketRef};
use sockgate_core::{
    AckCallback, Adapter, BroadcastFlags, LocalNamespace, ServerSideAck, Sid, SocketDetails,
};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{
    ClassicAdapter, ClassicConfig, Driver, FredConfig, FredDriver, ShardedAdapter, ShardedConfig,
};

/// The adapter of `/`, for the operations the server API does not expose yet (server count,
/// all rooms, server-side emit).
static MAIN_ADAPTER: LazyLock<Mutex<Option<Arc<dyn Adapter>>>> = LazyLock::new(Default::default);
/// The namespace wrappers the adapters point to (kept alive here).
static WRAPPERS: LazyLock<Mutex<Vec<Arc<Wrapper>>>> = LazyLock::new(Default::default);
/// Server-side events received from the other nodes.
static SERVER_SIDE_LOG: LazyLock<Mutex<Vec<Value>>> = LazyLock::new(Default::default);

/// Stands between the adapter and the namespace to receive server-side events (the server
/// has no listener API for them yet); everything else goes to the namespace.
struct Wrapper {
    node: String,
    nsp: String,
    inner: Weak<dyn LocalNamespace>,
}

impl LocalNamespace for Wrapper {
    fn name(&self) -> &str {
        &self.nsp
    }
    fn deliver(&self, sids: &[Sid], packet: &Packet, flags: &BroadcastFlags) {
        if let Some(ns) = self.inner.upgrade() {
            ns.deliver(sids, packet, flags);
        }
    }
    fn details(&self, sid: Sid) -> Option<SocketDetails> {
        self.inner.upgrade()?.details(sid)
    }
    fn disconnect(&self, sids: &[Sid], close: bool) {
        if let Some(ns) = self.inner.upgrade() {
            ns.disconnect(sids, close);
        }
    }
    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        packet: &Packet,
        flags: &BroadcastFlags,
        timeout: Duration,
        on_ack: AckCallback,
    ) -> usize {
        match self.inner.upgrade() {
            Some(ns) => ns.deliver_with_ack(sids, packet, flags, timeout, on_ack),
            None => 0,
        }
    }
    fn on_server_side_emit(&self, data: Vec<Value>, ack: Option<ServerSideAck>) {
        let event = data
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        SERVER_SIDE_LOG.lock().push(Value::Array(data));
        if let Some(ack) = ack {
            ack(json!(format!("{} got {event}", self.node)));
        }
    }
}

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rooms_arg(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(values) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn sorted(mut rooms: Vec<String>) -> Vec<String> {
    rooms.sort();
    rooms
}

fn operators(io: &SocketIo, spec: &Value) -> BroadcastOperators {
    let mut ops = io.broadcast();
    for op in spec["ops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let arg = &op[1];
        ops = match op[0].as_str().unwrap_or_default() {
            "to" => ops.to(rooms_arg(arg)),
            "except" => ops.except(rooms_arg(arg)),
            "local" => ops.local(),
            "volatile" => ops.volatile(),
            _ => ops,
        };
    }
    ops
}

fn split_spec(mut payload: Payload) -> (Value, Payload) {
    let spec = if payload.args.is_empty() {
        Value::Null
    } else {
        payload.args.remove(0)
    };
    (spec, payload)
}

fn main_adapter() -> Option<Arc<dyn Adapter>> {
    MAIN_ADAPTER.lock().clone()
}

fn sort_values(values: &mut [Value]) {
    values.sort_by_key(|v| v.to_string());
}

fn on_connect(io: SocketIo, socket: SocketRef) {
    socket.on(
        "join",
        |socket: SocketRef, Data(rooms): Data<Value>, ack: AckSender| {
            socket.join(rooms_arg(&rooms));
            let rooms = socket.rooms().iter().map(|r| r.to_string()).collect();
            ack.send(&sorted(rooms))
        },
    );
    socket.on(
        "set-data",
        |socket: SocketRef, Data(data): Data<Value>, ack: AckSender| {
            let _ = socket.set_data(&data);
            ack.send("done")
        },
    );
    {
        let io = io.clone();
        socket.on("emit-op", move |payload: Payload, ack: AckSender| {
            let (spec, args) = split_spec(payload);
            let event = spec["event"].as_str().unwrap_or("op").to_owned();
            operators(&io, &spec).emit(&event, args)?;
            ack.send("done")
        });
    }
    {
        let io = io.clone();
        socket.on(
            "fetch-sockets",
            move |Data(spec): Data<Value>, ack: AckSender| {
                let io = io.clone();
                async move {
                    let sockets = operators(&io, &spec).fetch_sockets().await;
                    let mut list: Vec<Value> = sockets
                        .iter()
                        .map(|s| {
                            let rooms = s.rooms().iter().map(|r| r.to_string()).collect();
                            json!({ "id": s.id().as_str(), "rooms": sorted(rooms), "data": s.data() })
                        })
                        .collect();
                    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                    ack.send(&list)
                }
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "sockets-join",
            move |Data(spec): Data<Value>, ack: AckSender| {
                operators(&io, &spec).sockets_join(rooms_arg(&spec["rooms"]));
                ack.send("done")
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "sockets-leave",
            move |Data(spec): Data<Value>, ack: AckSender| {
                operators(&io, &spec).sockets_leave(rooms_arg(&spec["rooms"]));
                ack.send("done")
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "disconnect-sockets",
            move |Data(spec): Data<Value>, ack: AckSender| {
                let result = ack.send("done");
                operators(&io, &spec).disconnect_sockets(spec["close"].as_bool().unwrap_or(false));
                result
            },
        );
    }
    {
        let io = io.clone();
        socket.on("broadcast-ack", move |payload: Payload, ack: AckSender| {
            let io = io.clone();
            async move {
                let (spec, args) = split_spec(payload);
                let event = spec["event"].as_str().unwrap_or("ask").to_owned();
                let timeout = Duration::from_millis(spec["timeout"].as_u64().unwrap_or(2000));
                let responses = operators(&io, &spec)
                    .timeout(timeout)
                    .emit_with_ack(&event, args)
                    .await?;
                let complete = responses.is_complete();
                let mut answers: Vec<Value> = responses
                    .answers
                    .into_iter()
                    .map(|(_, p)| p.args.into_iter().next().unwrap_or(Value::Null))
                    .collect();
                sort_values(&mut answers);
                let error = (!complete).then_some("operation has timed out");
                ack.send(json!({ "error": error, "responses": answers }))
            }
        });
    }
    socket.on("server-count", |ack: AckSender| async move {
        let count = match main_adapter() {
            Some(adapter) => adapter.server_count().await,
            None => 1,
        };
        ack.send(json!(count))
    });
    socket.on("all-rooms", |ack: AckSender| async move {
        let rooms = match main_adapter() {
            Some(adapter) => match adapter.all_rooms().await {
                Ok(rooms) => json!(sorted(rooms.iter().map(|r| r.to_string()).collect())),
                Err(error) => json!({ "error": error.to_string() }),
            },
            None => json!([]),
        };
        ack.send(rooms)
    });
    socket.on(
        "server-side-emit",
        |payload: Payload, ack: AckSender| async move {
            let (spec, args) = split_spec(payload);
            let Some(adapter) = main_adapter() else {
                return ack.send(json!({ "error": "no adapter" }));
            };
            let mut data = vec![spec["event"].clone()];
            data.extend(args.args);
            if spec["ack"].as_bool().unwrap_or(false) {
                let timeout = Duration::from_millis(spec["timeout"].as_u64().unwrap_or(2000));
                match adapter.server_side_emit_with_ack(data, timeout).await {
                    Ok(mut responses) => {
                        sort_values(&mut responses);
                        ack.send(json!({ "error": null, "responses": responses }))
                    }
                    Err(error) => ack.send(json!({ "error": error.to_string(), "responses": [] })),
                }
            } else {
                let result = adapter.server_side_emit(data).await;
                ack.send(json!({ "error": result.err().map(|e| e.to_string()) }))
            }
        },
    );
    socket.on("server-side-log", |ack: AckSender| {
        ack.send(Value::Array(SERVER_SIDE_LOG.lock().clone()))
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = flag("--port").and_then(|p| p.parse().ok()).unwrap_or(3002);
    let redis = flag("--redis").unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let node = flag("--name").unwrap_or_else(|| "sockgate".to_owned());
    let sharded = match flag("--adapter").as_deref() {
        None | Some("classic") => false,
        Some("sharded") => true,
        Some(other) => return Err(format!("unknown adapter {other}: classic or sharded").into()),
    };

    let driver: Arc<dyn Driver> = Arc::new(FredDriver::connect(FredConfig::new(&redis)).await?);
    let config = ClassicConfig::default();
    let io = SocketIo::builder()
        .adapter(move |namespace: Weak<dyn LocalNamespace>| {
            let nsp = namespace
                .upgrade()
                .map_or_else(|| "/".to_owned(), |ns| ns.name().to_owned());
            let wrapper = Arc::new(Wrapper {
                node: node.clone(),
                nsp: nsp.clone(),
                inner: namespace,
            });
            let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&wrapper) as _;
            WRAPPERS.lock().push(wrapper);
            let adapter: Arc<dyn Adapter> = if sharded {
                ShardedAdapter::new(driver.clone(), weak, ShardedConfig::default())
            } else {
                ClassicAdapter::new(driver.clone(), weak, config.clone())
            };
            if nsp == "/" {
                *MAIN_ADAPTER.lock() = Some(adapter.clone());
            }
            adapter
        })
        .build();
    {
        let io2 = io.clone();
        io.ns("/", move |socket: SocketRef| {
            on_connect(io2.clone(), socket)
        });
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("cluster-node listening on http://127.0.0.1:{port} (redis {redis})");
    io.serve(listener).await?;
    Ok(())
}
