//! The small contract between an adapter and a Redis connection.
//!
//! The pub/sub adapters only need publishing, (pattern and sharded) subscriptions, the
//! subscriber counts Node uses as its server count, and a stream of what arrives. The streams
//! adapter adds a few stream and key commands (`XADD`, a blocking `XREAD`, `XRANGE`, `SET PX`,
//! `GETDEL`, `DEL`). Keeping that behind a trait lets the adapter logic run against
//! [`crate::MemoryBus`] in tests (several nodes in one process) and against a real Redis
//! through [`crate::FredDriver`] in production.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

/// A boxed future returned by the driver methods.
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DriverError>> + Send + 'a>>;

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Through `SUBSCRIBE`.
    Channel,
    /// Through a `PSUBSCRIBE` pattern.
    Pattern,
    /// Through `SSUBSCRIBE` (sharded pub/sub).
    Sharded,
}

/// A message received on a subscribed channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverMessage {
    /// The channel it was published on.
    pub channel: String,
    /// The payload, byte for byte.
    pub payload: Bytes,
    /// Which kind of subscription delivered it.
    pub kind: MessageKind,
}

/// One entry of a Redis stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its id, `<milliseconds>-<sequence>`.
    pub id: String,
    /// Its field/value pairs, in the order they were added.
    pub fields: Vec<(String, String)>,
}

impl StreamEntry {
    /// The value of `field`.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }
}

/// A driver operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// Redis cannot be reached right now. The driver keeps reconnecting in the background; the
    /// caller should treat cross-node work as failed and retry later, local work is unaffected.
    Unavailable(String),
    /// Redis answered with an error (a wrong command for this server, e.g. `SPUBLISH` before
    /// Redis 7). Retrying does not help: check the Redis version and configuration.
    Server(String),
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Unavailable(reason) => write!(
                f,
                "redis is unreachable ({reason}); the driver reconnects by itself, retry later"
            ),
            DriverError::Server(reason) => write!(
                f,
                "redis refused the command ({reason}); check the server version and configuration"
            ),
        }
    }
}

impl std::error::Error for DriverError {}

/// Pub/sub access to Redis, shared by every namespace adapter of a node.
///
/// Subscriptions are made on one connection per driver: Node counts servers with
/// `PUBSUB NUMSUB <request channel>`, so a node must be subscribed exactly once. A driver
/// restores its subscriptions by itself after a reconnect.
pub trait Driver: Send + Sync + 'static {
    /// `PUBLISH channel payload`.
    fn publish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()>;
    /// `SPUBLISH channel payload` (sharded pub/sub, Redis 7+).
    fn spublish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()>;
    /// `SUBSCRIBE channels...`.
    fn subscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()>;
    /// `UNSUBSCRIBE channels...`.
    fn unsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()>;
    /// `PSUBSCRIBE patterns...`.
    fn psubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()>;
    /// `PUNSUBSCRIBE patterns...`.
    fn punsubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()>;
    /// `SSUBSCRIBE channels...` (sharded pub/sub).
    fn ssubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()>;
    /// `SUNSUBSCRIBE channels...`.
    fn sunsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()>;
    /// `PUBSUB NUMSUB channel`: how many connections are subscribed to `channel` (summed over
    /// the masters of a cluster). Pattern subscriptions do not count.
    fn numsub(&self, channel: String) -> DriverFuture<'_, usize>;
    /// `PUBSUB SHARDNUMSUB channel`.
    fn shard_numsub(&self, channel: String) -> DriverFuture<'_, usize>;
    /// A new stream of every message this driver's subscriptions receive. Each call returns an
    /// independent receiver that sees all messages from then on.
    fn messages(&self) -> mpsc::UnboundedReceiver<DriverMessage>;

    /// `XADD stream MAXLEN ~ max_len * field value ...`: appends an entry, returns its id.
    fn xadd(
        &self,
        _stream: String,
        _max_len: usize,
        _fields: Vec<(String, String)>,
    ) -> DriverFuture<'_, String> {
        unsupported("XADD")
    }

    /// `XREAD COUNT count BLOCK block STREAMS stream after`: the entries after id `after` (`$`:
    /// only new ones), waiting up to `block` for one. Runs on a connection of its own per
    /// stream, so a blocked read never delays the other commands.
    fn xread(
        &self,
        _stream: String,
        _after: String,
        _count: usize,
        _block: Duration,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        unsupported("XREAD")
    }

    /// `XRANGE stream start end COUNT count`: entries with `start <= id <= end` (`-` and `+`
    /// are the ends of the stream), oldest first.
    fn xrange(
        &self,
        _stream: String,
        _start: String,
        _end: String,
        _count: usize,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        unsupported("XRANGE")
    }

    /// The id of the newest entry of `stream` (`XREVRANGE stream + - COUNT 1`), `None` when
    /// it is empty or does not exist: where a new reader starts, so that nothing added after
    /// it started is skipped (`XREAD ... $` would skip what arrives before its first read).
    fn stream_last_id(&self, _stream: String) -> DriverFuture<'_, Option<String>> {
        unsupported("XREVRANGE")
    }

    /// `SET key value PX ttl`.
    fn set_px(&self, _key: String, _value: String, _ttl: Duration) -> DriverFuture<'_, ()> {
        unsupported("SET")
    }

    /// `GET key`.
    fn get(&self, _key: String) -> DriverFuture<'_, Option<String>> {
        unsupported("GET")
    }

    /// `GETDEL key` (Redis 6.2+): the value, which is gone afterwards.
    fn getdel(&self, _key: String) -> DriverFuture<'_, Option<String>> {
        unsupported("GETDEL")
    }

    /// `DEL key`.
    fn del(&self, _key: String) -> DriverFuture<'_, ()> {
        unsupported("DEL")
    }
}

fn unsupported<T: Send + 'static>(command: &'static str) -> DriverFuture<'static, T> {
    Box::pin(async move {
        Err(DriverError::Server(format!(
            "this driver does not implement {command}; use FredDriver or MemoryDriver"
        )))
    })
}

/// The id right after `id` (`<ms>-<seq+1>`), for exclusive ranges on any Redis version;
/// `None` when `id` is not `<digits>-<digits>`.
pub fn next_stream_id(id: &str) -> Option<String> {
    let (ms, seq) = parse_stream_id(id)?;
    Some(match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

/// `<ms>-<seq>` as numbers, `None` for anything else (Node's `/^[0-9]+-[0-9]+$/`).
pub fn parse_stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Redis glob matching (`*`, `?`, `[...]`, `\` escapes), as `PSUBSCRIBE` applies it.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it matched to).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                    p += 2;
                    t += 1;
                    continue;
                }
                // An escape of another character: no match here.
                b'\\' if p + 1 < pattern.len() => {}
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[start] == b'['`; returns whether it
/// matched and the index after the class, or `None` for an unterminated class.
fn class_match(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (lo, hi) = (
                pattern[i].min(pattern[i + 2]),
                pattern[i].max(pattern[i + 2]),
            );
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    if i >= pattern.len() {
        return None;
    }
    Some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_matches_like_redis() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(m("socket.io#/#*", "socket.io#/#"));
        assert!(m("socket.io#/#*", "socket.io#/#room1#"));
        assert!(!m("socket.io#/#*", "socket.io#/chat#"));
        assert!(!m("socket.io#/#*", "socket.io-request#/#"));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-c]llo", "hbllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b", "xxaxxb"));
        assert!(!m("*a*b", "xxaxxc"));
    }
}
