//! `server_stats`: what the dashboard shows for one server, and the aggregated events
//! (connections, disconnections by reason, packets and bytes in and out) counted between two
//! stats, per second, as Node's `EventBuffer` does.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

/// The kinds of aggregated events the UI charts (Node's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AggregatedKind {
    /// An Engine.IO session opened.
    RawConnection,
    /// An Engine.IO session closed (the subtype is the reason).
    RawDisconnection,
    /// A packet received.
    PacketsIn,
    /// A packet sent.
    PacketsOut,
    /// Bytes received.
    BytesIn,
    /// Bytes sent.
    BytesOut,
}

impl AggregatedKind {
    fn as_str(self) -> &'static str {
        match self {
            AggregatedKind::RawConnection => "rawConnection",
            AggregatedKind::RawDisconnection => "rawDisconnection",
            AggregatedKind::PacketsIn => "packetsIn",
            AggregatedKind::PacketsOut => "packetsOut",
            AggregatedKind::BytesIn => "bytesIn",
            AggregatedKind::BytesOut => "bytesOut",
        }
    }
}

/// One aggregated event as sent: `{timestamp, type, subType?, count}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AggregatedEvent {
    /// The second it happened in, in ms since the epoch.
    pub(crate) timestamp: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(rename = "subType", skip_serializing_if = "Option::is_none")]
    pub(crate) sub_type: Option<&'static str>,
    pub(crate) count: u64,
}

/// At most this many distinct (second, kind, subtype) entries between two stats: the
/// buffer is emptied every 2 s, so this only bounds a stats task that stopped.
const MAX_ENTRIES: usize = 4096;

/// Counts per (second, kind, subtype), emptied by each `server_stats`. Time is passed in.
#[derive(Debug, Default)]
pub(crate) struct EventBuffer {
    counts: HashMap<(u64, AggregatedKind, Option<&'static str>), u64>,
}

impl EventBuffer {
    /// Adds `count` to the entry of the second of `now_ms`.
    pub(crate) fn push(
        &mut self,
        now_ms: u64,
        kind: AggregatedKind,
        sub_type: Option<&'static str>,
        count: u64,
    ) {
        let key = (now_ms - now_ms % 1000, kind, sub_type);
        if let Some(entry) = self.counts.get_mut(&key) {
            *entry += count;
        } else if self.counts.len() < MAX_ENTRIES {
            self.counts.insert(key, count);
        }
    }

    /// Every entry, oldest first, and an empty buffer.
    pub(crate) fn take(&mut self) -> Vec<AggregatedEvent> {
        let mut events: Vec<AggregatedEvent> = self
            .counts
            .drain()
            .map(|((timestamp, kind, sub_type), count)| AggregatedEvent {
                timestamp,
                kind: kind.as_str(),
                sub_type,
                count,
            })
            .collect();
        events.sort_by(|a, b| {
            (a.timestamp, a.kind, a.sub_type).cmp(&(b.timestamp, b.kind, b.sub_type))
        });
        events
    }
}

/// One namespace of `server_stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NamespaceDetails {
    pub(crate) name: String,
    #[serde(rename = "socketsCount")]
    pub(crate) sockets_count: usize,
}

/// The `server_stats` event (Node's field names).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerStats {
    pub(crate) server_id: String,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    /// Seconds since the process started.
    pub(crate) uptime: f64,
    pub(crate) clients_count: usize,
    pub(crate) polling_clients_count: usize,
    pub(crate) aggregated_events: Vec<AggregatedEvent>,
    pub(crate) namespaces: Vec<NamespaceDetails>,
}

/// The machine's host name (Node's `os.hostname()`): the kernel's, else `HOSTNAME`, else
/// `localhost`.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Seconds since this process started (Node's `process.uptime()`), read from `/proc` on
/// Linux (`/proc/uptime` minus the process's start in clock ticks, which `/proc` counts at
/// 100 per second); elsewhere the time since `fallback_start`.
pub(crate) fn process_uptime(fallback_start: std::time::Instant) -> f64 {
    let from_proc = || -> Option<f64> {
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may hold spaces: count fields after its ')'.
        let after = &stat[stat.rfind(')')? + 1..];
        let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
        let seconds = uptime - start_ticks / 100.0;
        (seconds >= 0.0).then_some(seconds)
    };
    from_proc().unwrap_or_else(|| fallback_start.elapsed().as_secs_f64())
}

/// A stats value as JSON (serialization of these plain structs cannot fail).
pub(crate) fn to_value(stats: &ServerStats) -> Value {
    serde_json::to_value(stats).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_per_second_and_kind() {
        let mut buffer = EventBuffer::default();
        buffer.push(10_100, AggregatedKind::RawConnection, None, 1);
        buffer.push(10_900, AggregatedKind::RawConnection, None, 1);
        buffer.push(11_000, AggregatedKind::RawConnection, None, 1);
        buffer.push(10_500, AggregatedKind::BytesIn, None, 42);
        buffer.push(
            10_500,
            AggregatedKind::RawDisconnection,
            Some("transport close"),
            1,
        );
        buffer.push(
            10_600,
            AggregatedKind::RawDisconnection,
            Some("ping timeout"),
            1,
        );
        let events = buffer.take();
        let pick = |ts: u64, kind: &str, sub: Option<&str>| {
            events
                .iter()
                .find(|e| e.timestamp == ts && e.kind == kind && e.sub_type == sub)
                .map(|e| e.count)
        };
        assert_eq!(pick(10_000, "rawConnection", None), Some(2));
        assert_eq!(pick(11_000, "rawConnection", None), Some(1));
        assert_eq!(pick(10_000, "bytesIn", None), Some(42));
        assert_eq!(
            pick(10_000, "rawDisconnection", Some("transport close")),
            Some(1)
        );
        assert_eq!(
            pick(10_000, "rawDisconnection", Some("ping timeout")),
            Some(1)
        );
        assert_eq!(events.len(), 5);
        assert!(buffer.take().is_empty(), "take empties the buffer");
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut buffer = EventBuffer::default();
        for second in 0..(MAX_ENTRIES as u64 + 100) {
            buffer.push(second * 1000, AggregatedKind::PacketsIn, None, 1);
        }
        assert_eq!(buffer.take().len(), MAX_ENTRIES);
    }

    #[test]
    fn stats_use_nodes_field_names() {
        let mut buffer = EventBuffer::default();
        buffer.push(
            1000,
            AggregatedKind::RawDisconnection,
            Some("transport close"),
            1,
        );
        buffer.push(1000, AggregatedKind::PacketsOut, None, 3);
        let value = to_value(&ServerStats {
            server_id: "a".into(),
            hostname: "h".into(),
            pid: 7,
            uptime: 1.5,
            clients_count: 2,
            polling_clients_count: 1,
            aggregated_events: buffer.take(),
            namespaces: vec![NamespaceDetails {
                name: "/".into(),
                sockets_count: 2,
            }],
        });
        assert_eq!(
            value,
            serde_json::json!({
                "serverId": "a", "hostname": "h", "pid": 7, "uptime": 1.5,
                "clientsCount": 2, "pollingClientsCount": 1,
                "aggregatedEvents": [
                    {"timestamp": 1000, "type": "packetsOut", "count": 3},
                    {"timestamp": 1000, "type": "rawDisconnection", "subType": "transport close", "count": 1}
                ],
                "namespaces": [{"name": "/", "socketsCount": 2}]
            })
        );
    }

    #[test]
    fn uptime_is_positive() {
        assert!(process_uptime(std::time::Instant::now()) >= 0.0);
    }
}
