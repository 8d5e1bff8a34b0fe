//! Measurement only (feature `tungstenite-framing`, off by default): the same driver with
//! `tokio-tungstenite` doing the WebSocket framing instead of `sockgate_proto::ws`, so that
//! `bench/BENCHMARKS.md` can compare the two in the same server (idle memory per connection,
//! broadcast CPU). Everything but the framing is shared with the real driver: the upgrade, the
//! policy, the queue taking and coalescing, the write race and the packet routing.
//!
//! It runs only when `SOCKGATE_WS_FRAMING=tungstenite` is set in the environment (read once), so
//! one binary measures both framings. `SOCKGATE_TUNGSTENITE_READ_BUFFER` (bytes) overrides
//! tungstenite's read buffer (128 KiB by default, allocated per connection up front).
//!
//! Not a supported transport: it has no scratch read buffer (tungstenite owns its buffers),
//! encodes a frame per recipient (a broadcast cannot share one frame), and replies to pings
//! itself.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sockgate_proto::engine::policy::{poll_probe, WsEnd, WsRole};
use sockgate_proto::engine::{FrameKind, SharedFrame};
use sockgate_proto::ws;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::driver::{begin_close, released, route_message, Routed};
use super::upgrade::opened;
use super::write::{race_write, Batch, Coalescing};
use super::CLOSE_HANDSHAKE_TIMEOUT;
use crate::connection::Connection;
use crate::engine::Shared;
use crate::handler::EngineHandler;

/// Whether sockets use this driver (`SOCKGATE_WS_FRAMING=tungstenite`).
pub(super) fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("SOCKGATE_WS_FRAMING").is_ok_and(|v| v == "tungstenite"))
}

/// Runs the socket's driver over tungstenite (see the module docs). `handshake`: the open
/// packet to send first (a new session), `None` for a probe.
pub(super) async fn run<H: EngineHandler>(
    shared: Arc<Shared<H>>,
    connection: Arc<Connection<H::Data>>,
    upgraded: Upgraded,
    probing: bool,
    handshake: Option<SharedFrame>,
) {
    let mut config = WebSocketConfig::default()
        .max_message_size(usize::try_from(shared.session_config.max_payload).ok());
    if let Some(size) = std::env::var("SOCKGATE_TUNGSTENITE_READ_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config = config.read_buffer_size(size);
    }
    // A plain TCP stream is used directly, as the real driver does, so hyper's `Upgraded`
    // indirection is not billed to tungstenite.
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let stream = parts.io.into_inner();
            let ws = WebSocketStream::from_partially_read(
                stream,
                parts.read_buf.to_vec(),
                Role::Server,
                Some(config),
            )
            .await;
            drive(shared, connection, ws, probing, handshake).await;
        }
        Err(upgraded) => {
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            drive(shared, connection, ws, probing, handshake).await;
        }
    }
}

struct Driver<H: EngineHandler, S> {
    shared: Arc<Shared<H>>,
    connection: Arc<Connection<H::Data>>,
    ws: WebSocketStream<S>,
    role: WsRole,
    coalescing: Coalescing,
}

async fn drive<H, S>(
    shared: Arc<Shared<H>>,
    connection: Arc<Connection<H::Data>>,
    ws: WebSocketStream<S>,
    probing: bool,
    handshake: Option<SharedFrame>,
) where
    H: EngineHandler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut driver = Driver {
        shared,
        connection,
        ws,
        role: if probing {
            WsRole::Probe
        } else {
            WsRole::Transport
        },
        coalescing: Coalescing::default(),
    };
    if let Some(handshake) = handshake {
        let sent = driver.send(std::slice::from_ref(&handshake)).await;
        if !opened(&driver.shared, &driver.connection, sent) {
            return;
        }
    }
    driver.run().await;
}

fn message(frame: &SharedFrame) -> WsMessage {
    match frame.kind() {
        // Engine.IO text packets are UTF-8 by construction; a frame that is not (none is
        // built) would go out as binary rather than be dropped.
        FrameKind::Text => match Utf8Bytes::try_from(frame.packet().clone()) {
            Ok(text) => WsMessage::Text(text),
            Err(_) => WsMessage::Binary(frame.packet().clone()),
        },
        FrameKind::Binary => WsMessage::Binary(frame.packet().clone()),
    }
}

/// tungstenite's message as the one `sockgate_proto::ws` decodes, so the policy applies as is.
fn incoming(message: WsMessage) -> Option<ws::Message> {
    Some(match message {
        WsMessage::Text(text) => ws::Message::Text(Bytes::from(text)),
        WsMessage::Binary(data) => ws::Message::Binary(data),
        WsMessage::Ping(data) => ws::Message::Ping(data),
        WsMessage::Pong(data) => ws::Message::Pong(data),
        WsMessage::Close(frame) => ws::Message::Close(frame.map(|f| ws::CloseFrame {
            code: u16::from(f.code),
            reason: f.reason.to_string(),
        })),
        WsMessage::Frame(_) => return None,
    })
}

impl<H: EngineHandler, S: AsyncRead + AsyncWrite + Unpin> Driver<H, S> {
    async fn run(&mut self) {
        let end = self.run_loop().await;
        let ending = begin_close(&self.connection, &end, self.role);
        if let Some(code) = ending.close_code {
            let close = WsMessage::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::from_static(""),
            }));
            let sent = self.send_message(close).await;
            if sent.is_ok() && ending.await_peer_close {
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                    while let Some(Ok(message)) = self.ws.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.ws.get_mut().shutdown()).await;
        released(&self.connection, self.role);
    }

    async fn run_loop(&mut self) -> WsEnd {
        loop {
            let stop = match self.role {
                WsRole::Probe => poll_probe(&self.connection.state.lock().session),
                WsRole::Transport => self.flush().await,
            };
            if let Some(end) = stop {
                return end;
            }
            let connection = self.connection.clone();
            let probing = self.role == WsRole::Probe;
            let holding = self.coalescing.is_holding();
            tokio::select! {
                read = self.ws.next() => match read {
                    None => return WsEnd::PeerEof,
                    Some(Err(error)) => return read_error(error),
                    Some(Ok(message)) => {
                        if let Some(end) = self.on_message(message).await {
                            return end;
                        }
                    }
                },
                _ = poll_fn(|cx| connection.poll_ws_work(cx, probing, holding)) => {}
                _ = poll_fn(|cx| self.coalescing.poll_timer(cx)), if holding => {}
            }
        }
    }

    async fn flush(&mut self) -> Option<WsEnd> {
        let window = self.shared.config.write_coalescing;
        let batch = self.coalescing.take(&self.connection, window);
        let (front, back) = batch.frames.as_slices();
        let mut written = Ok(());
        for frames in [front, back].into_iter().filter(|f| !f.is_empty()) {
            written = self.send(frames).await;
            if written.is_err() {
                break;
            }
        }
        if !batch.frames.is_empty() {
            self.shared
                .handler
                .on_frames_written(&self.connection, batch.frames.len());
        }
        Batch::finished(&self.connection, batch.closed, written)
    }

    async fn on_message(&mut self, message: WsMessage) -> Option<WsEnd> {
        let message = incoming(message)?;
        match route_message(&self.shared, &self.connection, &mut self.role, message) {
            Routed::Continue => None,
            Routed::End(end) => Some(end),
            // tungstenite queued the pong itself: send it.
            Routed::Pong(_) => self
                .flush_socket()
                .await
                .err()
                .map(|_| WsEnd::ReplyWriteFailed),
            Routed::Reply(frame) => self
                .send(std::slice::from_ref(&frame))
                .await
                .err()
                .map(|_| WsEnd::ReplyWriteFailed),
        }
    }

    /// Encodes every frame into tungstenite's write buffer, then flushes it.
    async fn send(&mut self, frames: &[SharedFrame]) -> io::Result<()> {
        let deadline = self.shared.config.websocket_write_timeout;
        let ws = &mut self.ws;
        race_write(
            &self.connection,
            deadline,
            std::pin::pin!(async move {
                for frame in frames {
                    ws.feed(message(frame)).await.map_err(io::Error::other)?;
                }
                ws.flush().await.map_err(io::Error::other)
            }),
        )
        .await
    }

    async fn send_message(&mut self, message: WsMessage) -> io::Result<()> {
        let deadline = self.shared.config.websocket_write_timeout;
        let ws = &mut self.ws;
        race_write(
            &self.connection,
            deadline,
            std::pin::pin!(async move { ws.send(message).await.map_err(io::Error::other) }),
        )
        .await
    }

    async fn flush_socket(&mut self) -> io::Result<()> {
        let deadline = self.shared.config.websocket_write_timeout;
        let ws = &mut self.ws;
        race_write(
            &self.connection,
            deadline,
            std::pin::pin!(async move { ws.flush().await.map_err(io::Error::other) }),
        )
        .await
    }
}

/// A read error as the real driver's decoder would report it.
fn read_error(error: Error) -> WsEnd {
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => WsEnd::PeerEof,
        Error::Capacity(_) => WsEnd::ProtocolError { close_code: 1009 },
        Error::Utf8(_) => WsEnd::ProtocolError { close_code: 1007 },
        Error::Protocol(_) => WsEnd::ProtocolError { close_code: 1002 },
        _ => WsEnd::ReadFailed,
    }
}
