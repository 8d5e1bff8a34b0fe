//! The node-local half of a cluster adapter, the same for the classic and the sharded one:
//! applying a room operation or a disconnect to this node's matching sockets, and answering
//! `fetchSockets` with them.

use std::sync::Arc;

use parking_lot::RwLock;
use sockgate_core::{
    AdapterError, BroadcastOptions, LocalNamespace, Room, RoomIndex, SocketDetails,
};

/// Makes this node's sockets matching `opts` join `rooms`.
pub(crate) fn join(index: &mut RoomIndex, opts: &BroadcastOptions, rooms: &[Room]) {
    for sid in index.select(opts) {
        index.add_all(sid, rooms);
    }
}

/// Makes this node's sockets matching `opts` leave `rooms`.
pub(crate) fn leave(index: &mut RoomIndex, opts: &BroadcastOptions, rooms: &[Room]) {
    for sid in index.select(opts) {
        for room in rooms {
            index.del(sid, room);
        }
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
