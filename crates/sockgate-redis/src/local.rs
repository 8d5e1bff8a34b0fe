//! What the classic and the sharded adapter do alike, whatever their transport: applying a
//! room operation or a disconnect to this node's matching sockets, answering `fetchSockets`
//! with them, and collecting the answers of a broadcast with acks.

use std::sync::Arc;

use parking_lot::RwLock;
use sockgate_core::{
    AdapterError, BroadcastOptions, LocalNamespace, Room, RoomIndex, Sid, SocketDetails,
};

/// Makes this node's sockets matching `opts` join `rooms`; returns them.
pub(crate) fn join(index: &mut RoomIndex, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
    let sids = index.select(opts);
    for sid in &sids {
        index.add_all(*sid, rooms);
    }
    sids
}

/// Makes this node's sockets matching `opts` leave `rooms`; returns them.
pub(crate) fn leave(index: &mut RoomIndex, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
    let sids = index.select(opts);
    for sid in &sids {
        for room in rooms {
            index.del(*sid, room);
        }
    }
    sids
}

/// A room operation another node asked for (`SOCKETS_JOIN`/`SOCKETS_LEAVE`, Node's
/// `REMOTE_JOIN`/`REMOTE_LEAVE`): `join` or `leave` applies it to this node's sockets, which
/// are then reported to the namespace (its observers hear of the joins and leaves).
pub(crate) fn remote_rooms_change(
    ns: Option<Arc<dyn LocalNamespace>>,
    rooms: &[Room],
    joined: bool,
    join: impl FnOnce() -> Vec<Sid>,
    leave: impl FnOnce() -> Vec<Sid>,
) {
    let sids = if joined { join() } else { leave() };
    if let Some(ns) = ns.filter(|_| !sids.is_empty()) {
        ns.rooms_changed_remotely(&sids, rooms, joined);
    }
}

/// Disconnects this node's sockets matching `opts`.
pub(crate) fn disconnect(
    index: &RwLock<RoomIndex>,
    ns: Option<Arc<dyn LocalNamespace>>,
    opts: &BroadcastOptions,
    close: bool,
) {
    // The selection is taken before the namespace runs: disconnecting leaves rooms.
    let sids = index.read().select(opts);
    if let Some(ns) = ns {
        ns.disconnect(&sids, close);
    }
}

/// The details of this node's sockets matching `opts`.
pub(crate) fn details(
    index: &RwLock<RoomIndex>,
    ns: Option<Arc<dyn LocalNamespace>>,
    opts: &BroadcastOptions,
) -> Vec<SocketDetails> {
    let sids = index.read().select(opts);
    match ns {
        Some(ns) => sids.into_iter().filter_map(|s| ns.details(s)).collect(),
        None => Vec::new(),
    }
}

/// The infallible `fetch_sockets`: the cluster's answer, or this node's sockets (logged) when
/// the other nodes could not be asked.
pub(crate) fn fetched_or_local(
    fetched: Result<Vec<SocketDetails>, AdapterError>,
    local: impl FnOnce() -> Vec<SocketDetails>,
) -> Vec<SocketDetails> {
    match fetched {
        Ok(sockets) => sockets,
        Err(error) => {
            tracing::warn!(%error, "fetchSockets answered with this node's sockets only");
            local()
        }
    }
}

/// One answer to a broadcast with acks, whatever the transport's message type.
pub(crate) enum AckReply {
    /// A node's `BROADCAST_CLIENT_COUNT`: how many of its clients were sent the event.
    Count(usize),
    /// One client's `BROADCAST_ACK`: its answer's first argument (Node forwards that only).
    Ack(serde_json::Value),
    /// Anything else on the request's channel.
    Other,
}

/// Waits for every other node's client count (until `deadline`), forwarding the acks that
/// arrive meanwhile to `on_ack`, and returns the number of remote clients to expect. The acks
/// keep coming after the counts: a task forwards them until the deadline, then drops `guard`,
/// which forgets the request (Node deletes its `ackRequests` entry after `flags.timeout`).
pub(crate) async fn collect_broadcast_acks<M, G>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<M>,
    guard: G,
    remote: usize,
    deadline: tokio::time::Instant,
    classify: impl Fn(&M) -> AckReply + Send + 'static,
    on_ack: sockgate_core::AckCallback,
) -> usize
where
    M: Send + 'static,
    G: Send + 'static,
{
    let forward = move |message: &M, counts: &mut usize, clients: &mut usize| {
        match classify(message) {
            AckReply::Count(n) => {
                *counts += 1;
                *clients += n;
            }
            // One argument, even when it is an array.
            AckReply::Ack(arg) => on_ack(vec![arg]),
            AckReply::Other => {}
        }
    };
    let (mut counts, mut clients) = (0, 0);
    while counts < remote {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) => forward(&message, &mut counts, &mut clients),
            Ok(None) | Err(_) => break,
        }
    }
    tokio::spawn(async move {
        let _guard = guard;
        let mut ignored = (0, 0);
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            forward(&message, &mut ignored.0, &mut ignored.1);
        }
    });
    clients
}
