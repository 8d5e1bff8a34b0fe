//! The Socket.IO server the end-to-end tests (`e2e/js/test/socketio*.test.mjs`) drive with the
//! official `socket.io-client`.
//!
//! Run with `cargo run -p testserver -- --port 3000`. It binds 127.0.0.1 and serves, on one axum
//! `Router`, several Socket.IO servers (one per path), each with the same namespaces and
//! handlers:
//!
//! | path | server |
//! |---|---|
//! | `/socket.io/` | JSON parser, default ack timeout 500 ms |
//! | `/msgpack/` | msgpack parser (`socket.io-msgpack-parser`) |
//! | `/recovery/` | connection state recovery on |
//! | `/polling-only/` | HTTP long-polling only |
//! | `/fastping/` | pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 500 ms |
//! | `/closable/` | closed by `GET /admin/close?instance=closable` |
//! | `/smallqueue/` | a 1 MiB send queue per client (slow consumer tests) |
//! | `/tunable/` | timings from the command line (see [`Tunable`]), for the reliability tests |
//!
//! Namespaces: `/` (two connect middlewares: the query `fail` or the auth `token: "bad"` /
//! `reject: "nodata"` refuse the socket), `/custom`, `/no` (a middleware that always refuses),
//! and the dynamic `/tenant/{id}` (refused when `id` is `forbidden`).
//!
//! Events every socket answers (a "spec" is the first argument, a JSON object):
//! - `echo` (any args, binary) → emits `echo` with the same args; `echo-ack` → acks them;
//!   `never-ack` → never answers;
//! - `handshake` → acks `{id, nsp, auth, query, queryLast, headers, address, url, secure,
//!   transport, recovered, params, middlewares, data, rooms}`;
//! - `server-ack` `{event, timeout}` + args → `socket.timeout(t).emit_with_ack(event, args)`,
//!   then emits `server-ack-result` `{ok, error?}` followed by the client's answer (binary kept);
//! - `broadcast-ack` `{from, ops, event}` + args → broadcast with acks, then emits
//!   `broadcast-ack-result` `{expected, complete, answers: [{sid, args}], missing}`;
//! - `emit-op` `{from, ops, event}` + args → emits through the operator chain, acks `"done"`;
//!   `from` is `socket` (`socket.broadcast()`), `ns` (the namespace) or `io` (the main
//!   namespace); `ops` is a list of `["to", rooms]`, `["in", rooms]`, `["except", rooms]`,
//!   `["local"]`, `["volatile"]`, `["compress", bool]`, `["timeout", ms]`;
//! - `fetch-sockets` `{from, ops}` → acks `[{id, rooms, data}]`; `sockets-join` /
//!   `sockets-leave` `{from, ops, rooms}`; `disconnect-sockets` `{from, ops, close}`;
//! - `join` / `leave` (a room or a list) → ack the rooms; `rooms` → acks the rooms;
//! - `set-data` / `get-data`; `disconnect-me`; `close-me` (`disconnect(true)`);
//! - `panic`, `panic-async`, `fail`, `fail-async`: a handler that panics or returns an error;
//! - `volatile-burst` `n` → `n` volatile emits `vol` to this socket; `binary` → emits `binary`
//!   with mixed JSON and binary arguments;
//! - `forward-binary` (an argument holding binary, a Buffer) → emits `forwarded` with both
//!   arguments as they came (through `Payload::arg`, binary kept) and acks
//!   `{firstIsBinary, firstHasBinary, secondIsBinary, secondLen}` followed by both;
//! - `binary-struct` → acks `{name, data}` where `data` (a `Bytes` field, serialized through
//!   `Arg::from_serialize`) is binary;
//! - `data-value` (a Buffer or JSON) → acks `{ok, value?, error?}` (`TryData<Value>`: binary is
//!   refused); `data-bytes` (a Buffer) → acks `{len, vecLen, sum}` (`Data<Bytes>`,
//!   `Data<Vec<u8>>`);
//! - `server-ack-args` / `broadcast-ack-args` → `emit_with_ack("ask-many")` to this socket
//!   (itself / through a broadcast to its room), the answer decoded as
//!   `Args<(String, u32, Bytes)>`; emits `server-ack-args-result` /
//!   `broadcast-ack-args-result` `{status, count, answers?}` followed by the bytes;
//! - `any-log` → acks `{incoming, outgoing}` (what `on_any`/`on_any_outgoing` saw);
//! - `stats` → acks the same JSON as `GET /stats`.
//!
//! HTTP: `GET /stats` (live Engine.IO sessions and sockets per instance and namespace, and
//! `liveSockets`: socket objects not yet freed), `GET /reasons[?sid=]` (the last disconnect
//! reasons: `{instance, nsp, sid, reason, disconnectingRooms, roomsAfter}`),
//! `GET /admin/close?instance=` (`io.close()`), `GET /health`.
//!
//! Flags: `--port N`; `--header-timeout-ms N`, `--idle-timeout-ms N`, `--max-connections N`
//! (HTTP options, `HttpConfig`'s defaults otherwise); for `/tunable/`: `--ping-interval`,
//! `--ping-timeout`, `--connect-timeout`, `--attachments-timeout`, `--write-coalescing` (ms).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate::extract::{Args, Data, Event, NsParams, TryData};
use sockgate::handler::HandlerResult;
use sockgate::{
    AckSender, BroadcastOperators, MiddlewareError, Parser, Payload, RecoveryConfig, SocketIo,
    SocketRef, Transports,
};

/// Socket objects alive (created by a connect handler, not yet dropped): proves that closed
/// sockets are freed, not only unlisted.
static LIVE_SOCKETS: AtomicUsize = AtomicUsize::new(0);

struct LiveGuard;

impl LiveGuard {
    fn new() -> Self {
        LIVE_SOCKETS.fetch_add(1, Ordering::SeqCst);
        LiveGuard
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        LIVE_SOCKETS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The last disconnect reasons, newest last.
static REASONS: LazyLock<Mutex<VecDeque<Value>>> = LazyLock::new(Default::default);

/// Every (instance, namespace) a socket connected to.
static NAMESPACES: LazyLock<Mutex<BTreeSet<(&'static str, String)>>> =
    LazyLock::new(Default::default);

static INSTANCES: OnceLock<Vec<(&'static str, SocketIo)>> = OnceLock::new();

/// What `on_any` and `on_any_outgoing` saw.
#[derive(Default)]
struct AnyLog {
    incoming: Vec<String>,
    outgoing: Vec<String>,
}

/// The names of the middlewares that ran, in order.
#[derive(Clone, Default)]
struct MwTrace(Vec<&'static str>);

/// The rooms seen from the `disconnecting` callback.
#[derive(Clone)]
struct DisconnectingRooms(Vec<String>);

fn record_reason(entry: Value) {
    let mut reasons = REASONS.lock();
    reasons.push_back(entry);
    while reasons.len() > 2000 {
        reasons.pop_front();
    }
}

fn rooms_json(rooms: &[sockgate::Room]) -> Vec<String> {
    let mut rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
    rooms.sort();
    rooms
}

fn stats() -> Value {
    let mut instances = serde_json::Map::new();
    let mut total_sessions = 0;
    let mut total_sockets = 0;
    let names = NAMESPACES.lock().clone();
    for (label, io) in INSTANCES.get().map(Vec::as_slice).unwrap_or_default() {
        let sessions = io.engine().session_count();
        total_sessions += sessions;
        let mut namespaces = serde_json::Map::new();
        for (_, name) in names.iter().filter(|(l, _)| l == label) {
            let count = io.of(name).map_or(0, |ns| ns.sockets().len());
            total_sockets += count;
            namespaces.insert(name.clone(), json!(count));
        }
        instances.insert(
            (*label).to_owned(),
            json!({ "sessions": sessions, "namespaces": namespaces }),
        );
    }
    json!({
        "instances": instances,
        "totalSessions": total_sessions,
        "totalSockets": total_sockets,
        "liveSockets": LIVE_SOCKETS.load(Ordering::SeqCst),
    })
}

/// A room or a list of rooms.
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

/// Builds the operator chain a spec describes.
fn operators(io: &SocketIo, socket: &SocketRef, spec: &Value) -> BroadcastOperators {
    let mut ops = match spec["from"].as_str().unwrap_or("ns") {
        "socket" => socket.broadcast(),
        "io" => io.broadcast(),
        _ => socket.namespace().broadcast(),
    };
    for op in spec["ops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let arg = &op[1];
        ops = match op[0].as_str().unwrap_or_default() {
            "to" => ops.to(rooms_arg(arg)),
            "in" => ops.within(rooms_arg(arg)),
            "except" => ops.except(rooms_arg(arg)),
            "local" => ops.local(),
            "volatile" => ops.volatile(),
            "compress" => ops.compress(arg.as_bool().unwrap_or(true)),
            "timeout" => ops.timeout(Duration::from_millis(arg.as_u64().unwrap_or(500))),
            _ => ops,
        };
    }
    ops
}

/// Splits a payload into its first argument (the spec) and the rest (binary kept).
fn split_spec(mut payload: Payload) -> (Value, Payload) {
    let spec = if payload.is_empty() {
        Value::Null
    } else {
        payload.args_mut().remove(0)
    };
    (spec, payload)
}

fn set_up_socket(label: &'static str, io: SocketIo, socket: SocketRef, params: NsParams) {
    socket.extensions.insert(LiveGuard::new());
    NAMESPACES
        .lock()
        .insert((label, socket.ns_name().to_owned()));

    let log = Arc::new(Mutex::new(AnyLog::default()));
    {
        let log = log.clone();
        socket.on_any(move |Event(event): Event| log.lock().incoming.push(event));
    }
    {
        let log = log.clone();
        socket.on_any_outgoing(move |event, _payload| log.lock().outgoing.push(event.to_owned()));
    }
    socket.on("any-log", move |ack: AckSender| {
        let log = log.lock();
        let _ = ack.send(json!({ "incoming": log.incoming, "outgoing": log.outgoing }));
    });

    socket.on_disconnecting(|socket, _reason| {
        socket
            .extensions
            .insert(DisconnectingRooms(rooms_json(&socket.rooms())));
    });
    socket.on_disconnect(move |socket, reason| {
        let disconnecting = socket
            .extensions
            .get::<DisconnectingRooms>()
            .map(|r| r.0)
            .unwrap_or_default();
        record_reason(json!({
            "instance": label,
            "nsp": socket.ns_name(),
            "sid": socket.id().as_str(),
            "reason": reason.as_str(),
            "disconnectingRooms": disconnecting,
            "roomsAfter": rooms_json(&socket.rooms()),
        }));
    });

    socket.on("echo", |socket: SocketRef, payload: Payload| {
        socket.emit("echo", payload)
    });
    socket.on("echo-ack", |payload: Payload, ack: AckSender| {
        ack.send(payload)
    });
    socket.on("never-ack", |_ack: AckSender| {});

    socket.on("handshake", move |socket: SocketRef, ack: AckSender| {
        let hs = socket.handshake();
        let headers: serde_json::Map<String, Value> = hs
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let query_last: serde_json::Map<String, Value> = hs
            .query()
            .iter()
            .map(|(k, _)| (k.to_owned(), json!(hs.query().get(k))))
            .collect();
        let _ = ack.send(json!({
            "id": socket.id().as_str(),
            "nsp": socket.ns_name(),
            "auth": hs.auth,
            "query": hs.query().to_json(),
            "queryLast": query_last,
            "headers": headers,
            "address": hs.address().map(|a| a.ip().to_string()),
            "url": hs.url(),
            "secure": hs.secure(),
            "transport": socket.transport(),
            "recovered": socket.recovered(),
            "params": params.0.iter().cloned().collect::<HashMap<String, String>>(),
            "middlewares": socket.extensions.get::<MwTrace>().unwrap_or_default().0,
            "data": socket.data_value(),
            "rooms": rooms_json(&socket.rooms()),
        }));
    });

    socket.on(
        "server-ack",
        |socket: SocketRef, payload: Payload| async move {
            let (spec, args) = split_spec(payload);
            let event = spec["event"].as_str().unwrap_or("ask").to_owned();
            let answer = match spec["timeout"].as_u64() {
                Some(ms) => {
                    socket
                        .timeout(Duration::from_millis(ms))
                        .emit_with_ack::<Value, _>(&event, args)
                        .raw()
                        .await
                }
                None => socket.emit_with_ack::<Value, _>(&event, args).raw().await,
            };
            let result = match answer {
                Ok(mut answer) => {
                    answer.args_mut().insert(0, json!({ "ok": true }));
                    answer
                }
                Err(error) => Payload::new().with(json!({
                    "ok": false,
                    "error": error.to_string(),
                    "timeout": matches!(error, sockgate::AckError::Timeout),
                })),
            };
            socket.emit("server-ack-result", result)
        },
    );

    {
        let io = io.clone();
        socket.on(
            "broadcast-ack",
            move |socket: SocketRef, payload: Payload| {
                let io = io.clone();
                async move {
                    let (spec, args) = split_spec(payload);
                    let event = spec["event"].as_str().unwrap_or("ask").to_owned();
                    let responses = operators(&io, &socket, &spec)
                        .emit_with_ack(&event, args)
                        .await?;
                    let answers: Vec<Value> = responses
                    .answers
                    .iter()
                    .map(|(sid, payload)| {
                        json!({ "sid": sid.map(|s| s.as_str().to_owned()), "args": payload.args() })
                    })
                    .collect();
                    let missing: Vec<&str> = responses.missing.iter().map(|s| s.as_str()).collect();
                    socket.emit(
                        "broadcast-ack-result",
                        json!({
                            "expected": responses.expected,
                            "complete": responses.is_complete(),
                            "answers": answers,
                            "missing": missing,
                        }),
                    )
                }
            },
        );
    }

    {
        let io = io.clone();
        socket.on(
            "emit-op",
            move |socket: SocketRef, payload: Payload, ack: AckSender| {
                let (spec, args) = split_spec(payload);
                let event = spec["event"].as_str().unwrap_or("op").to_owned();
                operators(&io, &socket, &spec).emit(&event, args)?;
                ack.send("done")
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "fetch-sockets",
            move |socket: SocketRef, Data(spec): Data<Value>, ack: AckSender| {
                let io = io.clone();
                async move {
                    let sockets = operators(&io, &socket, &spec).fetch_sockets().await;
                    let mut list: Vec<Value> = sockets
                        .iter()
                        .map(|s| {
                            json!({
                                "id": s.id().as_str(),
                                "rooms": rooms_json(s.rooms()),
                                "data": s.data(),
                            })
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
            move |socket: SocketRef, Data(spec): Data<Value>, ack: AckSender| {
                operators(&io, &socket, &spec).sockets_join(rooms_arg(&spec["rooms"]));
                ack.send("done")
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "sockets-leave",
            move |socket: SocketRef, Data(spec): Data<Value>, ack: AckSender| {
                operators(&io, &socket, &spec).sockets_leave(rooms_arg(&spec["rooms"]));
                ack.send("done")
            },
        );
    }
    {
        let io = io.clone();
        socket.on(
            "disconnect-sockets",
            move |socket: SocketRef, Data(spec): Data<Value>, ack: AckSender| {
                // Answer first: the sender may be among the disconnected sockets.
                let result = ack.send("done");
                operators(&io, &socket, &spec)
                    .disconnect_sockets(spec["close"].as_bool().unwrap_or(false));
                result
            },
        );
    }

    socket.on(
        "join",
        |socket: SocketRef, Data(rooms): Data<Value>, ack: AckSender| {
            socket.join(rooms_arg(&rooms));
            ack.send(&rooms_json(&socket.rooms()))
        },
    );
    socket.on(
        "leave",
        |socket: SocketRef, Data(rooms): Data<Value>, ack: AckSender| {
            for room in rooms_arg(&rooms) {
                socket.leave(&room);
            }
            ack.send(&rooms_json(&socket.rooms()))
        },
    );
    socket.on("rooms", |socket: SocketRef, ack: AckSender| {
        ack.send(&rooms_json(&socket.rooms()))
    });
    socket.on(
        "set-data",
        |socket: SocketRef, Data(data): Data<Value>, ack: AckSender| {
            let _ = socket.set_data(&data);
            ack.send("done")
        },
    );
    socket.on("get-data", |socket: SocketRef, ack: AckSender| {
        ack.send(socket.data_value())
    });
    socket.on("disconnect-me", |socket: SocketRef| socket.disconnect());
    socket.on("close-me", |socket: SocketRef| {
        socket.disconnect_and_close()
    });

    socket.on("panic", |_: SocketRef| -> () {
        panic!("the test asked this handler to panic")
    });
    socket.on("panic-async", |_: SocketRef| async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if LIVE_SOCKETS.load(Ordering::SeqCst) < usize::MAX {
            panic!("the test asked this async handler to panic");
        }
    });
    socket.on("fail", |_: SocketRef| -> Result<(), String> {
        Err("the test asked this handler to fail".to_owned())
    });
    socket.on("fail-async", |_: SocketRef| async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Err::<(), _>("the test asked this async handler to fail".to_owned())
    });

    socket.on(
        "volatile-burst",
        |socket: SocketRef, Data(n): Data<u64>, ack: AckSender| {
            for i in 0..n {
                let _ = socket.emit_volatile("vol", &i);
            }
            ack.send("done")
        },
    );
    socket.on("binary", |socket: SocketRef| {
        socket.emit(
            "binary",
            Payload::new()
                .with("text")
                .binary(Bytes::from_static(&[1, 2, 3]))
                .with(json!({ "n": 1, "nested": [true, null] }))
                .binary(Bytes::from(vec![0u8, 255, 128, 7])),
        )
    });
    socket.on("stats", |ack: AckSender| ack.send(stats()));
    set_up_binary_and_ack_args(&socket);
}

/// Binary arguments as values, forwarded; typed acks with several arguments.
fn set_up_binary_and_ack_args(socket: &SocketRef) {
    socket.on(
        "forward-binary",
        |socket: SocketRef, payload: Payload, ack: AckSender| -> HandlerResult {
            let first = payload.arg(0).ok_or("no argument 0")?;
            let second = payload.arg(1).ok_or("no argument 1")?;
            let bytes: Bytes = payload.decode_arg(1)?;
            let info = json!({
                "firstIsBinary": first.is_binary(),
                "firstHasBinary": first.has_binary(),
                "secondIsBinary": payload.is_binary(1),
                "secondLen": bytes.len(),
            });
            socket.emit(
                "forwarded",
                Payload::from_args([first.clone(), second.clone()]),
            )?;
            ack.send(Payload::from_args([info.into(), first, second]))?;
            Ok(())
        },
    );
    socket.on("binary-struct", |ack: AckSender| -> HandlerResult {
        #[derive(serde::Serialize)]
        struct File {
            name: &'static str,
            data: Bytes,
        }
        let file = File {
            name: "f.bin",
            data: Bytes::from_static(&[3, 2, 1]),
        };
        ack.send(sockgate::Arg::from_serialize(&file)?)?;
        Ok(())
    });
    socket.on(
        "data-value",
        |TryData(value): TryData<Value>, ack: AckSender| {
            ack.send(match value {
                Ok(value) => json!({ "ok": true, "value": value }),
                Err(error) => json!({ "ok": false, "error": error.to_string() }),
            })
        },
    );
    socket.on(
        "data-bytes",
        |Data(bytes): Data<Bytes>, Data(vec): Data<Vec<u8>>, ack: AckSender| {
            let sum: u64 = vec.iter().map(|b| u64::from(*b)).sum();
            ack.send(json!({ "len": bytes.len(), "vecLen": vec.len(), "sum": sum }))
        },
    );
    socket.on("server-ack-args", |socket: SocketRef| async move {
        let Args((status, count, blob)): Args<(String, u32, Bytes)> =
            socket.emit_with_ack("ask-many", ()).await?;
        socket.emit(
            "server-ack-args-result",
            Payload::new()
                .with(json!({ "status": status, "count": count }))
                .binary(blob),
        )?;
        HandlerResult::Ok(())
    });
    socket.on("broadcast-ack-args", |socket: SocketRef| async move {
        let responses = socket
            .namespace()
            .to(socket.id())
            .emit_with_ack("ask-many", ())
            .await?;
        let mut values = responses.values::<Args<(String, u32, Bytes)>>();
        let answers = values.len();
        let Some(Ok(Args((status, count, blob)))) = values.pop() else {
            return Err("no decodable answer".into());
        };
        socket.emit(
            "broadcast-ack-args-result",
            Payload::new()
                .with(json!({ "status": status, "count": count, "answers": answers }))
                .binary(blob),
        )?;
        HandlerResult::Ok(())
    });
}

/// Declares the namespaces and handlers of one instance.
fn install(label: &'static str, io: &SocketIo) {
    let handler = |io: SocketIo| {
        move |socket: SocketRef, params: NsParams| set_up_socket(label, io.clone(), socket, params)
    };

    let main = io.ns("/", handler(io.clone()));
    main.use_middleware(|socket: SocketRef| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let hs = socket.handshake();
        if let Some(fail) = hs.query().get("fail") {
            return Err(MiddlewareError::new("Auth failed (main namespace)")
                .with_data(json!({ "code": 42, "fail": fail })));
        }
        if hs.auth["token"] == "bad" {
            return Err(MiddlewareError::new("invalid token")
                .with_data(json!({ "token": "bad", "retry": false })));
        }
        if hs.auth["reject"] == "nodata" {
            return Err(MiddlewareError::new("rejected without data"));
        }
        socket.extensions.insert(MwTrace(vec!["first"]));
        Ok(())
    });
    main.use_middleware(|socket: SocketRef| async move {
        let mut trace = socket.extensions.get::<MwTrace>().unwrap_or_default();
        trace.0.push("second");
        socket.extensions.insert(trace);
        if let Some(user) = socket.handshake().auth.get("user") {
            let _ = socket.set_data(&json!({ "user": user }));
        }
        Ok(())
    });

    io.ns("/custom", handler(io.clone()));
    io.ns("/no", handler(io.clone()))
        .use_middleware(|_socket: SocketRef| async {
            Err(MiddlewareError::new("Auth failed (custom namespace)"))
        });
    io.dynamic_ns("/tenant/{id}", handler(io.clone()))
        .use_middleware(|socket: SocketRef| async move {
            if socket.ns_name() == "/tenant/forbidden" {
                return Err(MiddlewareError::new("tenant forbidden")
                    .with_data(json!({ "tenant": "forbidden" })));
            }
            Ok(())
        });
}

/// The value of `--name N` / `--name=N`, if given.
fn flag_from_args(name: &str) -> Option<u64> {
    let mut args = std::env::args().skip(1);
    let prefix = format!("{name}=");
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next().and_then(|v| v.parse().ok());
        }
        if let Some(v) = arg.strip_prefix(prefix.as_str()) {
            return v.parse().ok();
        }
    }
    None
}

/// HTTP options from `--header-timeout-ms`, `--idle-timeout-ms` and `--max-connections`
/// (the defaults of `HttpConfig` otherwise), for the reliability tests.
fn http_config_from_args() -> sockgate_engine::HttpConfig {
    let mut http = sockgate_engine::HttpConfig::default();
    if let Some(ms) = flag_from_args("--header-timeout-ms") {
        http.header_read_timeout = Some(Duration::from_millis(ms));
    }
    if let Some(ms) = flag_from_args("--idle-timeout-ms") {
        http.idle_timeout = Some(Duration::from_millis(ms));
    }
    if let Some(n) = flag_from_args("--max-connections") {
        http.max_connections = usize::try_from(n).ok();
    }
    http
}

fn port_from_args() -> u16 {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            if let Some(port) = args.next().and_then(|p| p.parse().ok()) {
                return port;
            }
        } else if let Some(port) = arg.strip_prefix("--port=").and_then(|p| p.parse().ok()) {
            return port;
        }
    }
    3000
}

/// Timings of the `/tunable/` instance, from `--ping-interval MS`, `--ping-timeout MS`,
/// `--connect-timeout MS` and `--attachments-timeout MS` (defaults 5000, 3000, 6000, 30000).
struct Tunable {
    ping_interval: Duration,
    ping_timeout: Duration,
    connect_timeout: Duration,
    attachments_timeout: Duration,
    write_coalescing: Duration,
}

fn tunable_from_args() -> Tunable {
    let args: Vec<String> = std::env::args().collect();
    let ms = |flag: &str, default: u64| {
        let value = args
            .iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok());
        Duration::from_millis(value.unwrap_or(default))
    };
    Tunable {
        ping_interval: ms("--ping-interval", 5000),
        ping_timeout: ms("--ping-timeout", 3000),
        connect_timeout: ms("--connect-timeout", 6000),
        attachments_timeout: ms("--attachments-timeout", 30_000),
        write_coalescing: ms(
            "--write-coalescing",
            sockgate_engine::DEFAULT_WRITE_COALESCING.as_millis() as u64,
        ),
    }
}

fn instances() -> Vec<(&'static str, SocketIo)> {
    let ack = Duration::from_millis(500);
    let tunable = tunable_from_args();
    vec![
        (
            "json",
            SocketIo::builder()
                .path("/socket.io/")
                .ack_timeout(ack)
                .build(),
        ),
        (
            "msgpack",
            SocketIo::builder()
                .path("/msgpack/")
                .parser(Parser::Msgpack)
                .ack_timeout(ack)
                .build(),
        ),
        (
            "recovery",
            SocketIo::builder()
                .path("/recovery/")
                .ack_timeout(ack)
                .connection_state_recovery(RecoveryConfig::default())
                .build(),
        ),
        (
            "polling",
            SocketIo::builder()
                .path("/polling-only/")
                .transports(Transports::polling_only())
                .ack_timeout(ack)
                .build(),
        ),
        (
            "fastping",
            SocketIo::builder()
                .path("/fastping/")
                .ping_interval(Duration::from_millis(300))
                .ping_timeout(Duration::from_millis(200))
                .connect_timeout(Duration::from_millis(500))
                .ack_timeout(ack)
                .build(),
        ),
        (
            "closable",
            SocketIo::builder()
                .path("/closable/")
                .ack_timeout(ack)
                .build(),
        ),
        (
            "smallqueue",
            SocketIo::builder()
                .path("/smallqueue/")
                .max_buffered_bytes(1 << 20)
                .ack_timeout(ack)
                .build(),
        ),
        (
            "tunable",
            SocketIo::builder()
                .path("/tunable/")
                .ping_interval(tunable.ping_interval)
                .ping_timeout(tunable.ping_timeout)
                .connect_timeout(tunable.connect_timeout)
                .pending_attachments_timeout(tunable.attachments_timeout)
                .write_coalescing(tunable.write_coalescing)
                .ack_timeout(ack)
                .build(),
        ),
    ]
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let port = port_from_args();

    let instances = INSTANCES.get_or_init(instances);
    for (label, io) in instances {
        install(label, io);
    }

    let mut app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/stats", get(|| async { Json(stats()) }))
        .route(
            "/reasons",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let reasons = REASONS.lock();
                let list: Vec<Value> = reasons
                    .iter()
                    .filter(|r| q.get("sid").is_none_or(|sid| r["sid"] == **sid))
                    .cloned()
                    .collect();
                Json(list)
            }),
        )
        .route(
            "/admin/close",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let wanted = q.get("instance").map(String::as_str).unwrap_or("closable");
                for (label, io) in INSTANCES.get().map(Vec::as_slice).unwrap_or_default() {
                    if *label == wanted {
                        let io = io.clone();
                        tokio::spawn(async move { io.close().await });
                        return "closed";
                    }
                }
                "unknown instance"
            }),
        );
    for (_, io) in instances {
        app = app.layer(io.layer());
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("testserver listening on http://127.0.0.1:{port}");
    sockgate::engine::serve(listener, app)
        .http_config(http_config_from_args())
        .await
}
