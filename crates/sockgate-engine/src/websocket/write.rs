//! The driver's writes: flushing the session's queue (with write coalescing) and the deadline
//! every write races.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use sockgate_proto::engine::policy::{WriteDecision, WsEnd};
use sockgate_proto::engine::SharedFrame;

use super::driver::Driver;
use crate::handler::EngineHandler;

impl<H: EngineHandler> Driver<H> {
    /// Writes the session's queue unless [`WriteCoalescer`] holds it for the rest of the window
    /// (then arms the flush timer); ends the driver once a closed session's queue is out.
    ///
    /// [`WriteCoalescer`]: sockgate_proto::engine::policy::WriteCoalescer
    pub(super) async fn flush(&mut self) -> Option<WsEnd> {
        let now = Instant::now();
        let window = self.shared.config.write_coalescing;
        let (frames, closed) = {
            let mut state = self.connection.state.lock();
            let closed = state.session.is_closed();
            let queued = state.session.has_queued();
            match self
                .coalescer
                .poll_write(now, window, closed, state.urgent, queued)
            {
                WriteDecision::Hold { arm } => {
                    if let Some(until) = arm {
                        self.flush_timer = Some(Box::pin(tokio::time::sleep_until(until.into())));
                    }
                    (VecDeque::new(), false)
                }
                WriteDecision::Write => {
                    state.urgent = false;
                    (state.session.drain(), closed)
                }
            }
        };
        if !frames.is_empty() {
            self.flush_timer = None;
            self.coalescer.handle_write(now, frames.len());
            if self.write(&frames).await.is_err() {
                // Too slow (write deadline), aborted, or the socket failed.
                return Some(WsEnd::QueueWriteFailed);
            }
        }
        if closed {
            self.connection.settle();
            return Some(WsEnd::SessionClosed);
        }
        None
    }

    /// The flush timer fired: the window is over.
    pub(super) fn on_flush_timer(&mut self) {
        self.flush_timer = None;
        self.coalescer.handle_timer();
    }

    async fn write(&mut self, frames: &VecDeque<SharedFrame>) -> io::Result<()> {
        // One frame per write is the common case when a socket is idle: no list to build.
        if let [frame] = frames.as_slices().0 {
            return self.write_bytes(&[frame.ws_frame()]).await;
        }
        let bytes: Vec<&Bytes> = frames.iter().map(|f| f.ws_frame()).collect();
        self.write_bytes(&bytes).await
    }

    /// Every write of the driver goes through here. A write waits for the client to read, so
    /// it races the session's abort (ping timeout, full queue: nobody will read this) and the
    /// write deadline (a client that stopped reading); either ends the write with an error.
    /// A write that completes on its first poll (the common case: the kernel has room) builds
    /// no timer at all; only a write that has to wait arms the deadline.
    pub(super) async fn write_bytes(&mut self, frames: &[&Bytes]) -> io::Result<()> {
        let deadline = self.shared.config.websocket_write_timeout;
        let connection = &self.connection;
        let write = self.socket.write_frames(frames);
        tokio::pin!(write);
        if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
            return result;
        }
        tokio::select! {
            biased;
            result = &mut write => result,
            _ = poll_fn(|cx| connection.poll_aborted(cx)) => {
                Err(io::Error::other("session aborted"))
            }
            _ = tokio::time::sleep(deadline) => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}
