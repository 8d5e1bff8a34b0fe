//! The idle-timeout decision of one HTTP connection, pure (time passed in): whether it has
//! requests in flight, since when it has none, and so when it is idle.

use std::time::{Duration, Instant};

use crate::config::HttpConfig;

/// Requests in flight on one connection, and since when it has had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IdleClock {
    busy: usize,
    since: Instant,
}

/// What [`IdleClock::poll_idle`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdlePoll {
    /// Not idle before something changes (a request is in flight, or the deadline is past
    /// `Instant`'s range).
    WaitForChange,
    /// Idle at this instant, unless something changes first.
    Until(Instant),
    /// Idle now: close the connection gracefully.
    Idle,
}

impl IdleClock {
    /// A connection accepted at `now`: idle from then on until its first request.
    pub(super) fn new(now: Instant) -> IdleClock {
        IdleClock {
            busy: 0,
            since: now,
        }
    }

    /// A request started.
    pub(super) fn begin(&mut self) {
        self.busy += 1;
    }

    /// A request ended at `now`.
    pub(super) fn end(&mut self, now: Instant) {
        self.busy = self.busy.saturating_sub(1);
        self.since = now;
    }

    /// Whether the connection is idle at `now` for `timeout`.
    pub(super) fn poll_idle(&self, now: Instant, timeout: Duration) -> IdlePoll {
        if self.busy > 0 {
            return IdlePoll::WaitForChange;
        }
        match self.since.checked_add(timeout) {
            None => IdlePoll::WaitForChange,
            Some(at) if now >= at => IdlePoll::Idle,
            Some(at) => IdlePoll::Until(at),
        }
    }
}

/// The idle timeout the connection enforces itself: hyper's header clock also runs while a
/// keep-alive connection waits for its next request, so our own is needed only when it is the
/// shorter one.
pub(super) fn own_idle_timeout(config: &HttpConfig) -> Option<Duration> {
    config.idle_timeout.filter(|idle| {
        config
            .header_read_timeout
            .is_none_or(|header| *idle < header)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn idle_counts_from_the_accept_then_from_the_last_response() {
        let t0 = Instant::now();
        let mut clock = IdleClock::new(t0);
        assert_eq!(
            clock.poll_idle(t0 + s(1), TIMEOUT),
            IdlePoll::Until(t0 + TIMEOUT)
        );
        assert_eq!(clock.poll_idle(t0 + TIMEOUT, TIMEOUT), IdlePoll::Idle);
        // A request in flight (a parked long-poll) is never idle, however long it waits.
        clock.begin();
        assert_eq!(
            clock.poll_idle(t0 + s(60), TIMEOUT),
            IdlePoll::WaitForChange
        );
        clock.begin();
        clock.end(t0 + s(61));
        assert_eq!(
            clock.poll_idle(t0 + s(62), TIMEOUT),
            IdlePoll::WaitForChange
        );
        clock.end(t0 + s(63));
        assert_eq!(
            clock.poll_idle(t0 + s(64), TIMEOUT),
            IdlePoll::Until(t0 + s(63) + TIMEOUT)
        );
        assert_eq!(clock.poll_idle(t0 + s(68), TIMEOUT), IdlePoll::Idle);
    }

    #[test]
    fn a_timeout_past_the_clock_never_fires() {
        let t0 = Instant::now();
        let clock = IdleClock::new(t0);
        assert_eq!(clock.poll_idle(t0, Duration::MAX), IdlePoll::WaitForChange);
    }

    #[test]
    fn our_timer_runs_only_when_shorter_than_hyper_s() {
        let config = |header: Option<u64>, idle: Option<u64>| HttpConfig {
            header_read_timeout: header.map(s),
            idle_timeout: idle.map(s),
            ..HttpConfig::default()
        };
        assert_eq!(own_idle_timeout(&config(Some(10), Some(5))), Some(s(5)));
        assert_eq!(own_idle_timeout(&config(Some(10), Some(10))), None);
        assert_eq!(own_idle_timeout(&config(Some(10), Some(30))), None);
        assert_eq!(own_idle_timeout(&config(None, Some(30))), Some(s(30)));
        assert_eq!(own_idle_timeout(&config(Some(10), None)), None);
    }
}
