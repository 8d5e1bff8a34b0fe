//! A sockgate node in a Redis cluster, for the mixed-cluster tests (`e2e/cluster`), which run
//! it next to Node socket.io nodes on `@socket.io/redis-adapter`.
//!
//! `cluster-node --port N --redis redis://127.0.0.1:P [--name B] [--adapter classic|sharded|streams]
//! [--csr] [--csr-ttl-ms 120000] [--stream-count 1] [--max-len 10000]`
//! serves namespace `/` on 127.0.0.1 with [`sockgate_redis::ClassicAdapter`] (key
//! `socket.io`, Node's default), [`sockgate_redis::ShardedAdapter`] (Node's defaults) or
//! [`sockgate_redis::StreamsAdapter`] (Node's defaults; `--csr` turns connection state
//! recovery on, sessions kept `--csr-ttl-ms`). The test's clients drive it with events, each
//! answered by an ack; `e2e/cluster/node-server.mjs` answers the same events the same way:
//!
//! - `whoami` → `{id, recovered, rooms, data}`; `emit-self` `{event}` + args → `socket.emit`;
//! - `join` rooms → the socket's rooms; `set-data` value;
//! - `emit-op` `{ops, event}` + args → emits through `io.broadcast()` and the ops
//!   (`["to", rooms]`, `["except", rooms]`, `["local"]`, `["volatile"]`);
//! - `fetch-sockets` `{ops}` → `[{id, rooms, data}]` sorted by id;
//! - `sockets-join` / `sockets-leave` `{ops, rooms}`; `disconnect-sockets` `{ops, close}`;
//! - `broadcast-ack` `{ops, event, timeout}` + args → `{error, responses}` (answers sorted);
//! - `server-count`; `all-rooms` (sorted);
//! - `server-side-emit` `{event, ack, timeout}` + args → `{error, responses}`;
//! - `server-side-log` → every server-side event received, `[event, ...args]`; an event
//!   received with an ack is answered `"<name> got <event>"` (a handler registered with
//!   `io.on_server_side`, as Node's `io.on("sse-ping", ...)`);
//! - `remote-socket` `{ops, id, op, event, rooms, close}` + args → fetches the sockets and
//!   runs `op` (`emit`, `join`, `leave`, `disconnect`) on the one with that id → `{error}`.

use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate::extract::{Args, Data, Event};
use sockgate::{AckSender, BroadcastOperators, Payload, SocketIo, SocketRef};
use sockgate_core::RecoveryConfig;
use sockgate_core::{Adapter, LocalNamespace};
use sockgate_redis::{
    ClassicAdapter, ClassicConfig, Driver, FredConfig, FredDriver, ShardedAdapter, ShardedConfig,
    StreamsAdapter, StreamsConfig,
};

/// The adapter of `/`, for `all-rooms` (the server API has no `all_rooms` yet).
static MAIN_ADAPTER: LazyLock<Mutex<Option<Arc<dyn Adapter>>>> = LazyLock::new(Default::default);
/// Server-side events received from the other nodes.
static SERVER_SIDE_LOG: LazyLock<Mutex<Vec<Value>>> = LazyLock::new(Default::default);

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn has_flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
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
    let spec = if payload.is_empty() {
        Value::Null
    } else {
        payload.args_mut().remove(0)
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
    socket.on("whoami", |socket: SocketRef, ack: AckSender| {
        let rooms = socket.rooms().iter().map(|r| r.to_string()).collect();
        ack.send(json!({
            "id": socket.id().as_str(),
            "recovered": socket.recovered(),
            "rooms": sorted(rooms),
            "data": socket.data_value(),
        }))
    });
    socket.on(
        "emit-self",
        |socket: SocketRef, payload: Payload, ack: AckSender| {
            let (spec, args) = split_spec(payload);
            let event = spec["event"].as_str().unwrap_or("self").to_owned();
            socket.emit(&event, args)?;
            ack.send("done")
        },
    );
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
                    .map(|(_, p)| p.into_args().into_iter().next().unwrap_or(Value::Null))
                    .collect();
                sort_values(&mut answers);
                let error = (!complete).then_some("operation has timed out");
                ack.send(json!({ "error": error, "responses": answers }))
            }
        });
    }
    {
        let io = io.clone();
        socket.on("server-count", move |ack: AckSender| {
            let io = io.clone();
            async move { ack.send(json!(io.server_count().await)) }
        });
    }
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
    {
        let io = io.clone();
        socket.on(
            "server-side-emit",
            move |payload: Payload, ack: AckSender| {
                let io = io.clone();
                async move {
                    let (spec, args) = split_spec(payload);
                    let event = spec["event"].as_str().unwrap_or("sse-ping").to_owned();
                    if spec["ack"].as_bool().unwrap_or(false) {
                        let timeout =
                            Duration::from_millis(spec["timeout"].as_u64().unwrap_or(2000));
                        let result = io
                            .broadcast()
                            .timeout(timeout)
                            .server_side_emit_with_ack(&event, args)
                            .await;
                        match result {
                            Ok(responses) => {
                                let mut values: Vec<Value> =
                                    responses.values::<Value>().into_iter().flatten().collect();
                                sort_values(&mut values);
                                ack.send(json!({ "error": null, "responses": values }))
                            }
                            Err(error) => {
                                ack.send(json!({ "error": error.to_string(), "responses": [] }))
                            }
                        }
                    } else {
                        let result = io.server_side_emit(&event, args).await;
                        ack.send(json!({ "error": result.err().map(|e| e.to_string()) }))
                    }
                }
            },
        );
    }
    {
        // Every operation of a fetched socket, wherever it is connected:
        // `{ops, id, op: "emit"|"join"|"leave"|"disconnect", event, rooms}` + args.
        let io = io.clone();
        socket.on("remote-socket", move |payload: Payload, ack: AckSender| {
            let io = io.clone();
            async move {
                let (spec, args) = split_spec(payload);
                let sockets = match operators(&io, &spec).try_fetch_sockets().await {
                    Ok(sockets) => sockets,
                    Err(error) => return ack.send(json!({ "error": error.to_string() })),
                };
                let id = spec["id"].as_str().unwrap_or_default();
                let Some(remote) = sockets.iter().find(|s| s.id().as_str() == id) else {
                    return ack.send(json!({ "error": "not found" }));
                };
                match spec["op"].as_str().unwrap_or_default() {
                    "emit" => remote.emit(spec["event"].as_str().unwrap_or("direct"), args)?,
                    "join" => remote.join(rooms_arg(&spec["rooms"])),
                    "leave" => remote.leave(rooms_arg(&spec["rooms"])),
                    "disconnect" => remote.disconnect(spec["close"].as_bool().unwrap_or(false)),
                    other => return ack.send(json!({ "error": format!("unknown op {other}") })),
                }
                ack.send(json!({ "error": null }))
            }
        });
    }
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
    let kind = flag("--adapter").unwrap_or_else(|| "classic".to_owned());
    if !matches!(kind.as_str(), "classic" | "sharded" | "streams") {
        return Err(format!("unknown adapter {kind}: classic, sharded or streams").into());
    }
    let recovery = has_flag("--csr").then(|| RecoveryConfig {
        max_disconnection_duration: Duration::from_millis(
            flag("--csr-ttl-ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(120_000),
        ),
        ..RecoveryConfig::default()
    });
    if recovery.is_some() && kind != "streams" {
        return Err("--csr needs --adapter streams".into());
    }

    let driver: Arc<dyn Driver> = Arc::new(FredDriver::connect(FredConfig::new(&redis)).await?);
    let config = ClassicConfig::default();
    let streams = (kind == "streams").then(|| {
        let mut config = StreamsConfig {
            recovery,
            ..StreamsConfig::default()
        };
        if let Some(count) = flag("--stream-count").and_then(|v| v.parse().ok()) {
            config.stream_count = count;
        }
        if let Some(max_len) = flag("--max-len").and_then(|v| v.parse().ok()) {
            config.max_len = max_len;
        }
        StreamsAdapter::factory_shared(driver.clone(), config)
    });
    let mut builder = deploy_options(SocketIo::builder());
    if let Some(recovery) = recovery {
        builder = builder.connection_state_recovery(recovery);
    }
    let io = builder
        .adapter(move |namespace: Weak<dyn LocalNamespace>| {
            let is_main = namespace.upgrade().is_some_and(|ns| ns.name() == "/");
            let adapter: Arc<dyn Adapter> = match (&streams, kind.as_str()) {
                (Some(factory), _) => factory(namespace),
                (None, "sharded") => {
                    ShardedAdapter::new(driver.clone(), namespace, ShardedConfig::default())
                }
                _ => ClassicAdapter::new(driver.clone(), namespace, config.clone()),
            };
            if is_main {
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
    // Node's `io.on("sse-ping", (...args, cb) => ...)`, through the public API.
    io.on_server_side(
        "sse-ping",
        move |Event(event): Event, Args(args): Args<Vec<Value>>, ack: AckSender| {
            let mut entry = vec![json!(event)];
            entry.extend(args);
            SERVER_SIDE_LOG.lock().push(Value::Array(entry));
            ack.send(format!("{node} got {event}"))
        },
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("cluster-node listening on http://127.0.0.1:{port} (redis {redis})");
    // SIGTERM drains the node (health 503, sessions flushed, closes spread over the drain
    // window) and exits once the close resolved: the rolling-deploy harness (e2e/deploy).
    let drained = io.clone();
    io.serve(listener)
        .with_graceful_shutdown(async move {
            terminated().await;
            let started = std::time::Instant::now();
            let timeout = drained.config().drain.close_timeout;
            let dropped = drained.close_with_timeout(timeout).await;
            println!(
                "drained in {} ms, {dropped} connections dropped at the bound",
                started.elapsed().as_millis()
            );
        })
        .await?;
    Ok(())
}

/// The graceful-shutdown flags: `--health-path P`, `--drain-delay-ms N`,
/// `--drain-window-ms N`, `--close-timeout-ms N`.
fn deploy_options(mut builder: sockgate::SocketIoBuilder) -> sockgate::SocketIoBuilder {
    let millis = |name: &str| {
        flag(name)
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    };
    if let Some(path) = flag("--health-path") {
        builder = builder.health_path(&path);
    }
    if let Some(delay) = millis("--drain-delay-ms") {
        builder = builder.drain_delay(delay);
    }
    if let Some(window) = millis("--drain-window-ms") {
        builder = builder.drain_window(window);
    }
    if let Some(timeout) = millis("--close-timeout-ms") {
        builder = builder.close_timeout(timeout);
    }
    builder
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
