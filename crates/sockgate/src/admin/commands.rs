//! The UI's commands: `emit`, `join`, `leave`, `_disconnect`, each for a namespace and
//! optionally a room (the filter), run through the adapter so they reach every node.
//!
//! A malformed command (wrong types, missing namespace) is logged at `debug` and ignored,
//! as Node ignores a command for a filter that matches nobody.
//!
//! `sockets_join` / `sockets_leave` fire the room hooks for this node's sockets only: another
//! node's adapter applies the operation to its index directly. So in development mode the
//! command fetches its targets first (from every node) and reports the rooms that changed
//! for the sockets of other nodes itself.

use std::sync::Arc;

use serde_json::Value;

use super::time::now_iso;
use super::{Admin, AdminMode};
use crate::operators::BroadcastOperators;
use crate::server::SocketIo;
use crate::NamespaceRef;
use crate::Payload;

/// Join or leave.
#[derive(Clone, Copy, PartialEq)]
enum RoomOp {
    Join,
    Leave,
}

/// Registers the four commands on the admin namespace.
pub(super) fn register(io: &SocketIo, admin: &NamespaceRef, state: &Arc<Admin>) {
    let server = io.clone();
    admin.on("emit", move |payload: Payload| {
        if let Err(why) = emit(&server, &payload) {
            tracing::debug!(target: "sockgate::admin", "ignored emit command: {why}");
        }
    });
    for op in [RoomOp::Join, RoomOp::Leave] {
        let server = io.clone();
        let state = state.clone();
        let name = if op == RoomOp::Join { "join" } else { "leave" };
        admin.on(name, move |payload: Payload| {
            let server = server.clone();
            let state = state.clone();
            async move {
                if let Err(why) = rooms_command(&server, &state, &payload, op).await {
                    tracing::debug!(target: "sockgate::admin", "ignored {name} command: {why}");
                }
            }
        });
    }
    let server = io.clone();
    admin.on("_disconnect", move |payload: Payload| {
        if let Err(why) = disconnect(&server, &payload) {
            tracing::debug!(target: "sockgate::admin", "ignored _disconnect command: {why}");
        }
    });
}

/// `emit(nsp, filter, event, ...args)`.
fn emit(io: &SocketIo, payload: &Payload) -> Result<(), String> {
    let targets = targets(io, payload, 1)?;
    let event = string_arg(payload, 2).ok_or("the event name (argument 3) must be a string")?;
    let args = Payload::from_args(payload.to_args().into_iter().skip(3));
    targets.emit(&event, args).map_err(|e| e.to_string())
}

/// `join(nsp, room, filter?)` / `leave(nsp, room, filter?)`.
async fn rooms_command(
    io: &SocketIo,
    admin: &Admin,
    payload: &Payload,
    op: RoomOp,
) -> Result<(), String> {
    let targets = targets(io, payload, 2)?;
    let room = string_arg(payload, 1).ok_or("the room (argument 2) must be a string")?;
    let nsp = string_arg(payload, 0).unwrap_or_default();
    let before = match admin.options.mode {
        AdminMode::Development => targets.clone().fetch_sockets().await,
        AdminMode::Production => Vec::new(),
    };
    match op {
        RoomOp::Join => targets.sockets_join(room.as_str()),
        RoomOp::Leave => targets.sockets_leave(room.as_str()),
    }
    let event = match op {
        RoomOp::Join => "room_joined",
        RoomOp::Leave => "room_left",
    };
    let local = io.of(&nsp);
    for socket in before {
        if local
            .as_ref()
            .is_some_and(|ns| ns.get_socket(socket.id()).is_some())
        {
            continue; // reported by this node's room hooks
        }
        let was_in = socket.rooms().iter().any(|r| **r == *room);
        if was_in == (op == RoomOp::Leave) {
            admin.queue.push(
                event,
                vec![
                    Value::from(nsp.as_str()),
                    Value::from(room.as_str()),
                    Value::from(socket.id().as_str()),
                    Value::from(now_iso()),
                ],
            );
        }
    }
    Ok(())
}

/// `_disconnect(nsp, close, filter?)`.
fn disconnect(io: &SocketIo, payload: &Payload) -> Result<(), String> {
    let targets = targets(io, payload, 2)?;
    let close = matches!(payload.get(1), Some(Value::Bool(true)));
    targets.disconnect_sockets(close);
    Ok(())
}

/// The namespace of argument 1 and the room filter of argument `filter_at` (a room, a list
/// of rooms, or nothing for the whole namespace).
fn targets(
    io: &SocketIo,
    payload: &Payload,
    filter_at: usize,
) -> Result<BroadcastOperators, String> {
    let name = string_arg(payload, 0).ok_or("the namespace (argument 1) must be a string")?;
    let ns = io
        .of(&name)
        .ok_or_else(|| format!("no namespace {name:?} on this server"))?;
    let operators = ns.broadcast();
    Ok(match payload.get(filter_at) {
        None | Some(Value::Null) => operators,
        Some(Value::String(room)) if room.is_empty() => operators,
        Some(Value::String(room)) => operators.to(room.as_str()),
        Some(Value::Array(rooms)) => {
            let rooms: Vec<String> = rooms
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect();
            operators.to(rooms)
        }
        Some(other) => return Err(format!("the room filter must be a string, not {other}")),
    })
}

fn string_arg(payload: &Payload, index: usize) -> Option<String> {
    payload
        .get(index)
        .and_then(Value::as_str)
        .map(str::to_owned)
}
