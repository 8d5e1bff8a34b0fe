//! The Engine.IO session state machine: heartbeat, upgrade probe, buffering and close.
//!
//! No I/O and no clock: the driver passes `now` into every call and sleeps until
//! [`Session::poll_timeout`]. Tests drive it with a simulated clock.
//!
//! Over 400 lines on purpose: one state machine, whose transitions (heartbeat, probe, drain,
//! close) read each other's state; its tests live in `session/tests.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::frame::{Frame, SharedFrame};
use super::packet::Packet;

/// Timing and size settings shared by every session of an engine.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Time between server pings (Node's `pingInterval`, default 25 s).
    pub ping_interval: Duration,
    /// Time the client has to answer a ping (Node's `pingTimeout`, default 20 s).
    pub ping_timeout: Duration,
    /// Time a probing WebSocket has to complete the upgrade (default 10 s).
    pub upgrade_timeout: Duration,
    /// Largest message a client may send, advertised as `maxPayload` (default 1e6 bytes).
    pub max_payload: u64,
    /// Largest amount of queued outgoing data before the client is dropped as too slow
    /// (default 8 MiB). Node has no such bound and buffers forever.
    pub max_buffered_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            max_buffered_bytes: 8 << 20,
        }
    }
}

/// The transport a session currently sends and receives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }

    /// Parses a `transport` query parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "polling" => Some(TransportKind::Polling),
            "websocket" => Some(TransportKind::WebSocket),
            _ => None,
        }
    }
}

/// Why a session ended, with Node's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed the session (`1` packet) or its connection went away cleanly.
    TransportClose,
    /// The transport failed, or the client broke a transport rule (e.g. sent a ping in v4).
    TransportError,
    /// The client did not answer a ping within `pingTimeout`.
    PingTimeout,
    /// The client sent bytes that do not decode.
    ParseError,
    /// The server closed the session.
    ForcedClose,
    /// The client did not read fast enough and its queue passed `max_buffered_bytes`.
    BufferFull,
}

impl CloseReason {
    /// Node's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::BufferFull => "transport error",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The session is closed (or closing): drop the frame.
    Closed,
    /// The queue passed `max_buffered_bytes`; the session is now closed with
    /// [`CloseReason::BufferFull`]. Notify the upper layer.
    BufferFull,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Closed => f.write_str("the Engine.IO session is closed"),
            SessionError::BufferFull => f.write_str("the client is too slow: send buffer full"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Why a WebSocket cannot upgrade this session, or must be closed while probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    /// The session already uses WebSocket, or another probe is running: close the new socket.
    AlreadyUpgraded,
    /// The session is closed: close the socket.
    Closed,
    /// The probing socket sent something other than `2probe` then `5`: close it; the session
    /// carries on over polling.
    UnexpectedPacket,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::AlreadyUpgraded => f.write_str("session already upgraded or upgrading"),
            ProbeError::Closed => f.write_str("session closed"),
            ProbeError::UnexpectedPacket => f.write_str("unexpected packet during upgrade"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// What the driver must do after a packet arrived on the active transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketOutcome {
    /// Nothing to do.
    None,
    /// Hand this text message (without the `4`) to the upper layer.
    Message(Bytes),
    /// Hand this binary message to the upper layer.
    Binary(Bytes),
    /// The session just closed for this reason: notify the upper layer, release the transport.
    Closed(CloseReason),
}

/// What the driver must do after a packet arrived on the probing WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Send this frame (`3probe`) on the probing socket, and answer any pending poll
    /// (it now gets a `6`).
    Reply(SharedFrame),
    /// The session now runs over the WebSocket: answer the pending poll, then flush the queue
    /// over the socket.
    Upgraded,
    /// Ignore (a noop).
    None,
}

/// What a polling GET should answer.
#[derive(Debug)]
pub enum PollBatch {
    /// Nothing queued yet: hold the request until woken.
    Park,
    /// Answer with these frames joined (`close` appends a `1`; the session is then closed).
    Frames {
        /// The queued frames, oldest first.
        frames: VecDeque<SharedFrame>,
        /// Whether a close packet ends the payload.
        close: bool,
    },
    /// An upgrade is under way: answer `6` so the client pauses polling.
    Noop,
    /// The session is closed or no longer polls: answer `400`.
    Refused,
}

/// What happened when the driver's timer fired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeoutOutcome {
    /// A ping was queued: wake the writer or the pending poll.
    pub ping_queued: bool,
    /// The probing WebSocket took too long: close it (the session carries on over polling).
    pub upgrade_expired: bool,
    /// The session just closed for this reason.
    pub closed: Option<CloseReason>,
    /// During an upgrade, a pending poll may now be answered with a noop: wake it.
    pub noop_due: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Closed by the server while polling: the next GET delivers the rest of the queue and `1`.
    /// `None`: no deadline (the configured durations overflow `Instant`).
    Closing {
        deadline: Option<Instant>,
    },
    /// Closed by the client over polling (`1` in a POST). Kept briefly so a GET sent at the
    /// same moment (clients do this) gets a `6` instead of "Session ID unknown".
    Draining {
        deadline: Instant,
        reason: CloseReason,
    },
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    /// `None`: never expires (`upgrade_timeout` overflows `Instant`).
    deadline: Option<Instant>,
    /// `2probe` was answered; polls now get `6`.
    answered: bool,
    /// While answered: when the pending poll is next checked for a noop (every 100 ms, as
    /// Node does). A packet queued meanwhile travels in that poll instead of a noop.
    next_noop_check: Option<Instant>,
    /// A check found the poll idle: the next poll answer is a noop.
    noop_ready: bool,
}

/// How often a poll pending during an upgrade is checked for a noop (Node's `checkInterval`).
const NOOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// One Engine.IO session, without I/O.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    transport: TransportKind,
    state: State,
    /// Boxed: only an upgrade from polling has one, and inline it made every session (every
    /// idle WebSocket among them) 40 bytes larger.
    probe: Option<Box<Probe>>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    queue: VecDeque<SharedFrame>,
    queued_bytes: usize,
}

/// Longest time a client-closed polling session waits for a racing GET.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// `now + d`, or `None` ("never") when that is not representable: durations such as
/// `Duration::MAX` are legal settings meaning "no timeout" and must not panic.
fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

fn shared(cell: &'static OnceLock<SharedFrame>, packet: Packet) -> SharedFrame {
    cell.get_or_init(|| Arc::new(Frame::from_packet(&packet)))
        .clone()
}

fn ping_frame() -> SharedFrame {
    static PING: OnceLock<SharedFrame> = OnceLock::new();
    shared(&PING, Packet::Ping(Bytes::new()))
}

fn pong_probe_frame() -> SharedFrame {
    static PONG_PROBE: OnceLock<SharedFrame> = OnceLock::new();
    shared(&PONG_PROBE, Packet::Pong(Bytes::from_static(b"probe")))
}

impl Session {
    /// A session opened over `transport` at `now` (the handshake was just sent). The first ping
    /// is due one `ping_interval` later.
    pub fn new(config: Arc<SessionConfig>, transport: TransportKind, now: Instant) -> Session {
        let next_ping = after(now, config.ping_interval);
        Session {
            config,
            transport,
            state: State::Open,
            probe: None,
            next_ping,
            pong_deadline: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// True once the session is closed or closing; no more frames are accepted.
    pub fn is_closed(&self) -> bool {
        self.state != State::Open
    }

    /// True once nothing is left to deliver and the session can be forgotten.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// True once the session ended without delivering its queue (transport failure, protocol
    /// error, ping timeout, overflow): whatever is being written is for nobody. A server close
    /// is not an abort: its queue is still delivered.
    pub fn is_aborted(&self) -> bool {
        matches!(self.state, State::Closed(reason) if reason != CloseReason::ForcedClose)
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.state {
            State::Closed(reason) | State::Draining { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// True while a WebSocket probes this session.
    pub fn is_upgrading(&self) -> bool {
        self.probe.is_some()
    }

    /// True when a volatile frame would be written at once (nothing waits in the queue).
    pub fn is_writable(&self) -> bool {
        self.state == State::Open && self.queue.is_empty()
    }

    /// True when frames wait in the queue.
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Bytes waiting in the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Queues a frame for the client.
    pub fn send(&mut self, frame: SharedFrame) -> Result<(), SessionError> {
        if self.state != State::Open {
            return Err(SessionError::Closed);
        }
        self.queued_bytes += frame.len();
        self.queue.push_back(frame);
        if self.queued_bytes > self.config.max_buffered_bytes {
            // A reader this far behind will not catch up; holding more would let one slow client
            // grow the server's memory without bound.
            self.fail(CloseReason::BufferFull);
            return Err(SessionError::BufferFull);
        }
        Ok(())
    }

    /// Takes every queued frame, for a WebSocket writer.
    pub fn drain(&mut self) -> VecDeque<SharedFrame> {
        self.queued_bytes = 0;
        std::mem::take(&mut self.queue)
    }

    /// Decides the answer to a polling GET.
    pub fn take_poll_batch(&mut self) -> PollBatch {
        if self.transport != TransportKind::Polling {
            return PollBatch::Refused;
        }
        match self.state {
            State::Closed(_) => PollBatch::Refused,
            State::Draining { reason, .. } => {
                self.state = State::Closed(reason);
                PollBatch::Noop
            }
            // The queue goes out first and the close packet in the next response, as Node does:
            // socket.io-client handles the packets of one payload after the close, so a `41`
            // sharing a payload with `1` would be lost.
            State::Closing { .. } if !self.queue.is_empty() => PollBatch::Frames {
                frames: self.drain(),
                close: false,
            },
            State::Closing { .. } => {
                self.state = State::Closed(CloseReason::ForcedClose);
                PollBatch::Frames {
                    frames: VecDeque::new(),
                    close: true,
                }
            }
            // During an upgrade a poll gets what is queued (the heartbeat goes on), or a noop so
            // the client pauses polling; what is queued later flushes over the WebSocket.
            // Node answers the pending poll with a noop only at its next 100 ms check, and only
            // if nothing was queued meanwhile: clients count the packets of that poll.
            State::Open
                if self.probe.as_deref().is_some_and(|p| p.answered) && self.queue.is_empty() =>
            {
                match self.probe.as_mut() {
                    Some(probe) if probe.noop_ready => {
                        probe.noop_ready = false;
                        PollBatch::Noop
                    }
                    _ => PollBatch::Park,
                }
            }
            State::Open if self.queue.is_empty() => PollBatch::Park,
            State::Open => PollBatch::Frames {
                frames: self.drain(),
                close: false,
            },
        }
    }

    /// Handles a packet received on the active transport.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) -> PacketOutcome {
        if self.state != State::Open {
            return PacketOutcome::None;
        }
        match packet {
            Packet::Message(text) => PacketOutcome::Message(text),
            Packet::Binary(data) => PacketOutcome::Binary(data),
            Packet::Pong(_) => {
                // A pong re-arms the interval from now, as Node does; the next ping timeout is
                // then measured from that ping.
                self.pong_deadline = None;
                self.next_ping = after(now, self.config.ping_interval);
                PacketOutcome::None
            }
            // In v4 only the server pings: a client ping is an "invalid heartbeat direction".
            Packet::Ping(_) => self.fail(CloseReason::TransportError),
            Packet::Close if self.transport == TransportKind::Polling => {
                self.probe = None;
                self.queue.clear();
                self.queued_bytes = 0;
                self.state = State::Draining {
                    deadline: now + self.config.ping_timeout.min(DRAIN_LIMIT),
                    reason: CloseReason::TransportClose,
                };
                PacketOutcome::Closed(CloseReason::TransportClose)
            }
            Packet::Close => self.fail(CloseReason::TransportClose),
            Packet::Open | Packet::Upgrade | Packet::Noop => PacketOutcome::None,
        }
    }

    /// A WebSocket with this session's sid asks to take over. It has `upgrade_timeout` to
    /// send `2probe` and then `5`.
    pub fn start_probe(&mut self, now: Instant) -> Result<(), ProbeError> {
        if self.state != State::Open {
            return Err(ProbeError::Closed);
        }
        if self.transport == TransportKind::WebSocket || self.probe.is_some() {
            return Err(ProbeError::AlreadyUpgraded);
        }
        self.probe = Some(Box::new(Probe {
            deadline: after(now, self.config.upgrade_timeout),
            answered: false,
            next_noop_check: None,
            noop_ready: false,
        }));
        Ok(())
    }

    /// The probing WebSocket went away before upgrading; the session carries on over polling.
    pub fn abort_probe(&mut self) {
        self.probe = None;
    }

    /// Handles a packet received on the probing WebSocket.
    pub fn handle_probe_packet(
        &mut self,
        now: Instant,
        packet: Packet,
    ) -> Result<ProbeOutcome, ProbeError> {
        if self.state != State::Open {
            return Err(ProbeError::Closed);
        }
        let Some(probe) = self.probe.as_mut() else {
            return Err(ProbeError::UnexpectedPacket);
        };
        match packet {
            Packet::Ping(data) if &data[..] == b"probe" => {
                probe.answered = true;
                probe.next_noop_check = Some(now + NOOP_CHECK_INTERVAL);
                Ok(ProbeOutcome::Reply(pong_probe_frame()))
            }
            Packet::Upgrade if probe.answered => {
                // From here on the queue flushes over the WebSocket and polling is refused.
                self.probe = None;
                self.transport = TransportKind::WebSocket;
                Ok(ProbeOutcome::Upgraded)
            }
            Packet::Noop => Ok(ProbeOutcome::None),
            _ => {
                self.probe = None;
                Err(ProbeError::UnexpectedPacket)
            }
        }
    }

    /// Closes the session from the server side. Over polling the queue goes out with the next
    /// GET and a `1` with the one after; over WebSocket the driver flushes the queue and closes the socket.
    pub fn close(&mut self, now: Instant) -> Option<CloseReason> {
        if self.state != State::Open {
            return None;
        }
        self.probe = None;
        self.state = match self.transport {
            // A live client polls again at once (its pending GET is answered); one that does not
            // is dead by the time the heartbeat already running would have declared it so. The
            // wait is bounded by that deadline, never restarted: a session abandoned after its
            // handshake is gone at pingInterval + pingTimeout, even when closed by the connect
            // timeout in between.
            TransportKind::Polling => {
                let cycle = self
                    .config
                    .ping_interval
                    .checked_add(self.config.ping_timeout)
                    .and_then(|d| after(now, d));
                let deadline = [cycle, self.heartbeat_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                State::Closing { deadline }
            }
            TransportKind::WebSocket => State::Closed(CloseReason::ForcedClose),
        };
        Some(CloseReason::ForcedClose)
    }

    /// The transport failed or the client broke the protocol: the session ends now.
    /// Returns the outcome to report (`None` if it was already closed).
    pub fn fail(&mut self, reason: CloseReason) -> PacketOutcome {
        match self.state {
            // A server close still delivering its queue, then a failure: the rest is for nobody.
            State::Closed(CloseReason::ForcedClose) if reason != CloseReason::ForcedClose => {
                self.state = State::Closed(reason);
                self.queue.clear();
                self.queued_bytes = 0;
                PacketOutcome::None
            }
            State::Closed(_) => PacketOutcome::None,
            State::Closing { .. } | State::Draining { .. } => {
                self.state = State::Closed(reason);
                PacketOutcome::None
            }
            State::Open => {
                self.state = State::Closed(reason);
                self.probe = None;
                self.queue.clear();
                self.queued_bytes = 0;
                PacketOutcome::Closed(reason)
            }
        }
    }

    /// When the running heartbeat declares the client dead if it stays silent: the pending
    /// pong's deadline, or the next ping's. `None` when the heartbeat never fires.
    fn heartbeat_deadline(&self) -> Option<Instant> {
        self.pong_deadline.or_else(|| {
            self.next_ping
                .and_then(|p| after(p, self.config.ping_timeout))
        })
    }

    /// The next instant at which [`Session::handle_timeout`] must run, or `None` when nothing is
    /// scheduled (closed, or every configured duration overflows `Instant`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => {}
            // No heartbeat while closing: only the wait for the final poll is left.
            State::Closing { deadline } => return deadline,
            State::Draining { deadline, .. } => return Some(deadline),
            State::Closed(_) => return None,
        }
        [
            self.next_ping,
            self.pong_deadline,
            self.probe.as_deref().and_then(|p| p.deadline),
            self.probe.as_deref().and_then(|p| p.next_noop_check),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs whatever is due at `now`: a ping, a ping timeout, an upgrade timeout.
    pub fn handle_timeout(&mut self, now: Instant) -> TimeoutOutcome {
        let mut outcome = TimeoutOutcome::default();
        match self.state {
            State::Closed(_) => return outcome,
            State::Closing { deadline } => {
                if deadline.is_some_and(|d| now >= d) {
                    self.state = State::Closed(CloseReason::ForcedClose);
                }
                return outcome;
            }
            State::Draining { deadline, reason } => {
                if now >= deadline {
                    self.state = State::Closed(reason);
                }
                return outcome;
            }
            State::Open => {}
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            if let PacketOutcome::Closed(reason) = self.fail(CloseReason::PingTimeout) {
                outcome.closed = Some(reason);
            }
            return outcome;
        }
        if let Some(due) = self.next_ping.filter(|&d| now >= d) {
            // Measured from when the ping was due, not from when the timer ran: a late wake-up
            // must not give the client extra time (Node has no grace period either).
            self.pong_deadline = after(due, self.config.ping_timeout);
            self.next_ping = None;
            outcome.ping_queued = self.send(ping_frame()).is_ok();
            if self.pong_deadline.is_some_and(|d| now >= d) {
                if let PacketOutcome::Closed(reason) = self.fail(CloseReason::PingTimeout) {
                    outcome.closed = Some(reason);
                }
                return outcome;
            }
        }
        if self
            .probe
            .as_deref()
            .is_some_and(|p| p.deadline.is_some_and(|d| now >= d))
        {
            self.probe = None;
            outcome.upgrade_expired = true;
        }
        if let Some(probe) = self.probe.as_mut() {
            if let Some(due) = probe.next_noop_check.filter(|&d| now >= d) {
                probe.next_noop_check = Some(due.max(now) + NOOP_CHECK_INTERVAL);
                probe.noop_ready = true;
                outcome.noop_due = true;
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests;
