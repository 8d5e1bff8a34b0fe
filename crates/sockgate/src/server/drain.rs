//! Graceful shutdown for rolling deploys: the drain options, when each transport closes
//! (pure, time passed in), and the drain itself.
//!
//! A node leaving a cluster must not send all its clients to the other nodes at the same
//! moment: each reconnect is a handshake, a recovery lookup and a replay, and thousands at
//! once are the "reconnect stampede" that makes the surviving nodes slow exactly when they
//! take over. So the drain closes the transports one slice at a time over
//! [`DrainConfig::window`]; before each slice the sockets leave (their sessions persisted)
//! and the adapters flush the sessions, so a client that reconnects elsewhere finds its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sockgate_engine::Connection;

use crate::client::ClientState;
use crate::reason::DisconnectReason;

/// How a graceful shutdown ([`SocketIo::close`](crate::SocketIo::close)) drains a node. The
/// defaults close every transport at once, as Node's `io.close()` does; a rolling deploy
/// behind a load balancer sets [`DrainConfig::delay`] to a little more than the load
/// balancer's health-check period and [`DrainConfig::window`] to spread the reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainConfig {
    /// Time between the start of the close (handshakes and the health check answer 503) and
    /// the first transport closed, for the load balancer to take the node out so that the
    /// clients reconnect elsewhere (default zero).
    pub delay: Duration,
    /// Window the transports' closes are spread over: the `i`-th of `n` closes
    /// `window * i / n` after the delay (default zero: all at once).
    pub window: Duration,
    /// How long the last transports have, once closed, to deliver their queues before they
    /// are dropped (default [`DEFAULT_CLOSE_TIMEOUT`](crate::DEFAULT_CLOSE_TIMEOUT), 10 s).
    pub close_timeout: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            delay: Duration::ZERO,
            window: Duration::ZERO,
            close_timeout: super::io::DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

impl DrainConfig {
    /// The longest a close with this configuration takes, from its start to the moment it
    /// resolves: `delay + window + close_timeout`, plus at most half a second for transports
    /// that had to be dropped to go. A process that exits when the close resolves exits
    /// within this bound (set the orchestrator's grace period above it).
    pub fn bound(&self) -> Duration {
        self.delay
            .saturating_add(self.window)
            .saturating_add(self.close_timeout)
            .saturating_add(DROP_GRACE)
    }
}

/// What [`Engine::shutdown`](sockgate_engine::Engine::shutdown) gives dropped transports to go.
const DROP_GRACE: Duration = Duration::from_millis(500);

/// Closes closer together than this are done in one slice: one wake-up and one adapter flush
/// per slice instead of per transport.
const SLICE: Duration = Duration::from_millis(10);

/// When each of `total` transports closes in a drain that starts at `start`: the `i`-th at
/// `start + window * i / total`, so the first closes at once and they are spread evenly over
/// the window.
#[derive(Debug, Clone)]
pub(crate) struct DrainSchedule {
    start: Instant,
    window: Duration,
    total: usize,
}

impl DrainSchedule {
    pub(crate) fn new(start: Instant, window: Duration, total: usize) -> Self {
        DrainSchedule {
            start,
            window,
            total,
        }
    }

    /// When the `index`-th transport (from 0) closes.
    pub(crate) fn close_at(&self, index: usize) -> Instant {
        if self.total == 0 || self.window.is_zero() {
            return self.start;
        }
        // u128 nanoseconds: `window * index` overflows no `Duration` for any realistic count.
        let offset = self.window.as_nanos() * index as u128 / self.total as u128;
        self.start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// How many transports are due by `now` (those whose close time is not after it).
    pub(crate) fn due_by(&self, now: Instant) -> usize {
        if now < self.start {
            return 0;
        }
        if self.window.is_zero() {
            return self.total;
        }
        // `i` is due when floor(window * i / total) <= elapsed, that is when
        // i < (elapsed + 1) * total / window: the count is that quotient rounded up.
        let elapsed = (now - self.start).as_nanos();
        let window = self.window.as_nanos();
        let due = ((elapsed + 1) * self.total as u128).div_ceil(window);
        usize::try_from(due).unwrap_or(usize::MAX).min(self.total)
    }

    /// When to wake up next after `closed` transports were closed: the close time of the
    /// next, but at least one slice after `now`, so that close times nearer than a slice are
    /// handled together. `None` once all are closed.
    pub(crate) fn next_wake(&self, closed: usize, now: Instant) -> Option<Instant> {
        (closed < self.total).then(|| self.close_at(closed).max(now + SLICE))
    }
}

/// Drains `connections` as the schedule says, then returns (the caller finishes the shutdown
/// with `Engine::shutdown`). `flush` is awaited before each slice's transports close.
pub(crate) async fn close_spread<F, Fut>(
    connections: Vec<Arc<Connection<ClientState>>>,
    window: Duration,
    flush_deadline: Instant,
    flush: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let schedule = DrainSchedule::new(Instant::now(), window, connections.len());
    let mut closed = 0;
    while closed < connections.len() {
        let due = schedule.due_by(Instant::now()).max(closed + 1);
        let slice = &connections[closed..due];
        for connection in slice {
            // The sockets leave first (their sessions are persisted as recoverable), and the
            // client hears nothing of it: its transport closes below, and it reconnects.
            let client = connection.data();
            client.set_close_reason(DisconnectReason::ServerShuttingDown);
            for socket in client.sockets() {
                socket.close(DisconnectReason::ServerShuttingDown);
            }
        }
        // The sessions must be where another node reads them before any of these clients
        // can reconnect there; bounded, so a dead Redis cannot hold the shutdown.
        let remaining = flush_deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(remaining, flush()).await;
        for connection in slice {
            connection.close();
        }
        closed = due;
        if let Some(wake) = schedule.next_wake(closed, Instant::now()) {
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_a_window_everything_closes_at_once() {
        let start = Instant::now();
        let schedule = DrainSchedule::new(start, Duration::ZERO, 1000);
        assert_eq!(schedule.due_by(start), 1000);
        assert_eq!(schedule.close_at(999), start);
        assert_eq!(schedule.next_wake(1000, start), None);
    }

    #[test]
    fn closes_are_spread_evenly_over_the_window() {
        let start = Instant::now();
        let schedule = DrainSchedule::new(start, ms(1000), 100);
        // Simulated clock: step through the window 1 ms at a time.
        let mut per_100ms = [0usize; 10];
        let mut closed = 0;
        for t in 0..1000u64 {
            let due = schedule.due_by(start + ms(t));
            assert!(due >= closed, "the count never goes back");
            per_100ms[(t / 100) as usize] += due - closed;
            closed = due;
        }
        assert_eq!(closed, 100, "all closed within the window");
        assert_eq!(per_100ms, [10; 10], "10 per 100 ms, no burst");
        assert_eq!(schedule.due_by(start), 1, "the first closes at once");
        assert_eq!(schedule.close_at(99), start + ms(990));
    }

    #[test]
    fn due_by_agrees_with_close_at_for_awkward_counts() {
        let start = Instant::now();
        for total in [1usize, 3, 7, 997, 1000, 4096] {
            let schedule = DrainSchedule::new(start, ms(2999), total);
            for t in (0..3100u64).step_by(7) {
                let now = start + ms(t);
                let due = schedule.due_by(now);
                assert!(due <= total);
                if due > 0 {
                    assert!(schedule.close_at(due - 1) <= now, "{total} at {t}");
                }
                if due < total {
                    assert!(schedule.close_at(due) > now, "{total} at {t}");
                }
            }
            assert_eq!(schedule.due_by(start + ms(2999)), total);
        }
    }

    #[test]
    fn wake_ups_are_at_least_a_slice_apart() {
        let start = Instant::now();
        // 10,000 closes in 1 s would be 0.1 ms apart: handled in 10 ms slices instead.
        let schedule = DrainSchedule::new(start, ms(1000), 10_000);
        let mut now = start;
        let mut closed = 0;
        let mut wakes = 0;
        while let Some(wake) = schedule.next_wake(closed, now) {
            assert!(wake >= now + SLICE);
            now = wake;
            closed = schedule.due_by(now).max(closed + 1);
            wakes += 1;
            assert!(wakes <= 200, "bounded");
        }
        assert!(wakes <= 101, "{wakes} wake-ups");
        assert!(now <= start + ms(1000));
    }

    #[test]
    fn the_bound_adds_up_every_phase() {
        let config = DrainConfig {
            delay: Duration::from_secs(2),
            window: Duration::from_secs(5),
            close_timeout: Duration::from_secs(3),
        };
        assert_eq!(config.bound(), Duration::from_millis(10_500));
        let huge = DrainConfig {
            delay: Duration::MAX,
            ..config
        };
        assert_eq!(
            huge.bound(),
            Duration::MAX,
            "saturates instead of panicking"
        );
    }
}
