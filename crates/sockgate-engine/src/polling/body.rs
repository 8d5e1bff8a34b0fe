//! Reading POST bodies within their limits: size, chunk count and time.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::Response;
use http_body::Body;
use http_body_util::BodyExt;

use crate::engine::{error_response, ResponseBody};
use crate::error::RequestError;

/// Most bytes of a refused body read and dropped before answering 413; a longer body gets its
/// 413 with `Connection: close` at once (and the client may then see a reset instead).
pub(super) const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

pub(super) enum BodyError {
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
pub(super) async fn read_body<B>(
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
pub(super) async fn drain<B: Body<Data = Bytes>>(body: B, deadline: tokio::time::Instant) -> bool {
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
pub(super) fn refuse_too_large(drained: bool) -> Response<ResponseBody> {
    let mut response = error_response(&RequestError::PayloadTooLarge);
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
