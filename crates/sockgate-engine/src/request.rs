//! What the engine keeps of the HTTP request that opened a session.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

/// The remote address of a connection, put into request extensions by [`crate::serve`].
/// When mounting on another server, insert it yourself to make it visible to handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The handshake request of a session: what Socket.IO exposes as `socket.handshake`.
///
/// Kept compact because it lives as long as the session: the headers are stored as one byte
/// string and turned into a `HeaderMap` only when asked for.
#[derive(Debug)]
pub struct RequestInfo {
    /// Request method.
    pub method: Method,
    /// Full request URI (path and query).
    pub uri: Uri,
    /// `name:value\n` lines.
    raw_headers: Box<[u8]>,
    header_map: OnceLock<Box<HeaderMap>>,
    /// Peer address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// Whether the connection was made over TLS (as reported by `x-forwarded-proto` or the
    /// server); plain TCP here.
    pub secure: bool,
    /// When the handshake was received.
    pub time: SystemTime,
}

impl Clone for RequestInfo {
    fn clone(&self) -> Self {
        RequestInfo {
            method: self.method.clone(),
            uri: self.uri.clone(),
            raw_headers: self.raw_headers.clone(),
            header_map: OnceLock::new(),
            remote_addr: self.remote_addr,
            secure: self.secure,
            time: self.time,
        }
    }
}

impl RequestInfo {
    pub(crate) fn from_parts(parts: &http::request::Parts) -> RequestInfo {
        let secure = parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        RequestInfo {
            method: parts.method.clone(),
            uri: compact_uri(&parts.uri),
            raw_headers: pack_headers(&parts.headers),
            header_map: OnceLock::new(),
            remote_addr: parts.extensions.get::<RemoteAddr>().map(|a| a.0),
            secure,
            time: SystemTime::now(),
        }
    }

    /// The request headers (built on first use).
    pub fn headers(&self) -> &HeaderMap {
        self.header_map
            .get_or_init(|| Box::new(unpack_headers(&self.raw_headers)))
    }

    /// One header value as text, without building the map.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_lines(&self.raw_headers)
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every value of a query parameter, percent-decoded, in order.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        query_pairs(self.uri.query().unwrap_or(""))
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// The last value of a query parameter (engine.io 6 semantics).
    pub fn query(&self, key: &str) -> Option<String> {
        self.query_all(key).pop()
    }
}

/// Packs the headers into one allocation of their own.
///
/// hyper parses header values as slices of its read buffer; keeping clones of them for the
/// session's lifetime would pin the whole buffer (8 KiB or more) per connection, and a
/// `HeaderMap` costs several hundred bytes more than the text it holds.
fn pack_headers(headers: &HeaderMap) -> Box<[u8]> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.into_boxed_slice()
}

/// Header values cannot contain a newline and names cannot contain `:`, so the packing is
/// unambiguous.
fn header_lines(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    raw.split(|&b| b == b'\n').filter_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], &line[colon + 1..]))
    })
}

fn unpack_headers(raw: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in header_lines(raw) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// Copies the request target out of hyper's read buffer (see [`pack_headers`]).
fn compact_uri(uri: &Uri) -> Uri {
    Uri::try_from(uri.to_string()).unwrap_or_else(|_| uri.clone())
}

/// Parses `a=1&b=x%20y` into decoded pairs (`+` is a space, as in forms).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Finds one raw query parameter without allocating (for the engine's own `EIO`, `transport`
/// and `sid`, which never need decoding).
pub(crate) fn raw_query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_pairs() {
        let pairs: Vec<_> = query_pairs("name=al%20ice&x=1&x=2&e&p=a+b&bad=%zz%4").collect();
        assert_eq!(
            pairs,
            vec![
                ("name".into(), "al ice".into()),
                ("x".into(), "1".into()),
                ("x".into(), "2".into()),
                ("e".into(), "".into()),
                ("p".into(), "a b".into()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        assert_eq!(
            raw_query_param("EIO=4&transport=polling", "transport"),
            Some("polling")
        );
        assert_eq!(raw_query_param("EIO=4", "sid"), None);
    }

    #[test]
    fn packed_headers_round_trip() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.com:3000".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b: c".parse().unwrap());
        let raw = pack_headers(&headers);
        assert_eq!(unpack_headers(&raw), headers);
        let lines: Vec<_> = header_lines(&raw).collect();
        assert_eq!(lines[2], (&b"x-multi"[..], &b"b: c"[..]));
    }
}
