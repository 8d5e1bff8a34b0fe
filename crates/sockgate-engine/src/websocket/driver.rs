//! The driver of one WebSocket: reads frames, routes their packets, flushes the session's queue
//! and closes the socket. What it decides comes from `sockgate_proto::engine::policy`.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use sockgate_proto::engine::policy::{
    handle_ws_end, handle_ws_message, handle_ws_packet, poll_probe, WsEnd, WsEnding, WsRole, WsStep,
};
use sockgate_proto::engine::{CloseReason, Packet, SharedFrame};
use sockgate_proto::ws::{self, FrameDecoder, OpCode};

use super::socket::Socket;
use super::write::Coalescing;
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

    pub(super) async fn run(&mut self) {
        let end = self.run_loop().await;
        // Once per socket, and its timers would make every idle socket's task state 100
        // bytes larger: boxed.
        Box::pin(self.close(end)).await;
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

    /// Runs until the socket must close; returns why.
    async fn run_loop(&mut self) -> WsEnd {
        loop {
            let stop = match self.role {
                WsRole::Probe => poll_probe(&self.connection.state.lock().session),
                WsRole::Transport => self.flush().await,
            };
            if let Some(end) = stop {
                return end;
            }

            // Handle every complete frame already buffered before waiting again.
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(message)) => match self.on_message(message).await {
                    None => continue,
                    Some(end) => return end,
                },
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(sid = %self.connection.sid(), %error, "WebSocket protocol error");
                    return WsEnd::ProtocolError {
                        close_code: error.close_code(),
                    };
                }
            }
            if self.buf.is_empty() {
                // Release the buffer while idle: thousands of quiet sockets must not each
                // hold one. Even with no capacity left, an emptied buffer still points into
                // the allocation its frames were split from (48 bytes an idle socket kept).
                self.buf = BytesMut::new();
            }

            let connection = self.connection.clone();
            let probing = self.role == WsRole::Probe;
            let holding = self.coalescing.is_holding();
            tokio::select! {
                read = self.socket.read(&mut self.buf) => match read {
                    Ok(0) => return WsEnd::PeerEof,
                    Ok(_) => {}
                    Err(_) => return WsEnd::ReadFailed,
                },
                _ = poll_fn(|cx| connection.poll_ws_work(cx, probing, holding)) => {}
                _ = poll_fn(|cx| self.coalescing.poll_timer(cx)), if holding => {}
            }
        }
    }

    /// Writes the session's queue unless the coalescing window holds it; ends the driver once
    /// a closed session's queue is out.
    async fn flush(&mut self) -> Option<WsEnd> {
        let window = self.shared.config.write_coalescing;
        let batch = self.coalescing.take(&self.connection, window);
        let written = if batch.frames.is_empty() {
            Ok(())
        } else {
            let written = self.write(&batch.frames).await;
            self.shared
                .handler
                .on_frames_written(&self.connection, batch.frames.len());
            written
        };
        batch.written(&self.connection, written)
    }

    /// One message from the client; `Some` when the socket must stop.
    async fn on_message(&mut self, message: ws::Message) -> Option<WsEnd> {
        let reply = match route_message(&self.shared, &self.connection, &mut self.role, message) {
            Routed::Continue => return None,
            Routed::End(end) => return Some(end),
            Routed::Pong(payload) => ws::encode_frame(OpCode::Pong, &payload),
            Routed::Reply(frame) => frame.ws_frame().clone(),
        };
        match self.write_bytes(&[&reply]).await {
            Ok(()) => None,
            Err(_) => Some(WsEnd::ReplyWriteFailed),
        }
    }
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
