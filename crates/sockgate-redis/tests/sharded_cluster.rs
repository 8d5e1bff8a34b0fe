//! The sharded adapter across in-memory nodes: dynamic room channels, every operation, and
//! requests that time out.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate_core::{Adapter, AdapterError, BroadcastFlags, BroadcastOptions, Room};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{Driver, MemoryBus, ShardedConfig, SubscriptionMode};
use support::{eventually, sid, ShardedNode};

const WAIT: Duration = Duration::from_secs(3);

fn config() -> ShardedConfig {
    ShardedConfig {
        requests_timeout: Duration::from_millis(500),
        ..ShardedConfig::default()
    }
}

fn to(rooms: &[&str]) -> BroadcastOptions {
    BroadcastOptions {
        rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
        ..Default::default()
    }
}

async fn cluster(n: usize, config: ShardedConfig) -> (MemoryBus, Vec<ShardedNode>) {
    let bus = MemoryBus::new();
    let mut nodes = Vec::new();
    for name in ["A", "B", "C"].into_iter().take(n) {
        nodes.push(ShardedNode::start(name, bus.driver(), config.clone()).await);
    }
    (bus, nodes)
}

#[tokio::test]
async fn dynamic_room_channels_follow_local_members() {
    let (bus, nodes) = cluster(2, config()).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let probe = bus.driver();
    let subscribers = |room: &str| {
        let channel = format!("socket.io#/#{room}#");
        let probe = &probe;
        async move { probe.shard_numsub(channel).await.unwrap() }
    };
    assert_eq!(subscribers("").await, 0);
    assert_eq!(probe.shard_numsub("socket.io#/#".into()).await.unwrap(), 2);

    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        subscribers("room1").await,
        1,
        "B subscribed on the room's creation"
    );
    // A socket id is a private room: no channel in "dynamic" mode.
    assert_eq!(subscribers(sid(2).as_str()).await, 0);

    a.adapter.add_all(sid(1), &[]);
    a.adapter
        .broadcast(Packet::event("/", vec![json!("r")]), to(&["room1"]));
    assert!(eventually(WAIT, || b.ns.events().len() == 1).await);
    assert!(bus
        .published()
        .iter()
        .any(|(channel, _)| channel == "socket.io#/#room1#"));
    // To a socket id: the main channel.
    a.adapter.broadcast(
        Packet::event("/", vec![json!("direct")]),
        to(&[sid(2).as_str()]),
    );
    assert!(eventually(WAIT, || b.ns.events().len() == 2).await);
    assert_eq!(bus.published().last().unwrap().0, "socket.io#/#");

    b.adapter.del(sid(2), "room1");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        subscribers("room1").await,
        0,
        "unsubscribed when the room emptied"
    );

    // Remote joins create rooms too.
    a.adapter
        .add_sockets(Default::default(), vec![Room::from("joined")]);
    assert!(
        eventually(WAIT, || b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("joined")))
        .await
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(subscribers("joined").await, 2);
    b.adapter.del_all(sid(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(subscribers("joined").await, 1);
}

#[tokio::test]
async fn private_and_static_modes() {
    let bus = MemoryBus::new();
    let private = ShardedConfig {
        subscription_mode: SubscriptionMode::DynamicPrivate,
        ..config()
    };
    let a = ShardedNode::start("A", bus.driver(), private.clone()).await;
    let b = ShardedNode::start("B", bus.driver(), private).await;
    b.adapter.add_all(sid(2), &[]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let probe = bus.driver();
    let own = format!("socket.io#/#{}#", sid(2).as_str());
    assert_eq!(probe.shard_numsub(own.clone()).await.unwrap(), 1);
    a.adapter.broadcast(
        Packet::event("/", vec![json!("direct")]),
        to(&[sid(2).as_str()]),
    );
    assert!(eventually(WAIT, || b.ns.events().len() == 1).await);
    assert_eq!(bus.published().last().unwrap().0, own);

    let bus = MemoryBus::new();
    let fixed = ShardedConfig {
        subscription_mode: SubscriptionMode::Static,
        ..config()
    };
    let a = ShardedNode::start("A", bus.driver(), fixed.clone()).await;
    let b = ShardedNode::start("B", bus.driver(), fixed).await;
    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    a.adapter
        .broadcast(Packet::event("/", vec![json!("r")]), to(&["room1"]));
    assert!(eventually(WAIT, || b.ns.events().len() == 1).await);
    assert_eq!(bus.published().last().unwrap().0, "socket.io#/#");
}

#[tokio::test]
async fn every_operation_crosses_nodes() {
    let (bus, nodes) = cluster(3, config()).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    b.adapter.add_all(sid(3), &[]);
    c.adapter.add_all(sid(4), &[Room::from("room1")]);
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert_eq!(a.adapter.server_count().await, 3);

    // Broadcast with except, binary on the main channel as msgpack.
    let mut packet = Packet::event("/", vec![json!("bin")]);
    let ph = packet.add_attachment(bytes::Bytes::from_static(&[1, 2]));
    if let Some(Value::Array(args)) = packet.data.as_mut() {
        args.push(ph);
    }
    a.adapter.broadcast(
        packet,
        BroadcastOptions {
            except: vec![Room::from("room1")],
            ..Default::default()
        },
    );
    assert!(eventually(WAIT, || b.ns.events().len() == 1).await);
    assert_eq!(b.ns.events()[0].1, vec![sid(3)]);
    assert_eq!(b.ns.delivered.lock()[0].1.attachments.len(), 1);
    assert_ne!(
        bus.published().last().unwrap().1[0],
        b'{',
        "binary → msgpack"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(c.ns.events().is_empty());

    // fetchSockets.
    let ids: HashSet<_> = a
        .adapter
        .try_fetch_sockets(to(&["room1"]))
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, HashSet::from([sid(2), sid(4)]));

    // Join, leave, disconnect.
    a.adapter
        .add_sockets(to(&["room1"]), vec![Room::from("vip")]);
    assert!(
        eventually(WAIT, || c
            .adapter
            .rooms_of(sid(4))
            .contains(&Room::from("vip")))
        .await
    );
    a.adapter
        .del_sockets(Default::default(), vec![Room::from("vip")]);
    assert!(
        eventually(WAIT, || !c
            .adapter
            .rooms_of(sid(4))
            .contains(&Room::from("vip")))
        .await
    );
    a.adapter.disconnect_sockets(to(&[sid(3).as_str()]), false);
    assert!(eventually(WAIT, || !b.ns.disconnected.lock().is_empty()).await);
    assert_eq!(b.ns.disconnected.lock()[0], (vec![sid(3)], false));

    // Broadcast with acks.
    let acks = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = acks.clone();
    let expected = a
        .adapter
        .broadcast_with_ack_remote(
            Packet::event("/", vec![json!("ask")]).with_id(1),
            BroadcastOptions {
                flags: BroadcastFlags {
                    timeout: Some(Duration::from_secs(2)),
                    ..Default::default()
                },
                ..Default::default()
            },
            Arc::new(move |v: Vec<Value>| sink.lock().push(Value::Array(v))),
        )
        .await;
    assert_eq!(expected, 3);
    assert!(eventually(WAIT, || acks.lock().len() == 3).await);

    // Server-side emit.
    a.adapter
        .server_side_emit(vec![json!("tick")])
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || b.ns.server_side.lock().len() == 1
            && c.ns.server_side.lock().len() == 1)
        .await
    );
    let mut answers = a
        .adapter
        .server_side_emit_with_ack(vec![json!("ping")], Duration::from_secs(2))
        .await
        .unwrap();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!("B got ping"), json!("C got ping")]);
}

#[tokio::test]
async fn requests_time_out_and_outages_fail_fast() {
    let (bus, nodes) = cluster(2, config()).await;
    let a = &nodes[0];
    a.adapter.add_all(sid(1), &[]);
    let mute = bus.driver();
    mute.ssubscribe(vec!["socket.io#/#".into()]).await.unwrap();
    let error = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AdapterError::Timeout {
                operation: "fetchSockets",
                answered: 1,
                expected: 2,
                ..
            }
        ),
        "{error:?}"
    );
    drop(mute);

    bus.set_down(true);
    a.adapter
        .broadcast(Packet::event("/", vec![json!("local")]), Default::default());
    assert_eq!(a.ns.events().len(), 1);
    assert!(matches!(
        a.adapter.try_fetch_sockets(Default::default()).await,
        Err(AdapterError::Unavailable { .. })
    ));
    assert_eq!(a.adapter.server_count().await, 1);
}
