//! The classic adapter's cluster behaviour: two or three nodes in one process on a
//! `MemoryBus`.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockgate_core::{Adapter, AdapterError, BroadcastFlags, BroadcastOptions, Room};
use sockgate_proto::socketio::Packet;
use sockgate_redis::{ClassicConfig, Driver, Emitter, EmitterError, MemoryBus};
use support::{eventually, fast_config, sid, Node};

const WAIT: Duration = Duration::from_secs(3);

fn to(rooms: &[&str]) -> BroadcastOptions {
    BroadcastOptions {
        rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
        ..Default::default()
    }
}

async fn cluster(n: usize) -> (MemoryBus, Vec<Node>) {
    let bus = MemoryBus::new();
    let mut nodes = Vec::new();
    for i in 0..n {
        let name = ["A", "B", "C"][i];
        nodes.push(Node::start(name, bus.driver(), fast_config()).await);
    }
    (bus, nodes)
}

#[tokio::test]
async fn broadcasts_reach_other_nodes_with_rooms_and_except() {
    let (bus, nodes) = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.adapter.add_all(sid(1), &[Room::from("room1")]);
    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    b.adapter.add_all(sid(3), &[Room::from("x")]);
    c.adapter.add_all(sid(4), &[]);

    a.adapter
        .broadcast(Packet::event("/", vec![json!("all")]), Default::default());
    assert!(eventually(WAIT, || c.ns.events().len() == 1).await);
    assert!(eventually(WAIT, || b.ns.events().len() == 1).await);
    assert_eq!(
        a.ns.events(),
        vec![("all".into(), vec![sid(1)])],
        "delivered once locally, its own message ignored"
    );
    let mut reached: Vec<_> = b.ns.events()[0].1.clone();
    reached.sort();
    let mut expected = vec![sid(2), sid(3)];
    expected.sort();
    assert_eq!(reached, expected);

    // A single room: the room channel; C has no member and drops it undecoded.
    a.adapter
        .broadcast(Packet::event("/", vec![json!("room")]), to(&["room1"]));
    assert!(eventually(WAIT, || b.ns.events().len() == 2).await);
    assert_eq!(b.ns.events()[1], ("room".into(), vec![sid(2)]));
    assert!(bus
        .published()
        .iter()
        .any(|(channel, _)| channel == "socket.io#/#room1#"));

    // Except, and two rooms (the main channel).
    a.adapter.broadcast(
        Packet::event("/", vec![json!("except")]),
        BroadcastOptions {
            except: vec![Room::from("x")],
            ..Default::default()
        },
    );
    a.adapter
        .broadcast(Packet::event("/", vec![json!("two")]), to(&["room1", "x"]));
    assert!(eventually(WAIT, || b.ns.events().len() == 4).await);
    assert_eq!(b.ns.events()[2], ("except".into(), vec![sid(2)]));
    assert_eq!(b.ns.events()[3].1.len(), 2);

    // Local: not published at all.
    let before = bus.published().len();
    a.adapter.broadcast(
        Packet::event("/", vec![json!("local")]),
        BroadcastOptions {
            flags: BroadcastFlags {
                local: true,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(bus.published().len(), before);
    assert_eq!(a.ns.events().last().unwrap().0, "local");
    assert_eq!(
        c.ns.events().len(),
        2,
        "all and except; not room, two (no member) nor local"
    );
}

#[tokio::test]
async fn other_namespaces_are_separate() {
    let bus = MemoryBus::new();
    let a = Node::start_nsp("A", "/", bus.driver(), fast_config()).await;
    let b_chat = Node::start_nsp("B", "/chat", bus.driver(), fast_config()).await;
    let b_main = Node::start_nsp("B", "/", bus.driver(), fast_config()).await;
    b_chat.adapter.add_all(sid(2), &[]);
    b_main.adapter.add_all(sid(3), &[]);
    a.adapter
        .broadcast(Packet::event("/", vec![json!("main")]), Default::default());
    assert!(eventually(WAIT, || b_main.ns.events().len() == 1).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(b_chat.ns.events().is_empty());
}

#[tokio::test]
async fn server_count_fetch_sockets_and_all_rooms_span_the_cluster() {
    let (_bus, nodes) = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.adapter.add_all(sid(1), &[Room::from("ra")]);
    b.adapter.add_all(sid(2), &[Room::from("room1")]);
    c.adapter.add_all(sid(3), &[Room::from("room1")]);
    c.adapter.add_all(sid(4), &[]);

    assert_eq!(a.adapter.server_count().await, 3);

    let all = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap();
    let ids: HashSet<_> = all.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([sid(1), sid(2), sid(3), sid(4)]));
    let remote = all.iter().find(|s| s.id == sid(4)).unwrap();
    assert_eq!(remote.data, json!({"node": "C"}));
    assert_eq!(remote.handshake, json!({"address": "C"}));

    let in_room = b.adapter.fetch_sockets(to(&["room1"])).await;
    let ids: HashSet<_> = in_room.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([sid(2), sid(3)]));

    let rooms: HashSet<String> = a
        .adapter
        .all_rooms()
        .await
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert!(rooms.contains("ra") && rooms.contains("room1"));
    assert!(rooms.contains(sid(4).as_str()));
}

#[tokio::test]
async fn remote_join_leave_and_disconnect() {
    let (_bus, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[Room::from("old")]);
    b.adapter.add_all(sid(3), &[]);

    a.adapter.add_sockets(to(&["old"]), vec![Room::from("new")]);
    assert!(
        eventually(WAIT, || b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("new")))
        .await
    );
    assert!(!b.adapter.rooms_of(sid(3)).contains(&Room::from("new")));

    a.adapter
        .del_sockets(Default::default(), vec![Room::from("old")]);
    assert!(
        eventually(WAIT, || !b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("old")))
        .await
    );

    a.adapter.disconnect_sockets(to(&["new"]), true);
    assert!(eventually(WAIT, || !b.ns.disconnected.lock().is_empty()).await);
    assert_eq!(b.ns.disconnected.lock()[0], (vec![sid(2)], true));
    assert!(a.ns.disconnected.lock().is_empty(), "A has nobody in `new`");
}

#[tokio::test]
async fn broadcast_with_acks_collects_every_nodes_answers() {
    let (_bus, nodes) = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[]);
    b.adapter.add_all(sid(3), &[]);
    c.adapter.add_all(sid(4), &[]);

    let acks = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = acks.clone();
    let packet = Packet::event("/", vec![json!("need-ack"), json!("A")]).with_id(7);
    let opts = BroadcastOptions {
        flags: BroadcastFlags {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
        ..Default::default()
    };
    let expected = a
        .adapter
        .broadcast_with_ack_remote(
            packet,
            opts,
            Arc::new(move |v: Vec<Value>| sink.lock().push(Value::Array(v))),
        )
        .await;
    assert_eq!(expected, 3, "2 clients on B, 1 on C");
    assert!(eventually(WAIT, || acks.lock().len() == 3).await);
    let answers: HashSet<String> = acks
        .lock()
        .iter()
        .map(|v| v[0].as_str().unwrap().to_owned())
        .collect();
    assert!(answers.contains(&format!("C acks {}", sid(4).as_str())));
    assert!(answers.contains(&format!("B acks {}", sid(2).as_str())));
    // The remote nodes delivered the event themselves; A did not deliver (the caller does).
    assert_eq!(b.ns.events()[0].0, "need-ack");
    assert!(a.ns.events().is_empty());
}

#[tokio::test]
async fn server_side_emit_with_and_without_acks() {
    let (_bus, nodes) = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.adapter
        .server_side_emit(vec![json!("hello"), json!(1)])
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || b.ns.server_side.lock().len() == 1
            && c.ns.server_side.lock().len() == 1)
        .await
    );
    assert_eq!(b.ns.server_side.lock()[0], vec![json!("hello"), json!(1)]);
    assert!(
        a.ns.server_side.lock().is_empty(),
        "not delivered to the sender"
    );

    let mut answers = a
        .adapter
        .server_side_emit_with_ack(vec![json!("ping")], Duration::from_secs(2))
        .await
        .unwrap();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!("B got ping"), json!("C got ping")]);
}

/// A node that is counted (subscribed to the request channel) but never answers: requests
/// fail after their timeout with a clear error instead of hanging.
#[tokio::test]
async fn requests_fail_after_their_timeout_when_a_node_does_not_answer() {
    let bus = MemoryBus::new();
    let a = Node::start("A", bus.driver(), fast_config()).await;
    let b = Node::start("B", bus.driver(), fast_config()).await;
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[]);
    let mute = bus.driver();
    mute.subscribe(vec!["socket.io-request#/#".into()])
        .await
        .unwrap();
    assert_eq!(a.adapter.server_count().await, 3);

    let started = tokio::time::Instant::now();
    let error = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
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
    assert!(error
        .to_string()
        .contains("timeout reached while waiting for fetchSockets response"));
    // The infallible form answers with this node's sockets.
    let local = a.adapter.fetch_sockets(Default::default()).await;
    assert_eq!(local.iter().map(|s| s.id).collect::<Vec<_>>(), vec![sid(1)]);

    assert!(matches!(
        a.adapter.all_rooms().await,
        Err(AdapterError::Timeout {
            operation: "allRooms",
            ..
        })
    ));
    assert!(matches!(
        a.adapter
            .server_side_emit_with_ack(vec![json!("ping")], Duration::from_millis(300))
            .await,
        Err(AdapterError::Timeout {
            operation: "serverSideEmitWithAck",
            answered: 1,
            expected: 2,
            ..
        })
    ));

    // Once the mute node is gone it is no longer counted, and requests complete.
    drop(mute);
    assert_eq!(a.adapter.server_count().await, 2);
    assert_eq!(
        a.adapter
            .try_fetch_sockets(Default::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_redis_outage_keeps_local_delivery_and_fails_requests_clearly() {
    let (bus, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.adapter.add_all(sid(1), &[]);
    b.adapter.add_all(sid(2), &[]);

    bus.set_down(true);
    for i in 0..100 {
        a.adapter.broadcast(
            Packet::event("/", vec![json!("during"), json!(i)]),
            Default::default(),
        );
    }
    assert_eq!(a.ns.events().len(), 100, "local delivery goes on");
    let started = tokio::time::Instant::now();
    let error = a
        .adapter
        .try_fetch_sockets(Default::default())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "fails fast, no hang"
    );
    assert!(matches!(
        error,
        AdapterError::Unavailable {
            operation: "fetchSockets",
            ..
        }
    ));
    assert!(error.to_string().contains("retry later"));
    assert_eq!(a.adapter.server_count().await, 1, "only this node is known");
    assert_eq!(
        a.adapter
            .broadcast_with_ack_remote(
                Packet::event("/", vec![json!("x")]),
                Default::default(),
                Arc::new(|_| {}),
            )
            .await,
        0
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.ns.events().is_empty());

    bus.set_down(false);
    a.adapter
        .broadcast(Packet::event("/", vec![json!("after")]), Default::default());
    assert!(eventually(WAIT, || b.ns.events().iter().any(|(e, _)| e == "after")).await);
    assert_eq!(
        a.adapter
            .try_fetch_sockets(Default::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Traffic from Node peers and `@socket.io/redis-emitter`: the bytes they send, published
/// raw on the bus.
#[tokio::test]
async fn node_and_emitter_messages_are_understood() {
    let bus = MemoryBus::new();
    let b = Node::start("B", bus.driver(), ClassicConfig::default()).await;
    b.adapter.add_all(sid(2), &[]);
    let node = bus.driver();
    let mut replies = node.messages();
    node.subscribe(vec!["socket.io-response#/#".into()])
        .await
        .unwrap();

    // Test vector 1 from node 3ba3PC, then the emitter's vector.
    let vector1 = "93a633626133504383a47479706502a46461746192a568656c6c6f82a466726f6da141a16e01a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380";
    let emitter = "93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d697474657281a17801a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490";
    for hex in [vector1, emitter] {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        node.publish("socket.io#/#".into(), bytes.into())
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || b.ns.events().len() == 2).await);
    assert_eq!(b.ns.events()[0].0, "hello");
    assert_eq!(b.ns.events()[1].0, "from-emitter");

    // The emitter's socketsJoin (no uid), then a Node fetchSockets: answered on the shared
    // response channel.
    node.publish(
        "socket.io-request#/#".into(),
        br#"{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["joined"]}"#
            .to_vec()
            .into(),
    )
    .await
    .unwrap();
    assert!(
        eventually(WAIT, || b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("joined")))
        .await
    );
    node.publish(
        "socket.io-request#/#".into(),
        br#"{"uid":"nodeAA","requestId":"abc123","type":5,"opts":{"rooms":["joined"],"except":[]}}"#
            .to_vec()
            .into(),
    )
    .await
    .unwrap();
    let reply = tokio::time::timeout(WAIT, replies.recv())
        .await
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["requestId"], json!("abc123"));
    assert_eq!(reply["sockets"][0]["id"], json!(sid(2).as_str()));
    assert_eq!(reply["sockets"][0]["rooms"], json!([sid(2).as_str()]));
}

#[tokio::test]
async fn the_rust_emitter_drives_the_cluster() {
    let (bus, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.adapter.add_all(sid(1), &[Room::from("room1")]);
    b.adapter.add_all(sid(2), &[]);
    let emitter = Emitter::new(bus.driver());

    emitter.emit("news", vec![json!({"n": 1})]).await.unwrap();
    assert!(
        eventually(WAIT, || a.ns.events().len() == 1
            && b.ns.events().len() == 1)
        .await
    );
    emitter.to("room1").emit("room-news", vec![]).await.unwrap();
    emitter
        .except("room1")
        .emit("others", vec![])
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || a.ns.events().len() == 2
            && b.ns.events().len() == 2)
        .await
    );
    assert_eq!(a.ns.events()[1].0, "room-news");
    assert_eq!(b.ns.events()[1].0, "others");
    assert!(bus
        .published()
        .iter()
        .any(|(c, _)| c == "socket.io#/#room1#"));

    emitter.sockets_join("joined").await.unwrap();
    assert!(
        eventually(WAIT, || b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("joined")))
        .await
    );
    emitter
        .within(sid(2).as_str())
        .sockets_leave(["joined"])
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || !b
            .adapter
            .rooms_of(sid(2))
            .contains(&Room::from("joined")))
        .await
    );
    assert!(a.adapter.rooms_of(sid(1)).contains(&Room::from("joined")));

    emitter
        .server_side_emit("tick", vec![json!(1)])
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || a.ns.server_side.lock().len() == 1
            && b.ns.server_side.lock().len() == 1)
        .await
    );

    emitter.to("room1").disconnect_sockets(true).await.unwrap();
    assert!(eventually(WAIT, || !a.ns.disconnected.lock().is_empty()).await);
    assert_eq!(a.ns.disconnected.lock()[0], (vec![sid(1)], true));
    assert!(b.ns.disconnected.lock().is_empty());

    // Another namespace: nobody there.
    emitter.of("/other").emit("x", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.ns.events().len(), 2);

    assert_eq!(
        emitter.emit("disconnect", vec![]).await,
        Err(EmitterError::ReservedEvent("disconnect".into()))
    );
}
