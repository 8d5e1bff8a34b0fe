//! One Engine.IO session as the upper layer sees it: a handle to send frames and close.

use std::fmt;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;
use sockgate_proto::engine::{CloseReason, SessionError, SharedFrame, Sid, TransportKind};

use crate::request::RequestInfo;
use crate::session_state::SessionState;

/// Reports closes and releases sessions; implemented by the engine.
pub(crate) trait Reporter<D>: Send + Sync {
    /// The session closed or finished: notify the handler once and drop it from the table.
    fn settle(&self, connection: &Connection<D>);
    /// The session's next deadline moved earlier: tell the shared timer.
    fn schedule(&self, connection: &Arc<Connection<D>>, at: Instant);
    /// Settle the session from the engine's own timer task, not from the caller's stack.
    fn settle_soon(&self, connection: &Connection<D>);
}

/// A live Engine.IO session: the upper layer's handle to send to one client.
///
/// Cloning the `Arc` is cheap. Every method is safe to call after the session closed; sends are
/// then refused with [`SessionError::Closed`].
pub struct Connection<D> {
    sid: Sid,
    info: Arc<RequestInfo>,
    pub(crate) state: Mutex<SessionState>,
    reporter: Weak<dyn Reporter<D>>,
    data: D,
}

impl<D> fmt::Debug for Connection<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static> Connection<D> {
    pub(crate) fn new(
        sid: Sid,
        info: Arc<RequestInfo>,
        state: SessionState,
        reporter: Weak<dyn Reporter<D>>,
        data: D,
    ) -> Connection<D> {
        Connection {
            sid,
            info,
            state: Mutex::new(state),
            reporter,
            data,
        }
    }

    /// The Engine.IO session id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The handshake request.
    pub fn info(&self) -> &Arc<RequestInfo> {
        &self.info
    }

    /// The upper layer's per-connection data.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// A `session` span (target `sockgate_engine::session`, level DEBUG) with this session's
    /// id and transport: the WebSocket driver and each polling request run in one. Disabled
    /// (and free) unless a subscriber enables that target at DEBUG.
    pub fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            target: "sockgate_engine::session",
            "session",
            sid = %self.sid,
            transport = self.transport().as_str(),
        )
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        self.state.lock().session.transport()
    }

    /// True when a frame sent now would go out at once (used by volatile emits).
    pub fn is_writable(&self) -> bool {
        self.state.lock().is_writable()
    }

    /// True once the session is closed.
    pub fn is_closed(&self) -> bool {
        self.state.lock().session.is_closed()
    }

    /// Why the session closed, once it has (`None` while open or while a server close is
    /// still delivering the queue).
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.state.lock().session.close_reason()
    }

    /// Queues one frame for the client.
    pub fn send(&self, frame: SharedFrame) -> Result<(), SessionError> {
        self.send_all([frame])
    }

    /// Queues several frames in order, atomically: nothing else is interleaved (a Socket.IO
    /// packet and its binary attachments). They are written at once.
    pub fn send_all(
        &self,
        frames: impl IntoIterator<Item = SharedFrame>,
    ) -> Result<(), SessionError> {
        self.enqueue(frames, true)
    }

    /// Same as [`Connection::send_all`] for frames that may wait for the write coalescing
    /// window ([`crate::EngineConfig::write_coalescing`]): the copies of a broadcast. Replies
    /// and other unicast frames should use `send_all`, which also flushes anything waiting.
    pub fn send_all_coalesced(
        &self,
        frames: impl IntoIterator<Item = SharedFrame>,
    ) -> Result<(), SessionError> {
        self.enqueue(frames, false)
    }

    fn enqueue(
        &self,
        frames: impl IntoIterator<Item = SharedFrame>,
        urgent: bool,
    ) -> Result<(), SessionError> {
        let result = {
            let mut state = self.state.lock();
            let mut result = Ok(());
            for frame in frames {
                result = state.session.send(frame);
                if result.is_err() {
                    break;
                }
            }
            state.urgent |= urgent;
            state.wake();
            result
        };
        if result == Err(SessionError::BufferFull) {
            // Never report the close from here: the caller may be a broadcast in the middle of
            // its fan-out, holding locks that the closed socket's removal needs, or user code
            // that must not see its own disconnect callbacks run inside `emit`.
            if let Some(reporter) = self.reporter.upgrade() {
                reporter.settle_soon(self);
            }
        }
        result
    }

    /// Closes the session from the server side, after the queued frames are delivered.
    pub fn close(&self) {
        {
            let mut state = self.state.lock();
            state.session.close(Instant::now());
            state.wake();
        }
        self.settle();
    }

    /// Ends the session at once with `reason` (transport failure, protocol error).
    pub(crate) fn fail(&self, reason: CloseReason) {
        {
            let mut state = self.state.lock();
            state.session.fail(reason);
            state.wake();
        }
        self.settle();
    }

    pub(crate) fn settle(&self) {
        if let Some(reporter) = self.reporter.upgrade() {
            reporter.settle(self);
        }
    }

    /// Registers the session's next deadline with the shared timer, if it moved earlier.
    pub(crate) fn reschedule(self: &Arc<Self>) {
        let at = {
            let mut state = self.state.lock();
            match state.session.poll_timeout() {
                Some(at) if state.scheduled.is_none_or(|s| at < s) => {
                    state.scheduled = Some(at);
                    at
                }
                _ => return,
            }
        };
        if let Some(reporter) = self.reporter.upgrade() {
            reporter.schedule(self, at);
        }
    }

    /// Waits until the WebSocket writer has something to do: frames queued, the session
    /// closed, or (while probing) the probe ended.
    ///
    /// `holding`: frames already wait for the coalescing window, so only an urgent frame or a
    /// close needs the writer now.
    pub(crate) fn poll_ws_work(
        &self,
        cx: &mut Context<'_>,
        probing: bool,
        holding: bool,
    ) -> Poll<()> {
        let mut state = self.state.lock();
        let ready = state.session.is_closed()
            || if probing {
                !state.session.is_upgrading()
                    || state.session.transport() == TransportKind::WebSocket
            } else if holding {
                state.urgent
            } else {
                state.has_queued()
            };
        if ready {
            return Poll::Ready(());
        }
        store_waker(&mut state.ws_waker, cx.waker());
        Poll::Pending
    }
}

impl<D: Send + Sync + 'static> Connection<D> {
    /// Ready once the session was aborted (see `Session::is_aborted`): a WebSocket write in
    /// progress is then for nobody and must stop. Uses the writer's waker slot, which is free
    /// while the writer is busy writing.
    pub(crate) fn poll_aborted(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.session.is_aborted() {
            return Poll::Ready(());
        }
        store_waker(&mut state.ws_waker, cx.waker());
        Poll::Pending
    }

    /// Marks whether a WebSocket driver owns the transport (see `SessionState::ws_attached`).
    pub(crate) fn set_ws_attached(&self, attached: bool) {
        self.state.lock().ws_attached = attached;
    }
}

/// A connection in the engine's sessions table, hashed and compared by its sid, which it
/// lends as the key (`Borrow<Sid>`): a `HashMap<Sid, Arc<Connection>>` entry would store a
/// second copy of the 20-byte sid, padded to 32 bytes with the pointer, where this is 8
/// (about 39 bytes less per session with the table's load factor).
pub(crate) struct BySid<D>(pub(crate) Arc<Connection<D>>);

impl<D> BySid<D> {
    pub(crate) fn connection(&self) -> Arc<Connection<D>> {
        self.0.clone()
    }
}

impl<D> std::borrow::Borrow<Sid> for BySid<D> {
    fn borrow(&self) -> &Sid {
        &self.0.sid
    }
}

// `Borrow` requires that the wrapper hashes and compares exactly as the sid it lends.
impl<D> std::hash::Hash for BySid<D> {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.0.sid.hash(state);
    }
}

impl<D> PartialEq for BySid<D> {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid == other.0.sid
    }
}

impl<D> Eq for BySid<D> {}

pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(existing) if existing.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
