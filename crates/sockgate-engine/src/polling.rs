//! HTTP long-polling: one GET and one POST in flight per session.

use std::future::poll_fn;
use std::io::Write;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use sockgate_proto::engine::{
    decode_payload, encode_payload, CloseReason, PacketOutcome, PollBatch,
};

use crate::connection::{store_waker, Connection};
use crate::engine::{ResponseBody, Shared};
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
            self.connection.fail(CloseReason::TransportError);
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
            // Two GETs at once: the client is confused; Node answers the first with a close
            // packet and refuses the second.
            connection.fail(CloseReason::TransportError);
            return Err(RequestError::BadRequest);
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

    let body = match batch {
        (PollBatch::Frames { frames, close }, _) => {
            let mut body = encode_payload(frames.iter().map(|f| &**f));
            if close {
                if !body.is_empty() {
                    body.push(sockgate_proto::engine::RECORD_SEPARATOR);
                }
                body.push(b'1');
            }
            body
        }
        (PollBatch::Noop, _) => b"6".to_vec(),
        // The session ended (or upgraded) while this GET waited: release the client's poll.
        // A client close is acknowledged with a noop, anything else with a close packet.
        (PollBatch::Refused, Some(CloseReason::TransportClose)) if parked => b"6".to_vec(),
        (PollBatch::Refused, Some(_)) if parked => b"1".to_vec(),
        (PollBatch::Refused, None) if parked => b"6".to_vec(),
        // The session expired as this GET arrived: answer as if it had already been removed.
        (PollBatch::Refused, Some(_)) => return Err(RequestError::UnknownSid),
        (PollBatch::Refused, None) => return Err(RequestError::BadRequest),
        // poll_fn above completes only with a batch that is not Park.
        (PollBatch::Park, _) => b"6".to_vec(),
    };
    Ok(compress(
        shared.config.http_compression_threshold,
        request_headers,
        body,
    ))
}

fn compress(
    threshold: Option<usize>,
    request: &HeaderMap,
    body: Vec<u8>,
) -> Response<ResponseBody> {
    let accepts = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants = |name: &str| {
        accepts
            .split(',')
            .any(|e| e.trim().split(';').next() == Some(name))
    };
    if threshold.is_some_and(|t| body.len() >= t) {
        let encoded = if wants("gzip") {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&body)
                .and_then(|_| e.finish())
                .ok()
                .map(|b| (b, "gzip"))
        } else if wants("deflate") {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&body)
                .and_then(|_| e.finish())
                .ok()
                .map(|b| (b, "deflate"))
        } else {
            None
        };
        if let Some((compressed, name)) = encoded {
            let mut response = text_response(Bytes::from(compressed));
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            return response;
        }
    }
    text_response(Bytes::from(body))
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
        return Err(RequestError::BadRequest);
    }
    let limit = usize::try_from(shared.session_config.max_payload).unwrap_or(usize::MAX);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(RequestError::PayloadTooLarge);
    }
    {
        let mut state = connection.state.lock();
        if state.post_in_flight {
            drop(state);
            connection.fail(CloseReason::TransportError);
            return Err(RequestError::BadRequest);
        }
        state.post_in_flight = true;
    }
    let _guard = PostGuard(connection);
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(RequestError::PayloadTooLarge);
            }
            connection.fail(CloseReason::TransportError);
            return Err(RequestError::BadRequest);
        }
    };
    let packets = match decode_payload(body) {
        Ok(packets) => packets,
        Err(error) => {
            tracing::debug!(sid = %connection.sid(), %error, "invalid polling payload");
            connection.fail(CloseReason::ParseError);
            return Err(RequestError::BadRequest);
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
