//! What the engine keeps of the HTTP request that opened a session.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

/// The remote address of a connection, put into request extensions by [`crate::serve`].
/// When mounting on another server, insert it yourself to make it visible to handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// Marks a request that arrived over TLS. [`crate::serve`] serves plain TCP; when you
/// terminate TLS in your own server in front of the engine, insert this into each request's
/// extensions so that [`RequestInfo::secure`] is true (an `https` URI scheme, as HTTP/2
/// servers give, counts too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsConnection;

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
    /// Peer address of the TCP connection, when known (the proxy's, behind a proxy).
    pub remote_addr: Option<SocketAddr>,
    /// The client address from `X-Forwarded-For` (its first entry), only when
    /// `EngineConfig::trust_proxy` is on and the header parses; see [`RequestInfo::client_ip`].
    pub forwarded_for: Option<IpAddr>,
    /// Whether the connection was made over TLS: from the connection itself
    /// ([`TlsConnection`], an `https` scheme), or, only when `EngineConfig::trust_proxy` is on,
    /// from `X-Forwarded-Proto: https`.
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
            forwarded_for: self.forwarded_for,
            secure: self.secure,
            time: self.time,
        }
    }
}

impl RequestInfo {
    /// `trust_proxy`: whether `X-Forwarded-*` headers are believed.
    pub(crate) fn from_parts(parts: &http::request::Parts, trust_proxy: bool) -> RequestInfo {
        let mut secure = parts.extensions.get::<TlsConnection>().is_some()
            || parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let mut forwarded_for = None;
        if trust_proxy {
            // The first entry is the one the client-facing proxy saw (Express's rule).
            let first = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(str::trim)
            };
            if let Some(proto) = first("x-forwarded-proto") {
                secure = proto.eq_ignore_ascii_case("https");
            }
            forwarded_for = first("x-forwarded-for").and_then(parse_forwarded_ip);
        }
        RequestInfo {
            method: parts.method.clone(),
            uri: compact_uri(&parts.uri),
            raw_headers: pack_headers(&parts.headers),
            header_map: OnceLock::new(),
            remote_addr: parts.extensions.get::<RemoteAddr>().map(|a| a.0),
            forwarded_for,
            secure,
            time: SystemTime::now(),
        }
    }

    /// The client's IP address: `X-Forwarded-For`'s when trusted (see
    /// [`RequestInfo::forwarded_for`]), else the connection's.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.forwarded_for
            .or_else(|| self.remote_addr.map(|addr| addr.ip()))
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
        // `application/x-www-form-urlencoded` rules, as Node's `querystring`: `+` is a space,
        // invalid percent escapes stay as they are, invalid UTF-8 becomes U+FFFD.
        form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    /// The last value of a query parameter (engine.io 6 semantics).
    pub fn query(&self, key: &str) -> Option<String> {
        self.query_all(key).pop()
    }
}

/// An `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// Packs the headers into one allocation of their own.
///
/// hyper parses header values as slices of its read buffer; keeping clones of them for the
/// session's lifetime would pin the whole buffer (8 KiB or more) per connection, and a
/// `HeaderMap` costs several hundred bytes more than the text it holds.
fn pack_headers(headers: &HeaderMap) -> Box<[u8]> {
    // Sized exactly first: growing the buffer took a dozen allocations per handshake.
    let len = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 2)
        .sum();
    let mut out = Vec::with_capacity(len);
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
    // A request target is almost always a path and query (origin form): copying that one
    // string is a single allocation, where formatting the whole URI took eight.
    if uri.scheme().is_none() && uri.authority().is_none() {
        if let Some(target) = uri.path_and_query() {
            let copy = bytes::Bytes::copy_from_slice(target.as_str().as_bytes());
            if let Ok(compact) = Uri::from_maybe_shared(copy) {
                return compact;
            }
        }
    }
    Uri::try_from(uri.to_string()).unwrap_or_else(|_| uri.clone())
}

/// Finds one raw query parameter without allocating (for the engine's own `EIO`, `transport`
/// and `sid`, which never need decoding).
pub(crate) fn raw_query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_pairs() {
        let info = RequestInfo::from_parts(
            &http::Request::builder()
                .uri("/socket.io/?name=al%20ice&x=1&x=2&e&p=a+b&bad=%zz%4&&u=%C3%A9%FF")
                .body(())
                .unwrap()
                .into_parts()
                .0,
            false,
        );
        assert_eq!(info.query("name").as_deref(), Some("al ice"));
        assert_eq!(info.query_all("x"), vec!["1", "2"]);
        assert_eq!(info.query("x").as_deref(), Some("2"));
        assert_eq!(info.query("e").as_deref(), Some(""));
        assert_eq!(info.query("p").as_deref(), Some("a b"));
        assert_eq!(info.query("bad").as_deref(), Some("%zz%4"));
        assert_eq!(info.query("u").as_deref(), Some("\u{e9}\u{fffd}"));
        assert_eq!(info.query("missing"), None);
        assert_eq!(
            raw_query_param("EIO=4&transport=polling", "transport"),
            Some("polling")
        );
        assert_eq!(raw_query_param("EIO=4", "sid"), None);
    }

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().uri("/socket.io/?EIO=4");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut request = builder.body(()).unwrap();
        request
            .extensions_mut()
            .insert(RemoteAddr("10.0.0.1:4000".parse().unwrap()));
        request.into_parts().0
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let forwarded = parts(&[
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
        ]);
        let untrusted = RequestInfo::from_parts(&forwarded, false);
        assert!(!untrusted.secure);
        assert_eq!(untrusted.forwarded_for, None);
        assert_eq!(untrusted.client_ip(), Some("10.0.0.1".parse().unwrap()));
        let trusted = RequestInfo::from_parts(&forwarded, true);
        assert!(trusted.secure);
        assert_eq!(trusted.client_ip(), Some("203.0.113.7".parse().unwrap()));
        let http = RequestInfo::from_parts(&parts(&[("x-forwarded-proto", "http")]), true);
        assert!(!http.secure);
        assert_eq!(
            parse_forwarded_ip("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_forwarded_ip("unknown"), None);
        let mut tls = parts(&[]);
        tls.extensions.insert(TlsConnection);
        assert!(RequestInfo::from_parts(&tls, false).secure);
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
