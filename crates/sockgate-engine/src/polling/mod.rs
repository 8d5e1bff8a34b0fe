//! HTTP long-polling: one GET and one POST in flight per session.
//!
//! Which answer a request gets in each state of its session, and what a faulty request does to
//! the session, is decided by `sockgate_proto::engine::policy` ([`poll_answer`],
//! [`handle_poll_fault`]); this module parks GETs and answers them, and handles POSTs; `body`
//! reads POST bodies within their limits and `compress` compresses large answers.

mod body;
mod compress;

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use sockgate_proto::engine::policy::{
    handle_poll_fault, poll_answer, PollAnswer, PollFault, PollRefusal,
};
use sockgate_proto::engine::{decode_payload, PacketOutcome, PollBatch};

use crate::connection::{store_waker, Connection};
use crate::engine::{error_response, ResponseBody, Shared};
use crate::error::RequestError;
use crate::handler::{EngineHandler, Message};
use crate::BoxError;
use body::{drain, read_body, refuse_too_large, BodyError, DRAIN_LIMIT};
use compress::compress;
pub(crate) use compress::Accepted;

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
    accepted: Accepted,
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
    let response = compress(shared.config.http_compression_threshold, accepted, body).await;
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
