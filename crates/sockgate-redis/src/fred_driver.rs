//! The production driver, on the `fred` client.
//!
//! One file because every command shares the same connection handling and reply parsing;
//! most of its length is one short method per `Driver` command.
//!
//! Two connections per node: a [`SubscriberClient`] that owns every subscription (so the node
//! counts once in `PUBSUB NUMSUB`, as Node expects) and resubscribes after each reconnect, and a
//! plain [`Client`] for `PUBLISH` and the counts. Both reconnect forever with exponential backoff.
//! Publishes and counts sent while the connection is down fail at once (`fail_fast`), and any
//! command fails after [`FredConfig::command_timeout`], instead of queueing until Redis is
//! back: that is what lets cross-node requests fail with a clear error during an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::clients::{Client, SubscriberClient};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::{Config, ConnectionConfig, Options, PerformanceConfig, ReconnectPolicy};
use fred::types::{ClusterHash, CustomCommand, Value as FredValue};
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc};

use crate::driver::{Driver, DriverError, DriverFuture, DriverMessage, MessageKind, StreamEntry};

/// Settings of [`FredDriver`].
#[derive(Debug, Clone)]
pub struct FredConfig {
    /// `redis://host:port/db` (standalone) or `redis-cluster://host:port?node=host2:port2`.
    pub url: String,
    /// How long one command may take, reconnection included, before it fails.
    pub command_timeout: Duration,
    /// First reconnection delay; it doubles up to [`FredConfig::max_reconnect_delay`].
    pub min_reconnect_delay: Duration,
    /// Longest delay between two reconnection attempts.
    pub max_reconnect_delay: Duration,
    /// How long [`FredDriver::connect`] waits for the first connection before returning a driver
    /// that keeps connecting in the background.
    pub connect_timeout: Duration,
}

impl FredConfig {
    /// Defaults for `url`: 2 s commands, reconnect after 100 ms doubling to 5 s, 5 s to connect.
    pub fn new(url: impl Into<String>) -> Self {
        FredConfig {
            url: url.into(),
            command_timeout: Duration::from_secs(2),
            min_reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A [`Driver`] on a real Redis (standalone or cluster), through `fred`.
#[derive(Clone)]
pub struct FredDriver {
    publisher: Client,
    /// `fail_fast`: while the connection is down, commands fail at once instead of waiting
    /// for a reconnection (pub/sub would lose them anyway, and requests must fail clearly).
    fast: Options,
    subscriber: SubscriberClient,
    listeners: Arc<Mutex<Vec<mpsc::UnboundedSender<DriverMessage>>>>,
    /// One connection per stream for the blocking `XREAD`s: a blocked read on the shared
    /// connection would hold up every command queued behind it.
    readers: Arc<Mutex<HashMap<String, Client>>>,
    command_timeout: Duration,
}

impl std::fmt::Debug for FredDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FredDriver").finish_non_exhaustive()
    }
}

fn to_driver_error(error: FredError) -> DriverError {
    match error.kind() {
        ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Backpressure => {
            DriverError::Unavailable(error.to_string())
        }
        _ => DriverError::Server(error.to_string()),
    }
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl FredDriver {
    /// Connects both connections and starts resubscribing after reconnects. Must run inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`DriverError::Server`] when the URL is invalid (fix it). An unreachable Redis is no
    /// error: the driver is returned and keeps reconnecting, and the outage is logged once.
    pub async fn connect(config: FredConfig) -> Result<FredDriver, DriverError> {
        let mut redis = Config::from_url(&config.url).map_err(to_driver_error)?;
        // Reconnect on the first connection too, not only after a lost one.
        redis.fail_fast = false;
        let perf = PerformanceConfig {
            default_command_timeout: config.command_timeout,
            // Pub/sub messages wait here until the forwarding task takes them; a small buffer
            // would drop messages under bursts (lagging receiver).
            broadcast_channel_capacity: 16_384,
            ..Default::default()
        };
        let connection = ConnectionConfig {
            connection_timeout: config.connect_timeout,
            ..Default::default()
        };
        // 0 attempts = forever.
        let policy = ReconnectPolicy::new_exponential(
            0,
            ms(config.min_reconnect_delay),
            ms(config.max_reconnect_delay),
            2,
        );
        let publisher = Client::new(
            redis.clone(),
            Some(perf.clone()),
            Some(connection.clone()),
            Some(policy.clone()),
        );
        let subscriber = SubscriberClient::new(redis, Some(perf), Some(connection), Some(policy));
        let driver = FredDriver {
            publisher,
            fast: Options {
                fail_fast: true,
                ..Default::default()
            },
            subscriber,
            listeners: Arc::new(Mutex::new(Vec::new())),
            readers: Arc::new(Mutex::new(HashMap::new())),
            command_timeout: config.command_timeout,
        };
        driver.spawn_tasks();
        drop(driver.publisher.connect());
        drop(driver.subscriber.connect());
        let wait = async {
            let _ = driver.publisher.wait_for_connect().await;
            let _ = driver.subscriber.wait_for_connect().await;
        };
        if tokio::time::timeout(config.connect_timeout, wait)
            .await
            .is_err()
        {
            tracing::warn!(
                url = %config.url,
                "redis is not reachable yet; sockgate serves local clients and keeps connecting"
            );
        }
        Ok(driver)
    }

    fn spawn_tasks(&self) {
        // Restores every subscription after a reconnect. Not fred's `manage_subscriptions`:
        // its `resubscribe_all` (fred 10.1) sends `SUBSCRIBE` with no channel when only shard
        // channels are tracked, Redis refuses it, and the shard channels are never renewed.
        let subscriber = self.subscriber.clone();
        let mut reconnects = subscriber.reconnect_rx();
        tokio::spawn(async move {
            loop {
                match reconnects.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Err(error) = resubscribe(&subscriber).await {
                            tracing::warn!(%error, "could not renew the redis subscriptions");
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });

        // Forwards pub/sub messages to the adapters' streams.
        let mut messages = self.subscriber.message_rx();
        let listeners = self.listeners.clone();
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        let kind = match message.kind {
                            fred::types::MessageKind::Message => MessageKind::Channel,
                            fred::types::MessageKind::PMessage => MessageKind::Pattern,
                            fred::types::MessageKind::SMessage => MessageKind::Sharded,
                        };
                        let payload = match message.value {
                            FredValue::Bytes(b) => b,
                            FredValue::String(s) => s.into_inner(),
                            other => Bytes::from(other.as_bytes().unwrap_or_default().to_vec()),
                        };
                        let message = DriverMessage {
                            channel: message.channel.to_string(),
                            payload,
                            kind,
                        };
                        listeners
                            .lock()
                            .retain(|tx| tx.send(message.clone()).is_ok());
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            dropped = n,
                            "redis pub/sub messages dropped: the adapter fell behind"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });

        // One line when the connection is lost, one when it is back: not one per command.
        let down = Arc::new(AtomicBool::new(false));
        let on_error = down.clone();
        drop(self.subscriber.on_error(move |(error, _server)| {
            let on_error = on_error.clone();
            async move {
                if !on_error.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        %error,
                        "lost the redis connection; local delivery goes on, reconnecting with backoff"
                    );
                }
                Ok(())
            }
        }));
        drop(self.subscriber.on_reconnect(move |server| {
            let down = down.clone();
            async move {
                if down.swap(false, Ordering::SeqCst) {
                    tracing::info!(%server, "redis connection restored; subscriptions renewed");
                }
                Ok(())
            }
        }));
    }

    /// Closes every connection.
    pub async fn quit(&self) {
        let _ = self.subscriber.quit().await;
        let _ = self.publisher.quit().await;
        let readers: Vec<Client> = self.readers.lock().drain().map(|(_, c)| c).collect();
        for reader in readers {
            let _ = reader.quit().await;
        }
    }

    async fn reader(&self, stream: &str) -> Client {
        let client = {
            let mut readers = self.readers.lock();
            if let Some(client) = readers.get(stream) {
                return client.clone();
            }
            let client = self.publisher.clone_new();
            drop(client.connect());
            readers.insert(stream.to_owned(), client.clone());
            client
        };
        // A first read before the connection is up would fail at once (`fail_fast`).
        let _ = tokio::time::timeout(self.command_timeout, client.wait_for_connect()).await;
        client
    }

    async fn command(
        &self,
        client: &Client,
        name: &'static str,
        hash: ClusterHash,
        blocking: bool,
        args: Vec<FredValue>,
        timeout: Duration,
    ) -> Result<FredValue, DriverError> {
        let options = Options {
            fail_fast: true,
            timeout: Some(timeout),
            // fred re-sends a command that was in flight when its connection dropped. An
            // `XADD` may have been applied then: the streams adapter checks before it retries,
            // so fred must not retry it blindly.
            max_attempts: (name == "XADD").then_some(1),
            ..Default::default()
        };
        client
            .with_options(&options)
            .custom::<FredValue, FredValue>(CustomCommand::new_static(name, hash, blocking), args)
            .await
            .map_err(to_driver_error)
    }
}

fn text(value: FredValue) -> Option<String> {
    match value {
        FredValue::Bytes(b) => String::from_utf8(b.to_vec()).ok(),
        other => other.into_string(),
    }
}

/// `[id, [field, value, ...]]`.
fn entry_of(value: FredValue) -> Option<StreamEntry> {
    let FredValue::Array(mut parts) = value else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let pairs = parts.pop()?;
    let id = text(parts.pop()?)?;
    let mut fields = Vec::new();
    if let FredValue::Array(items) = pairs {
        let mut items = items.into_iter();
        while let (Some(name), Some(value)) = (items.next(), items.next()) {
            fields.push((text(name)?, text(value).unwrap_or_default()));
        }
    }
    Some(StreamEntry { id, fields })
}

fn entries_of(value: FredValue) -> Vec<StreamEntry> {
    match value {
        FredValue::Array(items) => items.into_iter().filter_map(entry_of).collect(),
        _ => Vec::new(),
    }
}

/// XREAD's `[[stream, entries]]` (RESP2) or `{stream: entries}` (RESP3); nil on timeout.
fn read_reply(value: FredValue) -> Vec<StreamEntry> {
    match value {
        FredValue::Array(streams) => streams
            .into_iter()
            .flat_map(|stream| match stream {
                FredValue::Array(mut pair) if pair.len() == 2 => {
                    pair.pop().map(entries_of).unwrap_or_default()
                }
                _ => Vec::new(),
            })
            .collect(),
        FredValue::Map(map) => map.inner().into_values().flat_map(entries_of).collect(),
        _ => Vec::new(),
    }
}

fn s(value: impl Into<String>) -> FredValue {
    FredValue::from(value.into())
}

/// Subscribes again to what `subscriber` tracks, skipping empty sets, shard channels grouped
/// by hash slot (one `SSUBSCRIBE` may only name channels of one slot in a cluster).
async fn resubscribe(subscriber: &SubscriberClient) -> Result<(), FredError> {
    let names = |set: std::collections::BTreeSet<fred::bytes_utils::Str>| -> Vec<String> {
        set.into_iter().map(|s| s.to_string()).collect()
    };
    let channels = names(subscriber.tracked_channels());
    if !channels.is_empty() {
        subscriber.subscribe(channels).await?;
    }
    let patterns = names(subscriber.tracked_patterns());
    if !patterns.is_empty() {
        subscriber.psubscribe(patterns).await?;
    }
    let mut by_slot: std::collections::BTreeMap<u16, Vec<String>> = Default::default();
    for channel in names(subscriber.tracked_shard_channels()) {
        by_slot
            .entry(fred::util::redis_keyslot(channel.as_bytes()))
            .or_default()
            .push(channel);
    }
    for channels in by_slot.into_values() {
        subscriber.ssubscribe(channels).await?;
    }
    Ok(())
}

fn count_of(reply: FredValue) -> usize {
    // `[channel, count]` in RESP2, `{channel: count}` in RESP3.
    match reply {
        FredValue::Array(items) => items
            .get(1)
            .and_then(|v| v.as_u64())
            .map_or(0, |n| n as usize),
        FredValue::Map(map) => map
            .inner()
            .into_iter()
            .next()
            .and_then(|(_, v)| v.as_u64())
            .map_or(0, |n| n as usize),
        _ => 0,
    }
}

impl Driver for FredDriver {
    fn publish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.publisher
                .with_options(&self.fast)
                .publish::<FredValue, _, _>(channel, payload)
                .await
                .map(|_| ())
                .map_err(to_driver_error)
        })
    }

    fn spublish(&self, channel: String, payload: Bytes) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.publisher
                .with_options(&self.fast)
                .spublish::<FredValue, _, _>(channel, payload)
                .await
                .map(|_| ())
                .map_err(to_driver_error)
        })
    }

    fn subscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .subscribe(channels)
                .await
                .map_err(to_driver_error)
        })
    }

    fn unsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .unsubscribe(channels)
                .await
                .map_err(to_driver_error)
        })
    }

    fn psubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .psubscribe(patterns)
                .await
                .map_err(to_driver_error)
        })
    }

    fn punsubscribe(&self, patterns: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .punsubscribe(patterns)
                .await
                .map_err(to_driver_error)
        })
    }

    fn ssubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .ssubscribe(channels)
                .await
                .map_err(to_driver_error)
        })
    }

    fn sunsubscribe(&self, channels: Vec<String>) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.subscriber
                .sunsubscribe(channels)
                .await
                .map_err(to_driver_error)
        })
    }

    fn numsub(&self, channel: String) -> DriverFuture<'_, usize> {
        Box::pin(async move {
            self.publisher
                .with_options(&self.fast)
                .pubsub_numsub::<FredValue, _>(channel)
                .await
                .map(count_of)
                .map_err(to_driver_error)
        })
    }

    fn shard_numsub(&self, channel: String) -> DriverFuture<'_, usize> {
        Box::pin(async move {
            self.publisher
                .with_options(&self.fast)
                .pubsub_shardnumsub::<FredValue, _>(channel)
                .await
                .map(count_of)
                .map_err(to_driver_error)
        })
    }

    fn messages(&self) -> mpsc::UnboundedReceiver<DriverMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.listeners.lock().push(tx);
        rx
    }

    fn xadd(
        &self,
        stream: String,
        max_len: usize,
        fields: Vec<(String, String)>,
    ) -> DriverFuture<'_, String> {
        Box::pin(async move {
            let mut args = vec![
                s(stream),
                s("MAXLEN"),
                s("~"),
                s(max_len.to_string()),
                s("*"),
            ];
            for (name, value) in fields {
                args.push(s(name));
                args.push(s(value));
            }
            let reply = self
                .command(
                    &self.publisher,
                    "XADD",
                    ClusterHash::FirstKey,
                    false,
                    args,
                    self.command_timeout,
                )
                .await?;
            text(reply).ok_or_else(|| DriverError::Server("XADD answered no id".into()))
        })
    }

    fn xread(
        &self,
        stream: String,
        after: String,
        count: usize,
        block: Duration,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        Box::pin(async move {
            let reader = self.reader(&stream).await;
            let args = vec![
                s("COUNT"),
                s(count.to_string()),
                s("BLOCK"),
                s(block.as_millis().to_string()),
                s("STREAMS"),
                s(stream),
                s(after),
            ];
            let reply = self
                .command(
                    &reader,
                    "XREAD",
                    ClusterHash::Offset(5),
                    true,
                    args,
                    block + self.command_timeout,
                )
                .await?;
            Ok(read_reply(reply))
        })
    }

    fn xrange(
        &self,
        stream: String,
        start: String,
        end: String,
        count: usize,
    ) -> DriverFuture<'_, Vec<StreamEntry>> {
        Box::pin(async move {
            let args = vec![
                s(stream),
                s(start),
                s(end),
                s("COUNT"),
                s(count.to_string()),
            ];
            let reply = self
                .command(
                    &self.publisher,
                    "XRANGE",
                    ClusterHash::FirstKey,
                    false,
                    args,
                    self.command_timeout,
                )
                .await?;
            Ok(entries_of(reply))
        })
    }

    fn stream_last_id(&self, stream: String) -> DriverFuture<'_, Option<String>> {
        Box::pin(async move {
            let args = vec![s(stream), s("+"), s("-"), s("COUNT"), s("1")];
            let reply = self
                .command(
                    &self.publisher,
                    "XREVRANGE",
                    ClusterHash::FirstKey,
                    false,
                    args,
                    self.command_timeout,
                )
                .await?;
            Ok(entries_of(reply).pop().map(|e| e.id))
        })
    }

    fn set_px(&self, key: String, value: String, ttl: Duration) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            let ms = ttl.as_millis().max(1).to_string();
            let args = vec![s(key), s(value), s("PX"), s(ms)];
            self.command(
                &self.publisher,
                "SET",
                ClusterHash::FirstKey,
                false,
                args,
                self.command_timeout,
            )
            .await
            .map(|_| ())
        })
    }

    fn get(&self, key: String) -> DriverFuture<'_, Option<String>> {
        Box::pin(async move {
            let reply = self
                .command(
                    &self.publisher,
                    "GET",
                    ClusterHash::FirstKey,
                    false,
                    vec![s(key)],
                    self.command_timeout,
                )
                .await?;
            Ok(text(reply))
        })
    }

    fn getdel(&self, key: String) -> DriverFuture<'_, Option<String>> {
        Box::pin(async move {
            let reply = self
                .command(
                    &self.publisher,
                    "GETDEL",
                    ClusterHash::FirstKey,
                    false,
                    vec![s(key)],
                    self.command_timeout,
                )
                .await?;
            Ok(text(reply))
        })
    }

    fn del(&self, key: String) -> DriverFuture<'_, ()> {
        Box::pin(async move {
            self.command(
                &self.publisher,
                "DEL",
                ClusterHash::FirstKey,
                false,
                vec![s(key)],
                self.command_timeout,
            )
            .await
            .map(|_| ())
        })
    }
}
