//! WebSocket: the HTTP upgrade, and one driver task per socket that reads client frames and
//! writes the session's queue.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sockgate_proto::engine::{
    handshake_json, CloseReason, Frame, Packet, PacketOutcome, ProbeOutcome, SharedFrame,
    TransportKind,
};
use sockgate_proto::ws::{self, FrameDecoder, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connection::Connection;
use crate::engine::{ResponseBody, Shared};
use crate::error::RequestError;
use crate::handler::{EngineHandler, Message};
use crate::request::RequestInfo;
use crate::service::ConnectionSlot;

/// Most frames handed to one vectored write.
const MAX_IOVECS: usize = 256;
/// How long a closing socket waits for the client's close frame before it shuts down: closing
/// with unread input makes Linux answer with a reset, which can destroy the last frames we sent.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read from the socket per wake-up into a stack buffer, then copied into the
/// connection's buffer only if a frame is incomplete.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// Answers the upgrade with a 101 and spawns the driver, for a new session (`existing` is
/// `None`) or as a probe of a polling session.
pub(crate) fn upgrade<H: EngineHandler, B>(
    shared: Arc<Shared<H>>,
    request: Request<B>,
    existing: Option<Arc<Connection<H::Data>>>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (mut parts, _body) = request.into_parts();
    let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Err(RequestError::BadRequest);
    };
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        // RFC 6455 4.4: name the version we speak, so the client can retry with it.
        let mut response = Response::new(Full::new(Bytes::from_static(b"Upgrade Required")));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Ok(response);
    }
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        // The server under us cannot hand over the connection (HTTP/2, or upgrades disabled).
        return Err(RequestError::BadRequest);
    };

    // A second WebSocket for a session that already upgraded (or is upgrading) is accepted
    // and closed at once, as Node does, rather than refused with an HTTP error.
    let (connection, refused) = match existing {
        Some(connection) => {
            let started = connection.state.lock().session.start_probe(Instant::now());
            connection.reschedule();
            (Some(connection), started.is_err())
        }
        None => (None, false),
    };
    let info = Arc::new(RequestInfo::from_parts(&parts, shared.config.trust_proxy));
    // The connection's place under `max_connections` moves to the WebSocket's task. Without a
    // cap the task is the driver's future alone (an idle socket's memory is mostly that task).
    match parts.extensions.remove::<ConnectionSlot>() {
        None => {
            tokio::spawn(run_upgraded(shared, on_upgrade, connection, refused, info));
        }
        Some(slot) => {
            tokio::spawn(async move {
                run_upgraded(shared, on_upgrade, connection, refused, info).await;
                drop(slot);
            });
        }
    }

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&ws::accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

/// The task of one WebSocket: waits for the upgrade, then runs the driver. The driver is built
/// in place and borrowed by `run`, so the task's state holds it once.
async fn run_upgraded<H: EngineHandler>(
    shared: Arc<Shared<H>>,
    on_upgrade: OnUpgrade,
    existing: Option<Arc<Connection<H::Data>>>,
    refused: bool,
    info: Arc<RequestInfo>,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "WebSocket upgrade failed");
            if let (Some(connection), false) = (existing, refused) {
                connection.state.lock().session.abort_probe();
            }
            return;
        }
    };
    let (mut socket, leftover) = Socket::new(upgraded);
    if refused {
        let close = ws::encode_close(1000, "");
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
            let _ = socket.write_frames(&[&close]).await;
            socket.shutdown().await;
        })
        .await;
        return;
    }
    let probing = existing.is_some();
    let connection = match existing {
        Some(connection) => connection,
        None => {
            let connection = shared.open(TransportKind::WebSocket, info);
            connection.set_ws_attached(true);
            connection
        }
    };
    let mut driver = Driver::new(shared, connection, socket, leftover, probing);
    if !probing {
        let handshake = Frame::text_packet(Bytes::from(format!(
            "0{}",
            handshake_json(driver.connection.sid(), &[], &driver.shared.session_config)
        )));
        if driver.write_bytes(&[handshake.ws_frame()]).await.is_err() {
            driver.connection.fail(CloseReason::TransportError);
            driver.connection.set_ws_attached(false);
            driver.connection.settle();
            return;
        }
        driver.shared.handler.on_open(&driver.connection);
    }
    driver.run().await;
}

/// The upgraded connection. A plain TCP stream is used directly so that an idle socket holds no
/// read buffer: we wait for readiness, then read into a stack buffer. Other streams (TLS,
/// in-memory) go through hyper's `Upgraded` with a buffer reserved while waiting.
enum Socket {
    Tcp(TcpStream),
    Other(TokioIo<Upgraded>),
}

impl Socket {
    /// Returns the socket and any bytes hyper already read past the HTTP request.
    fn new(upgraded: Upgraded) -> (Socket, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Socket::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Socket::Other(TokioIo::new(upgraded)), Bytes::new()),
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` means the peer closed.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => loop {
                stream.readable().await?;
                match read_now(stream, buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            },
            Socket::Other(io) => {
                buf.reserve(READ_CHUNK);
                io.read_buf(buf).await
            }
        }
    }

    /// Writes whole frames, gathering many into each system call.
    async fn write_frames(&mut self, frames: &[&Bytes]) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => {
                if let [frame] = frames {
                    let mut rest: &[u8] = frame;
                    while !rest.is_empty() {
                        stream.writable().await?;
                        match stream.try_write(rest) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(n) => rest = &rest[n..],
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    return Ok(());
                }
                for chunk in frames.chunks(MAX_IOVECS) {
                    let mut slices: Vec<IoSlice<'_>> =
                        chunk.iter().map(|f| IoSlice::new(f)).collect();
                    let mut remaining: &mut [IoSlice<'_>] = &mut slices;
                    while !remaining.is_empty() {
                        stream.writable().await?;
                        match stream.try_write_vectored(remaining) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(n) => IoSlice::advance_slices(&mut remaining, n),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(())
            }
            Socket::Other(io) => {
                for frame in frames {
                    io.write_all(frame).await?;
                }
                io.flush().await
            }
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Socket::Tcp(stream) => stream.shutdown().await,
            Socket::Other(io) => io.shutdown().await,
        };
    }
}

thread_local! {
    /// One read buffer per worker thread, shared by every socket the thread serves: zeroed
    /// once, never per read (zeroing a fresh 16 KiB array on every read was a third of the
    /// server's instructions during connects).
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// Reads what is available into the thread's scratch buffer and appends it to `buf`, so an
/// idle socket holds no buffer of its own.
fn read_now(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let n = stream.try_read(&mut scratch)?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    })
}

enum Step {
    Continue,
    Stop,
}

struct Driver<H: EngineHandler> {
    shared: Arc<Shared<H>>,
    connection: Arc<Connection<H::Data>>,
    socket: Socket,
    buf: BytesMut,
    decoder: FrameDecoder,
    probing: bool,
    /// When the last write went out, and how many frames it carried, for write coalescing.
    last_write: Option<Instant>,
    last_batch: usize,
    /// Armed while frames wait for the coalescing window to end; boxed so an idle socket
    /// does not carry a timer in its state.
    flush_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The code of the client's close frame, once it sent one: echoed back.
    peer_close: Option<u16>,
}

impl<H: EngineHandler> Driver<H> {
    fn new(
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
            probing,
            last_write: None,
            last_batch: 0,
            flush_timer: None,
            peer_close: None,
        }
    }

    async fn run(&mut self) {
        let close_code = self.run_loop().await;
        if let Some(code) = close_code {
            // The closing handshake: echo the client's code, or send ours and wait (bounded)
            // for the client's answer, so that the last frames are read before TCP closes.
            let code = self.peer_close.unwrap_or(code);
            let sent = self.write_bytes(&[&ws::encode_close(code, "")]).await;
            if sent.is_ok() && self.peer_close.is_none() {
                self.await_peer_close().await;
            }
        }
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.socket.shutdown()).await;
        if self.probing {
            self.connection.state.lock().session.abort_probe();
        } else {
            self.connection.fail(CloseReason::TransportClose);
            // Only now does the session leave the engine's table: its queue is written and
            // its transport closed.
            self.connection.set_ws_attached(false);
            self.connection.settle();
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

    /// Runs until the socket must close; returns the close code to send, if any.
    async fn run_loop(&mut self) -> Option<u16> {
        loop {
            if self.probing {
                let state = self.connection.state.lock();
                if state.session.is_closed() {
                    return Some(1000);
                }
                if !state.session.is_upgrading() {
                    // The probe timed out or was refused; polling carries on.
                    return Some(1000);
                }
            } else {
                // Write coalescing: a socket written to less than `window` ago waits for the
                // rest of the window and sends everything queued meanwhile in one write. Each
                // small send costs the kernel about as much as a large one, so under steady
                // broadcast load this divides the CPU per delivery; an idle socket still
                // writes at once, so sparse traffic gains no latency.
                //
                // The window only applies once writes already carry several frames (the last one
                // did): a socket receiving one frame at a time is not under load, and holding its
                // frames would add latency for nothing.
                let window = self.shared.config.write_coalescing;
                let now = Instant::now();
                let hold_until = self
                    .last_write
                    .filter(|_| self.last_batch > 1)
                    // A window past `Instant`'s range means no hold (it would never end).
                    .and_then(|t| t.checked_add(window))
                    .filter(|&until| !window.is_zero() && now < until);
                let (frames, closed) = {
                    let mut state = self.connection.state.lock();
                    let closed = state.session.is_closed();
                    if hold_until.is_some() && !closed && !state.urgent {
                        if state.session.has_queued() && self.flush_timer.is_none() {
                            let until = hold_until.unwrap_or(now);
                            self.flush_timer =
                                Some(Box::pin(tokio::time::sleep_until(until.into())));
                        }
                        (Default::default(), false)
                    } else {
                        state.urgent = false;
                        (state.session.drain(), closed)
                    }
                };
                if !frames.is_empty() {
                    self.flush_timer = None;
                    self.last_write = Some(now);
                    self.last_batch = frames.len();
                    if self.write(&frames).await.is_err() {
                        // Too slow (write deadline), aborted, or the socket failed.
                        self.connection.fail(CloseReason::TransportError);
                        return None;
                    }
                }
                if closed {
                    self.connection.settle();
                    return Some(1000);
                }
            }

            // Handle every complete frame already buffered before waiting again.
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(message)) => match self.on_frame(message).await {
                    Step::Continue => continue,
                    Step::Stop => return Some(1000),
                },
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(sid = %self.connection.sid(), %error, "WebSocket protocol error");
                    if !self.probing {
                        self.connection.fail(if error.close_code() == 1009 {
                            CloseReason::TransportError
                        } else {
                            CloseReason::ParseError
                        });
                    }
                    return Some(error.close_code());
                }
            }
            if self.buf.is_empty() && self.buf.capacity() > 0 {
                // Release the buffer while idle: thousands of quiet sockets must not each
                // hold one.
                self.buf = BytesMut::new();
            }

            let connection = self.connection.clone();
            let probing = self.probing;
            let holding = self.flush_timer.is_some();
            tokio::select! {
                read = self.socket.read(&mut self.buf) => match read {
                    Ok(0) => {
                        if !self.probing {
                            self.connection.fail(CloseReason::TransportClose);
                        }
                        return None;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if !self.probing {
                            self.connection.fail(CloseReason::TransportError);
                        }
                        return None;
                    }
                },
                _ = poll_fn(|cx| connection.poll_ws_work(cx, probing, holding)) => {}
                _ = poll_fn(|cx| match self.flush_timer.as_mut() {
                    Some(timer) => timer.as_mut().poll(cx),
                    None => Poll::Pending,
                }), if self.flush_timer.is_some() => {
                    self.flush_timer = None;
                    self.last_write = None;
                }
            }
        }
    }

    async fn write(&mut self, frames: &std::collections::VecDeque<SharedFrame>) -> io::Result<()> {
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
    async fn write_bytes(&mut self, frames: &[&Bytes]) -> io::Result<()> {
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

    async fn on_frame(&mut self, message: ws::Message) -> Step {
        let packet = match message {
            ws::Message::Text(text) => match Packet::decode_text(text) {
                Ok(packet) => packet,
                Err(error) => {
                    tracing::debug!(sid = %self.connection.sid(), %error, "invalid packet");
                    if !self.probing {
                        self.connection.fail(CloseReason::ParseError);
                    }
                    return Step::Stop;
                }
            },
            ws::Message::Binary(data) => Packet::Binary(data),
            ws::Message::Ping(payload) => {
                let pong = ws::encode_frame(OpCode::Pong, &payload);
                return match self.write_bytes(&[&pong]).await {
                    Ok(()) => Step::Continue,
                    Err(_) => Step::Stop,
                };
            }
            ws::Message::Pong(_) => return Step::Continue,
            ws::Message::Close(frame) => {
                self.peer_close = Some(frame.map_or(1000, |f| f.code));
                if !self.probing {
                    self.connection.fail(CloseReason::TransportClose);
                }
                return Step::Stop;
            }
        };
        if self.probing {
            return self.on_probe_packet(packet).await;
        }
        let outcome = {
            let mut state = self.connection.state.lock();
            state.session.handle_packet(Instant::now(), packet)
        };
        match outcome {
            PacketOutcome::Message(text) => {
                self.shared
                    .handler
                    .on_message(&self.connection, Message::Text(text));
            }
            PacketOutcome::Binary(data) => {
                self.shared
                    .handler
                    .on_message(&self.connection, Message::Binary(data));
            }
            PacketOutcome::Closed(_) => {
                self.connection.settle();
                return Step::Stop;
            }
            PacketOutcome::None => {}
        }
        self.connection.reschedule();
        Step::Continue
    }

    async fn on_probe_packet(&mut self, packet: Packet) -> Step {
        let outcome = {
            let mut state = self.connection.state.lock();
            let outcome = state.session.handle_probe_packet(Instant::now(), packet);
            // A parked poll re-checks (after the switch it is refused).
            state.wake();
            outcome
        };
        // The probe's answer starts the 100 ms noop checks: the timer must know.
        self.connection.reschedule();
        match outcome {
            Ok(ProbeOutcome::Reply(frame)) => {
                if self.write_bytes(&[frame.ws_frame()]).await.is_err() {
                    return Step::Stop;
                }
                Step::Continue
            }
            Ok(ProbeOutcome::Upgraded) => {
                self.probing = false;
                self.connection.set_ws_attached(true);
                Step::Continue
            }
            Ok(ProbeOutcome::None) => Step::Continue,
            Err(error) => {
                tracing::debug!(sid = %self.connection.sid(), %error, "upgrade refused");
                Step::Stop
            }
        }
    }
}
