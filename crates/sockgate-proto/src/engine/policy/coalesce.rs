//! Write coalescing of one WebSocket.
//!
//! A socket written to less than `window` ago waits for the rest of the window and sends
//! everything queued meanwhile in one write. Each small send costs the kernel about as much as a
//! large one, so under steady broadcast load this divides the CPU per delivery; an idle socket
//! still writes at once, so sparse traffic gains no latency.
//!
//! The window only applies once writes already carry several frames (the last one did): a socket
//! receiving one frame at a time is not under load, and holding its frames would add latency for
//! nothing.

use std::time::{Duration, Instant};

/// The coalescing state of one WebSocket driver: when it last wrote several frames at once, and
/// whether a flush is armed. Kept small (it lives in every socket's task, idle ones included):
/// the window itself is passed to [`WriteCoalescer::poll_write`].
#[derive(Debug, Clone, Default)]
pub struct WriteCoalescer {
    /// When the last write went out, if it carried more than one frame (a write of one frame
    /// means the socket is not under load).
    loaded_since: Option<Instant>,
    /// The driver runs a timer for the end of the window.
    armed: bool,
}

/// What [`WriteCoalescer::poll_write`] tells the driver to do with the session's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteDecision {
    /// Drain the queue and write it now (then call [`WriteCoalescer::handle_write`] if it held
    /// any frame).
    Write,
    /// Leave the queue alone. `arm` is the instant to wake at, when the driver has to start a
    /// timer for it (it is `None` when the timer already runs or nothing is queued); on
    /// waking, call [`WriteCoalescer::handle_timer`].
    Hold {
        /// Start a timer for this instant.
        arm: Option<Instant>,
    },
}

impl WriteCoalescer {
    /// A socket that has not written yet: its first write goes out at once.
    pub fn new() -> WriteCoalescer {
        WriteCoalescer::default()
    }

    /// Decides whether the driver writes its queue at `now`, with coalescing `window` (zero:
    /// never hold). `closed`: the session closed (its last frames go out at once); `urgent`: a
    /// queued frame must not wait for the window; `queued`: the session has frames queued.
    pub fn poll_write(
        &mut self,
        now: Instant,
        window: Duration,
        closed: bool,
        urgent: bool,
        queued: bool,
    ) -> WriteDecision {
        let hold_until = self
            .loaded_since
            // A window past `Instant`'s range means no hold (it would never end).
            .and_then(|t| t.checked_add(window))
            .filter(|&until| !window.is_zero() && now < until);
        match hold_until {
            Some(until) if !closed && !urgent => {
                let arm = (queued && !self.armed).then_some(until);
                self.armed |= arm.is_some();
                WriteDecision::Hold { arm }
            }
            _ => WriteDecision::Write,
        }
    }

    /// A write of `frames` frames (at least one) went out at `now`; any armed flush is
    /// cancelled.
    pub fn handle_write(&mut self, now: Instant, frames: usize) {
        self.armed = false;
        self.loaded_since = (frames > 1).then_some(now);
    }

    /// The armed flush fired: the window is over, so the next write goes out at once.
    pub fn handle_timer(&mut self) {
        self.armed = false;
        self.loaded_since = None;
    }

    /// Whether frames wait for an armed flush (only an urgent frame or a close then needs the
    /// driver before the timer fires).
    pub fn is_holding(&self) -> bool {
        self.armed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_idle_socket_writes_at_once() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new();
        assert_eq!(
            c.poll_write(t0, WINDOW, false, false, true),
            WriteDecision::Write
        );
        // After a write of one frame the socket is not under load: still no hold.
        c.handle_write(t0, 1);
        assert_eq!(
            c.poll_write(t0 + ms(1), WINDOW, false, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn the_state_stays_small() {
        // It lives in every socket's task: no larger than the two fields it replaced.
        assert!(std::mem::size_of::<WriteCoalescer>() <= 24);
    }

    #[test]
    fn a_socket_under_load_holds_for_the_rest_of_the_window() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new();
        c.handle_write(t0, 3);
        // Nothing queued: hold, but nothing to wake for.
        assert_eq!(
            c.poll_write(t0 + ms(1), WINDOW, false, false, false),
            WriteDecision::Hold { arm: None }
        );
        assert!(!c.is_holding());
        // Frames queued: arm once, for the end of the window measured from the last write.
        assert_eq!(
            c.poll_write(t0 + ms(2), WINDOW, false, false, true),
            WriteDecision::Hold {
                arm: Some(t0 + WINDOW)
            }
        );
        assert!(c.is_holding());
        assert_eq!(
            c.poll_write(t0 + ms(3), WINDOW, false, false, true),
            WriteDecision::Hold { arm: None }
        );
        // The timer fires: the next write goes out at once, whatever the clock says.
        c.handle_timer();
        assert!(!c.is_holding());
        assert_eq!(
            c.poll_write(t0 + ms(4), WINDOW, false, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn the_window_ends_on_its_own() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new();
        c.handle_write(t0, 2);
        assert!(matches!(
            c.poll_write(t0 + ms(4), WINDOW, false, false, true),
            WriteDecision::Hold { .. }
        ));
        assert_eq!(
            c.poll_write(t0 + WINDOW, WINDOW, false, false, true),
            WriteDecision::Write
        );
        // A write cancels the armed flush and starts a new window.
        c.handle_write(t0 + WINDOW, 2);
        assert!(!c.is_holding());
        assert!(matches!(
            c.poll_write(t0 + WINDOW + ms(1), WINDOW, false, false, true),
            WriteDecision::Hold { arm: Some(at) } if at == t0 + WINDOW + WINDOW
        ));
    }

    #[test]
    fn urgent_frames_and_a_close_never_wait() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new();
        c.handle_write(t0, 2);
        assert_eq!(
            c.poll_write(t0 + ms(1), WINDOW, false, true, true),
            WriteDecision::Write
        );
        assert_eq!(
            c.poll_write(t0 + ms(1), WINDOW, true, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn a_zero_or_unbounded_window_never_holds() {
        let t0 = Instant::now();
        for window in [Duration::ZERO, Duration::MAX] {
            let mut c = WriteCoalescer::new();
            c.handle_write(t0, 10);
            assert_eq!(
                c.poll_write(t0, window, false, false, true),
                WriteDecision::Write,
                "window {window:?}"
            );
        }
    }
}
