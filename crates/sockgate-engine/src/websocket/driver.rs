//! The driver of one WebSocket: reads frames, routes their packets, flushes the session's queue
//! and closes the socket. What it decides comes from `sockgate_proto::engine::policy`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use sockgate_proto::engine::policy::{
    handle_ws_end, handle_ws_message, handle_ws_packet, poll_probe, WriteCoalescer, WsEnd, WsRole,
    WsStep,
};
use sockgate_proto::engine::{CloseReason, Packet};
use sockgate_proto::ws::{self, FrameDecoder, OpCode};

use super::socket::Socket;
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
    pub(super) coalescer: WriteCoalescer,
    /// Armed while frames wait for the coalescing window to end; boxed so an idle socket
    /// does not carry a timer in its state.
    pub(super) flush_timer: Option<Pin<Box<tokio::time::Sleep>>>,
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
            coalescer: WriteCoalescer::new(),
            flush_timer: None,
        }
    }

    pub(super) async fn run(&mut self) {
        let end = self.run_loop().await;
        let ending = handle_ws_end(&end, self.role);
        if let Some(reason) = ending.reason {
            self.connection.fail(reason);
        }
        if let Some(code) = ending.close_code {
            // The closing handshake: echo the client's code, or send ours and wait (bounded)
            // for the client's answer, so that the last frames are read before TCP closes.
            let sent = self.write_bytes(&[&ws::encode_close(code, "")]).await;
            if sent.is_ok() && ending.await_peer_close {
                self.await_peer_close().await;
            }
        }
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.socket.shutdown()).await;
        match self.role {
            WsRole::Probe => self.connection.state.lock().session.abort_probe(),
            WsRole::Transport => {
                self.connection.fail(CloseReason::TransportClose);
                // Only now does the session leave the engine's table: its queue is written and
                // its transport closed.
                self.connection.set_ws_attached(false);
                self.connection.settle();
            }
        }
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
            if self.buf.is_empty() && self.buf.capacity() > 0 {
                // Release the buffer while idle: thousands of quiet sockets must not each
                // hold one.
                self.buf = BytesMut::new();
            }

            let connection = self.connection.clone();
            let probing = self.role == WsRole::Probe;
            let holding = self.coalescer.is_holding();
            tokio::select! {
                read = self.socket.read(&mut self.buf) => match read {
                    Ok(0) => return WsEnd::PeerEof,
                    Ok(_) => {}
                    Err(_) => return WsEnd::ReadFailed,
                },
                _ = poll_fn(|cx| connection.poll_ws_work(cx, probing, holding)) => {}
                _ = poll_fn(|cx| match self.flush_timer.as_mut() {
                    Some(timer) => timer.as_mut().poll(cx),
                    None => Poll::Pending,
                }), if self.flush_timer.is_some() => self.on_flush_timer(),
            }
        }
    }

    /// One message from the client; `Some` when the socket must stop.
    async fn on_message(&mut self, message: ws::Message) -> Option<WsEnd> {
        match handle_ws_message(message) {
            WsStep::Packet(packet) => match self.role {
                WsRole::Probe => self.on_probe_packet(packet).await,
                WsRole::Transport => self.on_packet(packet),
            },
            WsStep::Pong(payload) => {
                let pong = ws::encode_frame(OpCode::Pong, &payload);
                match self.write_bytes(&[&pong]).await {
                    Ok(()) => None,
                    Err(_) => Some(WsEnd::ReplyWriteFailed),
                }
            }
            WsStep::End(end) => {
                if let WsEnd::InvalidPacket(error) = &end {
                    tracing::debug!(sid = %self.connection.sid(), %error, "invalid packet");
                }
                Some(end)
            }
            // Only packets (routed above) yield the other steps.
            _ => None,
        }
    }

    /// A packet on the session's transport.
    fn on_packet(&mut self, packet: Packet) -> Option<WsEnd> {
        let step = {
            let mut state = self.connection.state.lock();
            handle_ws_packet(&mut state.session, &mut self.role, Instant::now(), packet)
        };
        match step {
            WsStep::Message(text) => {
                self.shared
                    .handler
                    .on_message(&self.connection, Message::Text(text));
            }
            WsStep::Binary(data) => {
                self.shared
                    .handler
                    .on_message(&self.connection, Message::Binary(data));
            }
            WsStep::End(end) => {
                self.connection.settle();
                return Some(end);
            }
            _ => {}
        }
        self.connection.reschedule();
        None
    }

    /// A packet on the probing socket of an upgrade.
    async fn on_probe_packet(&mut self, packet: Packet) -> Option<WsEnd> {
        let step = {
            let mut state = self.connection.state.lock();
            let step = handle_ws_packet(&mut state.session, &mut self.role, Instant::now(), packet);
            // A parked poll re-checks (after the switch it is refused).
            state.wake();
            step
        };
        // The probe's answer starts the 100 ms noop checks: the timer must know.
        self.connection.reschedule();
        match step {
            WsStep::Reply(frame) => match self.write_bytes(&[frame.ws_frame()]).await {
                Ok(()) => None,
                Err(_) => Some(WsEnd::ReplyWriteFailed),
            },
            WsStep::Upgraded => {
                self.connection.set_ws_attached(true);
                None
            }
            WsStep::End(end) => {
                if let WsEnd::ProbeRefused(error) = &end {
                    tracing::debug!(sid = %self.connection.sid(), %error, "upgrade refused");
                }
                Some(end)
            }
            _ => None,
        }
    }
}
