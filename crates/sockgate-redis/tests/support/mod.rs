//! Test helpers: a fake namespace recording what the adapter asks of it, nodes on a
//! `MemoryBus`, and a bounded wait.
#![allow(dead_code, unreachable_pub)]

pub mod redis_server;

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate_core::{
    AckCallback, BroadcastFlags, LocalNamespace, Room, ServerSideAck, Sid, SocketDetails,
};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{ClassicAdapter, ClassicConfig, Driver};

/// A namespace whose sockets answer acks with `"<node> acks <sid>"` and whose server-side
/// listeners answer `"<node> got <event>"`.
pub struct FakeNamespace {
    pub node: String,
    pub name: String,
    pub delivered: Mutex<Vec<(Vec<Sid>, Packet)>>,
    pub disconnected: Mutex<Vec<(Vec<Sid>, bool)>>,
    pub server_side: Mutex<Vec<Vec<Value>>>,
}

impl FakeNamespace {
    pub fn new(node: &str, name: &str) -> Arc<Self> {
        Arc::new(FakeNamespace {
            node: node.into(),
            name: name.into(),
            delivered: Mutex::new(Vec::new()),
            disconnected: Mutex::new(Vec::new()),
            server_side: Mutex::new(Vec::new()),
        })
    }

    /// The event names delivered, with their recipients.
    pub fn events(&self) -> Vec<(String, Vec<Sid>)> {
        self.delivered
            .lock()
            .iter()
            .map(|(sids, p)| (p.event_name().unwrap_or("").to_owned(), sids.clone()))
            .collect()
    }
}

impl LocalNamespace for FakeNamespace {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, sids: &[Sid], packet: &Packet, _flags: &BroadcastFlags) {
        if !sids.is_empty() {
            self.delivered.lock().push((sids.to_vec(), packet.clone()));
        }
    }

    fn details(&self, sid: Sid) -> Option<SocketDetails> {
        Some(SocketDetails {
            id: sid,
            handshake: json!({"address": self.node}),
            rooms: vec![Room::from(sid.as_str())],
            data: json!({"node": self.node}),
        })
    }

    fn disconnect(&self, sids: &[Sid], close: bool) {
        if !sids.is_empty() {
            self.disconnected.lock().push((sids.to_vec(), close));
        }
    }

    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        packet: &Packet,
        flags: &BroadcastFlags,
        _timeout: Duration,
        on_ack: AckCallback,
    ) -> usize {
        self.deliver(sids, packet, flags);
        for sid in sids {
            let answer = json!(format!("{} acks {}", self.node, sid.as_str()));
            let on_ack = on_ack.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                on_ack(vec![answer]);
            });
        }
        sids.len()
    }

    fn on_server_side_emit(&self, data: Vec<Value>, ack: Option<ServerSideAck>) {
        let event = data
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        self.server_side.lock().push(data);
        if let Some(ack) = ack {
            ack(json!(format!("{} got {event}", self.node)));
        }
    }
}

/// One node: its namespace and adapter.
pub struct Node {
    pub ns: Arc<FakeNamespace>,
    pub adapter: Arc<ClassicAdapter>,
}

impl Node {
    pub async fn start(name: &str, driver: impl Driver, config: ClassicConfig) -> Node {
        Node::start_nsp(name, "/", driver, config).await
    }

    pub async fn start_nsp(
        name: &str,
        nsp: &str,
        driver: impl Driver,
        config: ClassicConfig,
    ) -> Node {
        let ns = FakeNamespace::new(name, nsp);
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&ns) as _;
        let adapter = ClassicAdapter::new(Arc::new(driver), weak, config);
        tokio::time::timeout(Duration::from_secs(10), adapter.subscribed())
            .await
            .expect("the adapter subscribed");
        Node { ns, adapter }
    }
}

pub fn sid(n: u8) -> Sid {
    Sid::from_random([n; 15])
}

/// Waits until `f` holds, at most `within`.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn fast_config() -> ClassicConfig {
    ClassicConfig {
        requests_timeout: Duration::from_millis(500),
        ..ClassicConfig::default()
    }
}

/// One node on the sharded adapter.
pub struct ShardedNode {
    pub ns: Arc<FakeNamespace>,
    pub adapter: Arc<sockgate_redis::ShardedAdapter>,
}

impl ShardedNode {
    pub async fn start(
        name: &str,
        driver: impl Driver,
        config: sockgate_redis::ShardedConfig,
    ) -> ShardedNode {
        let ns = FakeNamespace::new(name, "/");
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&ns) as _;
        let adapter = sockgate_redis::ShardedAdapter::new(Arc::new(driver), weak, config);
        tokio::time::timeout(Duration::from_secs(10), adapter.subscribed())
            .await
            .expect("the adapter subscribed");
        ShardedNode { ns, adapter }
    }
}
