//! The handshake of a socket (Node's `socket.handshake`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::{json, Map, Value};
use sockgate_engine::RequestInfo;

/// The query string as a multi-map: `get` returns the last value (engine.io 6 semantics),
/// `get_all` every value in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMap {
    pairs: Vec<(String, String)>,
}

impl QueryMap {
    /// Parses a raw query string.
    pub fn parse(query: &str) -> Self {
        QueryMap {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As Node's parsed query object: a repeated key becomes an array.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in &self.pairs {
            match map.get_mut(k) {
                Some(Value::Array(values)) => values.push(Value::from(v.as_str())),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::from(v.as_str())]);
                }
                None => {
                    map.insert(k.clone(), Value::from(v.as_str()));
                }
            }
        }
        Value::Object(map)
    }
}

/// What the client sent when it connected to the namespace.
#[derive(Debug, Clone)]
pub struct Handshake {
    info: Arc<RequestInfo>,
    /// Parsed on first use: most sockets never read it (boxed, so a socket that does not
    /// pays 16 bytes for it, not 32).
    query: OnceLock<Box<QueryMap>>,
    /// The `auth` payload of the CONNECT packet (`{}` when none).
    pub auth: Value,
    issued: SystemTime,
}

impl Handshake {
    pub(crate) fn new(info: Arc<RequestInfo>, auth: Value) -> Self {
        Handshake {
            info,
            query: OnceLock::new(),
            auth,
            issued: SystemTime::now(),
        }
    }

    /// The query string of the Engine.IO handshake.
    pub fn query(&self) -> &QueryMap {
        self.query
            .get_or_init(|| Box::new(QueryMap::parse(self.info.uri.query().unwrap_or(""))))
    }

    /// Request headers of the Engine.IO handshake.
    pub fn headers(&self) -> &HeaderMap {
        self.info.headers()
    }

    /// The peer's address (of the TCP connection, so a proxy's behind a proxy), when known.
    pub fn address(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The client's IP: the first `X-Forwarded-For` entry when the server trusts its proxy
    /// (`SocketIoBuilder::trust_proxy`), else the connection's.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.info.client_ip()
    }

    /// Whether the connection is secure (TLS). `X-Forwarded-Proto` counts only when the server
    /// trusts its proxy (`SocketIoBuilder::trust_proxy`); otherwise any client could claim it.
    pub fn secure(&self) -> bool {
        self.info.secure
    }

    /// The request URL (path and query).
    pub fn url(&self) -> String {
        self.info.uri.to_string()
    }

    /// When the socket connected.
    pub fn issued(&self) -> SystemTime {
        self.issued
    }

    /// The handshake as Node serializes it (for `fetch_sockets` across nodes).
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .info
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let issued = self
            .issued
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        json!({
            "headers": headers,
            "time": httpdate_like(self.issued),
            "address": self.client_ip().map(|ip| ip.to_string()).unwrap_or_default(),
            "xdomain": self.info.header("origin").is_some(),
            "secure": self.info.secure,
            "issued": issued,
            "url": self.url(),
            "query": self.query().to_json(),
            "auth": self.auth,
        })
    }
}

/// Node's `new Date().toString()` in UTC:
/// `Tue Dec 01 2026 08:19:24 GMT+0000 (Coordinated Universal Time)`.
fn httpdate_like(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:02} {} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        year,
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_printed_as_nodes_date_to_string() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_796_113_164);
        assert_eq!(
            httpdate_like(at),
            "Tue Dec 01 2026 08:19:24 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            httpdate_like(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "Tue Feb 29 2000 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn query_get_returns_the_last_value() {
        let q = QueryMap::parse("name=alice&x=1&x=2&EIO=4");
        assert_eq!(q.get("name"), Some("alice"));
        assert_eq!(q.get("x"), Some("2"));
        assert_eq!(q.get_all("x"), vec!["1", "2"]);
        assert_eq!(q.get("missing"), None);
        assert_eq!(q.to_json()["x"], json!(["1", "2"]));
    }
}
