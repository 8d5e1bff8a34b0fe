//! Redis cluster adapters for sockgate, wire-compatible with Node's socket.io cluster.
//!
//! A sockgate node using [`ClassicAdapter`] is a full member of a cluster of Node socket.io
//! servers running `@socket.io/redis-adapter` 8.3 (`createAdapter`): broadcasts, remote room
//! operations, `fetchSockets`, broadcasts with acks and the server count cross between Rust and
//! Node nodes, because the adapter speaks the same channels and the same notepack-compatible
//! msgpack ([`msgpack`]) byte for byte.
//!
//! [`ShardedAdapter`] speaks `createShardedAdapter` (the ClusterAdapter message model of
//! [`cluster`] over sharded pub/sub, Redis 7+), and [`Emitter`] publishes into a classic
//! cluster from a process that is not a server, as `@socket.io/redis-emitter` does (and into
//! a streams cluster, as `@socket.io/redis-streams-emitter` does: [`Emitter::streams`]).
//!
//! [`StreamsAdapter`] speaks `@socket.io/redis-streams-adapter` 0.3.1 (the same message model
//! over Redis Streams plus pub/sub, see [`streams`]): broadcasts survive a Redis outage (each
//! node resumes reading from its last entry), and **connection state recovery works across
//! nodes and restarts**: sessions live in Redis, saved as they change rather than only at
//! disconnect, so a client recovers its id, rooms, data and missed packets on any node, Node
//! or sockgate, even when its node was killed. Single-node recovery (the in-memory adapter)
//! cannot survive a restart of its process; this adapter is the answer to that.
//!
//! The adapters talk to Redis through a small [`Driver`] trait: [`FredDriver`] in production,
//! [`MemoryBus`] in tests (several nodes in one process).
//!
//! Cross-node requests (`fetchSockets`, `serverSideEmitWithAck`, broadcasts with acks) wait
//! for one answer per node counted by `PUBSUB NUMSUB`, and fail with
//! [`sockgate_core::AdapterError`] after their timeout or at once when Redis is unreachable;
//! local delivery never waits on Redis.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use sockgate_redis::{ClassicAdapter, ClassicConfig, FredConfig, FredDriver};
//!
//! let driver = FredDriver::connect(FredConfig::new("redis://127.0.0.1:6379")).await?;
//! let factory = ClassicAdapter::factory(driver, ClassicConfig::default());
//! // `SocketIo::builder().adapter(move |ns| factory(ns))` ...
//! # let _ = factory; Ok(()) }
//! ```
//!
//! The streams adapter with recovery (give the server the same [`RecoveryConfig`]):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use sockgate_core::RecoveryConfig;
//! use sockgate_redis::{FredConfig, FredDriver, StreamsAdapter, StreamsConfig};
//!
//! let driver = FredDriver::connect(FredConfig::new("redis://127.0.0.1:6379")).await?;
//! let recovery = RecoveryConfig::default();
//! let factory = StreamsAdapter::factory(driver, StreamsConfig::default().with_recovery(recovery));
//! // SocketIo::builder().connection_state_recovery(recovery).adapter(move |ns| factory(ns)) ...
//! # let _ = factory; Ok(()) }
//! ```
//!
//! [`RecoveryConfig`]: sockgate_core::RecoveryConfig

pub mod classic;
pub mod cluster;
mod driver;
pub mod emitter;
#[cfg(feature = "fred")]
mod fred_driver;
mod local;
mod memory;
pub mod msgpack;
mod outage;
pub mod sharded;
pub mod streams;

pub use classic::{ClassicAdapter, ClassicConfig};
pub use driver::{
    next_stream_id, parse_stream_id, Driver, DriverError, DriverFuture, DriverMessage, MessageKind,
    StreamEntry,
};
pub use emitter::{Emitter, EmitterError};
#[cfg(feature = "fred")]
pub use fred_driver::{FredConfig, FredDriver};
pub use memory::{MemoryBus, MemoryDriver};
pub use sharded::{ShardedAdapter, ShardedConfig, SubscriptionMode};
pub use streams::{StreamsAdapter, StreamsConfig};
