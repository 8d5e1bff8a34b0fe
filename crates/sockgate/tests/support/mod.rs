//! Raw Engine.IO / Socket.IO clients over real loopback TCP, for the hardening tests: they can
//! stop reading, stop polling or stall mid-request, which the official clients never do.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sockgate::core::Adapter;
use sockgate::{Room, Sid, SocketIo};
use sockgate_proto::ws::{self, FrameDecoder, Message, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `io` on a free loopback port, on a runtime of its own: if the server deadlocks, the
/// test's own timeouts still fire and the test fails instead of hanging. It runs until the
/// test process exits.
pub async fn serve(io: &SocketIo) -> SocketAddr {
    let server = serve_stoppable(io);
    let addr = server.addr;
    // Never stopped: its stop sender is kept alive with it.
    std::mem::forget(server);
    addr
}

/// A server on a runtime of its own that the test can kill, as a process exits.
pub struct Stoppable {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stoppable {
    /// Drops the server's runtime and every task and socket on it, like a process exit.
    pub fn kill(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `io` like [`serve`], killable with [`Stoppable::kill`].
pub fn serve_stoppable(io: &SocketIo) -> Stoppable {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let io = io.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tokio::select! {
                _ = io.serve(listener) => {}
                _ = stopped => {}
            }
        });
        runtime.shutdown_background();
    });
    Stoppable {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// Declares `/` on `io` and returns every socket that connects to it, in order.
pub fn record_sockets(io: &SocketIo) -> Arc<parking_lot::Mutex<Vec<sockgate::SocketRef>>> {
    let sockets: Arc<parking_lot::Mutex<Vec<sockgate::SocketRef>>> = Arc::default();
    let seen = sockets.clone();
    io.ns("/", move |socket: sockgate::SocketRef| {
        seen.lock().push(socket)
    });
    sockets
}

/// Polls `check` every 10 ms until it is true or `within` passed; returns whether it became true.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("HTTP response within 10 s")
        .unwrap();
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out[end + 4..].to_vec())
}

/// A polling client that speaks only when told to.
pub struct Polling {
    pub addr: SocketAddr,
    pub sid: String,
}

impl Polling {
    /// Handshake, then CONNECT to `/` (answered in the next GET).
    pub async fn connect(addr: SocketAddr) -> Polling {
        let (status, body) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let text = String::from_utf8(body).unwrap();
        let open: serde_json::Value = serde_json::from_str(&text[1..]).unwrap();
        let sid = open["sid"].as_str().unwrap().to_owned();
        let client = Polling { addr, sid };
        assert_eq!(client.post("40").await, 200);
        let first = client.get().await;
        assert!(first.starts_with("40{"), "CONNECT answer: {first}");
        client
    }

    pub async fn post(&self, payload: &str) -> u16 {
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid);
        http(self.addr, "POST", &path, payload.as_bytes()).await.0
    }

    pub async fn get(&self) -> String {
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid);
        let (status, body) = http(self.addr, "GET", &path, b"").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8(body).unwrap()
    }
}

/// A WebSocket client over raw TCP: it reads only when asked, and answers pings while reading.
pub struct Ws {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// The Socket.IO id of the socket in `/`, once connected.
    pub id: String,
}

impl Ws {
    /// Opens the WebSocket and reads the Engine.IO handshake (no namespace joined yet).
    pub async fn open(addr: SocketAddr, query: &str) -> Ws {
        let mut ws = Ws::upgrade(addr, query).await;
        let open = ws.next_text(Duration::from_secs(5)).await.expect("open");
        assert!(open.starts_with("0{"), "{open}");
        ws
    }

    /// Opens the WebSocket only (for an upgrade, `query` holds `&sid=...`).
    pub async fn upgrade(addr: SocketAddr, query: &str) -> Ws {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = BytesMut::new();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut buf))
                .await
                .expect("101 within 5 s")
                .unwrap();
            assert!(n > 0, "closed before 101");
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                let _ = buf.split_to(end + 4);
                break;
            }
        }
        Ws {
            stream,
            buf,
            decoder: FrameDecoder::for_client(64 << 20),
            id: String::new(),
        }
    }

    /// Opens and joins `/` on a server with recovery on; returns the socket's `pid` too.
    pub async fn connect_with_pid(addr: SocketAddr) -> (Ws, String) {
        let mut ws = Ws::open(addr, "").await;
        ws.send_text("40").await;
        let answer = ws.next_text(Duration::from_secs(5)).await.expect("CONNECT");
        let connect: serde_json::Value = serde_json::from_str(&answer[2..]).unwrap();
        ws.id = connect["sid"].as_str().unwrap().to_owned();
        let pid = connect["pid"].as_str().expect("a pid with recovery on");
        (ws, pid.to_owned())
    }

    /// Opens a new connection that joins `/` recovering session `pid` from `offset`; returns
    /// it and the CONNECT's answer (`sid`, `pid`).
    #[allow(dead_code)] // not every test binary that includes `support` recovers
    pub async fn recover(addr: SocketAddr, pid: &str, offset: &str) -> (Ws, serde_json::Value) {
        let mut ws = Ws::open(addr, "").await;
        ws.send_text(&format!("40{{\"pid\":\"{pid}\",\"offset\":\"{offset}\"}}"))
            .await;
        let answer = ws.next_text(Duration::from_secs(5)).await.expect("CONNECT");
        assert!(answer.starts_with("40{"), "{answer}");
        let connect: serde_json::Value = serde_json::from_str(&answer[2..]).unwrap();
        ws.id = connect["sid"].as_str().unwrap_or_default().to_owned();
        (ws, connect)
    }

    /// Opens and joins `/`.
    pub async fn connect(addr: SocketAddr) -> Ws {
        let mut ws = Ws::open(addr, "").await;
        ws.send_text("40").await;
        let answer = ws.next_text(Duration::from_secs(5)).await.expect("CONNECT");
        assert!(answer.starts_with("40{"), "{answer}");
        let v: serde_json::Value = serde_json::from_str(&answer[2..]).unwrap();
        ws.id = v["sid"].as_str().unwrap().to_owned();
        ws
    }

    pub async fn send_text(&mut self, text: &str) {
        let frame = ws::encode_masked_frame(OpCode::Text, text.as_bytes(), [1, 2, 3, 4]);
        self.stream.write_all(&frame).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next WebSocket message (pings are answered, Engine.IO pings too).
    pub async fn next_message(&mut self, within: Duration) -> Option<Message> {
        let end = tokio::time::Instant::now() + within;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(message)) => return Some(message),
                Ok(None) => {}
                Err(e) => panic!("bad server frame: {e:?}"),
            }
            match tokio::time::timeout_at(end, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next Engine.IO text packet that is not a ping (pings get their pong).
    pub async fn next_text(&mut self, within: Duration) -> Option<String> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.next_message(left).await? {
                Message::Text(text) if &text[..] == b"2" => self.send_text("3").await,
                Message::Text(text) => return Some(String::from_utf8(text.to_vec()).unwrap()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Reads until the server closes; returns the close frame's code, if one came.
    pub async fn close_code(&mut self, within: Duration) -> Option<u16> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.next_message(left).await? {
                Message::Close(frame) => return Some(frame.map_or(1005, |f| f.code)),
                Message::Text(text) if &text[..] == b"2" => self.send_text("3").await,
                _ => {}
            }
        }
    }
}

/// Bytes of a masked close frame with `code`.
pub fn close_frame(code: u16) -> Bytes {
    ws::encode_masked_frame(OpCode::Close, &code.to_be_bytes(), [9, 8, 7, 6])
}

/// This process's resident set size in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open sockets of this process (the server runs in it too).
pub fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held by tests that count the process's sockets, so that they do not run side by side.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// The open socket count once it stopped changing for 300 ms (earlier tests' servers may still
/// be closing theirs).
pub async fn stable_sockets() -> usize {
    let mut last = open_sockets();
    let mut since = Instant::now();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && since.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = open_sockets();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

/// Inside `impl Adapter for X`, where `X` wraps an adapter in a field `inner`: delegates
/// `persist_session`, `restore_session` and `packets_after` to it.
macro_rules! delegate_sessions_to_inner {
    () => {
        fn persist_session(&self, session: sockgate::core::PersistedSession) {
            self.inner.persist_session(session)
        }
        fn restore_session(
            &self,
            pid: &str,
            offset: &str,
        ) -> sockgate::core::BoxFuture<
            '_,
            Option<(
                sockgate::core::PersistedSession,
                Vec<sockgate_proto::socketio::Packet>,
            )>,
        > {
            self.inner.restore_session(pid, offset)
        }
        fn packets_after(
            &self,
            offset: &str,
            rooms: &[sockgate::Room],
        ) -> sockgate::core::BoxFuture<'_, Option<Vec<sockgate_proto::socketio::Packet>>> {
            self.inner.packets_after(offset, rooms)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use delegate_sessions_to_inner;

/// Inside `impl Adapter for X`, where `X` wraps an adapter in a field `inner`: delegates the
/// room and broadcast methods to it, so a test adapter writes only what it changes
/// (`add_all` stays with the caller: test adapters hook it).
macro_rules! delegate_rooms_and_broadcasts_to_inner {
    () => {
        fn del(&self, sid: sockgate::Sid, room: &str) {
            self.inner.del(sid, room)
        }
        fn del_all(&self, sid: sockgate::Sid) {
            self.inner.del_all(sid)
        }
        fn rooms_of(&self, sid: sockgate::Sid) -> Vec<sockgate::Room> {
            self.inner.rooms_of(sid)
        }
        fn rooms(&self) -> Vec<sockgate::Room> {
            self.inner.rooms()
        }
        fn local_sockets(&self, opts: &sockgate::core::BroadcastOptions) -> Vec<sockgate::Sid> {
            self.inner.local_sockets(opts)
        }
        fn broadcast(
            &self,
            packet: sockgate_proto::socketio::Packet,
            opts: sockgate::core::BroadcastOptions,
        ) {
            self.inner.broadcast(packet, opts)
        }
        fn fetch_sockets(
            &self,
            opts: sockgate::core::BroadcastOptions,
        ) -> sockgate::core::BoxFuture<'_, Vec<sockgate::core::SocketDetails>> {
            self.inner.fetch_sockets(opts)
        }
        fn add_sockets(&self, opts: sockgate::core::BroadcastOptions, rooms: Vec<sockgate::Room>) {
            self.inner.add_sockets(opts, rooms)
        }
        fn del_sockets(&self, opts: sockgate::core::BroadcastOptions, rooms: Vec<sockgate::Room>) {
            self.inner.del_sockets(opts, rooms)
        }
        fn disconnect_sockets(&self, opts: sockgate::core::BroadcastOptions, close: bool) {
            self.inner.disconnect_sockets(opts, close)
        }
    };
}
#[allow(unused_imports)] // not every test binary that includes `support` uses it
pub(crate) use delegate_rooms_and_broadcasts_to_inner;

/// The in-memory adapter (with recovery when configured) whose next `add_all` can be held up
/// on purpose: it opens the window inside a CONNECT between the checks and the registration.
pub struct SlowJoin {
    inner: sockgate::core::InMemoryAdapter,
    armed: Arc<AtomicBool>,
    recovery: bool,
}

impl SlowJoin {
    /// An adapter factory for the builder; `armed` set to true holds up the next `add_all`
    /// by 300 ms.
    pub fn factory(
        armed: Arc<AtomicBool>,
        recovery: Option<sockgate::RecoveryConfig>,
    ) -> impl Fn(std::sync::Weak<dyn sockgate::core::LocalNamespace>) -> Arc<dyn Adapter>
           + Send
           + Sync
           + 'static {
        move |ns| {
            Arc::new(SlowJoin {
                inner: sockgate::core::InMemoryAdapter::new(ns, recovery),
                armed: armed.clone(),
                recovery: recovery.is_some(),
            }) as Arc<dyn Adapter>
        }
    }
}

impl Adapter for SlowJoin {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        if self.armed.swap(false, Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(300));
        }
        self.inner.add_all(sid, rooms)
    }
    delegate_rooms_and_broadcasts_to_inner!();
    fn recovery_enabled(&self) -> bool {
        self.recovery
    }
    delegate_sessions_to_inner!();
}
