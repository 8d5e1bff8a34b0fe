//! The classic adapter on a real `redis-server` (started by the test on a free port): the
//! happy path, then Redis killed and restarted under it, then a node that dies.
//!
//! Skipped, with a message, when `redis-server` is not installed.

mod support;

use std::time::Duration;

use serde_json::json;
use sockgate_core::{Adapter, AdapterError, Room};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{ClassicConfig, FredDriver};
use support::redis_server::{fred_config, server_count_reaching, Logs, RedisServer};
use support::{eventually, sid, Node};

fn config() -> ClassicConfig {
    ClassicConfig {
        requests_timeout: Duration::from_millis(800),
        ..ClassicConfig::default()
    }
}

// One thread: the log capture below (`set_default`) sees every task.
#[tokio::test(flavor = "current_thread")]
async fn redis_restart_and_node_death() {
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
    let a = Node::start("A", driver_a.clone(), config()).await;
    let b = Node::start("B", driver_b.clone(), config()).await;
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[Room::from("room1")]);

    // Healthy cluster.
    assert_eq!(server_count_reaching(&*a.adapter, 2).await, 2);
    a.adapter.broadcast(
        Packet::event("/", vec![json!("before")]),
        Default::default(),
    );
    a.adapter
        .broadcast(Packet::event("/", vec![json!("room")]), support_to("room1"));
    assert!(eventually(Duration::from_secs(5), || b.ns.events().len() == 2).await);
    assert_eq!(
        a.adapter
            .try_fetch_sockets(Default::default())
            .await
            .unwrap()
            .len(),
        2
    );

    // Redis dies.
    redis.kill();
    for i in 0..50 {
        a.adapter.broadcast(
            Packet::event("/", vec![json!("during"), json!(i)]),
            Default::default(),
        );
    }
    assert_eq!(
        a.ns.events().len(),
        51,
        "local delivery goes on (A has nobody in room1)"
    );
    let started = tokio::time::Instant::now();
    let error = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "failed after {:?}",
        started.elapsed()
    );
    assert!(matches!(error, AdapterError::Unavailable { .. }), "{error}");
    assert_eq!(a.adapter.server_count().await, 1);
    // Let the queued publishes fail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outage_lines = logs.count("cross-node messages are failing");
    assert!(
        (1..=2).contains(&outage_lines),
        "once per adapter per outage, not per message: {outage_lines}"
    );

    // Redis is back (empty): the drivers reconnect with backoff and resubscribe.
    redis.restart();
    let resumed = eventually(Duration::from_secs(15), || {
        // Keep sending until one gets through.
        a.adapter
            .broadcast(Packet::event("/", vec![json!("after")]), Default::default());
        b.ns.events().iter().any(|(e, _)| e == "after")
    })
    .await;
    assert!(resumed, "delivery resumed after the restart");
    assert_eq!(
        server_count_reaching(&*a.adapter, 2).await,
        2,
        "both nodes resubscribed to the request channel"
    );
    assert!(
        logs.count("redis answers again") >= 1,
        "the end of the outage is logged"
    );
    assert_eq!(
        logs.count("cross-node messages are failing"),
        outage_lines,
        "no more outage lines after recovery"
    );
    // Right after the restart a request may still be lost (B's publishing connection may
    // reconnect after its subscriptions are back): it fails clearly, and a retry succeeds.
    let mut fetched = Err(None);
    for _ in 0..20 {
        match a.adapter.try_fetch_sockets(Default::default()).await {
            Ok(sockets) => {
                fetched = Ok(sockets.len());
                break;
            }
            Err(error) => fetched = Err(Some(error)),
        }
    }
    assert_eq!(fetched, Ok(2));

    // Node B dies: it is no longer counted, and requests do not wait for it.
    driver_b.quit().await;
    drop(b);
    assert_eq!(server_count_reaching(&*a.adapter, 1).await, 1);
    let started = tokio::time::Instant::now();
    let sockets = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap();
    assert_eq!(sockets.len(), 1);
    assert!(started.elapsed() < Duration::from_millis(500));
    driver_a.quit().await;
}

fn support_to(room: &str) -> sockgate_core::BroadcastOptions {
    sockgate_core::BroadcastOptions {
        rooms: vec![Room::from(room)],
        ..Default::default()
    }
}

/// Regression: fred's own resubscription sends an empty `SUBSCRIBE` when only shard channels
/// are tracked, and never renews them; the driver's own resubscription must, or a sharded node
/// is deaf after Redis restarts.
#[tokio::test]
async fn sharded_nodes_resubscribe_after_a_redis_restart() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let config = sockgate_redis::ShardedConfig {
        requests_timeout: Duration::from_millis(800),
        ..Default::default()
    };
    let driver_a = FredDriver::connect(fred_config(&redis.url()))
        .await
        .unwrap();
    let driver_b = FredDriver::connect(fred_config(&redis.url()))
        .await
        .unwrap();
    let a = support::ShardedNode::start("A", driver_a.clone(), config.clone()).await;
    let b = support::ShardedNode::start("B", driver_b.clone(), config).await;
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server_count_reaching(&*a.adapter, 2).await, 2);

    redis.restart();
    let resumed = eventually(Duration::from_secs(15), || {
        a.adapter
            .broadcast(Packet::event("/", vec![json!("after")]), Default::default());
        a.adapter.broadcast(
            Packet::event("/", vec![json!("room-after")]),
            support_to("room1"),
        );
        let events = b.ns.events();
        events.iter().any(|(e, _)| e == "after") && events.iter().any(|(e, _)| e == "room-after")
    })
    .await;
    assert!(resumed, "main and room channels renewed after the restart");
    assert_eq!(server_count_reaching(&*b.adapter, 2).await, 2);
    driver_a.quit().await;
    driver_b.quit().await;
}
