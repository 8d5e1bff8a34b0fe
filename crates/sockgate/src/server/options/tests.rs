//! Every setter, on both types that carry it.

use super::*;

/// Applies one setter call to a builder and to gateway options, and returns the first
/// option in which each differs from the defaults (`server_config_difference` names it).
macro_rules! changed {
    ($($call:tt)*) => {{
        let default = GatewayOptions::new();
        let builder = SocketIo::builder().$($call)*;
        let gateway = GatewayOptions::new().$($call)*;
        let from_builder = GatewayOptions::from_server_config(builder.config.clone());
        // The same setter sets the same configuration on both types.
        assert_eq!(from_builder.server_difference(&gateway), None, "{}", stringify!($($call)*));
        default.server_difference(&gateway)
    }};
}

use crate::SocketIo;

#[test]
fn every_setter_sets_its_own_option_the_same_way_on_both_types() {
    let secs = Duration::from_secs;
    let cases: Vec<(Option<&str>, &str)> = vec![
        (changed!(path("/ws")), "engine.path"),
        (
            changed!(transports(Transports::websocket_only())),
            "engine.transports",
        ),
        (changed!(allow_upgrades(false)), "engine.allow_upgrades"),
        (
            changed!(ping_interval(secs(1))),
            "engine.session.ping_interval",
        ),
        (
            changed!(ping_timeout(secs(1))),
            "engine.session.ping_timeout",
        ),
        (
            changed!(upgrade_timeout(secs(1))),
            "engine.session.upgrade_timeout",
        ),
        (
            changed!(max_http_buffer_size(10)),
            "engine.session.max_payload",
        ),
        (
            changed!(max_buffered_bytes(10)),
            "engine.session.max_buffered_bytes",
        ),
        (
            changed!(max_buffered_chunks(10)),
            "engine.max_buffered_chunks",
        ),
        (changed!(cors(Cors::any())), "engine.cors"),
        (
            changed!(allowed_origins(["https://a.example"])),
            "engine.allowed_origins",
        ),
        (changed!(trust_proxy(true)), "engine.trust_proxy"),
        (
            changed!(write_coalescing(Duration::ZERO)),
            "engine.write_coalescing",
        ),
        (
            changed!(websocket_write_timeout(secs(1))),
            "engine.websocket_write_timeout",
        ),
        (
            changed!(http_compression_threshold(None)),
            "engine.http_compression_threshold",
        ),
        (
            changed!(http_request_body_timeout(secs(1))),
            "engine.http_request_body_timeout",
        ),
        (changed!(header_read_timeout(None)), "engine.http"),
        (changed!(idle_timeout(None)), "engine.http"),
        (changed!(max_connections(Some(1))), "engine.http"),
        (changed!(shutdown_timeout(secs(1))), "engine.http"),
        (changed!(connect_timeout(secs(1))), "connect_timeout"),
        (changed!(ack_timeout(secs(1))), "ack_timeout"),
        (changed!(parser(Parser::Msgpack)), "parser"),
        (changed!(max_attachments(1)), "max_attachments"),
        (
            changed!(max_pending_attachment_bytes(1)),
            "max_pending_attachment_bytes",
        ),
        (
            changed!(pending_attachments_timeout(secs(1))),
            "pending_attachments_timeout",
        ),
        (changed!(max_decoded_bytes(1)), "max_decoded_bytes"),
        (
            changed!(connection_state_recovery(RecoveryConfig::default())),
            "recovery",
        ),
        (
            changed!(cleanup_empty_child_namespaces(false)),
            "cleanup_empty_child_namespaces",
        ),
    ];
    for (changed, expected) in &cases {
        assert_eq!(*changed, Some(*expected));
    }
    // Every option has a setter: each field below is covered by a case above, or by the
    // identity test (hooks and predicates) or is noted. A field added to a config struct does
    // not compile here until it is listed, and fails this test until its setter is tested.
    let tested = |name: &str| cases.iter().any(|(_, expected)| *expected == name);
    for field in every_option_field() {
        let elsewhere = [
            "engine.allow_request", // `allow_request_is_compared_by_identity...`
            "serve_client",         // needs the npm bundle on disk; a plain `Some(bundle)`
            "observers",            // `observers_are_compared_by_identity`
        ];
        assert!(
            tested(field) || elsewhere.contains(&field),
            "no setter test for {field}"
        );
    }
}

/// The name (as `server_config_difference` reports it) of every option field, from structs
/// destructured without `..`.
fn every_option_field() -> Vec<&'static str> {
    let SocketIoConfig {
        engine,
        connect_timeout: _,
        ack_timeout: _,
        parser: _,
        max_attachments: _,
        max_pending_attachment_bytes: _,
        pending_attachments_timeout: _,
        max_decoded_bytes: _,
        recovery: _,
        serve_client: _,
        cleanup_empty_child_namespaces: _,
        observers: _,
    } = SocketIoConfig::default();
    let sockgate_engine::EngineConfig {
        path: _,
        transports: _,
        allow_upgrades: _,
        session,
        cors: _,
        allow_request: _,
        http_compression_threshold: _,
        write_coalescing: _,
        websocket_write_timeout: _,
        http,
        http_request_body_timeout: _,
        max_buffered_chunks: _,
        trust_proxy: _,
        allowed_origins: _,
    } = engine;
    let sockgate_proto::engine::SessionConfig {
        ping_interval: _,
        ping_timeout: _,
        upgrade_timeout: _,
        max_payload: _,
        max_buffered_bytes: _,
    } = session;
    // The HTTP options are compared as one (`engine.http`); each has its own case above.
    let sockgate_engine::HttpConfig {
        header_read_timeout: _,
        idle_timeout: _,
        max_connections: _,
        shutdown_timeout: _,
    } = http;
    vec![
        "connect_timeout",
        "ack_timeout",
        "parser",
        "max_attachments",
        "max_pending_attachment_bytes",
        "pending_attachments_timeout",
        "max_decoded_bytes",
        "recovery",
        "serve_client",
        "cleanup_empty_child_namespaces",
        "observers",
        "engine.path",
        "engine.transports",
        "engine.allow_upgrades",
        "engine.cors",
        "engine.allow_request",
        "engine.http_compression_threshold",
        "engine.write_coalescing",
        "engine.websocket_write_timeout",
        "engine.http",
        "engine.http_request_body_timeout",
        "engine.max_buffered_chunks",
        "engine.trust_proxy",
        "engine.allowed_origins",
        "engine.session.ping_interval",
        "engine.session.ping_timeout",
        "engine.session.upgrade_timeout",
        "engine.session.max_payload",
        "engine.session.max_buffered_bytes",
    ]
}

#[test]
fn allow_request_is_compared_by_identity_so_each_side_has_its_own_hook() {
    // The hook cannot be the same `Arc` on both sides: the comparison reports it, which
    // shows that the setter installed a hook on each.
    let builder = SocketIo::builder().allow_request(|_| async { Ok(()) });
    let gateway = GatewayOptions::new().allow_request(|_| async { Ok(()) });
    assert!(builder.config.engine.allow_request.is_some());
    assert_eq!(
        GatewayOptions::from_server_config(builder.config).server_difference(&gateway),
        Some("engine.allow_request")
    );
    // The same for the origin predicate.
    let builder = SocketIo::builder().allowed_origin_fn(|_| true);
    let gateway = GatewayOptions::new().allowed_origin_fn(|_| true);
    assert!(builder.config.engine.allowed_origins.is_some());
    assert_eq!(
        GatewayOptions::from_server_config(builder.config).server_difference(&gateway),
        Some("engine.allowed_origins")
    );
}

#[test]
fn setters_do_not_depend_on_their_order() {
    let hook_first = SocketIo::builder()
        .allow_request(|_| async { Ok(()) })
        .ping_interval(Duration::from_secs(3))
        .path("/a/")
        .header_read_timeout(None);
    let hook_last = SocketIo::builder()
        .header_read_timeout(None)
        .path("/a/")
        .ping_interval(Duration::from_secs(3))
        .allow_request(|_| async { Ok(()) });
    for builder in [hook_first, hook_last] {
        let engine = &builder.config.engine;
        assert_eq!(engine.session.ping_interval, Duration::from_secs(3));
        assert_eq!(engine.path, "/a/");
        assert_eq!(engine.http.header_read_timeout, None);
        assert!(engine.allow_request.is_some());
    }
}

#[test]
fn observers_are_compared_by_identity() {
    struct Quiet;
    impl crate::observe::Observer for Quiet {}
    let shared: Arc<dyn crate::observe::Observer> = Arc::new(Quiet);
    let a = GatewayOptions::new().observer_arc(shared.clone());
    let b = GatewayOptions::new().observer_arc(shared);
    assert_eq!(a.server_difference(&b), None);
    // Each side its own observer: the setter added one to each, and they differ.
    let c = GatewayOptions::new().observer(Quiet);
    assert_eq!(c.server.observers.len(), 1);
    assert_eq!(a.server_difference(&c), Some("observers"));
    assert_eq!(
        GatewayOptions::new().server_difference(&c),
        Some("observers")
    );
}
