//! Scenario definitions shared by the coordinator and its worker processes.

use serde::{Deserialize, Serialize};

/// What the clients do once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// Open clients at a rate and hold them (answering pings only).
    Idle,
    /// Each client emits `echo` with an ack and waits for it (WebSocket).
    Echo,
    /// `senders` clients emit `broadcast` at `rate` msg/s in total; every client receives it.
    Broadcast,
    /// Clients in rooms of `room_size`; the first member of each room emits `room` to its room,
    /// `rate` msg/s in total over all rooms, one room at a time.
    Rooms,
    /// `echo` with ack over HTTP long-polling.
    Polling,
}

/// One scenario at one size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Scenario {
    /// Label used in tables, e.g. `broadcast-1000@100`.
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Total clients, over all worker processes.
    pub(crate) clients: usize,
    /// Connections opened per second, in total.
    pub(crate) connect_rate: f64,
    /// Worker processes the clients are spread over.
    pub(crate) procs: usize,
    /// Length of the measured phase (the hold, for `idle`), seconds.
    pub(crate) duration_s: f64,
    /// echo/polling: round trips per second per client (0 = closed loop);
    /// broadcast/rooms: messages per second in total.
    pub(crate) rate: f64,
    /// broadcast: how many clients send.
    pub(crate) senders: usize,
    /// rooms: members per room.
    pub(crate) room_size: usize,
    /// Padding bytes in each payload.
    pub(crate) payload: usize,
    /// Engine.IO only (no Socket.IO `40` connect), for the raw Engine.IO baseline.
    pub(crate) eio_only: bool,
    /// Endpoint path, `/socket.io/` or `/engine.io/`.
    pub(crate) path: String,
    /// Server processes (nodes of one cluster, sharing a Redis) the clients are spread over; 1
    /// for the single-server scenarios.
    #[serde(default = "one")]
    pub(crate) nodes: usize,
    /// Time after the last send during which arrivals are still counted, seconds.
    pub(crate) drain_s: f64,
    /// Arrivals with a latency above this are counted as late, milliseconds.
    pub(crate) late_ms: f64,
    /// Pause between the end of connecting and the measurement (lets the server settle), seconds.
    pub(crate) settle_s: f64,
    /// echo: bytes of the binary attachment each event carries (0: none). The event is a
    /// Socket.IO binary event (`451-<id>["echo",{"_placeholder":true,"num":0}]` + one binary
    /// WebSocket frame) and the ack must bring the same bytes back as a binary ack.
    #[serde(default)]
    pub(crate) attachment: usize,
    /// The msgpack parser (npm `socket.io-msgpack-parser`'s format, one binary WebSocket frame per
    /// packet) instead of JSON; the server is started with `--msgpack`.
    #[serde(default)]
    pub(crate) msgpack: bool,
    /// echo: how many of the clients (the first ones) only hold their connection; the others
    /// are the active echo clients (the mixed scenario).
    #[serde(default)]
    pub(crate) idle: usize,
    /// A scenario of the same run whose numbers the report shows next to this one's (the mixed
    /// scenario's plain-echo twin: the same active clients without the idle ones).
    #[serde(default)]
    pub(crate) baseline: Option<String>,
}

fn one() -> usize {
    1
}

impl Scenario {
    pub(crate) fn new(name: &str, kind: Kind, clients: usize) -> Self {
        Self {
            name: name.to_string(),
            kind,
            clients,
            connect_rate: 1000.0,
            procs: 1,
            duration_s: 8.0,
            rate: 0.0,
            senders: 4,
            room_size: 10,
            payload: 32,
            eio_only: false,
            path: "/socket.io/".to_string(),
            nodes: 1,
            drain_s: 1.5,
            late_ms: 1000.0,
            settle_s: 1.0,
            attachment: 0,
            msgpack: false,
            idle: 0,
            baseline: None,
        }
    }

    /// Whether global client `g` sends on a timer in an echo scenario (not one of the idle ones).
    pub(crate) fn is_active(&self, g: usize) -> bool {
        g >= self.idle
    }

    /// How many clients emit `echo` (all but the idle ones).
    pub(crate) fn active_count(&self) -> usize {
        self.clients.saturating_sub(self.idle)
    }

    /// The arguments the server under test is started with for this scenario (on top of its
    /// port): `--msgpack` for the msgpack parser, `--binary` when events carry attachments (the
    /// socketioxide server then takes `echo`'s argument as bytes; the others ignore it).
    pub(crate) fn server_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.msgpack {
            v.push("--msgpack".to_string());
        }
        if self.attachment > 0 {
            v.push("--binary".to_string());
        }
        v
    }

    /// The global client indices `[start, end)` worker `index` owns.
    ///
    /// For `broadcast` over several processes, worker 0 holds only the senders, so that the
    /// deliveries flooding the receivers cannot delay the sends (the rate stays as asked).
    pub(crate) fn share(&self, index: usize) -> (usize, usize) {
        let (base, n, procs, index) = if self.kind == Kind::Broadcast && self.procs > 1 {
            if index == 0 {
                return (0, self.senders.min(self.clients));
            }
            let s = self.senders.min(self.clients);
            (s, self.clients - s, self.procs - 1, index - 1)
        } else {
            (0, self.clients, self.procs, index)
        };
        let per = n / procs;
        let extra = n % procs;
        let start = base + index * per + index.min(extra);
        let len = per + usize::from(index < extra);
        (start, start + len)
    }

    /// The node client `g` connects to: senders to node 0 (a cluster's broadcast is issued on
    /// one node), the others in turn over all nodes.
    pub(crate) fn node_of(&self, g: usize) -> usize {
        if self.nodes <= 1 || self.is_sender(g) {
            0
        } else {
            g % self.nodes
        }
    }

    /// Whether global client `g` sends (broadcast and rooms).
    pub(crate) fn is_sender(&self, g: usize) -> bool {
        match self.kind {
            Kind::Broadcast => g < self.senders,
            // `is_multiple_of` is newer than the workspace's rust-version (1.85).
            #[allow(clippy::manual_is_multiple_of)]
            Kind::Rooms => g % self.room_size.max(1) == 0,
            _ => false,
        }
    }

    /// How many clients send in total.
    pub(crate) fn sender_count(&self) -> usize {
        (0..self.clients).filter(|&g| self.is_sender(g)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_client_once() {
        for (kind, clients, procs) in [
            (Kind::Idle, 19_000, 2),
            (Kind::Broadcast, 1000, 3),
            (Kind::Rooms, 41, 4),
            (Kind::Broadcast, 20, 2),
        ] {
            let mut sc = Scenario::new("t", kind, clients);
            sc.procs = procs;
            let mut next = 0;
            for i in 0..procs {
                let (a, b) = sc.share(i);
                assert_eq!(a, next, "{kind:?} worker {i}");
                next = b;
            }
            assert_eq!(next, clients);
        }
    }

    #[test]
    fn broadcast_senders_get_their_own_worker() {
        let mut sc = Scenario::new("t", Kind::Broadcast, 1000);
        sc.procs = 3;
        sc.senders = 4;
        assert_eq!(sc.share(0), (0, 4));
        assert!((0..4).all(|g| sc.is_sender(g)) && !sc.is_sender(4));
        assert_eq!(sc.sender_count(), 4);
    }

    #[test]
    fn cluster_clients_spread_over_the_nodes_senders_on_node_0() {
        let mut sc = Scenario::new("t", Kind::Broadcast, 1000);
        sc.senders = 4;
        sc.nodes = 2;
        assert!((0..4).all(|g| sc.node_of(g) == 0));
        let on_1 = (0..1000).filter(|&g| sc.node_of(g) == 1).count();
        assert_eq!(on_1, 498);
        sc.nodes = 1;
        assert!((0..1000).all(|g| sc.node_of(g) == 0));
    }

    #[test]
    fn mixed_clients_split_into_idle_and_active() {
        let mut sc = Scenario::new("t", Kind::Echo, 10_100);
        sc.idle = 10_000;
        sc.procs = 2;
        assert_eq!(sc.active_count(), 100);
        assert!(!sc.is_active(9_999) && sc.is_active(10_000) && sc.is_active(10_099));
        // The active clients all sit in the last worker, after its idle share.
        assert_eq!(sc.share(1), (5050, 10_100));
        let plain = Scenario::new("t", Kind::Echo, 50);
        assert_eq!(plain.active_count(), 50);
        assert!(plain.is_active(0));
    }

    #[test]
    fn server_args_follow_the_parser_and_the_attachment() {
        let mut sc = Scenario::new("t", Kind::Echo, 5);
        assert!(sc.server_args().is_empty());
        sc.msgpack = true;
        assert_eq!(sc.server_args(), ["--msgpack"]);
        sc.msgpack = false;
        sc.attachment = 4096;
        assert_eq!(sc.server_args(), ["--binary"]);
    }

    #[test]
    fn one_sender_per_room() {
        let mut sc = Scenario::new("t", Kind::Rooms, 2000);
        sc.room_size = 10;
        assert_eq!(sc.sender_count(), 200);
    }
}
