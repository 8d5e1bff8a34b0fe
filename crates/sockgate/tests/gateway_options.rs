//! `GatewayApp::build` refuses gateways that share a server (same port and path) with
//! different server-level options, naming the option; options that agree (hooks and predicates
//! by identity) share one server.

use std::sync::Arc;
use std::time::Duration;

use sockgate::engine::RequestInfo;
use sockgate::gateway::{Gateway, GatewayApp, GatewayError, GatewayOptions, GatewayRouter};
use sockgate::{Cors, Parser, SocketIoConfig, Transports};

struct First;
struct Second;

impl Gateway for First {
    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("who", |_: &Self| "first");
    }
}

impl Gateway for Second {
    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("who", |_: &Self| "second");
    }
}

/// Builds `First` on `/a` and `Second` on `/b` of the same server.
fn build(a: GatewayOptions, b: GatewayOptions) -> Result<usize, GatewayError> {
    GatewayApp::new()
        .gateway_with_options(First, a.namespace("/a"))
        .gateway_with_options(Second, b.namespace("/b"))
        .build()
        .map(|g| g.shared_servers().len() + g.own_port_servers().len())
}

/// The option a conflict names.
fn conflict(a: GatewayOptions, b: GatewayOptions) -> &'static str {
    match build(a, b) {
        Err(GatewayError::ConflictingOptions {
            option,
            gateway,
            first,
            ..
        }) => {
            assert_eq!(gateway, std::any::type_name::<Second>());
            assert_eq!(first, std::any::type_name::<First>());
            option
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn a_json_and_a_msgpack_gateway_on_one_path_conflict() {
    let error = build(
        GatewayOptions::new(),
        GatewayOptions::new().parser(Parser::Msgpack),
    )
    .expect_err("one server has one parser");
    assert_eq!(
        error,
        GatewayError::ConflictingOptions {
            port: None,
            path: "/socket.io/".to_owned(),
            gateway: std::any::type_name::<Second>(),
            first: std::any::type_name::<First>(),
            option: "parser",
        }
    );
    let message = error.to_string();
    assert!(message.contains("`parser` differs"), "{message}");
    // Same parser on both: one server.
    assert_eq!(
        build(
            GatewayOptions::new().parser(Parser::Msgpack),
            GatewayOptions::new().parser(Parser::Msgpack)
        ),
        Ok(1)
    );
    // Another path is another server.
    assert_eq!(
        build(
            GatewayOptions::new(),
            GatewayOptions::new().parser(Parser::Msgpack).path("/mp/")
        ),
        Ok(2)
    );
}

#[test]
fn cors_is_compared_field_by_field_and_predicates_by_identity() {
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().cors(Cors::any())
        ),
        "engine.cors"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new().cors(Cors::any()),
            GatewayOptions::new().cors(Cors::origins(["https://a.example"]))
        ),
        "engine.cors.origin"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new().cors(Cors::origins(["https://a.example"])),
            GatewayOptions::new().cors(Cors::origins(["https://b.example"]))
        ),
        "engine.cors.origin"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new().cors(Cors::any()),
            GatewayOptions::new().cors(Cors::any().credentials(true))
        ),
        "engine.cors.credentials"
    );
    assert_eq!(
        build(
            GatewayOptions::new().cors(Cors::origins(["https://a.example"])),
            GatewayOptions::new().cors(Cors::origins(["https://a.example"]))
        ),
        Ok(1)
    );
    // Two predicates that happen to do the same thing are still two predicates (their
    // `Debug` was the same placeholder); one predicate shared by both agrees.
    assert_eq!(
        conflict(
            GatewayOptions::new().cors(Cors::predicate(|o| o.ends_with(".example"))),
            GatewayOptions::new().cors(Cors::predicate(|o| o.ends_with(".example")))
        ),
        "engine.cors.origin"
    );
    let shared = Cors::predicate(|o| o.ends_with(".example"));
    assert_eq!(
        build(
            GatewayOptions::new().cors(shared.clone()),
            GatewayOptions::new().cors(shared)
        ),
        Ok(1)
    );
}

#[test]
fn transports_and_ping_settings_conflict() {
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().transports(Transports::websocket_only())
        ),
        "engine.transports"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().ping_interval(Duration::from_secs(10))
        ),
        "engine.session.ping_interval"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().ping_timeout(Duration::from_secs(5))
        ),
        "engine.session.ping_timeout"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().max_http_buffer_size(10)
        ),
        "engine.session.max_payload"
    );
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::new().connect_timeout(Duration::from_secs(1))
        ),
        "connect_timeout"
    );
    assert_eq!(
        build(
            GatewayOptions::new()
                .transports(Transports::websocket_only())
                .ping_interval(Duration::from_secs(10)),
            GatewayOptions::new()
                .transports(Transports::websocket_only())
                .ping_interval(Duration::from_secs(10))
        ),
        Ok(1)
    );
}

#[test]
fn allow_request_hooks_are_compared_by_identity() {
    fn with_hook() -> SocketIoConfig {
        let mut config = SocketIoConfig::default();
        config.engine = config
            .engine
            .allow_request(|_: Arc<RequestInfo>| async { Ok(()) });
        config
    }
    // One side only.
    assert_eq!(
        conflict(
            GatewayOptions::new(),
            GatewayOptions::from_server_config(with_hook())
        ),
        "engine.allow_request"
    );
    // Two hooks built separately (the old fingerprint printed both as `true`).
    assert_eq!(
        conflict(
            GatewayOptions::from_server_config(with_hook()),
            GatewayOptions::from_server_config(with_hook())
        ),
        "engine.allow_request"
    );
    // One configuration cloned for both gateways: the same hook, one server.
    let config = with_hook();
    assert_eq!(
        build(
            GatewayOptions::from_server_config(config.clone()),
            GatewayOptions::from_server_config(config)
        ),
        Ok(1)
    );
}

#[test]
fn gateways_on_their_own_identical_port_are_compared_too() {
    let error = build(
        GatewayOptions::new().port(4655),
        GatewayOptions::new().port(4655).parser(Parser::Msgpack),
    )
    .expect_err("conflict on the own port");
    assert!(matches!(
        error,
        GatewayError::ConflictingOptions {
            port: Some(4655),
            option: "parser",
            ..
        }
    ));
    assert_eq!(
        build(
            GatewayOptions::new().port(4655),
            GatewayOptions::new().port(4656).parser(Parser::Msgpack)
        ),
        Ok(2)
    );
}

/// `GatewayApp::adapter` builds the adapter of every namespace of every gateway server (a
/// cluster adapter for the whole application), instead of the in-memory one.
#[test]
fn the_application_adapter_serves_every_gateway_namespace() {
    use std::sync::Weak;

    use parking_lot::Mutex;
    use sockgate::core::{Adapter, InMemoryAdapter, LocalNamespace};

    let built: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = built.clone();
    let gateways = GatewayApp::new()
        .adapter(move |namespace: Weak<dyn LocalNamespace>| {
            let name = namespace
                .upgrade()
                .map_or_else(|| "?".to_owned(), |ns| ns.name().to_owned());
            seen.lock().push(name);
            Arc::new(InMemoryAdapter::new(namespace, None)) as Arc<dyn Adapter>
        })
        .gateway_with_options(First, GatewayOptions::new().namespace("/a"))
        .gateway_with_options(Second, GatewayOptions::new().namespace("/b").port(0))
        .build()
        .expect("the gateways build");
    assert_eq!(gateways.shared_servers().len(), 1);
    assert_eq!(gateways.own_port_servers().len(), 1);
    let mut names = built.lock().clone();
    names.sort();
    assert_eq!(
        names,
        ["/", "/", "/a", "/b"],
        "one adapter per namespace of both servers"
    );
}
