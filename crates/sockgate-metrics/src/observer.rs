//! [`Metrics`] as an [`Observer`]: engine series registered up front, namespace series
//! registered on a namespace's first event and kept in its observer slot.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::PrometheusRecorder;
use sockgate::observe::{
    AdapterRequestEvent, BroadcastEvent, CloseReason, DropEvent, DropReason, HandlerFailure,
    HandlerFailureKind, ObservedNamespace, Observer, PacketEvent, PacketType, SessionEvent,
    TransportKind,
};
use sockgate::{DisconnectReason, Socket, SocketRef};

use crate::histogram::AtomicHistogram;
use crate::{counter, gauge, Metrics};

const TRANSPORTS: [TransportKind; 2] = [TransportKind::Polling, TransportKind::WebSocket];

const CLOSE_REASONS: [CloseReason; 6] = [
    CloseReason::TransportClose,
    CloseReason::TransportError,
    CloseReason::PingTimeout,
    CloseReason::ParseError,
    CloseReason::ForcedClose,
    CloseReason::BufferFull,
];

const DISCONNECT_REASONS: [DisconnectReason; 9] = [
    DisconnectReason::ClientNamespaceDisconnect,
    DisconnectReason::ServerNamespaceDisconnect,
    DisconnectReason::TransportClose,
    DisconnectReason::TransportError,
    DisconnectReason::PingTimeout,
    DisconnectReason::ParseError,
    DisconnectReason::ServerShuttingDown,
    DisconnectReason::ForcedClose,
    DisconnectReason::ForcedServerClose,
];

/// Packet types in wire-number order (index = wire number).
const PACKET_TYPES: [(PacketType, &str); 7] = [
    (PacketType::Connect, "connect"),
    (PacketType::Disconnect, "disconnect"),
    (PacketType::Event, "event"),
    (PacketType::Ack, "ack"),
    (PacketType::ConnectError, "connect_error"),
    (PacketType::BinaryEvent, "binary_event"),
    (PacketType::BinaryAck, "binary_ack"),
];

const ADAPTER_KINDS: [&str; 4] = [
    "fetch_sockets",
    "server_side_emit_with_ack",
    "server_count",
    "broadcast_with_ack",
];

fn transport_index(transport: TransportKind) -> usize {
    match transport {
        TransportKind::Polling => 0,
        TransportKind::WebSocket => 1,
    }
}

/// The engine-level series (no namespace).
pub(crate) struct EngineMetrics {
    sessions: Vec<Gauge>,
    opened: Vec<Counter>,
    closed: Vec<Counter>,
    upgrades: Counter,
    writes: Counter,
    coalesced: Counter,
}

impl EngineMetrics {
    pub(crate) fn register(recorder: &PrometheusRecorder) -> EngineMetrics {
        let by_transport = |name| {
            TRANSPORTS
                .iter()
                .map(|t| (name, t.as_str()))
                .collect::<Vec<_>>()
        };
        EngineMetrics {
            sessions: by_transport("sockgate_engine_sessions")
                .into_iter()
                .map(|(n, t)| gauge(recorder, n, &[("transport", t)]))
                .collect(),
            opened: by_transport("sockgate_engine_sessions_opened_total")
                .into_iter()
                .map(|(n, t)| counter(recorder, n, &[("transport", t)]))
                .collect(),
            // `BufferFull` reads "transport error" as in Node: both share one series.
            closed: CLOSE_REASONS
                .iter()
                .map(|r| {
                    counter(
                        recorder,
                        "sockgate_engine_sessions_closed_total",
                        &[("reason", r.as_str())],
                    )
                })
                .collect(),
            upgrades: counter(recorder, "sockgate_engine_upgrades_total", &[]),
            writes: counter(recorder, "sockgate_engine_ws_writes_total", &[]),
            coalesced: counter(recorder, "sockgate_engine_frames_coalesced_total", &[]),
        }
    }
}

/// The series of one namespace, resolved once (kept in the namespace's observer slot).
struct NamespaceMetrics {
    sockets: Gauge,
    connects: Counter,
    disconnects: Vec<Counter>,
    packets_received: Vec<Counter>,
    packets_sent: Vec<Counter>,
    received_bytes: Counter,
    sent_bytes: Counter,
    broadcasts: Counter,
    deliveries: Counter,
    dropped_queue_full: Counter,
    dropped_volatile: Counter,
    ack_timeouts: Counter,
    recovered: Counter,
    not_recovered: Counter,
    handler_rejected: Counter,
    handler_panicked: Counter,
    handler_errored: Counter,
    handler_duration: Arc<AtomicHistogram>,
    /// Per adapter kind: (ok, error, latency).
    adapter: Vec<(Counter, Counter, Arc<AtomicHistogram>)>,
}

impl NamespaceMetrics {
    fn register(metrics: &Metrics, name: &str) -> NamespaceMetrics {
        let inner = &metrics.inner;
        let recorder = &inner.recorder;
        let label = (inner.namespace_label)(name);
        let ns = label.as_str();
        let c = |name, extra: &[(&'static str, &str)]| {
            let mut labels = vec![("namespace", ns)];
            labels.extend_from_slice(extra);
            counter(recorder, name, &labels)
        };
        let by_type = |name| {
            PACKET_TYPES
                .iter()
                .map(|(_, t)| c(name, &[("type", t)]))
                .collect()
        };
        NamespaceMetrics {
            sockets: gauge(recorder, "sockgate_sockets", &[("namespace", ns)]),
            connects: c("sockgate_connects_total", &[]),
            disconnects: DISCONNECT_REASONS
                .iter()
                .map(|r| c("sockgate_disconnects_total", &[("reason", r.as_str())]))
                .collect(),
            packets_received: by_type("sockgate_packets_received_total"),
            packets_sent: by_type("sockgate_packets_sent_total"),
            received_bytes: c("sockgate_received_bytes_total", &[]),
            sent_bytes: c("sockgate_sent_bytes_total", &[]),
            broadcasts: c("sockgate_broadcasts_total", &[]),
            deliveries: c("sockgate_broadcast_deliveries_total", &[]),
            dropped_queue_full: c(
                "sockgate_dropped_packets_total",
                &[("reason", DropReason::QueueFull.as_str())],
            ),
            dropped_volatile: c(
                "sockgate_dropped_packets_total",
                &[("reason", DropReason::Volatile.as_str())],
            ),
            ack_timeouts: c("sockgate_ack_timeouts_total", &[]),
            recovered: c("sockgate_recoveries_total", &[("result", "succeeded")]),
            not_recovered: c("sockgate_recoveries_total", &[("result", "failed")]),
            handler_rejected: c(
                "sockgate_handler_failures_total",
                &[("kind", HandlerFailureKind::Rejected.as_str())],
            ),
            handler_panicked: c(
                "sockgate_handler_failures_total",
                &[("kind", HandlerFailureKind::Panicked.as_str())],
            ),
            handler_errored: c(
                "sockgate_handler_failures_total",
                &[("kind", HandlerFailureKind::Errored.as_str())],
            ),
            handler_duration: inner.handler_duration.series(&[("namespace", ns)]),
            adapter: ADAPTER_KINDS
                .iter()
                .map(|kind| {
                    (
                        c(
                            "sockgate_adapter_requests_total",
                            &[("kind", kind), ("result", "ok")],
                        ),
                        c(
                            "sockgate_adapter_requests_total",
                            &[("kind", kind), ("result", "error")],
                        ),
                        inner
                            .adapter_duration
                            .series(&[("namespace", ns), ("kind", kind)]),
                    )
                })
                .collect(),
        }
    }
}

impl Metrics {
    /// This namespace's series: a pointer load after the first call.
    #[inline]
    fn of<'a>(&self, ns: &ObservedNamespace<'a>) -> Option<&'a NamespaceMetrics> {
        ns.cached(|name| NamespaceMetrics::register(self, name))
    }
}

fn packet_index(kind: PacketType) -> usize {
    kind as usize
}

impl Observer for Metrics {
    fn session_opened(&self, session: &SessionEvent<'_>) {
        let engine = &self.inner.engine;
        let index = transport_index(session.transport);
        engine.sessions[index].increment(1.0);
        engine.opened[index].increment(1);
    }

    fn session_upgraded(&self, _session: &SessionEvent<'_>) {
        let engine = &self.inner.engine;
        engine.sessions[transport_index(TransportKind::Polling)].decrement(1.0);
        engine.sessions[transport_index(TransportKind::WebSocket)].increment(1.0);
        engine.upgrades.increment(1);
    }

    fn session_closed(&self, session: &SessionEvent<'_>, reason: CloseReason) {
        let engine = &self.inner.engine;
        engine.sessions[transport_index(session.transport)].decrement(1.0);
        if let Some(index) = CLOSE_REASONS.iter().position(|r| *r == reason) {
            engine.closed[index].increment(1);
        }
    }

    fn socket_connected(&self, ns: &ObservedNamespace<'_>, _socket: &SocketRef) {
        if let Some(m) = self.of(ns) {
            m.sockets.increment(1.0);
            m.connects.increment(1);
        }
    }

    fn socket_disconnected(
        &self,
        ns: &ObservedNamespace<'_>,
        _socket: &SocketRef,
        reason: DisconnectReason,
    ) {
        if let Some(m) = self.of(ns) {
            m.sockets.decrement(1.0);
            if let Some(index) = DISCONNECT_REASONS.iter().position(|r| *r == reason) {
                m.disconnects[index].increment(1);
            }
        }
    }

    fn packet_received(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        if let Some(m) = self.of(ns) {
            m.packets_received[packet_index(packet.kind())].increment(1);
            m.received_bytes.increment(packet.bytes as u64);
        }
    }

    fn packet_sent(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        if let Some(m) = self.of(ns) {
            m.packets_sent[packet_index(packet.kind())].increment(1);
            m.sent_bytes.increment(packet.bytes as u64);
        }
    }

    fn broadcast(&self, ns: &ObservedNamespace<'_>, broadcast: &BroadcastEvent<'_>) {
        if let Some(m) = self.of(ns) {
            m.broadcasts.increment(1);
            m.deliveries.increment(broadcast.recipients as u64);
        }
    }

    fn frames_written(&self, frames: usize) {
        let engine = &self.inner.engine;
        engine.writes.increment(1);
        engine.coalesced.increment(frames.saturating_sub(1) as u64);
    }

    fn dropped(&self, ns: &ObservedNamespace<'_>, drop: &DropEvent<'_>) {
        if let Some(m) = self.of(ns) {
            match drop.reason {
                DropReason::QueueFull => m.dropped_queue_full.increment(1),
                DropReason::Volatile => m.dropped_volatile.increment(1),
                _ => {}
            }
        }
    }

    fn ack_timed_out(&self, ns: &ObservedNamespace<'_>, _socket: Option<&Socket>) {
        if let Some(m) = self.of(ns) {
            m.ack_timeouts.increment(1);
        }
    }

    fn recovery(&self, ns: &ObservedNamespace<'_>, succeeded: bool) {
        if let Some(m) = self.of(ns) {
            if succeeded {
                m.recovered.increment(1);
            } else {
                m.not_recovered.increment(1);
            }
        }
    }

    fn handler_failed(&self, ns: &ObservedNamespace<'_>, failure: &HandlerFailure<'_>) {
        if let Some(m) = self.of(ns) {
            match failure.kind {
                HandlerFailureKind::Rejected => m.handler_rejected.increment(1),
                HandlerFailureKind::Panicked => m.handler_panicked.increment(1),
                HandlerFailureKind::Errored => m.handler_errored.increment(1),
                _ => {}
            }
        }
    }

    fn handler_finished(&self, ns: &ObservedNamespace<'_>, _event: &str, duration: Duration) {
        if let Some(m) = self.of(ns) {
            m.handler_duration.record(duration);
        }
    }

    fn adapter_request(&self, ns: &ObservedNamespace<'_>, request: &AdapterRequestEvent) {
        if let Some(m) = self.of(ns) {
            if let Some(index) = ADAPTER_KINDS.iter().position(|k| *k == request.kind) {
                let (ok, error, latency) = &m.adapter[index];
                if request.ok {
                    ok.increment(1);
                } else {
                    error.increment(1);
                }
                latency.record(request.latency);
            }
        }
    }
}
