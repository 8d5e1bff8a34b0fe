//! The streams adapter on a real `redis-server` (started by the test on a free port): entries
//! and offsets, recovery across nodes through `GET`/`XRANGE`, and Redis restarted under
//! it (the reader resumes from its last id, held writes go out, the log says so).
//!
//! Skipped, with a message, when `redis-server` is not installed.

mod support;

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use sockgate_core::{
    packet_offset, Adapter, BroadcastOptions, LocalNamespace, PersistedSession, RecoveryConfig,
    Room,
};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{Driver, FredDriver, StreamsAdapter, StreamsConfig};
use support::redis_server::{fred_config, server_count_reaching, Logs, RedisServer};
use support::{eventually, sid, FakeNamespace};

const WAIT: Duration = Duration::from_secs(5);

fn config() -> StreamsConfig {
    StreamsConfig {
        requests_timeout: Duration::from_millis(800),
        block_time: Duration::from_millis(500),
        session_flush_interval: Duration::from_millis(20),
        recovery: Some(RecoveryConfig::default()),
        ..StreamsConfig::default()
    }
}

async fn node(name: &str, driver: &FredDriver) -> (Arc<FakeNamespace>, Arc<StreamsAdapter>) {
    let ns = FakeNamespace::new(name, "/");
    let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&ns) as _;
    let adapter = StreamsAdapter::new(Arc::new(driver.clone()), weak, config());
    tokio::time::timeout(Duration::from_secs(10), adapter.ready())
        .await
        .expect("the adapter is ready");
    (ns, adapter)
}

fn args(ns: &FakeNamespace) -> Vec<Value> {
    ns.delivered
        .lock()
        .iter()
        .map(|(_, p)| p.data.clone().unwrap_or_default())
        .collect()
}

fn event(args: Vec<Value>) -> Packet {
    Packet::event("/", args)
}

// One thread: the log capture below (`set_default`) sees every task.
#[tokio::test(flavor = "current_thread")]
async fn streams_on_real_redis_recovery_and_restart() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let driver_a = FredDriver::connect(fred_config(&redis.url()))
        .await
        .unwrap();
    let driver_b = FredDriver::connect(fred_config(&redis.url()))
        .await
        .unwrap();
    let (ns_a, a) = node("A", &driver_a).await;
    let (ns_b, b) = node("B", &driver_b).await;
    assert_eq!(server_count_reaching(&*a, 2).await, 2);

    // A session on A, saved while connected.
    let rooms = vec![Room::from(sid(1).as_str()), Room::from("r")];
    a.add_all(sid(1), &rooms);
    a.track_session(PersistedSession {
        sid: sid(1),
        pid: "pid-real".into(),
        rooms: rooms.clone(),
        data: json!({"n": 1}),
    });
    b.add_all(sid(2), &[Room::from("r")]);
    a.broadcast(event(vec![json!("hello")]), BroadcastOptions::default());
    assert!(eventually(WAIT, || args(&ns_a).len() == 1 && args(&ns_b).len() == 1).await);
    let offset = packet_offset(&ns_a.delivered.lock()[0].1)
        .unwrap()
        .to_owned();
    assert_eq!(
        args(&ns_b)[0],
        json!(["hello", offset]),
        "same offset on both nodes"
    );

    // A is gone (no disconnect processed); B broadcasts; B restores the session.
    drop(a);
    for n in 0..3 {
        b.broadcast(
            event(vec![json!("m"), json!(n)]),
            BroadcastOptions {
                rooms: vec![Room::from("r")],
                ..Default::default()
            },
        );
    }
    assert!(eventually(WAIT, || args(&ns_b).len() == 4).await);
    let (session, missed) = b
        .restore_session("pid-real", &offset)
        .await
        .expect("restored from Redis");
    assert_eq!(
        (session.sid, session.data.clone()),
        (sid(1), json!({"n": 1}))
    );
    assert_eq!(session.rooms, rooms);
    let missed: Vec<Value> = missed
        .iter()
        .map(|p| p.data.as_ref().unwrap()[1].clone())
        .collect();
    assert_eq!(missed, [json!(0), json!(1), json!(2)]);
    // The restore left the session (GET, not GETDEL): a retry after a failed attempt finds it.
    let (again, _) = b
        .restore_session("pid-real", &offset)
        .await
        .expect("a retry restores too");
    assert_eq!(again.sid, sid(1));

    // Redis restarts (empty: no persistence). B's write during the outage is held and goes
    // out once Redis is back; a new node reads it.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.broadcast(event(vec![json!("during")]), BroadcastOptions::default());
    redis.restart();
    let driver_c = FredDriver::connect(fred_config(&redis.url()))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || args(&ns_b)
            .iter()
            .any(|a| a[0] == json!("during")))
        .await,
        "B delivers its held broadcast from the stream once Redis is back"
    );
    let entries = driver_c
        .xrange("socket.io".into(), "-".into(), "+".into(), 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].field("type"), Some("3"));
    assert!(entries[0].field("data").unwrap().contains("during"));
    // The reader said it lost the stream and came back.
    assert!(logs.count("cannot read the stream") >= 1);
    assert!(logs.count("redis is back: reading the stream again") >= 1);
    driver_a.quit().await;
    driver_b.quit().await;
    driver_c.quit().await;
}
