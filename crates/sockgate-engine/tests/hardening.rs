//! HTTP hardening over real loopback TCP: header, body and idle timeouts (slowloris), the
//! connection cap, graceful shutdown, reliable 413s, content negotiation, the WebSocket
//! handshake's edge cases, origin checks, proxy trust and path matching.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use sockgate_engine::{
    CloseReason, Connection, Engine, EngineConfig, EngineHandler, HttpConfig, Message, RequestInfo,
};
use sockgate_proto::engine::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echoes text messages and keeps the handshake of every session it saw open.
#[derive(Default)]
struct Echo {
    opened: Mutex<Vec<Arc<RequestInfo>>>,
}

impl EngineHandler for Echo {
    type Data = ();
    fn on_open(&self, connection: &Arc<Connection<()>>) {
        self.opened.lock().push(connection.info().clone());
    }
    fn on_message(&self, connection: &Arc<Connection<()>>, message: Message) {
        if let Message::Text(text) = message {
            let _ = connection.send(Arc::new(Frame::message(&text)));
        }
    }
    fn on_close(&self, _: &Connection<()>, _: CloseReason) {}
}

fn app(engine: &Engine<Echo>) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/socket.io-admin", get(|| async { "admin" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route(
            "/forever",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        )
        .layer(engine.layer())
}

async fn start(config: EngineConfig, http: HttpConfig) -> (SocketAddr, Engine<Echo>) {
    let engine = Engine::new(config, Echo::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockgate_engine::serve(listener, app(&engine)).http_config(http));
    (addr, engine)
}

/// HTTP options with every timer long, so that a test turns on only the one it checks.
fn patient() -> HttpConfig {
    HttpConfig::default()
        .header_read_timeout(Some(Duration::from_secs(30)))
        .idle_timeout(Some(Duration::from_secs(30)))
}

/// One HTTP/1.1 response read off a connection.
#[derive(Debug)]
struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Reads one response (head and `content-length` body) without closing the connection.
async fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut reply = Reply {
        head,
        body: buf[head_end + 4..].to_vec(),
    };
    let length: usize = reply
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while reply.body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        reply.body.extend_from_slice(&chunk[..n]);
    }
    Ok(reply)
}

async fn request(addr: SocketAddr, raw: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), read_reply(&mut stream))
        .await
        .expect("no answer within 5 s")
        .unwrap()
}

fn get_req(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n")
}

async fn handshake(addr: SocketAddr) -> String {
    let reply = request(addr, &get_req("/socket.io/?EIO=4&transport=polling", "")).await;
    assert_eq!(reply.status(), 200, "{reply:?}");
    let json: serde_json::Value = serde_json::from_slice(&reply.body[1..]).unwrap();
    json["sid"].as_str().unwrap().to_owned()
}

fn upgrade_req(query: &str, extra: &str) -> String {
    get_req(
        &format!("/socket.io/?{query}"),
        &format!(
            "connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}"
        ),
    )
}

/// Waits until the server closes `stream` (EOF or reset), draining whatever it sends; returns
/// how long that took, or `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut sink = [0u8; 4096];
    let result = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    result.ok().map(|_| start.elapsed())
}

#[tokio::test]
async fn slowloris_headers_are_closed_after_the_header_timeout() {
    let http = patient().header_read_timeout(Some(Duration::from_millis(500)));
    let (addr, engine) = start(EngineConfig::default(), http).await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // Connected and silent counts as stalled too.
    stalled.push(TcpStream::connect(addr).await.unwrap());
    // Positive control: a complete request is served meanwhile.
    assert_eq!(request(addr, &get_req("/hello", "")).await.body, b"hello");
    for stream in &mut stalled {
        let took = closed_within(stream, Duration::from_secs(3))
            .await
            .expect("a half-sent request head was held open past the header timeout");
        assert!(took < Duration::from_millis(1500), "closed after {took:?}");
    }
    assert_eq!(engine.session_count(), 0);
}

#[tokio::test]
async fn slowloris_polling_bodies_get_408_and_close_the_session() {
    let config = EngineConfig::default().http_request_body_timeout(Duration::from_millis(500));
    let (addr, engine) = start(config, patient()).await;
    let sid = handshake(addr).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n4hello"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let start = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(3), read_reply(&mut stream))
        .await
        .expect("a half-sent body was held past httpRequestBodyTimeout")
        .unwrap();
    assert_eq!(reply.status(), 408, "{reply:?}");
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert!(closed_within(&mut stream, Duration::from_secs(2))
        .await
        .is_some());
    // The session cannot go on with half a payload: it is closed, as Node closes it.
    let poll = request(
        addr,
        &get_req(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            "",
        ),
    )
    .await;
    assert_eq!(poll.status(), 400, "{poll:?}");
    assert_eq!(engine.session_count(), 0);
}

#[tokio::test]
async fn polling_bodies_in_too_many_chunks_are_refused() {
    let config = EngineConfig::default().max_buffered_chunks(8);
    let (addr, engine) = start(config, patient()).await;
    let sid = handshake(addr).await;
    let post = |chunks: usize| {
        let mut raw = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n1\r\n4\r\n"
        );
        for _ in 1..chunks {
            raw.push_str("1\r\nx\r\n");
        }
        raw.push_str("0\r\n\r\n");
        raw
    };
    // Each chunk is written separately so hyper yields it as its own frame.
    async fn send_chunked(addr: SocketAddr, raw: String) -> Reply {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let (head, rest) = raw.split_at(raw.find("\r\n\r\n").unwrap() + 4);
        stream.write_all(head.as_bytes()).await.unwrap();
        for piece in rest.split_inclusive("\r\n").collect::<Vec<_>>().chunks(2) {
            stream.write_all(piece.concat().as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), read_reply(&mut stream))
            .await
            .unwrap()
            .unwrap()
    }
    let ok = send_chunked(addr, post(4)).await;
    assert_eq!((ok.status(), ok.body.as_slice()), (200, &b"ok"[..]));
    let refused = send_chunked(addr, post(40)).await;
    assert_eq!(refused.status(), 413, "{refused:?}");
    assert_eq!(engine.session_count(), 1, "a 413 keeps the session");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let http = patient().idle_timeout(Some(Duration::from_millis(400)));
    let (addr, _engine) = start(EngineConfig::default(), http).await;
    // Positive control: a connection that keeps sending requests outlives the idle timeout.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut last_reply = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        busy.write_all(get_req("/hello", "").as_bytes())
            .await
            .unwrap();
        assert_eq!(read_reply(&mut busy).await.unwrap().body, b"hello");
        last_reply = Instant::now();
    }
    // The same connection, once idle, is closed after about the idle timeout.
    closed_within(&mut busy, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection was kept open");
    let took = last_reply.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );
}

/// `Duration::MAX` is a legal "no idle timeout" setting: it used to overflow `Instant` in the
/// connection's idle timer (a panic that dropped the connection after its first response).
#[tokio::test]
async fn an_idle_timeout_past_the_clock_keeps_the_connection() {
    let http = HttpConfig::default()
        .header_read_timeout(None)
        .idle_timeout(Some(Duration::MAX));
    let (addr, _engine) = start(EngineConfig::default(), http).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(get_req("/hello", "").as_bytes())
            .await
            .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), read_reply(&mut stream))
            .await
            .expect("no answer within 5 s")
            .expect("the connection was dropped");
        assert_eq!(reply.body, b"hello");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_parked_long_poll_is_not_idle() {
    let (_engine, _stream) = a_long_poll_answered_by_its_ping().await;
}

/// A server with a 300 ms idle timeout and a 1.5 s ping interval, and a connection whose long
/// poll is parked until the ping is due, well past the idle timeout, then answered on the same
/// connection (asserted here).
async fn a_long_poll_answered_by_its_ping() -> (impl Sized, TcpStream) {
    let config = EngineConfig::default().ping_interval(Duration::from_millis(1500));
    let http = patient().idle_timeout(Some(Duration::from_millis(300)));
    let (addr, engine) = start(config, http).await;
    let sid = handshake(addr).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            get_req(
                &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
                "",
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(4), read_reply(&mut stream))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.body, b"2");
    (engine, stream)
}

/// The idle timer looks at the connection only at its own deadlines (it is not told when a
/// request begins or ends): a connection whose long poll was parked across several of them is
/// still idle exactly from the poll's answer, not at once and not never.
#[tokio::test]
async fn a_connection_is_idle_from_the_end_of_its_long_poll() {
    let (_engine, mut stream) = a_long_poll_answered_by_its_ping().await;
    let answered = Instant::now();
    closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("the connection stayed open after its long poll ended");
    let took = answered.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(1500),
        "closed {took:?} after the poll's answer"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_websockets_count() {
    let http = patient().max_connections(Some(2));
    let (addr, _engine) = start(EngineConfig::default(), http).await;
    // A WebSocket holds one place after its upgrade.
    let mut ws = TcpStream::connect(addr).await.unwrap();
    ws.write_all(
        upgrade_req("EIO=4&transport=websocket", "sec-websocket-version: 13\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let reply = read_reply(&mut ws).await.unwrap();
    assert_eq!(reply.status(), 101, "{reply:?}");
    // A keep-alive connection holds the other: served once, so surely accepted.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get_req("/hello", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_reply(&mut idle).await.unwrap().body, b"hello");
    // Third: answered 503 and closed at once.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(get_req("/hello", "").as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), third.read_to_end(&mut out))
        .await
        .expect("a connection over the cap was kept open");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503"),
        "{text}"
    );
    assert!(!text.contains("hello"), "served over the cap: {text}");
    // Closing the WebSocket frees its place.
    drop(ws);
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(get_req("/hello", "").as_bytes()).await;
        if let Ok(Ok(reply)) =
            tokio::time::timeout(Duration::from_secs(1), read_reply(&mut stream)).await
        {
            if reply.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "places were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight_then_resolves() {
    let engine = Engine::new(EngineConfig::default(), Echo::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        sockgate_engine::serve(listener, app(&engine))
            .http_config(patient().shutdown_timeout(Duration::from_secs(5)))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            }),
    );
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get_req("/hello", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_reply(&mut idle).await.unwrap().body, b"hello");
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    in_flight
        .write_all(get_req("/slow", "").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    stop.send(()).unwrap();
    // The request in flight is answered, then its connection closes.
    let reply = tokio::time::timeout(Duration::from_secs(3), read_reply(&mut in_flight))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.body, b"slow");
    assert!(closed_within(&mut in_flight, Duration::from_secs(2))
        .await
        .is_some());
    // The idle keep-alive connection is closed, not left to its timeout.
    assert!(closed_within(&mut idle, Duration::from_secs(2))
        .await
        .is_some());
    // The future resolves once nothing is in flight.
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("serve did not resolve after the shutdown")
        .unwrap()
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(2));
    // And new connections are refused.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn graceful_shutdown_is_bounded() {
    let engine = Engine::new(EngineConfig::default(), Echo::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        sockgate_engine::serve(listener, app(&engine))
            .http_config(patient().shutdown_timeout(Duration::from_millis(300)))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            }),
    );
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(get_req("/forever", "").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("shutdown waited past its bound")
        .unwrap()
        .unwrap();
    let took = signalled.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(closed_within(&mut stuck, Duration::from_secs(2))
        .await
        .is_some());
}

/// Sends a POST whose body is `len` bytes, writing the body while reading the answer, and
/// returns the first line the server sent, or what went wrong: as Node's HTTP client does, a
/// body that could not be written in full (the server closed, the kernel answered with a reset)
/// counts as a failed request even when a status line arrived.
async fn oversized_post(addr: SocketAddr, sid: &str, len: usize, chunked: bool) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = if chunked {
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
        )
    } else {
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n"
        )
    };
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let piece = vec![b'4'; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = piece.len().min(len - sent);
            if chunked {
                writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                writer.write_all(&piece[..n]).await?;
                writer.write_all(b"\r\n").await?;
            } else {
                writer.write_all(&piece[..n]).await?;
            }
            sent += n;
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        std::io::Result::Ok(writer)
    });
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = got.windows(2).position(|w| w == b"\r\n") {
                return String::from_utf8_lossy(&got[..end]).into_owned();
            }
            match reader.read(&mut chunk).await {
                Ok(0) => return format!("EOF after {:?}", String::from_utf8_lossy(&got)),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return format!("error {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| "timeout".to_owned());
    match tokio::time::timeout(Duration::from_secs(5), writing).await {
        Ok(Ok(Ok(_writer))) => line,
        Ok(Ok(Err(e))) => format!("writing the body failed ({e}) after reading {line:?}"),
        _ => format!("the body was still not written after 5 s, after reading {line:?}"),
    }
}

#[tokio::test]
async fn oversized_polling_posts_always_read_their_413() {
    let config = EngineConfig::default().max_http_buffer_size(100_000);
    let (addr, engine) = start(config, patient()).await;
    let sid = handshake(addr).await;
    let mut failures = Vec::new();
    for i in 0..20 {
        // Declared too large (refused before reading), and chunked (found too large midway).
        let chunked = i % 2 == 1;
        let line = oversized_post(addr, &sid, 8_000_000, chunked).await;
        if !line.starts_with("HTTP/1.1 413") {
            failures.push(format!("#{i} chunked={chunked}: {line}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 20: {failures:#?}",
        failures.len()
    );
    assert_eq!(engine.session_count(), 1, "a 413 keeps the session");
}

#[tokio::test]
async fn gzip_with_q_zero_is_not_gzip_and_large_bodies_compress() {
    let (addr, _engine) = start(EngineConfig::default(), patient()).await;
    let sid = handshake(addr).await;
    let post = |size: usize| {
        let big = "y".repeat(size);
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n4{big}",
            size + 1
        )
    };
    let poll = |encoding: &str| {
        get_req(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            &format!("accept-encoding: {encoding}\r\n"),
        )
    };
    assert_eq!(request(addr, &post(4000)).await.body, b"ok");
    let refused = request(addr, &poll("gzip;q=0")).await;
    assert_eq!(refused.header("content-encoding"), None, "{refused:?}");
    assert_eq!(refused.body.len(), 4001);
    assert_eq!(request(addr, &post(4000)).await.body, b"ok");
    let deflate = request(addr, &poll("gzip;q=0, deflate")).await;
    assert_eq!(
        deflate.header("content-encoding").as_deref(),
        Some("deflate")
    );
    // Past the blocking threshold: compressed off the runtime, same bytes.
    let size = 500_000;
    assert_eq!(request(addr, &post(size)).await.body, b"ok");
    let gz = request(addr, &poll("gzip")).await;
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded.len(), size + 1);
    assert!(decoded.starts_with("4yyy"));
}

#[tokio::test]
async fn a_wrong_websocket_version_gets_426_with_the_supported_version() {
    let (addr, engine) = start(EngineConfig::default(), patient()).await;
    let reply = request(
        addr,
        &upgrade_req("EIO=4&transport=websocket", "sec-websocket-version: 8\r\n"),
    )
    .await;
    assert_eq!(reply.status(), 426, "{reply:?}");
    assert_eq!(reply.header("sec-websocket-version").as_deref(), Some("13"));
    let missing = request(addr, &upgrade_req("EIO=4&transport=websocket", "")).await;
    assert_eq!(missing.status(), 426, "{missing:?}");
    // Positive control: version 13 upgrades and opens a session.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            upgrade_req("EIO=4&transport=websocket", "sec-websocket-version: 13\r\n").as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(read_reply(&mut stream).await.unwrap().status(), 101);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(engine.session_count(), 1);
}

#[tokio::test]
async fn allowed_origins_apply_to_polling_and_websocket_handshakes_and_upgrades() {
    let config = EngineConfig::default().allowed_origins(["http://good.example"]);
    let (addr, engine) = start(config, patient()).await;
    let polling = |origin: &str| {
        get_req(
            "/socket.io/?EIO=4&transport=polling",
            &format!("origin: {origin}\r\n"),
        )
    };
    let ws = |query: &str, origin: &str| {
        upgrade_req(
            query,
            &format!("sec-websocket-version: 13\r\norigin: {origin}\r\n"),
        )
    };
    let evil = request(addr, &polling("http://evil.example")).await;
    assert_eq!(evil.status(), 403, "{evil:?}");
    assert_eq!(evil.body, br#"{"code":4,"message":"Origin not allowed"}"#);
    let evil_ws = request(
        addr,
        &ws("EIO=4&transport=websocket", "http://evil.example"),
    )
    .await;
    assert_eq!(evil_ws.status(), 403, "{evil_ws:?}");
    assert_eq!(engine.session_count(), 0);

    assert_eq!(
        request(addr, &polling("http://good.example"))
            .await
            .status(),
        200
    );
    let good_ws = request(
        addr,
        &ws("EIO=4&transport=websocket", "http://good.example"),
    )
    .await;
    assert_eq!(good_ws.status(), 101, "{good_ws:?}");
    // No Origin (a non-browser client): allowed.
    let sid = handshake(addr).await;
    let upgrade = format!("EIO=4&transport=websocket&sid={sid}");
    let evil_upgrade = request(addr, &ws(&upgrade, "http://evil.example")).await;
    assert_eq!(evil_upgrade.status(), 403, "{evil_upgrade:?}");
    let good_upgrade = request(addr, &ws(&upgrade, "http://good.example")).await;
    assert_eq!(good_upgrade.status(), 101, "{good_upgrade:?}");
}

#[tokio::test]
async fn forwarded_headers_are_trusted_only_when_configured() {
    let headers = "x-forwarded-proto: https\r\nx-forwarded-for: 203.0.113.9, 10.1.1.1\r\n";
    for trust in [false, true] {
        let config = EngineConfig::default().trust_proxy(trust);
        let (addr, engine) = start(config, patient()).await;
        let reply = request(
            addr,
            &get_req("/socket.io/?EIO=4&transport=polling", headers),
        )
        .await;
        assert_eq!(reply.status(), 200);
        let ws = request(
            addr,
            &upgrade_req(
                "EIO=4&transport=websocket",
                &format!("sec-websocket-version: 13\r\n{headers}"),
            ),
        )
        .await;
        assert_eq!(ws.status(), 101);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let opened = engine.handler().opened.lock().clone();
        assert_eq!(opened.len(), 2);
        for info in opened {
            assert_eq!(info.secure, trust, "trust_proxy={trust}");
            let ip = info.client_ip().unwrap().to_string();
            let expected = if trust { "203.0.113.9" } else { "127.0.0.1" };
            assert_eq!(ip, expected);
            assert_eq!(info.remote_addr.unwrap().ip().to_string(), "127.0.0.1");
        }
    }
}

#[tokio::test]
async fn an_upgrade_with_another_eio_version_is_refused() {
    let (addr, _engine) = start(EngineConfig::default(), patient()).await;
    let sid = handshake(addr).await;
    for eio in ["EIO=3&", "EIO=5&", ""] {
        let reply = request(
            addr,
            &upgrade_req(
                &format!("{eio}transport=websocket&sid={sid}"),
                "sec-websocket-version: 13\r\n",
            ),
        )
        .await;
        assert_eq!(reply.status(), 400, "{eio}: {reply:?}");
        assert_eq!(reply.body, br#"{"code":3,"message":"Bad request"}"#);
    }
    let ok = request(
        addr,
        &upgrade_req(
            &format!("EIO=4&transport=websocket&sid={sid}"),
            "sec-websocket-version: 13\r\n",
        ),
    )
    .await;
    assert_eq!(ok.status(), 101, "{ok:?}");
}

#[tokio::test]
async fn a_malformed_sid_is_unknown_and_never_opens_a_session() {
    let (addr, engine) = start(EngineConfig::default(), patient()).await;
    let unknown = br#"{"code":1,"message":"Session ID unknown"}"#;
    for sid in [
        "short",
        "",
        "aaaaaaaaaaaaaaaaaaa+",
        "aaaaaaaaaaaaaaaaaaaaa",
        "%00%00",
        "AAAAAAAAAAAAAAAAAAAA",
    ] {
        let polling = request(
            addr,
            &get_req(
                &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
                "",
            ),
        )
        .await;
        assert_eq!(polling.status(), 400, "{sid}: {polling:?}");
        assert_eq!(polling.body, unknown);
        let ws = request(
            addr,
            &upgrade_req(
                &format!("EIO=4&transport=websocket&sid={sid}"),
                "sec-websocket-version: 13\r\n",
            ),
        )
        .await;
        assert_eq!(ws.status(), 400, "{sid}: {ws:?}");
        assert_eq!(ws.body, unknown);
    }
    assert_eq!(engine.session_count(), 0);
    assert!(engine.handler().opened.lock().is_empty());
}

#[tokio::test]
async fn a_path_that_only_shares_a_prefix_is_not_the_engines() {
    // Set through the public field, without the trailing `/` the builder method adds.
    for path in ["/socket.io", "/socket.io/"] {
        let config = EngineConfig {
            path: path.to_owned(),
            ..EngineConfig::default()
        };
        let (addr, engine) = start(config, patient()).await;
        let admin = request(addr, &get_req("/socket.io-admin", "")).await;
        assert_eq!(admin.body, b"admin", "{path}: {admin:?}");
        let handshake = request(addr, &get_req("/socket.io/?EIO=4&transport=polling", "")).await;
        assert!(handshake.body.starts_with(b"0{"), "{path}: {handshake:?}");
        // Node matches by prefix: sub-paths of the engine's path are the engine's.
        let sub = request(addr, &get_req("/socket.io/x?EIO=4&transport=polling", "")).await;
        assert!(sub.body.starts_with(b"0{"), "{path}: {sub:?}");
        assert_eq!(engine.session_count(), 2);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn large_compression_does_not_stall_the_runtime() {
    // One runtime thread: server, client and a ticker share it, so compressing on it would
    // stop the ticker for as long as gzip runs.
    let config = EngineConfig::default().max_http_buffer_size(5_000_000);
    let (addr, _engine) = start(config, patient()).await;
    let sid = handshake(addr).await;
    // Text that compresses poorly, so gzip has real work to do.
    let mut seed = 0x2545_f491_u32;
    let text: String = (0..4_000_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    let post = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n4{text}",
        text.len() + 1
    );
    assert_eq!(request(addr, &post).await.body, b"ok");
    let worst = Arc::new(Mutex::new(Duration::ZERO));
    let ticker = tokio::spawn({
        let worst = worst.clone();
        async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let gap = last.elapsed();
                let mut w = worst.lock();
                *w = (*w).max(gap);
                last = Instant::now();
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    *worst.lock() = Duration::ZERO;
    let started = Instant::now();
    let gz = request(
        addr,
        &get_req(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            "accept-encoding: gzip\r\n",
        ),
    )
    .await;
    let took = started.elapsed();
    ticker.abort();
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded.len(), text.len() + 1);
    let worst = *worst.lock();
    eprintln!("poll took {took:?}, worst ticker gap {worst:?}");
    // Compressing on the runtime thread stops the ticker for most of the poll. The bound grows
    // with the poll, so a loaded machine's scheduling gaps (CI) do not count as blocking.
    let bound = Duration::from_millis(100).max(took / 3);
    assert!(
        worst < bound,
        "the runtime thread was blocked for {worst:?} (the poll took {took:?})"
    );
}

/// An `application/octet-stream` POST is invalid content in Engine.IO v4: 400, and the session
/// ends, as in Node (it used to stay, with its next GET hanging).
#[tokio::test]
async fn a_binary_polling_post_ends_the_session() {
    let (addr, engine) = start(EngineConfig::default(), patient()).await;
    let sid = handshake(addr).await;
    let reply = request(
        addr,
        &format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 3\r\n\r\nabc"
        ),
    )
    .await;
    assert_eq!(reply.status(), 400, "{reply:?}");
    let poll = request(
        addr,
        &get_req(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            "",
        ),
    )
    .await;
    assert_eq!(poll.status(), 400, "the session is gone: {poll:?}");
    assert_eq!(engine.session_count(), 0);
}
