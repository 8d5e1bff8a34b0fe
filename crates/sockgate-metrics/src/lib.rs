//! Prometheus metrics for a sockgate server.
//!
//! [`Metrics`] is an [`Observer`](sockgate::observe::Observer): register it on the server,
//! then serve [`Metrics::render`] (or mount [`Metrics::service`]) at an endpoint of your
//! choosing. Nothing is served unless you mount it.
//!
//! ```
//! use sockgate::SocketIo;
//! use sockgate_metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let io = SocketIo::builder().observer(metrics.clone()).build();
//! // With axum: `Router::new().route_service("/metrics", metrics.service())`
//! //                          .layer(io.layer())
//! let text = metrics.render();
//! assert!(text.contains("# TYPE sockgate_engine_sessions gauge"));
//! # let _ = io;
//! ```
//!
//! Counters and gauges are `metrics-exporter-prometheus` handles (one atomic operation per
//! update), resolved once per namespace when its first event is seen, never per packet; the
//! two histograms are fixed buckets of atomics (see `histogram.rs` for why not the
//! exporter's). No update allocates or locks.
//!
//! # Metrics
//!
//! Labels: `namespace` (the namespace name, or what [`MetricsBuilder::namespace_label`]
//! maps it to), `transport` (`polling`, `websocket`), `type` (the Socket.IO packet type:
//! `connect`, `disconnect`, `event`, `ack`, `connect_error`, `binary_event`, `binary_ack`),
//! `reason` (Node's disconnect / close reason strings, or `queue_full` / `volatile` for
//! drops), `result`, `kind`.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `sockgate_engine_sessions` | gauge | transport | Engine.IO sessions open now |
//! | `sockgate_engine_sessions_opened_total` | counter | transport | sessions opened, by the transport of the handshake |
//! | `sockgate_engine_sessions_closed_total` | counter | reason | sessions closed |
//! | `sockgate_engine_upgrades_total` | counter | | polling sessions upgraded to WebSocket |
//! | `sockgate_engine_ws_writes_total` | counter | | WebSocket writes of the send queue |
//! | `sockgate_engine_frames_coalesced_total` | counter | | frames that shared a write with an earlier frame |
//! | `sockgate_sockets` | gauge | namespace | sockets connected now |
//! | `sockgate_connects_total` | counter | namespace | sockets connected |
//! | `sockgate_disconnects_total` | counter | namespace, reason | sockets disconnected |
//! | `sockgate_packets_received_total` | counter | namespace, type | packets from clients |
//! | `sockgate_packets_sent_total` | counter | namespace, type | packets queued for clients (each broadcast recipient counts) |
//! | `sockgate_received_bytes_total` | counter | namespace | bytes of the packets received (Engine.IO packets, attachments included) |
//! | `sockgate_sent_bytes_total` | counter | namespace | bytes of the packets sent |
//! | `sockgate_broadcasts_total` | counter | namespace | broadcasts delivered to at least one local socket |
//! | `sockgate_broadcast_deliveries_total` | counter | namespace | copies of broadcasts queued |
//! | `sockgate_dropped_packets_total` | counter | namespace, reason | packets not queued: `queue_full` (the client was then disconnected), `volatile` |
//! | `sockgate_ack_timeouts_total` | counter | namespace | ack waits ended by their timeout (a broadcast with acks counts once) |
//! | `sockgate_recoveries_total` | counter | namespace, result | connection state recoveries: `succeeded`, `failed` |
//! | `sockgate_handler_failures_total` | counter | namespace, kind | handlers `rejected` (extractor), `panicked`, `errored` |
//! | `sockgate_handler_duration_seconds` | histogram | namespace | time from a handler's call to its end (its future's, if it waited) |
//! | `sockgate_adapter_requests_total` | counter | namespace, kind, result | cluster requests: `fetch_sockets`, `server_side_emit_with_ack`, `server_count`, `broadcast_with_ack`; `ok` or `error` |
//! | `sockgate_adapter_request_duration_seconds` | histogram | namespace, kind | their latency |
//!
//! Series of a namespace appear with its first event and stay (also after a child of a
//! dynamic namespace is freed). Children of dynamic namespaces are named by clients: map
//! them to their pattern with [`MetricsBuilder::namespace_label`] so that the number of
//! series stays bounded.

mod histogram;
mod observer;
mod service;

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use histogram::{HistogramFamily, ADAPTER_BUCKETS, HANDLER_BUCKETS};
pub use service::MetricsService;

/// The metrics of one server (or of several: register the same `Metrics` on each, their
/// series add up). Cheap to clone; every clone is the same set of metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    namespace_label: Box<dyn Fn(&str) -> String + Send + Sync>,
    engine: observer::EngineMetrics,
    handler_duration: HistogramFamily,
    adapter_duration: HistogramFamily,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics labelled with the namespaces' own names.
    pub fn new() -> Metrics {
        MetricsBuilder::default().build()
    }

    /// A builder, to choose the namespace label.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = self.inner.handle.render();
        self.inner.handler_duration.render(&mut out);
        self.inner.adapter_duration.render(&mut out);
        out
    }

    /// A tower service answering every request with [`Metrics::render`] (mount it at
    /// `/metrics` beside the socket.io layer).
    pub fn service(&self) -> MetricsService {
        MetricsService::new(self.clone())
    }
}

/// Options of [`Metrics`].
pub struct MetricsBuilder {
    namespace_label: Box<dyn Fn(&str) -> String + Send + Sync>,
}

impl fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsBuilder").finish_non_exhaustive()
    }
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        MetricsBuilder {
            namespace_label: Box::new(str::to_owned),
        }
    }
}

impl MetricsBuilder {
    /// Maps a namespace name to its `namespace` label (called once per namespace). Give the
    /// children of a dynamic namespace their pattern (`/tenant/{id}`), so that clients cannot
    /// create series without bound.
    pub fn namespace_label(
        mut self,
        label: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        self.namespace_label = Box::new(label);
        self
    }

    /// Builds the metrics (every engine-level series exists from here on, at zero).
    pub fn build(self) -> Metrics {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let engine = observer::EngineMetrics::register(&recorder);
        Metrics {
            inner: Arc::new(Inner {
                recorder,
                handle,
                namespace_label: self.namespace_label,
                engine,
                handler_duration: HistogramFamily::new(
                    "sockgate_handler_duration_seconds",
                    "Time from an event handler's call to its end.",
                    HANDLER_BUCKETS,
                ),
                adapter_duration: HistogramFamily::new(
                    "sockgate_adapter_request_duration_seconds",
                    "Latency of the requests to the cluster through the adapter.",
                    ADAPTER_BUCKETS,
                ),
            }),
        }
    }
}

/// The counter `name{labels}` (the same handle for the same key).
fn counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Counter {
    recorder.register_counter(&key(name, labels), &metadata())
}

/// The gauge `name{labels}`.
fn gauge(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Gauge {
    recorder.register_gauge(&key(name, labels), &metadata())
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, (*v).to_owned()))
        .collect();
    Key::from_parts(name, labels)
}

fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None)
}

/// The HELP text of every counter and gauge.
fn describe(recorder: &PrometheusRecorder) {
    let counters: &[(&str, &str)] = &[
        (
            "sockgate_engine_sessions_opened_total",
            "Engine.IO sessions opened, by the transport of their handshake.",
        ),
        (
            "sockgate_engine_sessions_closed_total",
            "Engine.IO sessions closed, by reason.",
        ),
        (
            "sockgate_engine_upgrades_total",
            "Polling sessions upgraded to WebSocket.",
        ),
        (
            "sockgate_engine_ws_writes_total",
            "WebSocket writes of a session's send queue.",
        ),
        (
            "sockgate_engine_frames_coalesced_total",
            "Frames that shared a WebSocket write with an earlier frame.",
        ),
        (
            "sockgate_connects_total",
            "Sockets connected to a namespace.",
        ),
        (
            "sockgate_disconnects_total",
            "Sockets disconnected from a namespace, by reason.",
        ),
        (
            "sockgate_packets_received_total",
            "Socket.IO packets received from clients, by type.",
        ),
        (
            "sockgate_packets_sent_total",
            "Socket.IO packets queued for clients, by type (each broadcast recipient counts).",
        ),
        (
            "sockgate_received_bytes_total",
            "Bytes of the packets received (Engine.IO packets, attachments included).",
        ),
        (
            "sockgate_sent_bytes_total",
            "Bytes of the packets queued for clients.",
        ),
        (
            "sockgate_broadcasts_total",
            "Broadcasts delivered to at least one local socket.",
        ),
        (
            "sockgate_broadcast_deliveries_total",
            "Copies of broadcasts queued for local sockets.",
        ),
        (
            "sockgate_dropped_packets_total",
            "Packets not queued: queue_full (the client is disconnected) or volatile.",
        ),
        (
            "sockgate_ack_timeouts_total",
            "Ack waits ended by their timeout.",
        ),
        (
            "sockgate_recoveries_total",
            "Connection state recoveries, by result.",
        ),
        (
            "sockgate_handler_failures_total",
            "Event handlers that were rejected, panicked or returned an error.",
        ),
        (
            "sockgate_adapter_requests_total",
            "Requests to the cluster through the adapter, by kind and result.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter((*name).into(), None, (*help).into());
    }
    recorder.describe_gauge(
        "sockgate_engine_sessions".into(),
        None,
        "Engine.IO sessions open now, by transport.".into(),
    );
    recorder.describe_gauge(
        "sockgate_sockets".into(),
        None,
        "Sockets connected now, by namespace.".into(),
    );
}
