//! One Engine.IO connection as Socket.IO sees it: its decoder and its sockets, one per
//! namespace joined.
//!
//! One file because the decoding, the dispatch of each packet type and the CONNECT sequence
//! share the connection's private state (`ClientState`, the partial packet) and its ordering
//! rules (register first, check after).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate_core::{Room, Sid};
use sockgate_engine::Connection;
use sockgate_proto::socketio::{Decoded, Decoder, EioMessage, Packet, PacketType, RawPacket};
use tokio::task::AbortHandle;

use crate::handler::{run_future, MessageParts};
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::payload::{encode_frames, Payload};
use crate::reason::DisconnectReason;
use crate::server::Registry;
use crate::socket::{Socket, SocketRef};

/// Socket.IO state of one Engine.IO connection (the engine's per-connection data).
#[derive(Default)]
pub struct ClientState {
    /// Only held while a binary packet waits for its attachments: an idle client keeps none.
    decoder: Mutex<Option<Box<Partial>>>,
    sockets: Mutex<Vec<Arc<Socket>>>,
    /// Namespaces whose CONNECT is being processed (middlewares are async).
    connecting: Mutex<Vec<Box<str>>>,
    connect_timer: Mutex<Option<AbortHandle>>,
    /// A Socket.IO-level reason that wins over the engine's when the connection closes.
    close_reason: Mutex<Option<DisconnectReason>>,
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState")
            .field("sockets", &self.sockets.lock().len())
            .finish_non_exhaustive()
    }
}

impl ClientState {
    pub(crate) fn sockets(&self) -> Vec<Arc<Socket>> {
        self.sockets.lock().clone()
    }

    fn socket(&self, nsp: &str) -> Option<Arc<Socket>> {
        self.sockets
            .lock()
            .iter()
            .find(|s| s.ns_name() == nsp)
            .cloned()
    }

    pub(crate) fn remove_socket(&self, nsp: &str) {
        self.sockets.lock().retain(|s| s.ns_name() != nsp);
    }

    pub(crate) fn set_close_reason(&self, reason: DisconnectReason) {
        self.close_reason.lock().get_or_insert(reason);
    }

    pub(crate) fn set_connect_timer(&self, handle: AbortHandle) {
        *self.connect_timer.lock() = Some(handle);
    }

    pub(crate) fn has_joined(&self) -> bool {
        !self.sockets.lock().is_empty() || !self.connecting.lock().is_empty()
    }

    fn cancel_connect_timer(&self) {
        if let Some(timer) = self.connect_timer.lock().take() {
            timer.abort();
        }
    }
}

type Conn = Arc<Connection<ClientState>>;

/// A binary packet waiting for its attachments, and the timer that gives up on it.
struct Partial {
    decoder: Decoder,
    /// Bytes of the messages fed so far (the packet's size on the wire, for observers).
    bytes: usize,
    started: Instant,
    timer: Option<AbortHandle>,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

fn new_decoder(registry: &Registry) -> Decoder {
    let config = &registry.shared.config;
    let max_pending = config
        .max_pending_attachment_bytes
        .unwrap_or(config.engine.session.max_payload);
    config
        .parser
        .decoder_with_max_attachments(config.max_attachments)
        .with_max_pending_bytes(usize::try_from(max_pending).unwrap_or(usize::MAX))
        .with_max_decoded_bytes(config.max_decoded_bytes)
}

/// Closes `conn` if the binary packet started at `started` is still incomplete after `timeout`:
/// a peer must not hold attachments in server memory by never sending the last one.
fn watch_partial(conn: &Conn, started: Instant, timeout: Duration) -> AbortHandle {
    let weak = Arc::downgrade(conn);
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let Some(conn) = weak.upgrade() else { return };
        let stale = {
            let mut slot = conn.data().decoder.lock();
            let stale = slot.as_ref().is_some_and(|p| p.started == started);
            if stale {
                // Our own handle is in there: take it out so dropping does not abort us.
                if let Some(p) = slot.as_mut() {
                    p.timer = None;
                }
                *slot = None;
            }
            stale
        };
        if stale {
            protocol_violation(
                &conn,
                "binary packet incomplete after the attachments timeout",
            );
        }
    })
    .abort_handle()
}

/// Closes the connection because the client broke the protocol; its sockets leave with
/// `parse error`.
fn protocol_violation(conn: &Conn, why: &str) {
    tracing::debug!(sid = %conn.sid(), why, "closing connection: protocol violation");
    conn.data().set_close_reason(DisconnectReason::ParseError);
    conn.close();
}

pub(crate) fn on_message(registry: &Arc<Registry>, conn: &Conn, message: EioMessage) {
    // Counted as Engine.IO packets, like the frames sent: a text one has its `4` type.
    let size = match &message {
        EioMessage::Text(data) => 1 + data.len(),
        EioMessage::Binary(data) => data.len(),
    };
    let (decoded, bytes) = {
        let mut slot = conn.data().decoder.lock();
        match slot.take() {
            // The common case, a packet in one message: decoded on the stack, nothing boxed.
            None => {
                let mut decoder = new_decoder(registry);
                let decoded = decoder.feed_lazy(message);
                if matches!(decoded, Ok(None)) {
                    // Attachments are still to come: keep the partial packet, for a bounded
                    // time.
                    let started = Instant::now();
                    let timeout = registry.shared.config.pending_attachments_timeout;
                    *slot = Some(Box::new(Partial {
                        decoder,
                        bytes: size,
                        started,
                        timer: Some(watch_partial(conn, started, timeout)),
                    }));
                }
                (decoded, size)
            }
            Some(mut partial) => {
                partial.bytes += size;
                let bytes = partial.bytes;
                let decoded = partial.decoder.feed_lazy(message);
                if matches!(decoded, Ok(None)) {
                    *slot = Some(partial);
                }
                (decoded, bytes)
            }
        }
    };
    match decoded {
        Ok(Some(Decoded::Packet(packet))) => dispatch(registry, conn, packet, bytes),
        Ok(Some(Decoded::Raw(raw))) => dispatch_raw(conn, raw, bytes),
        Ok(None) => {}
        Err(error) => protocol_violation(conn, &error.to_string()),
    }
}

/// Tells the observers of `socket`'s namespace that `packet` (`bytes` on the wire) arrived.
fn observe_received(socket: &Socket, packet: &Packet, bytes: usize) {
    let event = crate::observe::PacketEvent {
        socket: Some(socket),
        bytes,
        packet,
    };
    socket.ns.observe(|o, ns| o.packet_received(ns, &event));
}

/// A text event or ack whose arguments stay JSON text until read (see [`Payload`]); the
/// observers, when there are any, see it as the packet it is.
fn dispatch_raw(conn: &Conn, raw: RawPacket, bytes: usize) {
    let client = conn.data();
    let Some(socket) = client.socket(normalize(&raw.nsp)) else {
        let why = match raw.kind {
            PacketType::Ack => "ACK for a namespace not joined",
            _ => "EVENT for a namespace not joined",
        };
        return protocol_violation(conn, why);
    };
    if socket.ns.is_observed() {
        observe_received(&socket, &raw.to_packet(), bytes);
    }
    let payload = Payload::from_raw(raw.args);
    match (raw.kind, raw.event, raw.id) {
        (PacketType::Event, Some(event), ack_id) => socket.dispatch(MessageParts {
            event,
            payload,
            ack_id,
        }),
        (PacketType::Ack, None, Some(id)) => {
            if let Some(rare) = socket.rare_if_any() {
                rare.acks.lock().resolve(id, payload);
            }
        }
        _ => protocol_violation(conn, "ACK without id or arguments"),
    }
}

fn dispatch(registry: &Arc<Registry>, conn: &Conn, packet: Packet, bytes: usize) {
    let client = conn.data();
    match packet.kind {
        PacketType::Connect => {
            let nsp: Box<str> = normalize(&packet.nsp).into();
            {
                let mut connecting = client.connecting.lock();
                if client.socket(&nsp).is_some() || connecting.contains(&nsp) {
                    drop(connecting);
                    return protocol_violation(conn, "duplicate CONNECT");
                }
                connecting.push(nsp.clone());
            }
            let registry = registry.clone();
            let conn = conn.clone();
            run_future(async move {
                if let Some(ns) = registry.namespace_for(&nsp) {
                    let event = crate::observe::PacketEvent {
                        socket: None,
                        bytes,
                        packet: &packet,
                    };
                    ns.observe(|o, ns| o.packet_received(ns, &event));
                    let auth = packet.data;
                    connect(&registry, &conn, &ns, &nsp, auth).await;
                    registry.connect_done(&ns);
                } else {
                    send_raw(
                        &registry,
                        &conn,
                        &Packet::connect_error(&*nsp, "Invalid namespace", None),
                    );
                }
                let mut connecting = conn.data().connecting.lock();
                connecting.retain(|n| *n != nsp);
                if connecting.is_empty() {
                    // An idle client keeps no capacity here (64 bytes for the first push).
                    *connecting = Vec::new();
                }
            });
        }
        PacketType::Disconnect => match client.socket(normalize(&packet.nsp)) {
            Some(socket) => {
                observe_received(&socket, &packet, bytes);
                socket.close(DisconnectReason::ClientNamespaceDisconnect)
            }
            None => protocol_violation(conn, "DISCONNECT for a namespace not joined"),
        },
        PacketType::Event | PacketType::BinaryEvent => {
            let Some(socket) = client.socket(normalize(&packet.nsp)) else {
                return protocol_violation(conn, "EVENT for a namespace not joined");
            };
            observe_received(&socket, &packet, bytes);
            let mut args = match packet.data {
                Some(Value::Array(args)) => args,
                _ => return protocol_violation(conn, "EVENT payload is not an array"),
            };
            // The name is moved out of the arguments, not copied.
            let event = match args.first_mut() {
                Some(Value::String(name)) => std::mem::take(name),
                Some(Value::Number(n)) => n.to_string(),
                _ => return protocol_violation(conn, "EVENT without a name"),
            };
            args.remove(0);
            socket.dispatch(MessageParts {
                event,
                payload: Payload::from_parts(args, packet.attachments),
                ack_id: packet.id,
            });
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let Some(socket) = client.socket(normalize(&packet.nsp)) else {
                return protocol_violation(conn, "ACK for a namespace not joined");
            };
            observe_received(&socket, &packet, bytes);
            let (Some(id), Some(Value::Array(args))) = (packet.id, packet.data) else {
                return protocol_violation(conn, "ACK without id or arguments");
            };
            let payload = Payload::from_parts(args, packet.attachments);
            if let Some(rare) = socket.rare_if_any() {
                rare.acks.lock().resolve(id, payload);
            }
        }
        PacketType::ConnectError => protocol_violation(conn, "CONNECT_ERROR from a client"),
    }
}

fn normalize(nsp: &str) -> &str {
    if nsp.is_empty() {
        "/"
    } else {
        nsp
    }
}

fn send_raw(registry: &Registry, conn: &Conn, packet: &Packet) {
    let _ = conn.send_all(encode_frames(registry.shared.config.parser, packet));
}

/// The CONNECT of one namespace: find it, recover or create the socket, run middlewares,
/// answer, then call the connect handler.
async fn connect(
    registry: &Arc<Registry>,
    conn: &Conn,
    ns: &Arc<Namespace>,
    nsp: &str,
    auth: Option<Value>,
) {
    let auth = auth.unwrap_or_else(|| json!({}));
    let adapter = ns.adapter().clone();
    let recovery = registry.shared.config.recovery;

    let mut restored = None;
    if adapter.recovery_enabled() {
        if let (Some(Value::String(pid)), Some(Value::String(offset))) =
            (auth.get("pid"), auth.get("offset"))
        {
            restored = adapter.restore_session(pid, offset).await;
            let succeeded = restored.is_some();
            ns.observe(|o, ns| o.recovery(ns, succeeded));
        }
    }
    let recovered = restored.is_some();
    let (id, pid, data, rooms, missed) = match restored {
        Some((session, missed)) => (
            session.sid,
            Some(session.pid),
            session.data,
            session.rooms,
            missed,
        ),
        None => {
            let id = Sid::from_random(rand::random());
            let pid = adapter
                .recovery_enabled()
                .then(|| Sid::from_random(rand::random()).to_string());
            (id, pid, Value::Null, Vec::new(), Vec::new())
        }
    };
    let handshake = Handshake::new(conn.info().clone(), auth.clone());
    let socket = Arc::new(Socket::new(
        id,
        ns.clone(),
        conn.clone(),
        handshake,
        pid.clone(),
        recovered,
        data,
    ));

    let skip = recovered && recovery.is_some_and(|r| r.skip_middlewares);
    if !skip {
        for middleware in ns.middlewares() {
            let result = middleware(SocketRef(socket.clone())).await;
            if conn.is_closed() {
                // Rooms a middleware joined must not outlive the refused socket.
                adapter.del_all(id);
                return;
            }
            if let Err(error) = result {
                adapter.del_all(id);
                send_raw(
                    registry,
                    conn,
                    &Packet::connect_error(nsp, error.message, error.data),
                );
                return;
            }
        }
    }

    let client = conn.data();
    if recovered {
        // The session was restored while a socket of the same id is still here: its
        // connection dropped without a word and is not noticed dead yet (a cluster adapter
        // saves sessions of live sockets). It leaves first, so its later close cannot take
        // this socket's place or rooms.
        if let Some(stale) = ns.socket(id) {
            stale.close_superseded();
        }
        // Broadcasts that reach the socket from its registration on wait for the replay.
        socket.start_replay();
    }
    socket.set_connected();
    ns.insert_socket(socket.clone());
    let mut join: Vec<Room> = vec![Room::from(id.as_str())];
    join.extend(rooms);
    adapter.add_all(id, &join);
    {
        // Exact: most clients join one namespace, and `push` alone reserves room for four.
        let mut sockets = client.sockets.lock();
        sockets.reserve_exact(1);
        sockets.push(socket.clone());
    }
    if ns.is_observed() {
        let socket = SocketRef(socket.clone());
        ns.observe(|o, view| o.socket_connected(view, &socket));
    }
    // Registered first, checked after: a close racing the registration (ping timeout, connect
    // timeout, transport error on another thread) either sees this socket in `on_close`, or
    // is seen here. The close marks the session before `on_close` reads the client's sockets,
    // so one of the two always closes it; `Socket::close` runs once.
    if conn.is_closed() {
        let reason = conn
            .close_reason()
            .map_or(DisconnectReason::ForcedServerClose, DisconnectReason::from);
        socket.close(reason);
        return;
    }
    client.cancel_connect_timer();
    socket.track_session();

    let mut reply = json!({ "sid": id.as_str() });
    if let Some(pid) = &pid {
        reply["pid"] = Value::from(pid.as_str());
    }
    if recovered {
        // What was broadcast between `restore_session` and the registration reached neither
        // the replay nor the socket: take it from the buffer now (Node loses it).
        let mut missed = missed;
        let last = missed
            .last()
            .and_then(sockgate_core::packet_offset)
            .map(str::to_owned)
            .or_else(|| {
                auth.get("offset")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(last) = last {
            if let Some(later) = adapter.packets_after(&last, &join).await {
                missed.extend(later);
            }
        }
        let _ = socket.send_packet(Packet::connect(nsp, Some(reply)));
        socket.end_replay(missed);
    } else {
        let _ = socket.send_packet(Packet::connect(nsp, Some(reply)));
    }
    // Entered after the last await: a span guard must not live across one.
    let traced = socket.clone();
    let _entered = traced.span().enter();
    tracing::debug!(target: "sockgate::socket", recovered, "socket connected");
    let connect_handler = ns.connect_handler.read().clone();
    if let Some(handler) = connect_handler {
        let span = tracing::debug_span!(
            target: "sockgate::event",
            "event",
            ns = nsp,
            sid = %id,
            event = "connection",
        );
        let _entered = span.enter();
        handler.call(
            SocketRef(socket),
            MessageParts {
                event: "connection".to_owned(),
                payload: Payload::from_parts(vec![auth], Vec::new()),
                ack_id: None,
            },
        );
    }
}

pub(crate) fn on_close(conn: &Connection<ClientState>, reason: DisconnectReason) {
    let client = conn.data();
    client.cancel_connect_timer();
    let reason = client.close_reason.lock().take().unwrap_or(reason);
    for socket in client.sockets() {
        socket.close(reason);
    }
}
