//! The session machine plus what the drivers need to wake each other.

use std::task::Waker;
use std::time::Instant;

use sockgate_proto::engine::Session;

/// Everything about a session that is guarded by its lock.
#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) session: Session,
    /// The parked polling GET, woken when frames arrive or the session changes.
    pub(crate) poll_waker: Option<Waker>,
    /// The WebSocket driver (active or probing), woken the same way.
    pub(crate) ws_waker: Option<Waker>,
    pub(crate) get_in_flight: bool,
    pub(crate) post_in_flight: bool,
    /// Whether the upper layer was told the session closed.
    pub(crate) close_reported: bool,
    /// Whether the session left the engine's table.
    pub(crate) removed: bool,
    /// The deadline the shared timer will next wake this session at.
    pub(crate) scheduled: Option<Instant>,
    /// A queued frame must not wait for the write coalescing window.
    pub(crate) urgent: bool,
    /// A WebSocket driver owns the session's transport and has not finished writing its queue
    /// and closing: the session stays in the engine's table (and counts) until it has, so a
    /// graceful shutdown waits for the last frames.
    pub(crate) ws_attached: bool,
}

impl SessionState {
    pub(crate) fn new(session: Session) -> SessionState {
        SessionState {
            session,
            poll_waker: None,
            ws_waker: None,
            get_in_flight: false,
            post_in_flight: false,
            close_reported: false,
            removed: false,
            scheduled: None,
            urgent: false,
            ws_attached: false,
        }
    }

    pub(crate) fn has_queued(&self) -> bool {
        self.session.has_queued()
    }

    pub(crate) fn is_writable(&self) -> bool {
        match self.session.transport() {
            sockgate_proto::engine::TransportKind::WebSocket => self.session.is_writable(),
            sockgate_proto::engine::TransportKind::Polling => {
                self.session.is_writable() && self.poll_waker.is_some()
            }
        }
    }

    /// Wakes every driver waiting on this session; each re-checks what changed.
    pub(crate) fn wake(&mut self) {
        if let Some(w) = self.poll_waker.take() {
            w.wake();
        }
        if let Some(w) = self.ws_waker.take() {
            w.wake();
        }
    }
}
