//! The handshake of a socket (Node's `socket.handshake`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::{json, Map, Value};
use sockgate_engine::{query_pairs, RequestInfo};

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
            pairs: query_pairs(query).collect(),
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
    /// Parsed on first use: most sockets never read it.
    query: OnceLock<QueryMap>,
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
            .get_or_init(|| QueryMap::parse(self.info.uri.query().unwrap_or("")))
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

fn httpdate_like(time: SystemTime) -> String {
    // Node prints `new Date().toString()`; the exact format is informational only.
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
