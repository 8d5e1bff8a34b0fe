//! What the engine keeps of the HTTP request that opened a session.

use std::net::SocketAddr;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

/// The remote address of a connection, put into request extensions by [`crate::serve`].
/// When mounting on another server, insert it yourself to make it visible to handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The handshake request of a session: what Socket.IO exposes as `socket.handshake`.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Request method.
    pub method: Method,
    /// Full request URI (path and query).
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// Peer address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// Whether the connection was made over TLS (as reported by `x-forwarded-proto` or the
    /// server); plain TCP here.
    pub secure: bool,
    /// When the handshake was received.
    pub time: SystemTime,
}

impl RequestInfo {
    pub(crate) fn from_parts(parts: &http::request::Parts) -> RequestInfo {
        let secure = parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        RequestInfo {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            remote_addr: parts.extensions.get::<RemoteAddr>().map(|a| a.0),
            secure,
            time: SystemTime::now(),
        }
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
}
