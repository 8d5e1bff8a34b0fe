//! The single-node adapter, with the packet buffer used by connection state recovery.
//!
//! Recovery here is in memory, for one process: it covers a client whose transport dropped
//! and who reconnects to the same process within `max_disconnection_duration`. It cannot
//! survive a restart of the process (deploy, crash, OOM kill: every session and buffered
//! packet is gone) and cannot recover a client on another node. The Redis Streams adapter
//! (`sockgate_redis::StreamsAdapter`) keeps both in Redis for that.
//!
//! Long for a reason: 370 lines of code, the rest its unit tests.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sockgate_proto::socketio::Packet;

use crate::adapter::{
    Adapter, BoxFuture, BroadcastOptions, LocalNamespace, PersistedSession, Room, SocketDetails,
};
use crate::room::RoomIndex;
use crate::Sid;

/// Connection state recovery options (Node's `connectionStateRecovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected socket's state and missed packets are kept (default 120 s).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace middlewares (default true).
    pub skip_middlewares: bool,
    /// Most packets kept for replay per namespace (default 10,000); the oldest go first. A
    /// client whose offset was dropped reconnects without recovery (`recovered` false), as
    /// after a too-long disconnection. Node keeps every packet for the whole duration.
    pub max_buffered_packets: usize,
    /// Most bytes (JSON size of the packets and their attachments) kept for replay per
    /// namespace (default 32 MiB).
    pub max_buffered_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_buffered_packets: 10_000,
            max_buffered_bytes: 32 << 20,
        }
    }
}

struct StoredPacket {
    /// The counter part of the offset: consecutive, so the position of an offset in the buffer
    /// is computed, not searched.
    seq: u64,
    at: Instant,
    bytes: usize,
    opts: BroadcastOptions,
    packet: Packet,
}

#[derive(Default)]
struct PacketBuffer {
    packets: VecDeque<StoredPacket>,
    bytes: usize,
}

struct Recovery {
    config: RecoveryConfig,
    prefix: u64,
    counter: AtomicU64,
    sessions: Mutex<HashMap<String, (PersistedSession, Instant)>>,
    buffer: Mutex<PacketBuffer>,
    pruner_started: std::sync::atomic::AtomicBool,
}

/// Counts the bytes a value serializes to, without building them.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn packet_size(packet: &Packet) -> usize {
    let mut counter = ByteCounter(0);
    if let Some(data) = &packet.data {
        let _ = serde_json::to_writer(&mut counter, data);
    }
    counter.0 + packet.attachments.iter().map(|a| a.len()).sum::<usize>()
}

impl Recovery {
    fn offset_of(&self, seq: u64) -> String {
        format!("{:x}-{:x}", self.prefix, seq)
    }

    /// The counter of an offset this node issued.
    fn seq_of(&self, offset: &str) -> Option<u64> {
        let (prefix, seq) = offset.split_once('-')?;
        if u64::from_str_radix(prefix, 16).ok()? != self.prefix {
            return None;
        }
        u64::from_str_radix(seq, 16).ok()
    }

    /// Gives `packet` the next offset (appended to its arguments) and stores it.
    fn store(&self, opts: &BroadcastOptions, packet: &mut Packet, now: Instant) {
        // Sized before the lock (the offset adds about 20 bytes): broadcasts wait on it.
        let bytes = packet_size(packet) + 24;
        let mut buffer = self.buffer.lock();
        // The counter advances under the buffer's lock, so the buffer stays in offset order
        // with no gaps and an offset's position is `seq - first seq`.
        let seq = self.counter.fetch_add(1, Ordering::Relaxed);
        if let Some(Value::Array(args)) = packet.data.as_mut() {
            args.push(Value::String(self.offset_of(seq)));
        }
        buffer.bytes += bytes;
        buffer.packets.push_back(StoredPacket {
            seq,
            at: now,
            bytes,
            opts: opts.clone(),
            packet: packet.clone(),
        });
        self.trim(&mut buffer, now);
    }

    /// Drops packets past their age or over the bounds, oldest first.
    fn trim(&self, buffer: &mut PacketBuffer, now: Instant) {
        let max_age = self.config.max_disconnection_duration;
        while let Some(front) = buffer.packets.front() {
            let too_old = now.duration_since(front.at) > max_age;
            let too_many = buffer.packets.len() > self.config.max_buffered_packets;
            let too_big = buffer.bytes > self.config.max_buffered_bytes;
            if !(too_old || too_many || too_big) {
                break;
            }
            buffer.bytes -= front.bytes;
            buffer.packets.pop_front();
        }
    }

    fn prune(&self, now: Instant) {
        self.trim(&mut self.buffer.lock(), now);
        let max = self.config.max_disconnection_duration;
        self.sessions
            .lock()
            .retain(|_, (_, at)| now.duration_since(*at) <= max);
    }

    /// The packets after `offset` that reach `rooms`, or `None` if `offset` is not (or no
    /// longer) in the buffer.
    fn missed_after(&self, offset: &str, rooms: &[Room]) -> Option<Vec<Packet>> {
        let seq = self.seq_of(offset)?;
        let buffer = self.buffer.lock();
        let first = buffer.packets.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        if index >= buffer.packets.len() {
            return None;
        }
        Some(
            buffer
                .packets
                .range(index + 1..)
                .filter(|p| reaches(rooms, &p.opts))
                .map(|p| p.packet.clone())
                .collect(),
        )
    }
}

/// Prunes expired sessions and packets even when no traffic arrives, so a burst's buffer does
/// not stay until the next broadcast. Ends with the adapter.
fn spawn_pruner(recovery: &Arc<Recovery>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = (recovery.config.max_disconnection_duration / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(30));
    let weak = Arc::downgrade(recovery);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match weak.upgrade() {
                Some(recovery) => recovery.prune(Instant::now()),
                None => return,
            }
        }
    });
}

/// The default adapter: rooms and broadcasts on this node only.
pub struct InMemoryAdapter {
    namespace: Weak<dyn LocalNamespace>,
    index: RwLock<RoomIndex>,
    recovery: Option<Arc<Recovery>>,
}

impl std::fmt::Debug for InMemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryAdapter")
            .field("recovery", &self.recovery.as_ref().map(|r| r.config))
            .finish_non_exhaustive()
    }
}

impl InMemoryAdapter {
    /// An adapter for `namespace`, with recovery when `recovery` is set.
    pub fn new(namespace: Weak<dyn LocalNamespace>, recovery: Option<RecoveryConfig>) -> Self {
        let prefix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        InMemoryAdapter {
            namespace,
            index: RwLock::new(RoomIndex::new()),
            recovery: recovery.map(|config| {
                Arc::new(Recovery {
                    config,
                    prefix,
                    counter: AtomicU64::new(0),
                    sessions: Mutex::new(HashMap::new()),
                    buffer: Mutex::new(PacketBuffer::default()),
                    pruner_started: std::sync::atomic::AtomicBool::new(false),
                })
            }),
        }
    }

    /// Number of missed packets kept for recovery (for tests and metrics).
    pub fn buffered_packets(&self) -> usize {
        self.recovery
            .as_ref()
            .map_or(0, |r| r.buffer.lock().packets.len())
    }

    /// Bytes of missed packets kept for recovery (for tests and metrics).
    pub fn buffered_bytes(&self) -> usize {
        self.recovery.as_ref().map_or(0, |r| r.buffer.lock().bytes)
    }

    fn apply(&self, opts: &BroadcastOptions, f: impl Fn(&mut RoomIndex, Sid)) {
        let mut index = self.index.write();
        for sid in index.select(opts) {
            f(&mut index, sid);
        }
    }
}

fn reaches(rooms: &[Room], opts: &BroadcastOptions) -> bool {
    (opts.rooms.is_empty() || opts.rooms.iter().any(|r| rooms.contains(r)))
        && !opts.except.iter().any(|r| rooms.contains(r))
}

impl Adapter for InMemoryAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.index.write().add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &str) {
        self.index.write().del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.index.write().del_all(sid);
    }

    fn rooms_of(&self, sid: Sid) -> Vec<Room> {
        self.index.read().rooms_of(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.index.read().rooms()
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        self.index.read().select(opts)
    }

    fn broadcast(&self, mut packet: Packet, opts: BroadcastOptions) {
        if let Some(recovery) = &self.recovery {
            if packet.is_event() && packet.id.is_none() && !opts.flags.volatile {
                if !recovery.pruner_started.swap(true, Ordering::AcqRel) {
                    spawn_pruner(recovery);
                }
                // The offset travels as the last argument; a client that reconnects presents
                // the last one it saw, and gets everything after it.
                recovery.store(&opts, &mut packet, Instant::now());
            }
        }
        // Walk a snapshot: the lock is not held while frames are queued.
        let sids = self.index.read().select(&opts);
        if let Some(namespace) = self.namespace.upgrade() {
            namespace.deliver(&sids, &packet, &opts.flags);
        }
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> BoxFuture<'_, Vec<SocketDetails>> {
        let sids = self.local_sockets(&opts);
        let details = match self.namespace.upgrade() {
            Some(namespace) => sids
                .into_iter()
                .filter_map(|s| namespace.details(s))
                .collect(),
            None => Vec::new(),
        };
        Box::pin(async move { details })
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.apply(&opts, |index, sid| index.add_all(sid, &rooms));
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.apply(&opts, |index, sid| {
            for room in &rooms {
                index.del(sid, room);
            }
        });
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) {
        let sids = self.local_sockets(&opts);
        if let Some(namespace) = self.namespace.upgrade() {
            namespace.disconnect(&sids, close);
        }
    }

    fn recovery_enabled(&self) -> bool {
        self.recovery.is_some()
    }

    fn persist_session(&self, session: PersistedSession) {
        if let Some(recovery) = &self.recovery {
            let now = Instant::now();
            recovery.prune(now);
            recovery
                .sessions
                .lock()
                .insert(session.pid.clone(), (session, now));
        }
    }

    fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> BoxFuture<'_, Option<(PersistedSession, Vec<Packet>)>> {
        let restored = self.recovery.as_ref().and_then(|recovery| {
            recovery.prune(Instant::now());
            let (session, _) = recovery.sessions.lock().remove(pid)?;
            let missed = recovery.missed_after(offset, &session.rooms)?;
            Some((session, missed))
        });
        Box::pin(async move { restored })
    }

    fn packets_after(&self, offset: &str, rooms: &[Room]) -> BoxFuture<'_, Option<Vec<Packet>>> {
        let packets = self
            .recovery
            .as_ref()
            .and_then(|recovery| recovery.missed_after(offset, rooms));
        Box::pin(async move { packets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BroadcastFlags;
    use std::sync::Arc;

    #[derive(Default)]
    struct Recorder {
        delivered: Mutex<Vec<(Vec<Sid>, Packet)>>,
    }

    impl LocalNamespace for Recorder {
        fn name(&self) -> &str {
            "/"
        }
        fn deliver(&self, sids: &[Sid], packet: &Packet, _flags: &BroadcastFlags) {
            self.delivered.lock().push((sids.to_vec(), packet.clone()));
        }
        fn details(&self, _sid: Sid) -> Option<SocketDetails> {
            None
        }
        fn disconnect(&self, _sids: &[Sid], _close: bool) {}
    }

    fn setup(recovery: bool) -> (Arc<Recorder>, InMemoryAdapter) {
        let recorder = Arc::new(Recorder::default());
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&recorder) as _;
        let adapter = InMemoryAdapter::new(weak, recovery.then(RecoveryConfig::default));
        (recorder, adapter)
    }

    fn sid(n: u8) -> Sid {
        Sid::from_random([n; 15])
    }

    #[test]
    fn broadcast_reaches_the_selected_sockets() {
        let (recorder, adapter) = setup(false);
        adapter.add_all(sid(1), &[Room::from("a")]);
        adapter.add_all(sid(2), &[Room::from("b")]);
        adapter.broadcast(
            Packet::event("/", vec!["x".into()]),
            BroadcastOptions {
                rooms: vec![Room::from("a")],
                ..Default::default()
            },
        );
        let delivered = recorder.delivered.lock();
        assert_eq!(delivered[0].0, vec![sid(1)]);
        assert_eq!(delivered[0].1.data, Some(serde_json::json!(["x"])));
    }

    #[test]
    fn recovery_replays_missed_packets_for_the_sessions_rooms() {
        let (recorder, adapter) = setup(true);
        adapter.add_all(sid(1), &[Room::from("a")]);
        adapter.broadcast(Packet::event("/", vec!["first".into()]), Default::default());
        let first = recorder.delivered.lock()[0].1.data.clone().unwrap();
        let offset = first[1].as_str().unwrap().to_owned();

        adapter.persist_session(PersistedSession {
            sid: sid(1),
            pid: "p1".into(),
            rooms: vec![Room::from("a")],
            data: Value::Null,
        });
        adapter.del_all(sid(1));
        adapter.broadcast(
            Packet::event("/", vec!["second".into()]),
            Default::default(),
        );
        adapter.broadcast(
            Packet::event("/", vec!["other room".into()]),
            BroadcastOptions {
                rooms: vec![Room::from("b")],
                ..Default::default()
            },
        );
        adapter.broadcast(
            Packet::event("/", vec!["to a".into()]),
            BroadcastOptions {
                rooms: vec![Room::from("a")],
                ..Default::default()
            },
        );
        let restored = futures_lite_block(adapter.restore_session("p1", &offset));
        let (session, missed) = restored.unwrap();
        assert_eq!(session.sid, sid(1));
        let names: Vec<_> = missed
            .iter()
            .map(|p| p.data.as_ref().unwrap()[0].clone())
            .collect();
        assert_eq!(names, vec![Value::from("second"), Value::from("to a")]);
        // A session is restored once.
        assert!(futures_lite_block(adapter.restore_session("p1", &offset)).is_none());
    }

    #[test]
    fn unknown_offset_is_not_recovered() {
        let (_recorder, adapter) = setup(true);
        adapter.persist_session(PersistedSession {
            sid: sid(1),
            pid: "p1".into(),
            rooms: vec![],
            data: Value::Null,
        });
        assert!(futures_lite_block(adapter.restore_session("p1", "nope")).is_none());
    }

    fn setup_with(config: RecoveryConfig) -> (Arc<Recorder>, InMemoryAdapter) {
        let recorder = Arc::new(Recorder::default());
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&recorder) as _;
        let adapter = InMemoryAdapter::new(weak, Some(config));
        (recorder, adapter)
    }

    fn offset_of(recorder: &Recorder, n: usize) -> String {
        let data = recorder.delivered.lock()[n].1.data.clone().unwrap();
        data.as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_buffer_is_bounded_in_packets_and_bytes() {
        let (recorder, adapter) = setup_with(RecoveryConfig {
            max_buffered_packets: 100,
            max_buffered_bytes: 1 << 20,
            ..RecoveryConfig::default()
        });
        adapter.add_all(sid(1), &[]);
        for i in 0..1_000 {
            adapter.broadcast(Packet::event("/", vec![Value::from(i)]), Default::default());
        }
        assert_eq!(adapter.buffered_packets(), 100);
        // The oldest offsets are gone: recovering from one is refused, not partial.
        let old = offset_of(&recorder, 10);
        let recent = offset_of(&recorder, 950);
        let session = |pid: &str| PersistedSession {
            sid: sid(1),
            pid: pid.into(),
            rooms: vec![],
            data: Value::Null,
        };
        adapter.persist_session(session("a"));
        assert!(futures_lite_block(adapter.restore_session("a", &old)).is_none());
        adapter.persist_session(session("b"));
        let (_, missed) = futures_lite_block(adapter.restore_session("b", &recent)).unwrap();
        assert_eq!(
            missed.len(),
            49,
            "everything after offset 950, found by position"
        );

        // 64 KiB packets against a 1 MiB bound.
        let big = "x".repeat(64 << 10);
        for _ in 0..100 {
            adapter.broadcast(
                Packet::event("/", vec![Value::from(big.as_str())]),
                Default::default(),
            );
        }
        assert!(
            adapter.buffered_bytes() <= 1 << 20,
            "{}",
            adapter.buffered_bytes()
        );
        assert!(adapter.buffered_packets() >= 15);
    }

    #[test]
    fn expired_packets_go_without_new_traffic() {
        let (_recorder, adapter) = setup_with(RecoveryConfig {
            max_disconnection_duration: Duration::from_millis(200),
            ..RecoveryConfig::default()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 0..10 {
                adapter.broadcast(Packet::event("/", vec![Value::from(i)]), Default::default());
            }
            assert_eq!(adapter.buffered_packets(), 10);
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(adapter.buffered_packets(), 0, "pruned by the timer");
        });
    }

    #[test]
    fn offsets_of_another_node_or_garbage_are_refused() {
        let (_recorder, adapter) = setup(true);
        adapter.broadcast(Packet::event("/", vec!["x".into()]), Default::default());
        for offset in ["", "-", "zz-1", "1-0", "ffffffffffffffff-0", "abc"] {
            adapter.persist_session(PersistedSession {
                sid: sid(1),
                pid: "p".into(),
                rooms: vec![],
                data: Value::Null,
            });
            assert!(futures_lite_block(adapter.restore_session("p", offset)).is_none());
        }
    }

    /// Polls a future that never waits (the in-memory adapter's futures are ready at once).
    fn futures_lite_block<T>(future: BoxFuture<'_, T>) -> T {
        use std::task::{Context, Poll, Waker};
        let mut future = future;
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("in-memory adapter futures are always ready"),
        }
    }
}
