//! Cluster mode: several chat nodes share their rooms and broadcasts over Redis.
//!
//! `REDIS_URL` set → the node joins the cluster on that Redis with `SOCKGATE_ADAPTER`:
//! `classic` (the default; `@socket.io/redis-adapter`'s `createAdapter` with Node's default
//! key `socket.io`), `sharded` (`createShardedAdapter`, Redis 7+) or `streams`
//! (`@socket.io/redis-streams-adapter`, with connection state recovery on: a client whose
//! connection dropped gets its id, rooms and missed messages back on any node, even after its
//! node was killed). A Node socket.io server on the same Redis with the same adapter's
//! defaults shares the `/example` namespace with the chat nodes. `REDIS_URL` unset → one
//! node, the in-memory adapter, no Redis.

use std::fmt;

use sockgate::core::{AdapterFactory, RecoveryConfig};
use sockgate_redis::{
    ClassicAdapter, ClassicConfig, DriverError, FredConfig, FredDriver, ShardedAdapter,
    ShardedConfig, StreamsAdapter, StreamsConfig,
};

/// Which Redis adapter the cluster runs (every node of a cluster must run the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// `@socket.io/redis-adapter`'s `createAdapter` (classic pub/sub).
    Classic,
    /// `createShardedAdapter` (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+).
    Sharded,
    /// `@socket.io/redis-streams-adapter` (Redis Streams), with connection state recovery.
    Streams,
}

/// Where and how a node joins its cluster, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `REDIS_URL` (`redis://host:port/db`).
    pub url: String,
    /// `SOCKGATE_ADAPTER`.
    pub adapter: AdapterKind,
}

/// A cluster setting the chat cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// `SOCKGATE_ADAPTER` names no adapter: set it to `classic`, `sharded` or `streams`, or
    /// unset it.
    UnknownAdapter(String),
    /// `SOCKGATE_ADAPTER` is set without `REDIS_URL`: set `REDIS_URL` too (or unset both to run
    /// one node).
    AdapterWithoutRedis,
    /// The Redis driver refused `REDIS_URL` (not a `redis://` URL): fix it.
    Redis(DriverError),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::UnknownAdapter(name) => write!(
                f,
                "SOCKGATE_ADAPTER={name} is no adapter: use `classic` (default) or `sharded` \
                 (pub/sub), or `streams` (Redis Streams, with connection state recovery)"
            ),
            ClusterError::AdapterWithoutRedis => write!(
                f,
                "SOCKGATE_ADAPTER is set but REDIS_URL is not: set REDIS_URL=redis://host:port \
                 to join a cluster, or unset SOCKGATE_ADAPTER to run one node"
            ),
            ClusterError::Redis(error) => write!(f, "REDIS_URL cannot be used: {error}"),
        }
    }
}

impl std::error::Error for ClusterError {}

impl ClusterSettings {
    /// The settings in `REDIS_URL` / `SOCKGATE_ADAPTER` (`None`: one node, no Redis).
    ///
    /// # Errors
    /// [`ClusterError::UnknownAdapter`] or [`ClusterError::AdapterWithoutRedis`]: fix the
    /// environment as the message says.
    pub fn from_env() -> Result<Option<ClusterSettings>, ClusterError> {
        Self::from_vars(
            std::env::var("REDIS_URL").ok().as_deref(),
            std::env::var("SOCKGATE_ADAPTER").ok().as_deref(),
        )
    }

    /// [`ClusterSettings::from_env`] on given values (empty counts as unset).
    ///
    /// # Errors
    /// As [`ClusterSettings::from_env`].
    pub fn from_vars(
        redis_url: Option<&str>,
        adapter: Option<&str>,
    ) -> Result<Option<ClusterSettings>, ClusterError> {
        let redis_url = redis_url.map(str::trim).filter(|s| !s.is_empty());
        let adapter = adapter.map(str::trim).filter(|s| !s.is_empty());
        let kind = match adapter.map(str::to_ascii_lowercase).as_deref() {
            None | Some("classic") => AdapterKind::Classic,
            Some("sharded") => AdapterKind::Sharded,
            Some("streams") => AdapterKind::Streams,
            Some(_) => return Err(ClusterError::UnknownAdapter(adapter.unwrap_or("").into())),
        };
        match redis_url {
            Some(url) => Ok(Some(ClusterSettings {
                url: url.to_owned(),
                adapter: kind,
            })),
            None if adapter.is_some() => Err(ClusterError::AdapterWithoutRedis),
            None => Ok(None),
        }
    }

    /// The connection state recovery this cluster runs with: on (Node's defaults, sessions
    /// kept 2 minutes) on the streams adapter, off on the others (they cannot recover across
    /// nodes). Give it to the server together with the adapter.
    pub fn recovery(&self) -> Option<RecoveryConfig> {
        (self.adapter == AdapterKind::Streams).then(RecoveryConfig::default)
    }

    /// Connects to Redis and returns the adapter factory for
    /// [`GatewayApp::adapter`](sockgate::gateway::GatewayApp::adapter). An unreachable Redis is
    /// no error: after a few seconds the node starts anyway, serves its own clients, logs one
    /// warning, and joins the cluster as soon as Redis answers (the driver retries with
    /// backoff). Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`ClusterError::Redis`] when `REDIS_URL` is not a Redis URL: fix it.
    pub async fn connect(&self) -> Result<AdapterFactory, ClusterError> {
        let driver = FredDriver::connect(FredConfig::new(&self.url))
            .await
            .map_err(ClusterError::Redis)?;
        Ok(match self.adapter {
            AdapterKind::Classic => ClassicAdapter::factory(driver, ClassicConfig::default()),
            AdapterKind::Sharded => ShardedAdapter::factory(driver, ShardedConfig::default()),
            AdapterKind::Streams => StreamsAdapter::factory(
                driver,
                StreamsConfig {
                    recovery: self.recovery(),
                    ..StreamsConfig::default()
                },
            ),
        })
    }
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdapterKind::Classic => "classic",
            AdapterKind::Sharded => "sharded",
            AdapterKind::Streams => "streams",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_redis_url_is_one_node() {
        assert_eq!(ClusterSettings::from_vars(None, None), Ok(None));
        assert_eq!(ClusterSettings::from_vars(Some(" "), None), Ok(None));
    }

    #[test]
    fn redis_url_selects_the_classic_adapter_unless_told_otherwise() {
        let url = "redis://127.0.0.1:6379";
        let classic = ClusterSettings::from_vars(Some(url), None)
            .unwrap()
            .unwrap();
        assert_eq!(classic.adapter, AdapterKind::Classic);
        assert_eq!(classic.url, url);
        let sharded = ClusterSettings::from_vars(Some(url), Some("Sharded"))
            .unwrap()
            .unwrap();
        assert_eq!(sharded.adapter, AdapterKind::Sharded);
        assert_eq!(sharded.recovery(), None);
        let streams = ClusterSettings::from_vars(Some(url), Some("streams"))
            .unwrap()
            .unwrap();
        assert_eq!(streams.adapter, AdapterKind::Streams);
        assert_eq!(streams.recovery(), Some(RecoveryConfig::default()));
    }

    #[test]
    fn wrong_settings_say_what_to_fix() {
        let url = Some("redis://127.0.0.1:6379");
        let unknown = ClusterSettings::from_vars(url, Some("kafka")).unwrap_err();
        assert_eq!(unknown, ClusterError::UnknownAdapter("kafka".into()));
        assert!(unknown
            .to_string()
            .contains("`classic` (default) or `sharded`"));
        assert!(unknown.to_string().contains("`streams`"));
        let alone = ClusterSettings::from_vars(None, Some("sharded")).unwrap_err();
        assert_eq!(alone, ClusterError::AdapterWithoutRedis);
        assert!(alone.to_string().contains("set REDIS_URL"));
    }
}
