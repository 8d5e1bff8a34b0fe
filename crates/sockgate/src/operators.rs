//! Broadcast operators: `to`, `except`, `local`, `volatile`, `compress`, `timeout`, then
//! `emit`, `emit_with_ack`, `fetch_sockets`, `sockets_join`, `sockets_leave`,
//! `disconnect_sockets`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sockgate_core::{BroadcastOptions, LocalNamespace, Room, Sid, SocketDetails};
use tokio::sync::mpsc;

use crate::ack::AckResponses;
use crate::namespace::Namespace;
use crate::payload::{IntoPayload, Payload};
use crate::socket::IntoRooms;
use crate::SendError;

/// A chain of broadcast modifiers ending in an action.
#[derive(Debug, Clone)]
pub struct BroadcastOperators {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
}

impl BroadcastOperators {
    pub(crate) fn new(ns: Arc<Namespace>, opts: BroadcastOptions) -> Self {
        BroadcastOperators { ns, opts }
    }

    /// Adds target rooms (the union is reached).
    pub fn to<R: IntoRooms>(mut self, rooms: R) -> Self {
        for room in rooms.into_rooms() {
            if !self.opts.rooms.contains(&room) {
                self.opts.rooms.push(room);
            }
        }
        self
    }

    /// Same as [`BroadcastOperators::to`] (Node's `in`).
    pub fn within<R: IntoRooms>(self, rooms: R) -> Self {
        self.to(rooms)
    }

    /// Skips the members of these rooms.
    pub fn except<R: IntoRooms>(mut self, rooms: R) -> Self {
        for room in rooms.into_rooms() {
            if !self.opts.except.contains(&room) {
                self.opts.except.push(room);
            }
        }
        self
    }

    /// Only this node's sockets.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Drops the packet for recipients that cannot take it right now.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Sets the compression flag.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = Some(compress);
        self
    }

    /// Sets the ack timeout for [`BroadcastOperators::emit_with_ack`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The options built so far.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Emits to every matching socket.
    pub fn emit<P: IntoPayload>(self, event: &str, data: P) -> Result<(), SendError> {
        crate::check_event_name(event)?;
        let payload = data.into_payload().map_err(SendError::Serialize)?;
        let packet = payload.into_event(self.ns.name(), event);
        self.ns.adapter().broadcast(packet, self.opts);
        Ok(())
    }

    /// Emits to every matching socket and collects their acks until all answered or the
    /// timeout passed (the one set with [`BroadcastOperators::timeout`], else the server's ack
    /// timeout: 5 s unless set with [`crate::SocketIoBuilder::ack_timeout`]); the result says
    /// who did not answer. Decode the answers with [`AckResponses::values`]: `values::<T>()`
    /// for each first argument, `values::<Args<(A, B)>>()` for every argument.
    pub async fn emit_with_ack<P: IntoPayload>(
        self,
        event: &str,
        data: P,
    ) -> Result<AckResponses, SendError> {
        crate::check_event_name(event)?;
        let payload = data.into_payload().map_err(SendError::Serialize)?;
        let id = self.ns.next_ack_id();
        let packet = payload.into_event(self.ns.name(), event).with_id(id);
        let timeout = self
            .opts
            .flags
            .timeout
            .unwrap_or(self.ns.server().config.ack_timeout);

        let sids = self.ns.adapter().local_sockets(&self.opts);
        let (tx, mut rx) = mpsc::unbounded_channel::<(Option<Sid>, Payload)>();
        let waiting = self.ns.register_broadcast_acks(&sids, id, &tx);
        // Whatever ends the wait (every answer, the timeout, this future dropped), the ids
        // left in the recipients' tables are removed.
        let _forget = ForgetBroadcastAcks {
            ns: &self.ns,
            id,
            sids: &waiting,
        };
        self.ns.deliver(&waiting, &packet, &self.opts.flags);
        let mut expected = waiting.len();
        if !self.opts.flags.local {
            let remote_tx = tx.clone();
            // The adapter hands each remote answer's arguments as a list: an answer whose
            // one argument is an array stays one argument.
            let on_ack: sockgate_core::AckCallback = Arc::new(move |args: Vec<Value>| {
                let _ = remote_tx.send((None, Payload::from_parts(args, Vec::new())));
            });
            let timer = AdapterTimer::start(&self.ns);
            expected += self
                .ns
                .adapter()
                .broadcast_with_ack_remote(packet, self.opts.clone(), on_ack)
                .await;
            timer.finish(&self.ns, "broadcast_with_ack", true);
        }
        drop(tx);

        let mut responses = AckResponses {
            expected,
            ..Default::default()
        };
        // One deadline for the whole broadcast.
        let deadline = crate::deadline_after(timeout);
        while responses.answers.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(answer)) => responses.answers.push(answer),
                Ok(None) => break,
                Err(_) => {
                    self.ns.observe(|o, ns| o.ack_timed_out(ns, None));
                    break;
                }
            }
        }
        let answered: HashSet<Sid> = responses.answers.iter().filter_map(|(s, _)| *s).collect();
        responses.missing = waiting
            .iter()
            .filter(|sid| !answered.contains(sid))
            .copied()
            .collect();
        Ok(responses)
    }

    /// Every matching socket, local and remote. When other nodes cannot be reached or do not
    /// all answer in time, the adapter logs it and this returns what it has (at least this
    /// node's sockets); use [`BroadcastOperators::try_fetch_sockets`] to get the error.
    pub async fn fetch_sockets(self) -> Vec<RemoteSocket> {
        let timer = AdapterTimer::start(&self.ns);
        let details = self.ns.adapter().fetch_sockets(self.opts.clone()).await;
        timer.finish(&self.ns, "fetch_sockets", true);
        self.remote_sockets(details)
    }

    /// [`BroadcastOperators::fetch_sockets`] that fails when the other nodes cannot be reached
    /// or do not all answer within the adapter's request timeout (see
    /// [`sockgate_core::AdapterError`] for what to do).
    pub async fn try_fetch_sockets(self) -> Result<Vec<RemoteSocket>, sockgate_core::AdapterError> {
        let timer = AdapterTimer::start(&self.ns);
        let details = self.ns.adapter().try_fetch_sockets(self.opts.clone()).await;
        timer.finish(&self.ns, "fetch_sockets", details.is_ok());
        Ok(self.remote_sockets(details?))
    }

    fn remote_sockets(&self, details: Vec<SocketDetails>) -> Vec<RemoteSocket> {
        details
            .into_iter()
            .map(|details| RemoteSocket {
                details,
                ns: self.ns.clone(),
            })
            .collect()
    }

    /// Sends an event to the other servers of the cluster (Node's
    /// `io.timeout(t).serverSideEmitWithAck`) and collects one answer per other server within
    /// the timeout set with [`BroadcastOperators::timeout`] (else the server's ack timeout).
    /// The rooms and flags are not used: a server-side event goes to every other server.
    /// Decode the answers with [`AckResponses::values`]. Fails with
    /// [`crate::ClusterError::Adapter`] when a server did not answer in time.
    pub async fn server_side_emit_with_ack<P: IntoPayload>(
        self,
        event: &str,
        data: P,
    ) -> Result<AckResponses, crate::ClusterError> {
        let data = crate::namespace::server_side_data(event, data)?;
        let timeout = self
            .opts
            .flags
            .timeout
            .unwrap_or(self.ns.server().config.ack_timeout);
        let timer = AdapterTimer::start(&self.ns);
        let answers = self
            .ns
            .adapter()
            .server_side_emit_with_ack(data, timeout)
            .await;
        timer.finish(&self.ns, "server_side_emit_with_ack", answers.is_ok());
        let answers = answers?;
        Ok(AckResponses {
            expected: answers.len(),
            missing: Vec::new(),
            answers: answers
                .into_iter()
                .map(|answer| (None, Payload::from_parts(vec![answer], Vec::new())))
                .collect(),
        })
    }

    /// Makes every matching socket join `rooms`.
    pub fn sockets_join<R: IntoRooms>(self, rooms: R) {
        let rooms = rooms.into_rooms();
        let local = self.observed_locals();
        self.ns.adapter().add_sockets(self.opts, rooms.clone());
        for socket in local {
            for room in &rooms {
                self.ns.observe(|o, ns| o.room_joined(ns, &socket, room));
            }
        }
    }

    /// Makes every matching socket leave `rooms`.
    pub fn sockets_leave<R: IntoRooms>(self, rooms: R) {
        let rooms = rooms.into_rooms();
        let local = self.observed_locals();
        self.ns.adapter().del_sockets(self.opts, rooms.clone());
        for socket in local {
            for room in &rooms {
                self.ns.observe(|o, ns| o.room_left(ns, &socket, room));
            }
        }
    }

    /// The local sockets this operator selects, when anything observes (for the room
    /// callbacks of `sockets_join` / `sockets_leave`); nothing is looked up otherwise.
    fn observed_locals(&self) -> Vec<Arc<crate::socket::Socket>> {
        if !self.ns.is_observed() {
            return Vec::new();
        }
        self.ns
            .adapter()
            .local_sockets(&self.opts)
            .into_iter()
            .filter_map(|sid| self.ns.socket(sid))
            .collect()
    }

    /// Disconnects every matching socket (`close`: also close their connections).
    pub fn disconnect_sockets(self, close: bool) {
        self.ns.adapter().disconnect_sockets(self.opts, close);
    }
}

/// A socket returned by `fetch_sockets`, possibly on another node (Node's `RemoteSocket`).
///
/// Its operations go through the adapter as a broadcast to the socket's own room, so they
/// reach it wherever it is connected: [`RemoteSocket::emit`] is a broadcast to its id,
/// [`RemoteSocket::join`] / [`RemoteSocket::leave`] / [`RemoteSocket::disconnect`] are
/// `sockets_join` / `sockets_leave` / `disconnect_sockets` on its id.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    details: SocketDetails,
    ns: Arc<Namespace>,
}

impl RemoteSocket {
    /// The socket id.
    pub fn id(&self) -> sockgate_core::SocketId {
        self.details.id
    }

    /// The rooms it is in.
    pub fn rooms(&self) -> &[Room] {
        &self.details.rooms
    }

    /// Its `data`.
    pub fn data(&self) -> &Value {
        &self.details.data
    }

    /// Its handshake, as Node serializes it.
    pub fn handshake(&self) -> &Value {
        &self.details.handshake
    }

    fn only_me(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.ns.clone(), BroadcastOptions::default()).to(self.details.id)
    }

    /// Emits to this socket.
    pub fn emit<P: IntoPayload>(&self, event: &str, data: P) -> Result<(), SendError> {
        self.only_me().emit(event, data)
    }

    /// Joins rooms.
    pub fn join<R: IntoRooms>(&self, rooms: R) {
        self.only_me().sockets_join(rooms);
    }

    /// Leaves rooms.
    pub fn leave<R: IntoRooms>(&self, rooms: R) {
        self.only_me().sockets_leave(rooms);
    }

    /// Disconnects it.
    pub fn disconnect(&self, close: bool) {
        self.only_me().disconnect_sockets(close);
    }
}

/// Removes a broadcast's ack id from every recipient's table when the broadcast stops waiting.
struct ForgetBroadcastAcks<'a> {
    ns: &'a Namespace,
    id: u64,
    sids: &'a [Sid],
}

impl Drop for ForgetBroadcastAcks<'_> {
    fn drop(&mut self) {
        self.ns.forget_broadcast_acks(self.sids, self.id);
    }
}

/// When an adapter request started, if anything observes the namespace.
pub(crate) struct AdapterTimer(Option<std::time::Instant>);

impl AdapterTimer {
    pub(crate) fn start(ns: &Namespace) -> AdapterTimer {
        AdapterTimer(ns.is_observed().then(std::time::Instant::now))
    }

    pub(crate) fn finish(self, ns: &Namespace, kind: &'static str, ok: bool) {
        if let Some(started) = self.0 {
            let request = crate::observe::AdapterRequestEvent {
                kind,
                latency: started.elapsed(),
                ok,
            };
            ns.observe(|o, view| o.adapter_request(view, &request));
        }
    }
}
