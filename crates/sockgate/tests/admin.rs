//! The Admin UI's namespace (feature `admin`) in-process: what the e2e tests (e2e/admin, with
//! the official client, UI and a Node node) cannot reach from outside: the upgrade of a polling
//! socket, explicit no-auth, a refused hash, and `data._admin` in `fetch_sockets` answers.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use sockgate::admin::{hash_password, AdminAuth, AdminError, AdminMode, AdminOptions};
use sockgate::testing::TestClient;
use sockgate::{SocketIo, SocketRef};
use support::{serve, Polling, Ws};

const WAIT: Duration = Duration::from_secs(5);

fn server(options: AdminOptions) -> SocketIo {
    let io = SocketIo::builder().admin_ui(options).build();
    io.ns("/", |socket: SocketRef| {
        let _ = socket.set_data(&json!({ "name": "alice" }));
    });
    io
}

#[test]
fn a_plain_password_is_refused_as_a_hash() {
    assert_eq!(
        AdminAuth::basic("admin", "s3cret").unwrap_err(),
        AdminError::InvalidPasswordHash
    );
    assert!(AdminAuth::basic("admin", hash_password("s3cret").unwrap()).is_ok());
    assert!(AdminError::InvalidPasswordHash
        .to_string()
        .contains("bcrypt hash"));
}

#[tokio::test]
async fn without_auth_anyone_connects_and_gets_the_config() {
    let io = server(AdminOptions::new(AdminAuth::None).mode(AdminMode::Production));
    let client = TestClient::connect(&io).await.unwrap();
    let admin = client.socket("/admin", None).await.unwrap();
    let config = admin.wait_for("config", WAIT).await.unwrap();
    assert_eq!(
        config.args(),
        vec![
            json!({"supportedFeatures": ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS"]})
        ]
    );
    let stats = admin.wait_for("server_stats", WAIT).await.unwrap();
    assert_eq!(stats.args()[0]["clientsCount"], 1);
}

#[tokio::test]
async fn credentials_of_the_wrong_type_are_refused() {
    let hash = hash_password("pw").unwrap();
    let io = server(AdminOptions::new(AdminAuth::basic("admin", hash).unwrap()));
    let client = TestClient::connect(&io).await.unwrap();
    for auth in [
        json!({"username": ["admin"], "password": "pw"}),
        json!({"sessionId": 12}),
        json!({"username": "admin", "password": null}),
    ] {
        match client.socket("/admin", Some(auth.clone())).await {
            Err(sockgate::testing::TestError::Refused(data)) => {
                assert_eq!(data["message"], "invalid credentials", "{auth}")
            }
            other => panic!("{auth}: {other:?}"),
        }
    }
    let admin = client
        .socket(
            "/admin",
            Some(json!({"username": "admin", "password": "pw"})),
        )
        .await
        .unwrap();
    let session = admin.wait_for("session", WAIT).await.unwrap();
    assert_eq!(session.args()[0].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn fetch_sockets_answers_carry_data_admin() {
    let io = server(AdminOptions::new(AdminAuth::None));
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    let ns = io.of("/").unwrap();
    let mut fetched = Vec::new();
    for _ in 0..50 {
        fetched = ns.broadcast().fetch_sockets().await;
        if fetched.first().is_some_and(|s| s.data()["name"] == "alice") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let data = fetched[0].data();
    assert_eq!(fetched[0].id(), socket.id());
    assert_eq!(data["name"], "alice", "the application's data is kept");
    assert_eq!(data["_admin"]["transport"], "websocket");
    assert_eq!(data["_admin"]["clientId"].as_str().unwrap().len(), 12);
    // The socket's own data is untouched.
    let local = ns.get_socket(socket.id()).unwrap();
    assert_eq!(local.data_value(), json!({"name": "alice"}));
}

#[tokio::test]
async fn without_admin_ui_fetch_sockets_answers_are_unchanged() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| {});
    let client = TestClient::connect(&io).await.unwrap();
    let _socket = client.socket("/", None).await.unwrap();
    let fetched = io.of("/").unwrap().broadcast().fetch_sockets().await;
    assert_eq!(fetched[0].data(), &Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_polling_is_reported_as_socket_updated() {
    let io = server(AdminOptions::new(AdminAuth::None));
    let addr = serve(&io).await;
    let watcher = TestClient::connect(&io).await.unwrap();
    let admin = watcher.socket("/admin", None).await.unwrap();
    admin.wait_for("config", WAIT).await.unwrap();

    // Handshake, CONNECT to `/` and its answer, all over polling.
    let poller = Polling::connect(addr).await;
    let connected = loop {
        // The watcher's own connection is reported first.
        let connected = admin.wait_for("socket_connected", WAIT).await.unwrap();
        if connected.args()[0]["nsp"] == "/" {
            break connected;
        }
    };
    let serialized = &connected.args()[0];
    assert_eq!(serialized["nsp"], "/");
    assert_eq!(serialized["transport"], "polling");
    assert_eq!(serialized["clientId"], json!(&poller.sid[..12]));
    let id = serialized["id"].as_str().unwrap().to_owned();

    let mut ws = Ws::upgrade(addr, &format!("&sid={}", poller.sid)).await;
    ws.send_text("2probe").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("3probe"));
    loop {
        if poller.get().await.split('\u{1e}').any(|p| p == "6") {
            break;
        }
    }
    ws.send_text("5").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let update = admin
            .wait_for("socket_updated", deadline - tokio::time::Instant::now())
            .await
            .expect("socket_updated after the upgrade");
        if update.args()[0].get("transport").is_some() {
            assert_eq!(
                update.args()[0],
                json!({"id": id, "nsp": "/", "transport": "websocket"})
            );
            break;
        }
        // The connect handler's `set_data` is reported too.
        assert_eq!(update.args()[0]["data"], json!({"name": "alice"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_logins_is_refused_and_a_right_one_still_gets_in() {
    // 21 bcrypt checks, two at a time: about 2 s here, more on a loaded CI machine, so the
    // logins at the back of the queue wait longer than `socket`'s 5 s.
    const LOGIN_QUEUE: Duration = Duration::from_secs(30);
    let hash = hash_password("pw").unwrap();
    let io = server(AdminOptions::new(AdminAuth::basic("admin", hash).unwrap()));
    let mut attempts = Vec::new();
    for i in 0..20 {
        let io = io.clone();
        attempts.push(tokio::spawn(async move {
            let client = TestClient::connect(&io).await.unwrap();
            let refused = client
                .socket_within(
                    "/admin",
                    Some(json!({"username": "admin", "password": format!("wrong{i}")})),
                    LOGIN_QUEUE,
                )
                .await;
            matches!(refused, Err(sockgate::testing::TestError::Refused(_)))
        }));
    }
    let client = TestClient::connect(&io).await.unwrap();
    let admin = client
        .socket_within(
            "/admin",
            Some(json!({"username": "admin", "password": "pw"})),
            LOGIN_QUEUE,
        )
        .await
        .expect("the right password gets in while wrong ones queue");
    admin.wait_for("config", WAIT).await.unwrap();
    for attempt in attempts {
        assert!(attempt.await.unwrap(), "every wrong password is refused");
    }
}
