//! An in-process stand-in for Redis pub/sub, streams and keys: several nodes in one test share
//! a [`MemoryBus`]. One file: it is one fake server, and its tests check it against Redis's
//! rules.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::driver::{
    glob_match, parse_stream_id, Driver, DriverError, DriverFuture, DriverMessage, MessageKind,
    StreamEntry,
};

/// A fake Redis: what one [`MemoryDriver`] publishes reaches the others' subscriptions, with
/// Redis's delivery rules (one copy per matching subscription, patterns do not count in
/// `NUMSUB`, sharded and classic pub/sub are separate spaces).
///
/// [`MemoryBus::set_down`] simulates an outage: every command fails with
/// [`DriverError::Unavailable`] and nothing is delivered; subscriptions survive it, as a driver
/// that resubscribes after a reconnect would make them.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<BusInner>,
}

#[derive(Default)]
struct BusInner {
    nodes: Mutex<Vec<Weak<NodeState>>>,
    down: AtomicBool,
    published: Mutex<Vec<(String, Bytes)>>,
    streams: Mutex<HashMap<String, Stream>>,
    /// Woken on every `XADD`, for the blocked `XREAD`s.
    appended: Notify,
    keys: Mutex<HashMap<String, (String, Instant)>>,
    key_writes: std::sync::atomic::AtomicUsize,
    /// `XADD`s still to be applied with their answer lost.
    lost_xadd_replies: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Stream {
    entries: VecDeque<StreamEntry>,
    last: (u64, u64),
}

impl Stream {
    fn after(&self, after: (u64, u64), count: usize) -> Vec<StreamEntry> {
        self.entries
            .iter()
            .filter(|e| parse_stream_id(&e.id).is_some_and(|id| id > after))
            .take(count)
            .cloned()
            .collect()
    }
}

#[derive(Default)]
struct Subscriptions {
    channels: BTreeSet<String>,
    patterns: BTreeSet<String>,
    shard_channels: BTreeSet<String>,
}

#[derive(Default)]
struct NodeState {
    subs: Mutex<Subscriptions>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<DriverMessage>>>,
}

impl NodeState {
    fn send(&self, message: DriverMessage) {
        self.listeners
            .lock()
            .retain(|tx| tx.send(message.clone()).is_ok());
    }
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus")
            .field("down", &self.inner.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new connection to the bus (one per node).
    pub fn driver(&self) -> MemoryDriver {
        let node = Arc::new(NodeState::default());
        self.inner.nodes.lock().push(Arc::downgrade(&node));
        MemoryDriver {
            bus: self.clone(),
            node,
        }
    }

    /// Starts (`true`) or ends (`false`) a simulated outage.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// The next `n` `XADD`s are applied but fail with [`DriverError::Unavailable`], as when
    /// a connection drops between Redis's write and its answer (or a command times out late).
    pub fn lose_xadd_replies(&self, n: usize) {
        self.inner.lost_xadd_replies.store(n, Ordering::SeqCst);
    }

    /// Every `(channel, payload)` published so far (classic and sharded), oldest first.
    pub fn published(&self) -> Vec<(String, Bytes)> {
        self.inner.published.lock().clone()
    }

    /// The entries of `stream`, oldest first.
    pub fn stream(&self, stream: &str) -> Vec<StreamEntry> {
        self.inner
            .streams
            .lock()
            .get(stream)
            .map(|s| s.entries.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The value of `key`, unless it expired.
    pub fn key(&self, key: &str) -> Option<String> {
        let keys = self.inner.keys.lock();
        keys.get(key)
            .filter(|(_, expiry)| *expiry > Instant::now())
            .map(|(value, _)| value.clone())
    }

    /// How many `SET`s and `DEL`s were made so far.
    pub fn key_writes(&self) -> usize {
        self.inner.key_writes.load(Ordering::SeqCst)
    }

    fn nodes(&self) -> Vec<Arc<NodeState>> {
        let mut nodes = self.inner.nodes.lock();
        nodes.retain(|n| n.strong_count() > 0);
        nodes.iter().filter_map(Weak::upgrade).collect()
    }

    fn check(&self) -> Result<(), DriverError> {
        if self.inner.down.load(Ordering::SeqCst) {
            Err(DriverError::Unavailable("the memory bus is down".into()))
        } else {
            Ok(())
        }
    }

    fn deliver(&self, channel: &str, payload: &Bytes, sharded: bool) {
        self.inner
            .published
            .lock()
            .push((channel.to_owned(), payload.clone()));
        for node in self.nodes() {
            let mut copies = Vec::new();
            {
                let subs = node.subs.lock();
                if sharded {
                    if subs.shard_channels.contains(channel) {
                        copies.push(MessageKind::Sharded);
                    }
                } else {
                    if subs.channels.contains(channel) {
                        copies.push(MessageKind::Channel);
                    }
                    for pattern in &subs.patterns {
                        if glob_match(pattern.as_bytes(), channel.as_bytes()) {
                            copies.push(MessageKind::Pattern);
                        }
                    }
                }
            }
            for kind in copies {
                node.send(DriverMessage {
                    channel: channel.to_owned(),
                    payload: payload.clone(),
                    kind,
                });
            }
        }
    }

    fn count(&self, channel: &str, sharded: bool) -> usize {
        self.nodes()
            .iter()
            .filter(|n| {
                let subs = n.subs.lock();
                if sharded {
                    subs.shard_channels.contains(channel)
                } else {
                    subs.channels.contains(channel)
                }
            })
            .count()
    }
}

/// One node's connection to a [`MemoryBus`]. Dropping it removes its subscriptions.
pub struct MemoryDriver {
    bus: MemoryBus,
    node: Arc<NodeState>,
}

impl std::fmt::Debug for MemoryDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDriver").finish_non_exhaustive()
    }
}

impl MemoryDriver {
    fn edit(&self, f: impl FnOnce(&mut Subscriptions) + Send + 'static) -> DriverFuture<'_, ()> {
        let result = self.bus.check().map(|()| f(&mut self.node.subs.lock()));
        Box::pin(async move { result })
    }
}

impl Driver for MemoryDriver {
    fn publish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()> {
        let result = self
            .bus
            .check()
            .map(|()| self.bus.deliver(&channel, &payload, false));
        Box::pin(async move { result })
    }

    fn spublish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()> {
        let result = self
            .bus
            .check()
            .map(|()| self.bus.deliver(&channel, &payload, true));
        Box::pin(async move { result })
    }

    fn subscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| s.channels.extend(channels))
    }

    fn unsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| {
            for c in &channels {
                s.channels.remove(c);
            }
        })
    }

    fn psubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| s.patterns.extend(patterns))
    }

    fn punsubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| {
            for p in &patterns {
                s.patterns.remove(p);
            }
        })
    }

    fn ssubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| s.shard_channels.extend(channels))
    }

    fn sunsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        self.edit(move |s| {
            for c in &channels {
                s.shard_channels.remove(c);
            }
        })
    }

    fn numsub(&self, channel: String) -> DriverFuture<'_, usize> {
        let result = self.bus.check().map(|()| self.bus.count(&channel, false));
        Box::pin(async move { result })
    }

    fn shard_numsub(&self, channel: String) -> DriverFuture<'_, usize> {
        let result = self.bus.check().map(|()| self.bus.count(&channel, true));
        Box::pin(async move { result })
    }

    fn messages(&self) -> mpsc::UnboundedReceiver<DriverMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.node.listeners.lock().push(tx);
        rx
    }

    fn xadd(
        &self,
        stream: String,
        max_len: usize,
        fields: Vec<(String, String)>,
    ) -> DriverFuture<'_, String> {
        let result = self.bus.check().map(|()| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut streams = self.bus.inner.streams.lock();
            let stream = streams.entry(stream).or_default();
            let (ms, seq) = stream.last;
            stream.last = if now > ms { (now, 0) } else { (ms, seq + 1) };
            let id = format!("{}-{}", stream.last.0, stream.last.1);
            stream.entries.push_back(StreamEntry {
                id: id.clone(),
                fields,
            });
            while stream.entries.len() > max_len.max(1) {
                stream.entries.pop_front();
            }
            id
        });
        self.bus.inner.appended.notify_waiters();
        let lost = &self.bus.inner.lost_xadd_replies;
        let result = match result {
            Ok(_)
                if lost
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok() =>
            {
                Err(DriverError::Unavailable(
                    "the answer to XADD was lost".into(),
                ))
            }
            result => result,
        };
        Box::pin(async move { result })
    }

    fn xread(
        &self,
        stream: String,
        after: String,
        count: usize,
        block: Duration,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        Box::pin(async move {
            let inner = &self.bus.inner;
            let after = match after.as_str() {
                "$" => inner.streams.lock().get(&stream).map_or((0, 0), |s| s.last),
                id => parse_stream_id(id)
                    .ok_or_else(|| DriverError::Server(format!("invalid stream id {id}")))?,
            };
            let deadline = Instant::now() + block;
            loop {
                // Registered before the check, so an XADD between the two still wakes us.
                let appended = inner.appended.notified();
                tokio::pin!(appended);
                appended.as_mut().enable();
                self.bus.check()?;
                let entries = inner
                    .streams
                    .lock()
                    .get(&stream)
                    .map(|s| s.after(after, count))
                    .unwrap_or_default();
                if !entries.is_empty() {
                    return Ok(entries);
                }
                if tokio::time::timeout_at(deadline, appended).await.is_err() {
                    return Ok(Vec::new());
                }
            }
        })
    }

    fn xrange(
        &self,
        stream: String,
        start: String,
        end: String,
        count: usize,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        let result = self.bus.check().and_then(|()| {
            let bound = |id: &str, open: (u64, u64)| match id {
                "-" => Ok((0, 0)),
                "+" => Ok(open),
                id => parse_stream_id(id)
                    .ok_or_else(|| DriverError::Server(format!("invalid stream id {id}"))),
            };
            let start = bound(&start, (0, 0))?;
            let end = bound(&end, (u64::MAX, u64::MAX))?;
            let streams = self.bus.inner.streams.lock();
            Ok(streams
                .get(&stream)
                .map(|s| {
                    s.entries
                        .iter()
                        .filter(|e| {
                            parse_stream_id(&e.id).is_some_and(|id| id >= start && id <= end)
                        })
                        .take(count)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default())
        });
        Box::pin(async move { result })
    }

    fn stream_last_id(&self, stream: String) -> DriverFuture<'_, Option<String>> {
        let result = self.bus.check().map(|()| {
            let streams = self.bus.inner.streams.lock();
            streams
                .get(&stream)
                .and_then(|s| s.entries.back())
                .map(|e| e.id.clone())
        });
        Box::pin(async move { result })
    }

    fn set_px(&self, key: String, value: String, ttl: Duration) -> DriverFuture<'_, ()> {
        let result = self.bus.check().map(|()| {
            let expiry = Instant::now() + ttl;
            self.bus.inner.key_writes.fetch_add(1, Ordering::SeqCst);
            self.bus.inner.keys.lock().insert(key, (value, expiry));
        });
        Box::pin(async move { result })
    }

    fn get(&self, key: String) -> DriverFuture<'_, Option<String>> {
        let result = self.bus.check().map(|()| self.bus.key(&key));
        Box::pin(async move { result })
    }

    fn getdel(&self, key: String) -> DriverFuture<'_, Option<String>> {
        let result = self.bus.check().map(|()| {
            self.bus
                .inner
                .keys
                .lock()
                .remove(&key)
                .filter(|(_, expiry)| *expiry > Instant::now())
                .map(|(value, _)| value)
        });
        Box::pin(async move { result })
    }

    fn del(&self, key: String) -> DriverFuture<'_, ()> {
        let result = self.bus.check().map(|()| {
            self.bus.inner.key_writes.fetch_add(1, Ordering::SeqCst);
            self.bus.inner.keys.lock().remove(&key);
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivery_follows_redis_rules() {
        let bus = MemoryBus::new();
        let a = bus.driver();
        let b = bus.driver();
        let mut rx = b.messages();
        b.subscribe(vec!["req".into()]).await.unwrap();
        b.psubscribe(vec!["bc#*".into()]).await.unwrap();
        a.publish("req".into(), Bytes::from_static(b"1"))
            .await
            .unwrap();
        a.publish("bc#room#".into(), Bytes::from_static(b"2"))
            .await
            .unwrap();
        a.publish("other".into(), Bytes::from_static(b"3"))
            .await
            .unwrap();
        // Sharded messages do not reach classic subscriptions.
        a.spublish("req".into(), Bytes::from_static(b"4"))
            .await
            .unwrap();
        let first = rx.recv().await.unwrap();
        assert_eq!(
            (first.channel.as_str(), first.kind),
            ("req", MessageKind::Channel)
        );
        let second = rx.recv().await.unwrap();
        assert_eq!(second.kind, MessageKind::Pattern);
        assert!(rx.try_recv().is_err());
        assert_eq!(a.numsub("req".into()).await.unwrap(), 1);
        assert_eq!(
            a.numsub("bc#room#".into()).await.unwrap(),
            0,
            "patterns do not count"
        );
        assert_eq!(a.shard_numsub("req".into()).await.unwrap(), 0);

        bus.set_down(true);
        assert!(matches!(
            a.publish("req".into(), Bytes::new()).await,
            Err(DriverError::Unavailable(_))
        ));
        bus.set_down(false);
        drop(b);
        assert_eq!(
            a.numsub("req".into()).await.unwrap(),
            0,
            "a dropped node is gone"
        );
    }
}
