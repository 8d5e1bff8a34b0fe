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
    /// Whether the driver stops after writing the batch (`written`: the write's result, `Ok`
    /// when there was nothing to write).
    pub(super) fn written<D: Send + Sync + 'static>(
        &self,
        connection: &Connection<D>,
        written: io::Result<()>,
    ) -> Option<WsEnd> {
        if written.is_err() {
            // Too slow (write deadline), aborted, or the socket failed.
            return Some(WsEnd::QueueWriteFailed);
        }
        if self.closed {
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
    pub(super) async fn write(&mut self, frames: &VecDeque<SharedFrame>) -> io::Result<()> {
        // One frame per write is the common case when a socket is idle: no list to build.
        if let [frame] = frames.as_slices().0 {
            return self.write_bytes(&[frame.ws_frame()]).await;
        }
        let bytes: Vec<&Bytes> = frames.iter().map(|f| f.ws_frame()).collect();
        self.write_bytes(&bytes).await
    }

    /// Every write of the driver goes through here. What the kernel takes at once is written
    /// synchronously (the common case); only a write that has to wait runs [`race_write`], in
    /// a box: this future is part of every WebSocket task's state, which is most of what an
    /// idle socket costs, and an inline write future made that state 300 bytes larger.
    pub(super) async fn write_bytes(&mut self, frames: &[&Bytes]) -> io::Result<()> {
        let done = match self.socket.try_write_now(frames)? {
            Written::All => return Ok(()),
            Written::Part(done) => done,
        };
        let deadline = self.shared.config.websocket_write_timeout;
        let connection = &self.connection;
        let socket = &mut self.socket;
        Box::pin(async move {
            let rest = (done > 0).then(|| rest_of(frames, done));
            let rest_refs: Vec<&Bytes>;
            let frames = match &rest {
                Some(rest) => {
                    rest_refs = rest.iter().collect();
                    &rest_refs[..]
                }
                None => frames,
            };
            let write = std::pin::pin!(socket.write_frames(frames));
            race_write(connection, deadline, write).await
        })
        .await
    }
}
