//! The single-node adapter, with the packet buffer used by connection state recovery.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
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
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
        }
    }
}

struct StoredPacket {
    offset: String,
    at: Instant,
    opts: BroadcastOptions,
    packet: Packet,
}

struct Recovery {
    config: RecoveryConfig,
    prefix: u64,
    counter: AtomicU64,
    sessions: Mutex<HashMap<String, (PersistedSession, Instant)>>,
    packets: Mutex<VecDeque<StoredPacket>>,
}

impl Recovery {
    fn next_offset(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{:x}", self.prefix, n)
    }

    fn prune(&self, now: Instant) {
        let max = self.config.max_disconnection_duration;
        let mut packets = self.packets.lock();
        while packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > max)
        {
            packets.pop_front();
        }
        drop(packets);
        self.sessions
            .lock()
            .retain(|_, (_, at)| now.duration_since(*at) <= max);
    }
}

/// The default adapter: rooms and broadcasts on this node only.
pub struct InMemoryAdapter {
    namespace: Weak<dyn LocalNamespace>,
    index: RwLock<RoomIndex>,
    recovery: Option<Recovery>,
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
            recovery: recovery.map(|config| Recovery {
                config,
                prefix,
                counter: AtomicU64::new(0),
                sessions: Mutex::new(HashMap::new()),
                packets: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Number of missed packets kept for recovery (for tests and metrics).
    pub fn buffered_packets(&self) -> usize {
        self.recovery.as_ref().map_or(0, |r| r.packets.lock().len())
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
                // The offset travels as the last argument; a client that reconnects presents
                // the last one it saw, and gets everything after it.
                let offset = recovery.next_offset();
                if let Some(Value::Array(args)) = packet.data.as_mut() {
                    args.push(Value::String(offset.clone()));
                }
                let now = Instant::now();
                recovery.prune(now);
                recovery.packets.lock().push_back(StoredPacket {
                    offset,
                    at: now,
                    opts: opts.clone(),
                    packet: packet.clone(),
                });
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
            let now = Instant::now();
            recovery.prune(now);
            let (session, _) = recovery.sessions.lock().remove(pid)?;
            let packets = recovery.packets.lock();
            let start = packets.iter().position(|p| p.offset == offset)?;
            let missed = packets
                .iter()
                .skip(start + 1)
                .filter(|p| reaches(&session.rooms, &p.opts))
                .map(|p| p.packet.clone())
                .collect();
            Some((session, missed))
        });
        Box::pin(async move { restored })
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
