//! A worker process: owns a share of the clients, single-threaded (one current-thread runtime), and
//! talks to its coordinator with JSON lines: it prints `connected`, waits for `go` on stdin, runs the
//! measured phase, prints `done`, waits for `close`, then drops its connections and exits.
//! Every wait is bounded; the process exits by itself when its coordinator goes away.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::json;
use sockgate_proto::ws::{self, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::msgpack;
use crate::scenario::{Kind, Scenario};
use crate::util::{hist_to_b64, new_hist, now_us, Args};

const PH_WAIT: u8 = 0;
const PH_RUN: u8 = 1;
const PH_DRAIN: u8 = 2;
const PH_CLOSE: u8 = 3;

/// How long an echo waits for its ack before it counts as a timeout.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a worker waits for any instruction from its coordinator.
const COORD_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Default)]
struct Counters {
    ok: u64,
    failed: u64,
    sent: u64,
    received: u64,
    late: u64,
    timeouts: u64,
    closed: u64,
    errors: u64,
    /// Acks whose content differed from what was sent (binary and msgpack echo).
    mismatches: u64,
}

struct Shared {
    sc: Scenario,
    /// `127.0.0.1:PORT` of each node (one unless the scenario is a cluster's), for `Host`.
    hosts: Vec<String>,
    /// Each node's address; client `g` connects to node [`Scenario::node_of`]`(g)`.
    addrs: Vec<std::net::SocketAddr>,
    connect_hist: RefCell<Histogram<u64>>,
    lat_hist: RefCell<Histogram<u64>>,
    c: RefCell<Counters>,
    phase: watch::Sender<u8>,
    rng: Cell<u64>,
    /// This worker's own loopback source address, and the next source port it tries.
    src_ip: std::net::Ipv4Addr,
    next_port: Cell<u16>,
    first_error: RefCell<Option<String>>,
}

impl Shared {
    /// Opens a TCP connection to the server on 127.0.0.1. Each worker connects from its own
    /// loopback source address (127.0.0.10 + index) with source ports it picks in turn: the
    /// kernel's ephemeral-port search, which grows slow as 19,000 ports of one address fill up
    /// and would bill the generator (and the connect latency) for it, is skipped.
    async fn tcp(&self, node: usize) -> Result<TcpStream, String> {
        let addr = self.addrs[node % self.addrs.len()];
        for _ in 0..64 {
            let port = self.next_port.get();
            self.next_port
                .set(if port >= 64000 { 10000 } else { port + 1 });
            let Ok(sock) = tokio::net::TcpSocket::new_v4() else {
                break;
            };
            let _ = sock.set_reuseaddr(true);
            if sock.bind((self.src_ip, port).into()).is_err() {
                continue;
            }
            match sock.connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrNotAvailable
                        || e.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    continue
                }
                Err(e) => return Err(format!("connect: {e}")),
            }
        }
        TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))
    }

    fn mask(&self) -> [u8; 4] {
        // xorshift64: masks need not be secret against our own server.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x as u32).to_le_bytes()
    }
    fn phase(&self) -> u8 {
        *self.phase.borrow()
    }
    fn fail(&self, e: String) {
        self.c.borrow_mut().failed += 1;
        let mut fe = self.first_error.borrow_mut();
        if fe.is_none() {
            *fe = Some(e);
        }
    }
    /// Records an arrival carrying a `"t":<send time in us>` field.
    fn arrival(&self, p: &[u8]) {
        if self.phase() < PH_RUN {
            return;
        }
        let mut c = self.c.borrow_mut();
        c.received += 1;
        if let Some(t) = find_t(p) {
            let lat = now_us().saturating_sub(t).max(1);
            if lat as f64 > self.sc.late_ms * 1000.0 {
                c.late += 1;
            }
            self.lat_hist.borrow_mut().saturating_record(lat);
        }
    }
}

impl Shared {
    /// Records an arrival whose send time (us since the epoch) the client kept itself.
    fn arrival_at(&self, sent_us: u64) {
        if self.phase() < PH_RUN {
            return;
        }
        let mut c = self.c.borrow_mut();
        c.received += 1;
        let lat = now_us().saturating_sub(sent_us).max(1);
        if lat as f64 > self.sc.late_ms * 1000.0 {
            c.late += 1;
        }
        self.lat_hist.borrow_mut().saturating_record(lat);
    }

    fn mismatch(&self, what: String) {
        self.c.borrow_mut().mismatches += 1;
        let mut fe = self.first_error.borrow_mut();
        if fe.is_none() {
            *fe = Some(what);
        }
    }
}

/// The text part of a binary `echo` event with ack `ack_id` and one attachment.
fn binary_event_header(ack_id: u64) -> String {
    format!(r#"451-{ack_id}["echo",{{"_placeholder":true,"num":0}}]"#)
}

/// The attachment of client `g`'s round trip `ack_id`: `len` bytes that differ from one round
/// trip (and client) to the next, so that an ack carrying stale or foreign bytes is caught.
fn attachment_bytes(g: usize, ack_id: u64, len: usize) -> Vec<u8> {
    let seed = (g as u64).wrapping_mul(0x9E37_79B9) ^ ack_id.wrapping_mul(0x85EB_CA6B);
    (0..len as u64)
        .map(|i| (seed.wrapping_add(i.wrapping_mul(31)) >> 3) as u8)
        .collect()
}

/// A binary ack's text part on namespace `/`, `46<n>-<id>[...]`: (attachments, ack id).
fn parse_binary_ack(p: &[u8]) -> Option<(usize, u64)> {
    let rest = p.strip_prefix(b"46")?;
    let n_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = std::str::from_utf8(&rest[..n_len]).ok()?.parse().ok()?;
    let rest = rest[n_len..].strip_prefix(b"-")?;
    let id_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = std::str::from_utf8(&rest[..id_len]).ok()?.parse().ok()?;
    Some((n, id))
}

/// The number after `"t":` in a JSON text.
fn find_t(p: &[u8]) -> Option<u64> {
    let at = p.windows(4).position(|w| w == b"\"t\":")? + 4;
    let digits = p[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&p[at..at + digits]).ok()?.parse().ok()
}

fn payload_json(sc: &Scenario, extra: &str) -> String {
    format!(
        r#"{{{extra}"t":{},"p":"{}"}}"#,
        now_us(),
        "x".repeat(sc.payload)
    )
}

fn room_of(sc: &Scenario, g: usize) -> usize {
    g / sc.room_size.max(1)
}

/// The `40` connect packet this client sends (with the room in its auth for `rooms`).
fn connect_packet(sc: &Scenario, g: usize) -> String {
    if sc.kind == Kind::Rooms {
        format!(r#"40{{"room":"r{}"}}"#, room_of(sc, g))
    } else {
        "40".to_string()
    }
}

/// The text of the event a sender emits.
fn send_packet(sc: &Scenario, g: usize, ack_id: u64) -> String {
    match sc.kind {
        Kind::Broadcast => format!(
            r#"42["broadcast",{}]"#,
            payload_json(sc, &format!(r#""s":{g},"#))
        ),
        Kind::Rooms => {
            let extra = format!(r#""room":"r{}","#, room_of(sc, g));
            format!(r#"42["room",{}]"#, payload_json(sc, &extra))
        }
        _ => format!(r#"42{ack_id}["echo",{}]"#, payload_json(sc, "")),
    }
}

/// When this client first acts and then how often (None: it never sends on a timer).
fn schedule(sc: &Scenario, g: usize) -> Option<(Duration, Duration)> {
    match sc.kind {
        Kind::Echo | Kind::Polling if sc.is_active(g) => {
            let period = if sc.rate > 0.0 {
                Duration::from_secs_f64(1.0 / sc.rate)
            } else {
                Duration::ZERO
            };
            // Spread the clients' first sends over one period.
            let frac = (g % 97) as f64 / 97.0;
            Some((period.mul_f64(frac), period))
        }
        Kind::Broadcast | Kind::Rooms if sc.is_sender(g) => {
            let senders = sc.sender_count().max(1);
            let period = Duration::from_secs_f64(senders as f64 / sc.rate.max(0.001));
            let rank = (0..g).filter(|&h| sc.is_sender(h)).count();
            Some((period.mul_f64(rank as f64 / senders as f64), period))
        }
        _ => None,
    }
}

/// Moves an echo client's schedule on by one period and returns when it sends next: on time when
/// the ack came back in time, at once otherwise (it never sends two round trips at once).
fn advance(due: &mut Instant, sched: Option<(Duration, Duration)>) -> Instant {
    let (_, period) = sched.unwrap_or_default();
    let now = Instant::now();
    *due += period;
    if *due + period < now {
        // More than a period behind: do not try to catch up in a burst.
        *due = now;
    }
    (*due).max(now)
}

// ---------------------------------------------------------------- WebSocket

/// How many bytes the WebSocket frame at the head of `b` still lacks (0 when its length is not
/// known yet).
fn frame_missing(b: &[u8]) -> usize {
    if b.len() < 2 {
        return 0;
    }
    let (hdr, len): (usize, usize) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() >= 10 => (
            10,
            u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()) as usize,
        ),
        126 | 127 => return 0,
        n => (2, n as usize),
    };
    // At most 1 MiB ahead: the servers' frames are far smaller, and a bogus length must not make
    // the generator allocate without bound.
    hdr.saturating_add(len).saturating_sub(b.len()).min(1 << 20)
}

/// A minimal WebSocket client connection: one stream, one read buffer, one write buffer.
struct Ws {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
}

enum Frame {
    Text(BytesMut, usize),
    Binary(BytesMut, usize),
    Ping(Vec<u8>),
    Close,
    Other,
}

impl Ws {
    async fn connect(sh: &Shared, node: usize) -> Result<Self, String> {
        let stream = sh.tcp(node).await?;
        let _ = stream.set_nodelay(true);
        // RST on close: no TIME_WAIT pile-up across rounds of 19,000 connections.
        // Zero linger never blocks: the close is an immediate RST.
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(Duration::ZERO));
        let mut ws = Self {
            stream,
            rbuf: BytesMut::with_capacity(512),
            wbuf: Vec::with_capacity(128),
        };
        let req = format!(
            "GET {}?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            sh.sc.path,
            sh.hosts[node % sh.hosts.len()]
        );
        ws.stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some(end) = ws.rbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = ws.rbuf.split_to(end + 4);
                if !head.starts_with(b"HTTP/1.1 101") {
                    let line = String::from_utf8_lossy(&head);
                    return Err(format!(
                        "upgrade refused: {}",
                        line.lines().next().unwrap_or("")
                    ));
                }
                return Ok(ws);
            }
            if ws.rbuf.len() > 16 * 1024 {
                return Err("response head too long".into());
            }
            let n = ws
                .stream
                .read_buf(&mut ws.rbuf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("closed during upgrade".into());
            }
        }
    }

    /// Parses one complete frame out of the read buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Frame>, String> {
        let b = &self.rbuf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (op, masked, len7) = (b[0] & 0x0f, b[1] & 0x80 != 0, (b[1] & 0x7f) as usize);
        if b[0] & 0x80 == 0 {
            return Err("fragmented frames are not expected from a server".into());
        }
        let (mut hdr, len) = match len7 {
            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
            127 if b.len() >= 10 => (
                10,
                u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()) as usize,
            ),
            126 | 127 => return Ok(None),
            n => (2, n),
        };
        if masked {
            hdr += 4;
        }
        if b.len() < hdr + len {
            return Ok(None);
        }
        let mut frame = self.rbuf.split_to(hdr + len);
        if masked {
            let key = [
                frame[hdr - 4],
                frame[hdr - 3],
                frame[hdr - 2],
                frame[hdr - 1],
            ];
            for (i, x) in frame[hdr..].iter_mut().enumerate() {
                *x ^= key[i % 4];
            }
        }
        Ok(Some(match op {
            1 => Frame::Text(frame, hdr),
            2 => Frame::Binary(frame, hdr),
            8 => Frame::Close,
            9 => Frame::Ping(frame[hdr..].to_vec()),
            _ => Frame::Other,
        }))
    }

    /// Reads more bytes; false when the peer closed.
    async fn fill(&mut self) -> Result<bool, String> {
        // Room for the rest of a large frame (64 KiB broadcasts) in one read when it is there,
        // instead of 4 KiB at a time.
        let want = frame_missing(&self.rbuf).max(256);
        if self.rbuf.capacity() - self.rbuf.len() < want {
            self.rbuf.reserve(want.max(4096));
        }
        match self.stream.read_buf(&mut self.rbuf).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    async fn send(&mut self, sh: &Shared, op: OpCode, payload: &[u8]) -> Result<(), String> {
        self.wbuf.clear();
        ws::encode_masked_frame_into(&mut self.wbuf, op, payload, sh.mask());
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads frames until one Engine.IO packet arrives (answering pings on the way): the frame,
    /// its header length and whether it is binary.
    async fn next_text(&mut self, sh: &Shared) -> Result<(BytesMut, usize, bool), String> {
        loop {
            while let Some(f) = self.parse()? {
                match f {
                    Frame::Text(b, h) if b.get(h) == Some(&b'2') && b.len() == h + 1 => {
                        self.send(sh, OpCode::Text, b"3").await?;
                    }
                    Frame::Text(b, h) => return Ok((b, h, false)),
                    Frame::Binary(b, h) => return Ok((b, h, true)),
                    Frame::Ping(p) => self.send(sh, OpCode::Pong, &p).await?,
                    Frame::Close => return Err("closed by server".into()),
                    Frame::Other => {}
                }
            }
            if !self.fill().await? {
                return Err("closed by server".into());
            }
        }
    }
}

/// Opens one Socket.IO (or raw Engine.IO) client over WebSocket.
async fn ws_open(sh: &Shared, g: usize) -> Result<Ws, String> {
    let mut ws = Ws::connect(sh, sh.sc.node_of(g)).await?;
    let (b, h, _) = ws.next_text(sh).await?;
    if b.get(h) != Some(&b'0') {
        return Err(format!(
            "expected open packet, got {:?}",
            String::from_utf8_lossy(&b[h..])
        ));
    }
    if sh.sc.eio_only {
        return Ok(ws);
    }
    if sh.sc.msgpack {
        ws.send(
            sh,
            OpCode::Binary,
            &msgpack::packet(msgpack::CONNECT, None, None),
        )
        .await?;
        loop {
            let (b, h, binary) = ws.next_text(sh).await?;
            if !binary {
                continue;
            }
            match msgpack::incoming(&b[h..])? {
                msgpack::Incoming::Connect => return Ok(ws),
                msgpack::Incoming::ConnectError(why) => return Err(format!("connect error {why}")),
                _ => {}
            }
        }
    }
    ws.send(sh, OpCode::Text, connect_packet(&sh.sc, g).as_bytes())
        .await?;
    loop {
        let (b, h, _) = ws.next_text(sh).await?;
        match b.get(h..h + 2) {
            Some(b"40") => return Ok(ws),
            Some(b"44") => {
                return Err(format!(
                    "connect error {}",
                    String::from_utf8_lossy(&b[h..])
                ))
            }
            _ => {}
        }
    }
}

async fn ws_client(sh: Rc<Shared>, g: usize) {
    let t0 = Instant::now();
    let mut phase_rx = sh.phase.subscribe();
    let opened = timeout(Duration::from_secs(30), ws_open(&sh, g)).await;
    let mut ws = match opened {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return sh.fail(e),
        Err(_) => return sh.fail("connect timed out (30 s)".into()),
    };
    sh.connect_hist
        .borrow_mut()
        .saturating_record(t0.elapsed().as_micros().max(1) as u64);
    sh.c.borrow_mut().ok += 1;
    if let Err(e) = ws_run(&sh, g, &mut ws, &mut phase_rx).await {
        let mut c = sh.c.borrow_mut();
        if sh.phase() < PH_CLOSE {
            c.closed += 1;
            drop(c);
            let mut fe = sh.first_error.borrow_mut();
            if fe.is_none() {
                *fe = Some(e);
            }
        }
    }
}

async fn ws_run(
    sh: &Shared,
    g: usize,
    ws: &mut Ws,
    phase_rx: &mut watch::Receiver<u8>,
) -> Result<(), String> {
    let sched = schedule(&sh.sc, g);
    let mut next: Option<Instant> = None;
    let mut awaiting: Option<u64> = None;
    let mut ack_id: u64 = 0;
    let mut due = Instant::now();
    // Binary and msgpack echo: the send time and content of the round trip awaited, and the
    // attachments still expected after a binary ack's text part (its id, how many).
    let mut sent_us: u64 = 0;
    let mut sent_attachment: Vec<u8> = Vec::new();
    let mut binary_ack: Option<(u64, usize)> = None;
    let mut phase = *phase_rx.borrow_and_update();
    if phase >= PH_RUN {
        next = sched.map(|(o, _)| Instant::now() + o);
        due = next.unwrap_or(due);
    }
    loop {
        // An ack that completed a round trip in the frames just read: move the schedule on.
        let mut acked = false;
        tokio::select! {
            r = phase_rx.changed() => {
                if r.is_err() { return Ok(()); }
                phase = *phase_rx.borrow_and_update();
                match phase {
                    PH_RUN => {
                        next = sched.map(|(o, _)| Instant::now() + o);
                        due = next.unwrap_or_else(Instant::now);
                    }
                    PH_DRAIN => next = None,
                    PH_CLOSE => return Ok(()),
                    _ => {}
                }
            }
            r = ws.fill() => {
                if !r? { return Err("closed by server".into()); }
                while let Some(f) = ws.parse()? {
                    match f {
                        Frame::Text(b, h) => {
                            let p = &b[h..];
                            match p {
                                b"2" => ws.send(sh, OpCode::Text, b"3").await?,
                                [b'1', ..] => return Err("engine.io close".into()),
                                [b'4', b'2', ..] if !sh.sc.eio_only => sh.arrival(p),
                                [b'4', b'3', rest @ ..] if !sh.sc.eio_only => {
                                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                                    let id = std::str::from_utf8(&rest[..digits]).ok().and_then(|s| s.parse().ok());
                                    if id.is_some() && id == awaiting {
                                        awaiting = None;
                                        if sh.sc.attachment > 0 {
                                            // The attachment did not come back as binary (e.g.
                                            // serialized as a number array).
                                            sh.mismatch("plain ack to a binary event".into());
                                        } else {
                                            sh.arrival(p);
                                        }
                                        if phase == PH_RUN {
                                            next = Some(advance(&mut due, sched));
                                        }
                                    }
                                }
                                [b'4', b'6', ..] if !sh.sc.eio_only => match parse_binary_ack(p) {
                                    Some((n, id)) if Some(id) == awaiting => {
                                        if n == 1 {
                                            binary_ack = Some((id, n));
                                        } else {
                                            sh.mismatch(format!("binary ack with {n} attachments, 1 sent"));
                                            awaiting = None;
                                            acked = true;
                                        }
                                    }
                                    _ => {}
                                },
                                [b'4', b'1', ..] => return Err("namespace disconnect".into()),
                                _ => {}
                            }
                        }
                        Frame::Binary(b, h) if sh.sc.msgpack => match msgpack::incoming(&b[h..])? {
                            msgpack::Incoming::Ack(id, t) if Some(id) == awaiting => {
                                awaiting = None;
                                if t == Some(sent_us) {
                                    sh.arrival_at(sent_us);
                                } else {
                                    sh.mismatch(format!("msgpack ack carried t={t:?}, sent {sent_us}"));
                                }
                                acked = true;
                            }
                            _ => {}
                        },
                        Frame::Binary(b, h) => {
                            if let Some((id, left)) = binary_ack {
                                // The one attachment of the awaited binary ack.
                                binary_ack = (left > 1).then_some((id, left - 1));
                                if left == 1 {
                                    awaiting = None;
                                    if b[h..] == sent_attachment[..] {
                                        sh.arrival_at(sent_us);
                                    } else {
                                        sh.mismatch(format!(
                                            "binary ack carried {} bytes that differ from the {} sent",
                                            b.len() - h,
                                            sent_attachment.len()
                                        ));
                                    }
                                    acked = true;
                                }
                            }
                        }
                        Frame::Ping(p) => ws.send(sh, OpCode::Pong, &p).await?,
                        Frame::Close => return Err("closed by server".into()),
                        Frame::Other => {}
                    }
                }
            }
            _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let (_, period) = sched.unwrap_or_default();
                match sh.sc.kind {
                    Kind::Echo => {
                        if awaiting.is_some() {
                            sh.c.borrow_mut().timeouts += 1;
                        }
                        ack_id += 1;
                        binary_ack = None;
                        sent_us = now_us();
                        if sh.sc.msgpack {
                            ws.send(sh, OpCode::Binary, &msgpack::echo(ack_id, sent_us, sh.sc.payload)).await?;
                        } else if sh.sc.attachment > 0 {
                            sent_attachment = attachment_bytes(g, ack_id, sh.sc.attachment);
                            ws.send(sh, OpCode::Text, binary_event_header(ack_id).as_bytes()).await?;
                            ws.send(sh, OpCode::Binary, &sent_attachment).await?;
                        } else {
                            ws.send(sh, OpCode::Text, send_packet(&sh.sc, g, ack_id).as_bytes()).await?;
                        }
                        sh.c.borrow_mut().sent += 1;
                        awaiting = Some(ack_id);
                        next = Some(Instant::now() + ACK_TIMEOUT);
                    }
                    _ => {
                        ws.send(sh, OpCode::Text, send_packet(&sh.sc, g, 0).as_bytes()).await?;
                        sh.c.borrow_mut().sent += 1;
                        let mut n = next.unwrap_or_else(Instant::now) + period;
                        let now = Instant::now();
                        if n + period < now {
                            // Fell more than a period behind: skip (the shortfall shows as a lower send rate).
                            n = now + period;
                        }
                        next = Some(n);
                    }
                }
            }
        }
        if acked && phase == PH_RUN {
            next = Some(advance(&mut due, sched));
        }
    }
}

// ---------------------------------------------------------------- long-polling

type Sender = SendRequest<Full<Bytes>>;

async fn http_conn(sh: &Shared) -> Result<Sender, String> {
    // Long-polling scenarios run against one server (node 0).
    let stream = sh.tcp(0).await?;
    let _ = stream.set_nodelay(true);
    // Zero linger never blocks: the close is an immediate RST.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("http handshake: {e}"))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn http(
    sh: &Shared,
    s: &mut Sender,
    sid: Option<&str>,
    body: Option<String>,
) -> Result<Bytes, String> {
    let mut uri = format!("{}?EIO=4&transport=polling", sh.sc.path);
    if let Some(sid) = sid {
        uri.push_str("&sid=");
        uri.push_str(sid);
    }
    let method = if body.is_some() { "POST" } else { "GET" };
    let body = Bytes::from(body.unwrap_or_default());
    let request = || {
        hyper::Request::builder()
            .method(method)
            .uri(uri.as_str())
            .header("host", &sh.hosts[0])
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())
    };
    // Servers close an idle keep-alive connection (Node and sockgate after 5 s): an idle
    // session's POST connection is gone by its next pong. A browser then opens a new one, and
    // so does this client, also when the close crossed the request (nothing was answered).
    if s.is_closed() || s.ready().await.is_err() {
        *s = http_conn(sh).await?;
    }
    let resp = match s.send_request(request()?).await {
        Ok(resp) => resp,
        Err(e) if e.is_canceled() || e.is_incomplete_message() || s.is_closed() => {
            *s = http_conn(sh).await?;
            s.ready().await.map_err(|e| format!("http: {e}"))?;
            s.send_request(request()?)
                .await
                .map_err(|e| format!("http: {e}"))?
        }
        Err(e) => return Err(format!("http: {e}")),
    };
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("http body: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

fn packets(body: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    body.split(|&b| b == 0x1e).map(|p| body.slice_ref(p))
}

async fn polling_open(
    sh: &Shared,
    g: usize,
) -> Result<(Sender, Sender, String, Vec<Bytes>), String> {
    let mut get = http_conn(sh).await?;
    let mut post = http_conn(sh).await?;
    let open = http(sh, &mut get, None, None).await?;
    let sid = {
        let at = open
            .windows(7)
            .position(|w| w == b"\"sid\":\"")
            .ok_or("no sid in open packet")?
            + 7;
        let len = open[at..]
            .iter()
            .position(|&b| b == b'"')
            .ok_or("bad sid")?;
        String::from_utf8_lossy(&open[at..at + len]).into_owned()
    };
    http(sh, &mut post, Some(&sid), Some(connect_packet(&sh.sc, g))).await?;
    let mut early = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let body = http(sh, &mut get, Some(&sid), None).await?;
        for p in packets(&body) {
            if p.starts_with(b"40") {
                early.extend(packets(&body).filter(|q| !q.starts_with(b"40")));
                return Ok((get, post, sid, early));
            }
            if p.starts_with(b"44") {
                return Err(format!("connect error {}", String::from_utf8_lossy(&p)));
            }
        }
    }
    Err("no connect ack".into())
}

async fn polling_client(sh: Rc<Shared>, g: usize) {
    let t0 = Instant::now();
    let mut phase_rx = sh.phase.subscribe();
    let (mut get, mut post, sid, early) =
        match timeout(Duration::from_secs(30), polling_open(&sh, g)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return sh.fail(e),
            Err(_) => return sh.fail("connect timed out (30 s)".into()),
        };
    sh.connect_hist
        .borrow_mut()
        .saturating_record(t0.elapsed().as_micros().max(1) as u64);
    sh.c.borrow_mut().ok += 1;
    // A long-poll reader on its own connection, feeding packets to this task.
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Bytes, String>>();
    for p in early {
        let _ = tx.send(Ok(p));
    }
    let reader = {
        let sh = sh.clone();
        let sid = sid.clone();
        tokio::task::spawn_local(async move {
            loop {
                match http(&sh, &mut get, Some(&sid), None).await {
                    Ok(body) => {
                        for p in packets(&body) {
                            if tx.send(Ok(p)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
    };
    let r = polling_run(&sh, g, &mut post, &sid, &mut rx, &mut phase_rx).await;
    reader.abort();
    if let Err(e) = r {
        if sh.phase() < PH_CLOSE {
            sh.c.borrow_mut().closed += 1;
            let mut fe = sh.first_error.borrow_mut();
            if fe.is_none() {
                *fe = Some(e);
            }
        }
    }
}

async fn polling_run(
    sh: &Shared,
    g: usize,
    post: &mut Sender,
    sid: &str,
    rx: &mut mpsc::UnboundedReceiver<Result<Bytes, String>>,
    phase_rx: &mut watch::Receiver<u8>,
) -> Result<(), String> {
    let sched = schedule(&sh.sc, g);
    let mut next: Option<Instant> = None;
    let mut awaiting: Option<u64> = None;
    let mut ack_id = 0u64;
    let mut due = Instant::now();
    let mut phase = *phase_rx.borrow_and_update();
    if phase >= PH_RUN {
        next = sched.map(|(o, _)| Instant::now() + o);
        due = next.unwrap_or(due);
    }
    loop {
        tokio::select! {
            r = phase_rx.changed() => {
                if r.is_err() { return Ok(()); }
                phase = *phase_rx.borrow_and_update();
                match phase {
                    PH_RUN => {
                        next = sched.map(|(o, _)| Instant::now() + o);
                        due = next.unwrap_or_else(Instant::now);
                    }
                    PH_DRAIN => next = None,
                    PH_CLOSE => return Ok(()),
                    _ => {}
                }
            }
            p = rx.recv() => {
                let p = match p { Some(p) => p?, None => return Err("reader ended".into()) };
                match &p[..] {
                    b"2" => { http(sh, post, Some(sid), Some("3".into())).await?; }
                    [b'1', ..] => return Err("engine.io close".into()),
                    [b'4', b'3', rest @ ..] => {
                        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                        let id = std::str::from_utf8(&rest[..digits]).ok().and_then(|s| s.parse().ok());
                        if id.is_some() && id == awaiting {
                            awaiting = None;
                            sh.arrival(&p);
                            if phase == PH_RUN {
                                next = Some(advance(&mut due, sched));
                            }
                        }
                    }
                    [b'4', b'2', ..] => sh.arrival(&p),
                    _ => {}
                }
            }
            _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                if awaiting.is_some() {
                    sh.c.borrow_mut().timeouts += 1;
                }
                ack_id += 1;
                awaiting = Some(ack_id);
                http(sh, post, Some(sid), Some(send_packet(&sh.sc, g, ack_id))).await?;
                sh.c.borrow_mut().sent += 1;
                next = Some(Instant::now() + ACK_TIMEOUT);
            }
        }
    }
}

// ---------------------------------------------------------------- the process

fn say(v: serde_json::Value) {
    println!("{v}");
}

/// Entry point of `loadgen worker --config JSON --index I --port P [--ports P1,P2,...]`
/// (`--ports`: every node of a cluster, in node order; else `--port` alone).
pub(crate) fn main(args: &Args) {
    let sc: Scenario = match args.str("config").map(serde_json::from_str) {
        Some(Ok(sc)) => sc,
        _ => {
            eprintln!("worker: --config JSON required");
            std::process::exit(2);
        }
    };
    let index: usize = args.num("index", 0);
    let port: u16 = args.num("port", 3000);
    let ports: Vec<u16> = args
        .str("ports")
        .map(|p| p.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .filter(|p: &Vec<u16>| !p.is_empty())
        .unwrap_or_else(|| vec![port]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(sc, index, ports));
    std::process::exit(0);
}

async fn run(sc: Scenario, index: usize, ports: Vec<u16>) {
    // Instructions arrive on stdin; a plain thread turns lines into messages.
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            if ctl_tx.send(line.trim().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    let (phase, _) = watch::channel(PH_WAIT);
    let sh = Rc::new(Shared {
        src_ip: std::net::Ipv4Addr::new(127, 0, 0, 10 + (index % 200) as u8),
        next_port: Cell::new(10000 + (now_us() % 20000) as u16),
        hosts: ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        addrs: ports.iter().map(|&p| ([127, 0, 0, 1], p).into()).collect(),
        connect_hist: RefCell::new(new_hist()),
        lat_hist: RefCell::new(new_hist()),
        c: RefCell::new(Counters::default()),
        phase,
        rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1) ^ now_us()),
        first_error: RefCell::new(None),
        sc,
    });
    let (start, end) = sh.sc.share(index);
    let n = end - start;
    let rate = sh.sc.connect_rate / sh.sc.procs as f64;
    let t0 = Instant::now();
    let limit = t0 + Duration::from_secs_f64(n as f64 / rate.max(1.0) + 60.0);
    for (i, g) in (start..end).enumerate() {
        sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate.max(1.0))).await;
        let sh = sh.clone();
        if sh.sc.kind == Kind::Polling {
            tokio::task::spawn_local(polling_client(sh, g));
        } else {
            tokio::task::spawn_local(ws_client(sh, g));
        }
    }
    loop {
        let done = {
            let c = sh.c.borrow();
            c.ok + c.failed >= n as u64
        };
        if done || Instant::now() > limit {
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    let connect_s = t0.elapsed().as_secs_f64();
    {
        let c = sh.c.borrow();
        say(json!({
            "phase": "connected", "ok": c.ok, "failed": c.failed, "connect_s": connect_s,
            "connect_hist": hist_to_b64(&sh.connect_hist.borrow()),
            "error": *sh.first_error.borrow(),
        }));
    }
    // Wait for "go", then run, drain, report.
    match timeout(COORD_TIMEOUT, ctl.recv()).await {
        Ok(Some(l)) if l == "go" => {}
        _ => return,
    }
    let _ = sh.phase.send(PH_RUN);
    let run_start = Instant::now();
    sleep(Duration::from_secs_f64(sh.sc.duration_s)).await;
    let run_s = run_start.elapsed().as_secs_f64();
    let _ = sh.phase.send(PH_DRAIN);
    sleep(Duration::from_secs_f64(sh.sc.drain_s)).await;
    {
        let c = sh.c.borrow();
        say(json!({
            "phase": "done", "ok": c.ok, "sent": c.sent, "received": c.received, "late": c.late,
            "timeouts": c.timeouts, "closed": c.closed, "errors": c.errors, "run_s": run_s,
            "mismatches": c.mismatches,
            "lat_hist": hist_to_b64(&sh.lat_hist.borrow()),
            "error": *sh.first_error.borrow(),
        }));
    }
    let _ = timeout(COORD_TIMEOUT, ctl.recv()).await;
    let _ = sh.phase.send(PH_CLOSE);
    sleep(Duration::from_millis(300)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_send_timestamp_whatever_the_key_order() {
        assert_eq!(
            find_t(br#"42["broadcast",{"t":1700000000123456,"s":3,"p":"xx"}]"#),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(find_t(br#"431[{"p":"xx","t":42}]"#), Some(42));
        assert_eq!(find_t(br#"42["x",{"p":"t"}]"#), None);
    }

    #[test]
    fn packets_are_what_the_servers_expect() {
        let mut sc = Scenario::new("t", Kind::Rooms, 20);
        sc.room_size = 5;
        sc.payload = 3;
        assert_eq!(connect_packet(&sc, 7), r#"40{"room":"r1"}"#);
        let p = send_packet(&sc, 5, 0);
        assert!(
            p.starts_with(r#"42["room",{"room":"r1","t":"#) && p.ends_with(r#","p":"xxx"}]"#),
            "{p}"
        );
        sc.kind = Kind::Echo;
        assert_eq!(connect_packet(&sc, 7), "40");
        assert!(send_packet(&sc, 0, 12).starts_with(r#"4212["echo",{"t":"#));
    }

    #[test]
    fn binary_echo_packets() {
        assert_eq!(
            binary_event_header(9),
            r#"451-9["echo",{"_placeholder":true,"num":0}]"#
        );
        // What the servers answer: `46<attachments>-<id>[placeholder]`.
        assert_eq!(
            parse_binary_ack(br#"461-9[{"_placeholder":true,"num":0}]"#),
            Some((1, 9))
        );
        assert_eq!(parse_binary_ack(br#"4612-345[]"#), Some((12, 345)));
        assert_eq!(parse_binary_ack(br#"469[{}]"#), None);
        assert_eq!(parse_binary_ack(br#"43[{}]"#), None);
        let a = attachment_bytes(3, 1, 4096);
        assert_eq!(a.len(), 4096);
        assert_eq!(a, attachment_bytes(3, 1, 4096));
        assert_ne!(
            a,
            attachment_bytes(3, 2, 4096),
            "each round trip's bytes differ"
        );
        assert_ne!(
            a,
            attachment_bytes(4, 1, 4096),
            "each client's bytes differ"
        );
        assert!(a.iter().any(|&b| b != a[0]), "not a constant fill");
    }

    #[test]
    fn idle_clients_of_the_mixed_scenario_never_send() {
        let mut sc = Scenario::new("t", Kind::Echo, 110);
        sc.idle = 100;
        sc.rate = 100.0;
        assert!((0..100).all(|g| schedule(&sc, g).is_none()));
        assert!((100..110)
            .all(|g| schedule(&sc, g).is_some_and(|(_, p)| p == Duration::from_millis(10))));
    }

    #[test]
    fn a_large_frame_is_read_whole() {
        // The missing-bytes estimate of a 64 KiB text frame whose header and 100 bytes arrived.
        let mut head = vec![0x81u8, 127];
        head.extend_from_slice(&65_600u64.to_be_bytes());
        head.extend_from_slice(&[b'x'; 100]);
        assert_eq!(frame_missing(&head), 10 + 65_600 - head.len());
        assert_eq!(frame_missing(&[0x81, 126, 0x01, 0x00, 0]), 4 + 256 - 5);
        assert_eq!(frame_missing(&[0x81, 5, b'h', b'e']), 3);
        assert_eq!(frame_missing(&[0x81]), 0);
        // A bogus 2^63-byte length is capped.
        let mut bogus = vec![0x81u8, 127];
        bogus.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(frame_missing(&bogus), 1 << 20);
    }
}
