//! The driver's writes: taking the session's queue (with write coalescing) and the deadline
//! every write races. Shared by every driver: what differs between them is only how bytes reach
//! the socket.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sockgate_proto::engine::policy::{WriteCoalescer, WriteDecision, WsEnd};
use sockgate_proto::engine::SharedFrame;

use super::driver::Driver;
use super::socket::{rest_of, Written};
use crate::connection::Connection;
use crate::handler::EngineHandler;

/// What [`Coalescing::take`] took from the session.
pub(super) struct Batch {
    /// The frames to write now (empty while the window holds them).
    pub(super) frames: VecDeque<SharedFrame>,
    /// The session is closed: once these frames are out, the socket closes.
    pub(super) closed: bool,
}

impl Batch {
    /// Whether the driver stops after writing a batch (`closed`: its `closed` flag;
    /// `written`: the write's result, `Ok` when there was nothing to write).
    pub(super) fn finished<D: Send + Sync + 'static>(
        connection: &Connection<D>,
        closed: bool,
        written: io::Result<()>,
    ) -> Option<WsEnd> {
        if written.is_err() {
            // Too slow (write deadline), aborted, or the socket failed.
            return Some(WsEnd::QueueWriteFailed);
        }
        if closed {
            connection.settle();
            return Some(WsEnd::SessionClosed);
        }
        None
    }
}

/// Write coalescing of one driver: the pure [`WriteCoalescer`] and the timer it asks for.
#[derive(Default)]
pub(super) struct Coalescing {
    coalescer: WriteCoalescer,
    /// Armed while frames wait for the coalescing window to end; boxed so an idle socket
    /// does not carry a timer in its state.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Coalescing {
    /// Takes the session's queue unless [`WriteCoalescer`] holds it for the rest of `window`
    /// (then arms the timer).
    pub(super) fn take<D: Send + Sync + 'static>(
        &mut self,
        connection: &Connection<D>,
        window: Duration,
    ) -> Batch {
        let mut state = connection.state.lock();
        let closed = state.session.is_closed();
        let queued = state.session.has_queued();
        if !queued && !closed {
            // Nothing to write or hold (the driver asks before every wait, so most often
            // after a read that queued nothing): no clock read, no decision to make. Nothing
            // is queued, so nothing is urgent either.
            state.urgent = false;
            return Batch {
                frames: VecDeque::new(),
                closed: false,
            };
        }
        let now = Instant::now();
        match self
            .coalescer
            .poll_write(now, window, closed, state.urgent, queued)
        {
            WriteDecision::Hold { arm } => {
                if let Some(until) = arm {
                    self.timer = Some(Box::pin(tokio::time::sleep_until(until.into())));
                }
                Batch {
                    frames: VecDeque::new(),
                    closed: false,
                }
            }
            WriteDecision::Write => {
                state.urgent = false;
                let frames = state.session.drain();
                if !frames.is_empty() {
                    // These frames are written now: any armed flush is cancelled.
                    self.timer = None;
                    self.coalescer.handle_write(now, frames.len());
                }
                Batch { frames, closed }
            }
        }
    }

    /// Whether frames wait for the timer.
    pub(super) fn is_holding(&self) -> bool {
        self.coalescer.is_holding()
    }

    /// Completes when the armed timer fires (never when none is armed); the window is then
    /// over.
    pub(super) fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(timer) = self.timer.as_mut() else {
            return Poll::Pending;
        };
        std::task::ready!(timer.as_mut().poll(cx));
        self.timer = None;
        self.coalescer.handle_timer();
        Poll::Ready(())
    }
}

/// Runs one write of a driver. A write waits for the client to read, so it races the session's
/// abort (ping timeout, full queue: nobody will read this) and the write `deadline` (a client
/// that stopped reading); either ends the write with an error (the abort first, as a `biased`
/// select would). A write that completes on its first poll (the common case: the kernel has
/// room) builds no timer at all; only a write that has to wait arms the deadline.
///
/// The write comes pinned by the caller and the timer is boxed: this future is part of every
/// WebSocket task's state, so what it holds inline is paid by every idle socket (taking the
/// write by value and pinning it here stored it twice, and the inline `Sleep` added 112 bytes:
/// 776 bytes in all, against about 300 now).
pub(super) async fn race_write<D: Send + Sync + 'static, F>(
    connection: &Connection<D>,
    deadline: Duration,
    mut write: Pin<&mut F>,
) -> io::Result<()>
where
    F: Future<Output = io::Result<()>>,
{
    if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
        return result;
    }
    let mut timer = Box::pin(tokio::time::sleep(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(result) = write.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if connection.poll_aborted(cx).is_ready() {
            return Poll::Ready(Err(io::Error::other("session aborted")));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        Poll::Pending
    })
    .await
}

impl<H: EngineHandler> Driver<H> {
    /// Writes what the kernel takes now of a batch's frames (see [`Driver::write_now`]).
    pub(super) fn try_write_queue(
        &mut self,
        frames: &VecDeque<SharedFrame>,
    ) -> io::Result<Written> {
        // One frame per write is the common case when a socket is idle: no list to build.
        if let [frame] = frames.as_slices().0 {
            return self.socket.try_write_now(&[frame.ws_frame()]);
        }
        let bytes: Vec<&Bytes> = frames.iter().map(|f| f.ws_frame()).collect();
        self.socket.try_write_now(&bytes)
    }

    /// The rest of a batch's write once its first `done` bytes are out, then what follows
    /// a batch (the handler is told; whether the driver stops, `closed`: the session's queue
    /// is out): one boxed future, so that the driver's state holds only its pointer.
    pub(super) fn queue_rest(
        &mut self,
        frames: &VecDeque<SharedFrame>,
        done: usize,
        closed: bool,
    ) -> PendingFlush<'_> {
        let count = frames.len();
        let bytes: Vec<&Bytes> = frames.iter().map(|f| f.ws_frame()).collect();
        let rest = rest_of(&bytes, done);
        let deadline = self.shared.config.websocket_write_timeout;
        let shared = &self.shared;
        let connection = &self.connection;
        let socket = &mut self.socket;
        Box::pin(async move {
            let written = {
                let rest_refs: Vec<&Bytes> = rest.iter().collect();
                let write = std::pin::pin!(socket.write_frames(&rest_refs));
                race_write(connection, deadline, write).await
            };
            shared.handler.on_frames_written(connection, count);
            Batch::finished(connection, closed, written)
        })
    }

    /// Every write of the driver goes through here. What the kernel takes at once is written
    /// synchronously (the common case: `Ok(None)`). Otherwise the rest of the write is
    /// returned, boxed, for the caller to await: it owns (reference-counted) copies of what
    /// is left of `frames` and races [`race_write`]. The write path is then part of the
    /// driver's state as one pointer: that state is most of what an idle socket costs, an
    /// inline write future made it 300 bytes larger, and the async helpers that wrapped this
    /// one still added 40 to 90 bytes each level.
    pub(super) fn write_now(&mut self, frames: &[&Bytes]) -> io::Result<Option<PendingWrite<'_>>> {
        match self.socket.try_write_now(frames)? {
            Written::All => Ok(None),
            Written::Part(done) => Ok(Some(self.rest_of_write(frames, done))),
        }
    }

    /// What is left of writing `frames` once their first `done` bytes are out: waits for the
    /// socket, racing [`race_write`]; owns reference-counted copies of the rest.
    fn rest_of_write(&mut self, frames: &[&Bytes], done: usize) -> PendingWrite<'_> {
        let deadline = self.shared.config.websocket_write_timeout;
        let connection = &self.connection;
        let socket = &mut self.socket;
        let rest = rest_of(frames, done);
        Box::pin(async move {
            let rest_refs: Vec<&Bytes> = rest.iter().collect();
            let write = std::pin::pin!(socket.write_frames(&rest_refs));
            race_write(connection, deadline, write).await
        })
    }

    /// [`Driver::write_now`], then what is left of the write.
    pub(super) async fn write_bytes(&mut self, frames: &[&Bytes]) -> io::Result<()> {
        match self.write_now(frames)? {
            None => Ok(()),
            Some(rest) => rest.await,
        }
    }
}

/// The rest of a write the kernel did not take at once (see [`Driver::write_now`]).
pub(super) type PendingWrite<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// The rest of a batch's write and its end (see [`Driver::queue_rest`]): `Some` when the
/// driver stops.
pub(super) type PendingFlush<'a> = Pin<Box<dyn Future<Output = Option<WsEnd>> + Send + 'a>>;
