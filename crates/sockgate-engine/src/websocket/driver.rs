//! The driver of one WebSocket: reads frames, routes their packets, flushes the session's queue
//! and closes the socket. What it decides comes from `sockgate_proto::engine::policy`.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use sockgate_proto::engine::policy::{
    handle_ws_end, handle_ws_message, handle_ws_packet, poll_probe, WsEnd, WsEnding, WsRole, WsStep,
};
use sockgate_proto::engine::{CloseReason, Packet, SharedFrame};
use sockgate_proto::ws::{self, FrameDecoder, OpCode};

use super::socket::{Socket, Written};
use super::write::{Batch, Coalescing, PendingFlush, PendingWrite};
use super::CLOSE_HANDSHAKE_TIMEOUT;
use crate::connection::Connection;
use crate::engine::Shared;
use crate::handler::{EngineHandler, Message};

pub(super) struct Driver<H: EngineHandler> {
    pub(super) shared: Arc<Shared<H>>,
    pub(super) connection: Arc<Connection<H::Data>>,
    pub(super) socket: Socket,
    buf: BytesMut,
    decoder: FrameDecoder,
    role: WsRole,
    coalescing: Coalescing,
}

impl<H: EngineHandler> Driver<H> {
    pub(super) fn new(
        shared: Arc<Shared<H>>,
        connection: Arc<Connection<H::Data>>,
        socket: Socket,
        leftover: Bytes,
        probing: bool,
    ) -> Self {
        let max = usize::try_from(shared.session_config.max_payload).unwrap_or(usize::MAX);
        Driver {
            shared,
            connection,
            socket,
            buf: BytesMut::from(&leftover[..]),
            decoder: FrameDecoder::new(max),
            role: if probing {
                WsRole::Probe
            } else {
                WsRole::Transport
            },
            coalescing: Coalescing::default(),
        }
    }

    /// Whether this driver runs a session it opened (not the probe of a polling one).
    pub(super) fn is_new_session(&self) -> bool {
        self.role == WsRole::Transport
    }

    /// The end of the socket: the closing handshake, the shutdown, the session's release.
    async fn close(&mut self, end: WsEnd) {
        let ending = begin_close(&self.connection, &end, self.role);
        if let Some(code) = ending.close_code {
            // The closing handshake: echo the client's code, or send ours and wait (bounded)
            // for the client's answer, so that the last frames are read before TCP closes.
            let sent = self.write_bytes(&[&ws::encode_close(code, "")]).await;
            if sent.is_ok() && ending.await_peer_close {
                self.await_peer_close().await;
            }
        }
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.socket.shutdown()).await;
        released(&self.connection, self.role);
    }

    /// Reads and discards what the client still sends until its close frame, the end of the
    /// stream or [`CLOSE_HANDSHAKE_TIMEOUT`].
    async fn await_peer_close(&mut self) {
        let deadline = tokio::time::Instant::now() + CLOSE_HANDSHAKE_TIMEOUT;
        let mut decodable = true;
        loop {
            while decodable {
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(ws::Message::Close(_))) => return,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    // Past a protocol error frames cannot be told apart: drain bytes to the end.
                    Err(_) => decodable = false,
                }
            }
            if !decodable {
                self.buf.clear();
            }
            match tokio::time::timeout_at(deadline, self.socket.read(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Runs the socket until it must close, then closes it.
    ///
    /// What this future holds at its await points is part of every WebSocket task, so it is
    /// kept to references and pointers: one async level (the loop and the close are one fn;
    /// each async fn level costs its own copies of `self`), a decoded message and a batch are
    /// handled synchronously and not kept, a write the kernel cannot take at once is a boxed
    /// rest ([`Driver::write_now`]), and the wait borrows the driver's fields rather than
    /// holding futures of its own.
    pub(super) async fn run(&mut self) {
        let end = loop {
            let stop = match self.role {
                WsRole::Probe => poll_probe(&self.connection.state.lock().session),
                WsRole::Transport => match self.flush_now() {
                    Flush::Done(stop) => stop,
                    Flush::Wait(rest) => rest.await,
                },
            };
            if let Some(end) = stop {
                break end;
            }

            // Handle every complete frame already buffered before waiting again.
            let message = match self.decoder.decode(&mut self.buf) {
                Ok(message) => message,
                Err(error) => {
                    tracing::debug!(sid = %self.connection.sid(), %error, "WebSocket protocol error");
                    break WsEnd::ProtocolError {
                        close_code: error.close_code(),
                    };
                }
            };
            if let Some(message) = message {
                let waited = match self.on_message(message) {
                    Replied::Done(None) => None,
                    Replied::Done(Some(end)) => break end,
                    Replied::Wait(rest) => Some(rest.await),
                };
                if let Some(Err(_)) = waited {
                    break WsEnd::ReplyWriteFailed;
                }
                continue;
            }
            if self.buf.is_empty() {
                // Release the buffer while idle: thousands of quiet sockets must not each
                // hold one. Even with no capacity left, an emptied buffer still points into
                // the allocation its frames were split from (48 bytes an idle socket kept).
                self.buf = BytesMut::new();
            }

            let probing = self.role == WsRole::Probe;
            let Driver {
                connection,
                socket,
                buf,
                coalescing,
                ..
            } = self;
            let holding = coalescing.is_holding();
            // One poll function over the three sources, in the order the `select!` it
            // replaces polled them (the read first): nothing but these references is held
            // while the socket is idle.
            let woke = poll_fn(|cx| {
                if let Poll::Ready(read) = socket.poll_read(cx, buf) {
                    return Poll::Ready(Some(read));
                }
                if connection.poll_ws_work(cx, probing, holding).is_ready() {
                    return Poll::Ready(None);
                }
                if holding && coalescing.poll_timer(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            match woke {
                Some(Ok(0)) => break WsEnd::PeerEof,
                Some(Ok(_)) | None => {}
                Some(Err(_)) => break WsEnd::ReadFailed,
            }
        };
        // Once per socket, and its timers would make every idle socket's task state 100
        // bytes larger: boxed.
        Box::pin(self.close(end)).await;
    }

    /// Writes the session's queue unless the coalescing window holds it, as far as the
    /// kernel takes it now; [`Flush::Done`] says whether the driver stops (a closed
    /// session's queue is out).
    fn flush_now(&mut self) -> Flush<'_> {
        let window = self.shared.config.write_coalescing;
        let Batch { frames, closed } = self.coalescing.take(&self.connection, window);
        if frames.is_empty() {
            return Flush::Done(Batch::finished(&self.connection, closed, Ok(())));
        }
        let count = frames.len();
        let done = match self.try_write_queue(&frames) {
            Ok(Written::All) => return Flush::Done(self.flushed(count, closed, Ok(()))),
            Ok(Written::Part(done)) => done,
            Err(error) => return Flush::Done(self.flushed(count, closed, Err(error))),
        };
        // The rest owns what it still writes: the batch is not kept across the wait.
        Flush::Wait(self.queue_rest(&frames, done, closed))
    }

    /// A batch of `count` frames was written (or failed): tell the handler; whether the
    /// driver stops.
    fn flushed(&self, count: usize, closed: bool, written: std::io::Result<()>) -> Option<WsEnd> {
        self.shared
            .handler
            .on_frames_written(&self.connection, count);
        Batch::finished(&self.connection, closed, written)
    }

    /// One message from the client: routed, and its reply (a pong, the probe's answer)
    /// written as far as the kernel takes it now.
    fn on_message(&mut self, message: ws::Message) -> Replied<'_> {
        let reply = match route_message(&self.shared, &self.connection, &mut self.role, message) {
            Routed::Continue => return Replied::Done(None),
            Routed::End(end) => return Replied::Done(Some(end)),
            Routed::Pong(payload) => ws::encode_frame(OpCode::Pong, &payload),
            Routed::Reply(frame) => frame.ws_frame().clone(),
        };
        match self.write_now(&[&reply]) {
            Ok(None) => Replied::Done(None),
            Ok(Some(rest)) => Replied::Wait(rest),
            Err(_) => Replied::Done(Some(WsEnd::ReplyWriteFailed)),
        }
    }
}

/// What [`Driver::flush_now`] left to do.
enum Flush<'a> {
    /// Nothing to wait for; `Some` when the socket must stop.
    Done(Option<WsEnd>),
    /// The rest of the batch's write and its end.
    Wait(PendingFlush<'a>),
}

/// What [`Driver::on_message`] left to do.
enum Replied<'a> {
    /// Nothing to wait for; `Some` when the socket must stop.
    Done(Option<WsEnd>),
    /// The rest of the reply's write (a failure stops the socket).
    Wait(PendingWrite<'a>),
}

/// How the socket ends (see [`handle_ws_end`]): the session fails at once with the reason
/// the policy gives, before the closing handshake.
pub(super) fn begin_close<D: Send + Sync + 'static>(
    connection: &Connection<D>,
    end: &WsEnd,
    role: WsRole,
) -> WsEnding {
    let ending = handle_ws_end(end, role);
    if let Some(reason) = ending.reason {
        connection.fail(reason);
    }
    ending
}

/// The socket is shut: a probe leaves the session polling; a transport closes the session
/// (if nothing did before) and only now lets it leave the engine's table: its queue is written
/// and its transport closed.
pub(super) fn released<D: Send + Sync + 'static>(connection: &Connection<D>, role: WsRole) {
    match role {
        WsRole::Probe => connection.state.lock().session.abort_probe(),
        WsRole::Transport => {
            connection.fail(CloseReason::TransportClose);
            connection.set_ws_attached(false);
            connection.settle();
        }
    }
}

/// What a driver does after [`route_message`].
pub(super) enum Routed {
    /// Read on.
    Continue,
    /// Answer a WebSocket ping with this payload.
    Pong(Bytes),
    /// Write this frame (the probe's `3probe`).
    Reply(SharedFrame),
    /// Stop.
    End(WsEnd),
}

/// Routes one message from the client, as the policy says: a packet goes to the probe or to
/// the session (its messages to the handler), anything else is the WebSocket's business.
/// Shared by every driver, whatever does its framing.
pub(super) fn route_message<H: EngineHandler>(
    shared: &Shared<H>,
    connection: &Arc<Connection<H::Data>>,
    role: &mut WsRole,
    message: ws::Message,
) -> Routed {
    match handle_ws_message(message) {
        WsStep::Packet(packet) => match role {
            WsRole::Probe => {
                let routed = on_probe_packet(connection, role, packet);
                if matches!(role, WsRole::Transport) {
                    shared.handler.on_upgrade(connection);
                }
                routed
            }
            WsRole::Transport => on_packet(shared, connection, role, packet),
        },
        WsStep::Pong(payload) => Routed::Pong(payload),
        WsStep::End(end) => {
            if let WsEnd::InvalidPacket(error) = &end {
                tracing::debug!(sid = %connection.sid(), %error, "invalid packet");
            }
            Routed::End(end)
        }
        // Only packets (routed above) yield the other steps.
        _ => Routed::Continue,
    }
}

/// A packet on the session's transport.
fn on_packet<H: EngineHandler>(
    shared: &Shared<H>,
    connection: &Arc<Connection<H::Data>>,
    role: &mut WsRole,
    packet: Packet,
) -> Routed {
    let step = {
        let mut state = connection.state.lock();
        // The driver is running, not waiting: whatever the handler queues below (the ack of
        // this event) is written by this same task when it flushes before it waits again
        // (`poll_ws_work` re-checks the queue under this lock before it sleeps). A waker left
        // here would make every reply wake the task that is queueing it: one more poll of the
        // driver (and one more `recv` that finds nothing) per round trip.
        state.ws_waker = None;
        handle_ws_packet(&mut state.session, role, Instant::now(), packet)
    };
    match step {
        WsStep::Message(text) => shared.handler.on_message(connection, Message::Text(text)),
        WsStep::Binary(data) => shared.handler.on_message(connection, Message::Binary(data)),
        WsStep::End(end) => {
            connection.settle();
            return Routed::End(end);
        }
        _ => {}
    }
    connection.reschedule();
    Routed::Continue
}

/// A packet on the probing socket of an upgrade.
fn on_probe_packet<D: Send + Sync + 'static>(
    connection: &Arc<Connection<D>>,
    role: &mut WsRole,
    packet: Packet,
) -> Routed {
    let step = {
        let mut state = connection.state.lock();
        let step = handle_ws_packet(&mut state.session, role, Instant::now(), packet);
        // A parked poll re-checks (after the switch it is refused).
        state.wake();
        step
    };
    // The probe's answer starts the 100 ms noop checks: the timer must know.
    connection.reschedule();
    match step {
        WsStep::Reply(frame) => Routed::Reply(frame),
        WsStep::Upgraded => {
            connection.set_ws_attached(true);
            Routed::Continue
        }
        WsStep::End(end) => {
            if let WsEnd::ProbeRefused(error) = &end {
                tracing::debug!(sid = %connection.sid(), %error, "upgrade refused");
            }
            Routed::End(end)
        }
        _ => Routed::Continue,
    }
}
