//! Compression of polling answers, negotiated as Node's `accepts` package does.

use std::io::Write;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::Response;

use super::text_response;
use crate::engine::ResponseBody;

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

/// The encoding a GET's `Accept-Encoding` allows (when compression is on at all), read before
/// the GET parks: holding the request's headers for the whole poll would keep the block of
/// hyper's read buffer they point into alive, and hyper, reading on to notice a client that
/// goes away, would allocate another (8 KiB per parked poll, heaptrack on 1,000 sessions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted(Option<Encoding>);

impl Accepted {
    pub(crate) fn of(threshold: Option<usize>, request: &HeaderMap) -> Accepted {
        Accepted(
            threshold
                .and(request.get(header::ACCEPT_ENCODING))
                .and_then(|v| v.to_str().ok())
                .and_then(negotiate),
        )
    }
}

pub(super) async fn compress(
    threshold: Option<usize>,
    accepted: Accepted,
    body: Vec<u8>,
) -> Response<ResponseBody> {
    let encoding = threshold.filter(|t| body.len() >= *t).and(accepted.0);
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
