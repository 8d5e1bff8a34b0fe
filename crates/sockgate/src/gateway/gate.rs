//! The connection gate: messages that arrive before `handle_connection` finished wait here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::handler::MessageParts;

/// The most messages a socket may have waiting for its `handle_connection` (see
/// [`ConnectionGate`]); later ones are refused with an `exception`.
const MAX_EARLY_MESSAGES: usize = 256;
/// The most bytes (estimated) those messages may hold, unless `maxHttpBufferSize` is larger
/// (one message of the largest size always fits).
const MAX_EARLY_BYTES: usize = 1 << 20;

/// A message that arrived before `handle_connection` finished, and what starts its route.
pub(super) struct EarlyMessage {
    pub(super) parts: MessageParts,
    pub(super) start: Box<dyn FnOnce(MessageParts) + Send>,
}

impl EarlyMessage {
    pub(super) fn start(self) {
        (self.start)(self.parts);
    }
}

const GATE_WAITING: u8 = 0;
const GATE_OPEN: u8 = 1;
const GATE_REFUSED: u8 = 2;

/// A per-socket gate opened once `handle_connection` finished.
///
/// Messages that arrive while it is closed wait in one queue, in arrival order, and are
/// started in that order when it opens (messages arriving during the drain queue behind it),
/// or dropped when it refuses. One queue, not one waiting task per message: tasks woken
/// together run in any order. Bounded in count and bytes.
pub(super) struct ConnectionGate {
    /// `GATE_*`: read without the lock on every message once open.
    state: AtomicU8,
    early: parking_lot::Mutex<EarlyQueue>,
    max_bytes: usize,
}

#[derive(Default)]
struct EarlyQueue {
    messages: VecDeque<(usize, EarlyMessage)>,
    bytes: usize,
    /// Whether an overflow was logged already (once per socket, not once per message).
    overflow_logged: bool,
}

/// What to do with a message that reached a gateway route.
pub(super) enum Admission {
    /// The gate is open and nothing waits: handle it now.
    Run(EarlyMessage),
    /// Queued until the gate opens.
    Queued,
    /// The gate refused the socket: drop it.
    Refused,
    /// The queue is full: refuse the message (`true`: the first time, log it).
    Full(EarlyMessage, bool),
}

impl ConnectionGate {
    pub(super) fn new(max_payload: u64) -> Self {
        ConnectionGate {
            state: AtomicU8::new(GATE_WAITING),
            early: parking_lot::Mutex::new(EarlyQueue::default()),
            max_bytes: MAX_EARLY_BYTES.max(usize::try_from(max_payload).unwrap_or(usize::MAX)),
        }
    }

    /// Open, and nothing waits any more (checked without the lock).
    pub(super) fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == GATE_OPEN
    }

    pub(super) fn admit(&self, message: EarlyMessage) -> Admission {
        let bytes = approx_size(&message.parts);
        let mut early = self.early.lock();
        // Decided while we took the lock (the state only changes under it).
        match self.state.load(Ordering::Acquire) {
            GATE_OPEN => return Admission::Run(message),
            GATE_REFUSED => return Admission::Refused,
            _ => {}
        }
        if early.messages.len() >= MAX_EARLY_MESSAGES
            || (!early.messages.is_empty() && early.bytes.saturating_add(bytes) > self.max_bytes)
        {
            let first = !std::mem::replace(&mut early.overflow_logged, true);
            return Admission::Full(message, first);
        }
        early.bytes += bytes;
        early.messages.push_back((bytes, message));
        Admission::Queued
    }

    /// Called once `handle_connection` finished: starts the queued messages in order (each
    /// as if it had just arrived: polled once, spawned if it waits), then opens; or drops
    /// them and refuses.
    pub(super) fn decide(&self, passed: bool) {
        if !passed {
            self.refuse();
            return;
        }
        loop {
            let next: EarlyMessage = {
                let mut early = self.early.lock();
                if self.state.load(Ordering::Acquire) == GATE_REFUSED {
                    return;
                }
                match early.messages.pop_front() {
                    Some((bytes, message)) => {
                        early.bytes -= bytes;
                        message
                    }
                    None => {
                        self.state.store(GATE_OPEN, Ordering::Release);
                        return;
                    }
                }
            };
            // Outside the lock: the route runs user code, and may receive more messages.
            next.start();
        }
    }

    /// Drops what waits and refuses what comes (the hook failed, or the socket left).
    pub(super) fn refuse(&self) {
        let dropped = {
            let mut early = self.early.lock();
            self.state.store(GATE_REFUSED, Ordering::Release);
            early.bytes = 0;
            std::mem::take(&mut early.messages)
        };
        // Dropped outside the lock: a message owns user values.
        drop(dropped);
    }
}

/// A rough size of a message body, to bound what waits behind a closed gate.
fn approx_size(parts: &MessageParts) -> usize {
    fn value(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.len() + 8,
            serde_json::Value::Array(a) => a.iter().map(value).sum::<usize>() + 8,
            serde_json::Value::Object(o) => {
                o.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>() + 8
            }
            _ => 8,
        }
    }
    parts.event.len()
        + parts.payload.args().iter().map(value).sum::<usize>()
        + parts
            .payload
            .attachments
            .iter()
            .map(|a| a.len())
            .sum::<usize>()
}
