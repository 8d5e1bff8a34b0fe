//! The UI's commands: `emit`, `join`, `leave`, `_disconnect`, each for a namespace and
//! optionally a room (the filter), run through the adapter so they reach every node.
//!
//! A malformed command (wrong types, missing namespace) is logged at `debug` and ignored,
//! as Node ignores a command for a filter that matches nobody.

use serde_json::Value;

use crate::operators::BroadcastOperators;
use crate::server::SocketIo;
use crate::NamespaceRef;
use crate::Payload;

/// Registers the four commands on the admin namespace.
pub(super) fn register(io: &SocketIo, admin: &NamespaceRef) {
    let server = io.clone();
    admin.on("emit", move |payload: Payload| {
        if let Err(why) = emit(&server, &payload) {
            tracing::debug!(target: "sockgate::admin", "ignored emit command: {why}");
        }
    });
    let server = io.clone();
    admin.on("join", move |payload: Payload| {
        if let Err(why) = rooms_command(&server, &payload, BroadcastOperators::sockets_join) {
            tracing::debug!(target: "sockgate::admin", "ignored join command: {why}");
        }
    });
    let server = io.clone();
    admin.on("leave", move |payload: Payload| {
        if let Err(why) = rooms_command(&server, &payload, BroadcastOperators::sockets_leave) {
            tracing::debug!(target: "sockgate::admin", "ignored leave command: {why}");
        }
    });
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
fn rooms_command(
    io: &SocketIo,
    payload: &Payload,
    run: fn(BroadcastOperators, Vec<crate::Room>),
) -> Result<(), String> {
    let targets = targets(io, payload, 2)?;
    let room = string_arg(payload, 1).ok_or("the room (argument 2) must be a string")?;
    run(targets, vec![room.into()]);
    Ok(())
}

/// `_disconnect(nsp, close, filter?)`.
fn disconnect(io: &SocketIo, payload: &Payload) -> Result<(), String> {
    let targets = targets(io, payload, 2)?;
    let close = matches!(payload.args.get(1), Some(Value::Bool(true)));
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
    Ok(match payload.args.get(filter_at) {
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
        .args
        .get(index)
        .and_then(Value::as_str)
        .map(str::to_owned)
}
