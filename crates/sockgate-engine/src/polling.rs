//! HTTP long-polling: one GET and one POST in flight per session.
//!
//! Which answer a request gets in each state of its session, and what a faulty request does to
//! the session, is decided by `sockgate_proto::engine::policy` ([`poll_answer`],
//! [`handle_poll_fault`]); this module reads bodies, parks GETs, compresses and writes.

use std::future::poll_fn;
use std::io::Write;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use sockgate_proto::engine::policy::{
    handle_poll_fault, poll_answer, PollAnswer, PollFault, PollRefusal,
};
use sockgate_proto::engine::{decode_payload, PacketOutcome, PollBatch};

use crate::connection::{store_waker, Connection};
use crate::engine::{error_response, ResponseBody, Shared};
use crate::error::RequestError;
use crate::handler::{EngineHandler, Message};
use crate::BoxError;

pub(crate) fn text_response(body: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Marks the GET as finished on every exit path. If the request future is dropped before it
/// answered, the client went away mid-poll ("poll connection closed prematurely" in Node),
/// and the session cannot go on: nobody would receive what it sends next.
struct GetGuard<'a, D: Send + Sync + 'static> {
    connection: &'a Connection<D>,
    answered: bool,
}

impl<D: Send + Sync + 'static> Drop for GetGuard<'_, D> {
    fn drop(&mut self) {
        {
            let mut state = self.connection.state.lock();
            state.get_in_flight = false;
            state.poll_waker = None;
        }
        if !self.answered {
            end_session(self.connection, PollFault::AbandonedGet);
        }
    }
}

/// Ends the session if `fault` does, and returns the answer the request gets.
fn on_fault<D: Send + Sync + 'static>(
    connection: &Connection<D>,
    fault: PollFault,
) -> Result<Response<ResponseBody>, RequestError> {
    match end_session(connection, fault) {
        Some(refusal) => refuse(refusal),
        // Faults of a request still waiting for its answer always have one.
        None => Err(RequestError::BadRequest),
    }
}

/// Applies what `fault` does to the session; returns the request's answer.
fn end_session<D: Send + Sync + 'static>(
    connection: &Connection<D>,
    fault: PollFault,
) -> Option<PollRefusal> {
    let answer = handle_poll_fault(fault);
    if let Some(reason) = answer.end_session {
        connection.fail(reason);
    }
    answer.answer
}

/// The HTTP answer of a refusal (errors become Node's error bodies in `Engine::handle`).
fn refuse(refusal: PollRefusal) -> Result<Response<ResponseBody>, RequestError> {
    match refusal {
        PollRefusal::UnknownSid => Err(RequestError::UnknownSid),
        PollRefusal::BadRequest => Err(RequestError::BadRequest),
        PollRefusal::PayloadTooLarge { close_connection } => {
            Ok(refuse_too_large(!close_connection))
        }
        PollRefusal::RequestTimeout => {
            let mut response = error_response(&RequestError::RequestTimeout);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        }
    }
}

pub(crate) async fn get<H: EngineHandler>(
    shared: &Shared<H>,
    connection: &Arc<Connection<H::Data>>,
    request_headers: &HeaderMap,
) -> Result<Response<ResponseBody>, RequestError> {
    {
        let mut state = connection.state.lock();
        if state.get_in_flight {
            drop(state);
            return on_fault(connection, PollFault::ConcurrentGet);
        }
        state.get_in_flight = true;
    }
    let mut guard = GetGuard {
        connection,
        answered: false,
    };
    let mut parked = false;
    let batch = poll_fn(|cx| {
        let mut state = connection.state.lock();
        // Deadlines are also checked here, not only by the shared timer, so a client polling
        // right at its ping timeout sees the session as dead, with no grace period.
        state.session.handle_timeout(Instant::now());
        match state.session.take_poll_batch() {
            PollBatch::Park => {
                parked = true;
                store_waker(&mut state.poll_waker, cx.waker());
                Poll::Pending
            }
            batch => Poll::Ready((batch, state.session.close_reason())),
        }
    })
    .await;
    guard.answered = true;
    drop(guard);
    connection.settle();
    connection.reschedule();

    let body = match poll_answer(batch.0, batch.1, parked) {
        PollAnswer::Payload(body) => body,
        PollAnswer::Refuse(refusal) => return refuse(refusal),
    };
    // The frames left the session's queue: if the request goes away while a large body is
    // compressed off the runtime, they are lost, and the session must not go on as if they
    // had been delivered.
    let mut unsent = Unsent(Some(connection));
    let response = compress(
        shared.config.http_compression_threshold,
        request_headers,
        body,
    )
    .await;
    unsent.0 = None;
    Ok(response)
}

struct Unsent<'a, D: Send + Sync + 'static>(Option<&'a Connection<D>>);

impl<D: Send + Sync + 'static> Drop for Unsent<'_, D> {
    fn drop(&mut self) {
        if let Some(connection) = self.0 {
            end_session(connection, PollFault::AbandonedGet);
        }
    }
}

/// Bodies at least this large are compressed on the blocking pool, not on a runtime worker
/// (gzip runs at roughly 100 MB/s: 64 KiB is well under a millisecond, 8 MiB is tens).
const BLOCKING_COMPRESSION: usize = 64 * 1024;

/// Compressions running on the blocking pool at once; more wait their turn, so a burst of large
/// polls cannot take every blocking thread.
fn compression_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Deflate,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }

    fn encode(self, body: &[u8]) -> Option<Vec<u8>> {
        let level = flate2::Compression::fast();
        match self {
            Encoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(body).and_then(|_| e.finish()).ok()
            }
            Encoding::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(body).and_then(|_| e.finish()).ok()
            }
        }
    }
}

/// The encoding to use for `Accept-Encoding`, as the `accepts` package Node uses picks it: the
/// highest q-value wins, `q=0` means "not acceptable", `*` stands for any encoding not named,
/// and gzip wins ties.
fn negotiate(accept_encoding: &str) -> Option<Encoding> {
    let mut named: [Option<f32>; 2] = [None, None];
    let mut any: Option<f32> = None;
    for item in accept_encoding.split(',') {
        let mut params = item.split(';');
        let name = params.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for param in params {
            if let Some((key, value)) = param.split_once('=') {
                if key.trim().eq_ignore_ascii_case("q") {
                    // An unparsable q-value makes the entry unusable rather than preferred.
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let slot = if name.eq_ignore_ascii_case("gzip") {
            &mut named[0]
        } else if name.eq_ignore_ascii_case("deflate") {
            &mut named[1]
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let gzip = named[0].or(any).unwrap_or(0.0);
    let deflate = named[1].or(any).unwrap_or(0.0);
    if gzip > 0.0 && gzip >= deflate {
        Some(Encoding::Gzip)
    } else if deflate > 0.0 {
        Some(Encoding::Deflate)
    } else {
        None
    }
}

async fn compress(
    threshold: Option<usize>,
    request: &HeaderMap,
    body: Vec<u8>,
) -> Response<ResponseBody> {
    let encoding = threshold
        .filter(|t| body.len() >= *t)
        .and_then(|_| request.get(header::ACCEPT_ENCODING))
        .and_then(|v| v.to_str().ok())
        .and_then(negotiate);
    let Some(encoding) = encoding else {
        return text_response(Bytes::from(body));
    };
    let body = Bytes::from(body);
    let compressed = if body.len() < BLOCKING_COMPRESSION {
        encoding.encode(&body)
    } else {
        // The semaphore is never closed; if it were, compress without waiting for a slot.
        let _slot = compression_slots().acquire().await.ok();
        let input = body.clone();
        tokio::task::spawn_blocking(move || encoding.encode(&input))
            .await
            .ok()
            .flatten()
    };
    let Some(compressed) = compressed else {
        return text_response(body);
    };
    let mut response = text_response(Bytes::from(compressed));
    response.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding.name()),
    );
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// Most bytes of a refused body read and dropped before answering 413; a longer body gets its
/// 413 with `Connection: close` at once (and the client may then see a reset instead).
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

enum BodyError {
    /// Over `maxHttpBufferSize` or `max_buffered_chunks`; `drained` when the rest of the body
    /// was read, so the connection can stay open.
    TooLarge { drained: bool },
    /// `httpRequestBodyTimeout` passed.
    Timeout,
    /// The body failed (the client went away, or a framing error).
    Failed,
}

/// Reads a POST body into one buffer of its own (so no chunk pins hyper's read buffer), within
/// `limit` bytes, `max_chunks` chunks and `deadline`.
async fn read_body<B>(
    body: B,
    limit: usize,
    capacity: usize,
    max_chunks: usize,
    deadline: tokio::time::Instant,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::with_capacity(capacity.min(limit));
    let mut chunks = 0usize;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Failed),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        chunks += 1;
        if buf.len() + data.len() > limit || chunks > max_chunks {
            let drained = drain(body, deadline).await;
            return Err(BodyError::TooLarge { drained });
        }
        buf.extend_from_slice(&data);
    }
}

/// Reads and drops the rest of a body, up to [`DRAIN_LIMIT`] bytes and `deadline`; true when
/// the body ended.
async fn drain<B: Body<Data = Bytes>>(body: B, deadline: tokio::time::Instant) -> bool {
    let mut body = std::pin::pin!(body);
    let mut read = 0u64;
    let finished = tokio::time::timeout_at(deadline, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return false;
            };
            if let Some(data) = frame.data_ref() {
                read += data.len() as u64;
                if read > DRAIN_LIMIT {
                    return false;
                }
            }
        }
        true
    })
    .await;
    finished.unwrap_or(false)
}

/// The 413 of an oversized POST. The session is kept, as in Node. When the body was not read to
/// its end, the connection cannot carry another request: say so, and hyper closes it.
fn refuse_too_large(drained: bool) -> Response<ResponseBody> {
    let mut response = error_response(&RequestError::PayloadTooLarge);
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

struct PostGuard<'a, D: Send + Sync + 'static>(&'a Connection<D>);

impl<D: Send + Sync + 'static> Drop for PostGuard<'_, D> {
    fn drop(&mut self) {
        self.0.state.lock().post_in_flight = false;
    }
}

pub(crate) async fn post<H, B>(
    shared: &Shared<H>,
    connection: &Arc<Connection<H::Data>>,
    request: Request<B>,
) -> Result<Response<ResponseBody>, RequestError>
where
    H: EngineHandler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let is_binary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    if is_binary {
        return on_fault(connection, PollFault::BinaryBody);
    }
    let limit = usize::try_from(shared.session_config.max_payload).unwrap_or(usize::MAX);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let deadline = tokio::time::Instant::now() + shared.config.http_request_body_timeout;
    if declared.is_some_and(|len| len > limit as u64) {
        // Refused before reading, but the body is still read (and dropped) so that the client,
        // still sending, reads the 413 instead of a reset (see `refuse_too_large`).
        // Past the drain bound it would be read only to be cut off anyway: answer at once.
        let drained = match declared {
            Some(len) if len <= DRAIN_LIMIT => drain(request.into_body(), deadline).await,
            _ => false,
        };
        return on_fault(connection, PollFault::BodyTooLarge { drained });
    }
    {
        let mut state = connection.state.lock();
        if state.post_in_flight {
            drop(state);
            return on_fault(connection, PollFault::ConcurrentPost);
        }
        state.post_in_flight = true;
    }
    let _guard = PostGuard(connection);
    let capacity = declared.map_or(0, |len| len as usize);
    let body = match read_body(
        request.into_body(),
        limit,
        capacity,
        shared.config.max_buffered_chunks,
        deadline,
    )
    .await
    {
        Ok(body) => body,
        Err(BodyError::TooLarge { drained }) => {
            return on_fault(connection, PollFault::BodyTooLarge { drained })
        }
        Err(BodyError::Timeout) => {
            tracing::debug!(sid = %connection.sid(), "polling POST body timed out");
            return on_fault(connection, PollFault::BodyTimeout);
        }
        Err(BodyError::Failed) => return on_fault(connection, PollFault::BodyFailed),
    };
    let packets = match decode_payload(body) {
        Ok(packets) => packets,
        Err(error) => {
            tracing::debug!(sid = %connection.sid(), %error, "invalid polling payload");
            return on_fault(connection, PollFault::InvalidPayload);
        }
    };
    let mut messages = Vec::new();
    {
        let mut state = connection.state.lock();
        let now = Instant::now();
        for packet in packets {
            match state.session.handle_packet(now, packet) {
                PacketOutcome::Message(text) => messages.push(Message::Text(text)),
                PacketOutcome::Binary(data) => messages.push(Message::Binary(data)),
                PacketOutcome::Closed(_) => {
                    state.wake();
                    break;
                }
                PacketOutcome::None => {}
            }
        }
    }
    for message in messages {
        shared.handler.on_message(connection, message);
    }
    connection.settle();
    connection.reschedule();
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_honours_q_values() {
        assert_eq!(negotiate("gzip"), Some(Encoding::Gzip));
        assert_eq!(negotiate("gzip, deflate, br"), Some(Encoding::Gzip));
        assert_eq!(negotiate("gzip;q=0"), None);
        assert_eq!(negotiate("gzip; q=0, deflate"), Some(Encoding::Deflate));
        assert_eq!(
            negotiate("gzip;q=0.5, deflate;q=0.8"),
            Some(Encoding::Deflate)
        );
        assert_eq!(negotiate("deflate;q=0.5, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(negotiate("*"), Some(Encoding::Gzip));
        assert_eq!(negotiate("*;q=0"), None);
        assert_eq!(negotiate("*, gzip;q=0"), Some(Encoding::Deflate));
        assert_eq!(negotiate("identity, br"), None);
        assert_eq!(negotiate("GZIP;Q=1"), Some(Encoding::Gzip));
        assert_eq!(negotiate("gzip;q=oops"), None);
        assert_eq!(negotiate(""), None);
    }
}
