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

/// The coalescing state of one WebSocket driver: when it last wrote, how many frames that write
/// carried, and whether a flush is armed.
#[derive(Debug, Clone)]
pub struct WriteCoalescer {
    window: Duration,
    /// When the last write went out, and how many frames it carried.
    last_write: Option<Instant>,
    last_batch: usize,
    /// The end of the window the queued frames wait for, once the driver armed its timer.
    armed: Option<Instant>,
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
    /// Coalescing with this window; a zero window never holds a write.
    pub fn new(window: Duration) -> WriteCoalescer {
        WriteCoalescer {
            window,
            last_write: None,
            last_batch: 0,
            armed: None,
        }
    }

    /// The end of the window a write at `now` would wait for, if it has to wait.
    fn hold_until(&self, now: Instant) -> Option<Instant> {
        self.last_write
            .filter(|_| self.last_batch > 1)
            // A window past `Instant`'s range means no hold (it would never end).
            .and_then(|t| t.checked_add(self.window))
            .filter(|&until| !self.window.is_zero() && now < until)
    }

    /// Decides whether the driver writes its queue at `now`. `closed`: the session closed (its
    /// last frames go out at once); `urgent`: a queued frame must not wait for the window;
    /// `queued`: the session has frames queued.
    pub fn poll_write(
        &mut self,
        now: Instant,
        closed: bool,
        urgent: bool,
        queued: bool,
    ) -> WriteDecision {
        match self.hold_until(now) {
            Some(until) if !closed && !urgent => {
                let arm = (queued && self.armed.is_none()).then_some(until);
                if arm.is_some() {
                    self.armed = arm;
                }
                WriteDecision::Hold { arm }
            }
            _ => WriteDecision::Write,
        }
    }

    /// A write of `frames` frames (at least one) went out at `now`; any armed flush is
    /// cancelled.
    pub fn handle_write(&mut self, now: Instant, frames: usize) {
        self.armed = None;
        self.last_write = Some(now);
        self.last_batch = frames;
    }

    /// The armed flush fired: the window is over, so the next write goes out at once.
    pub fn handle_timer(&mut self) {
        self.armed = None;
        self.last_write = None;
    }

    /// Whether frames wait for an armed flush (only an urgent frame or a close then needs the
    /// driver before the timer fires).
    pub fn is_holding(&self) -> bool {
        self.armed.is_some()
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
        let mut c = WriteCoalescer::new(WINDOW);
        assert_eq!(c.poll_write(t0, false, false, true), WriteDecision::Write);
        // After a write of one frame the socket is not under load: still no hold.
        c.handle_write(t0, 1);
        assert_eq!(
            c.poll_write(t0 + ms(1), false, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn a_socket_under_load_holds_for_the_rest_of_the_window() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new(WINDOW);
        c.handle_write(t0, 3);
        // Nothing queued: hold, but nothing to wake for.
        assert_eq!(
            c.poll_write(t0 + ms(1), false, false, false),
            WriteDecision::Hold { arm: None }
        );
        assert!(!c.is_holding());
        // Frames queued: arm once, for the end of the window measured from the last write.
        assert_eq!(
            c.poll_write(t0 + ms(2), false, false, true),
            WriteDecision::Hold {
                arm: Some(t0 + WINDOW)
            }
        );
        assert!(c.is_holding());
        assert_eq!(
            c.poll_write(t0 + ms(3), false, false, true),
            WriteDecision::Hold { arm: None }
        );
        // The timer fires: the next write goes out at once, whatever the clock says.
        c.handle_timer();
        assert!(!c.is_holding());
        assert_eq!(
            c.poll_write(t0 + ms(4), false, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn the_window_ends_on_its_own() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new(WINDOW);
        c.handle_write(t0, 2);
        assert!(matches!(
            c.poll_write(t0 + ms(4), false, false, true),
            WriteDecision::Hold { .. }
        ));
        assert_eq!(
            c.poll_write(t0 + WINDOW, false, false, true),
            WriteDecision::Write
        );
        // A write cancels the armed flush and starts a new window.
        c.handle_write(t0 + WINDOW, 2);
        assert!(!c.is_holding());
        assert!(matches!(
            c.poll_write(t0 + WINDOW + ms(1), false, false, true),
            WriteDecision::Hold { arm: Some(at) } if at == t0 + WINDOW + WINDOW
        ));
    }

    #[test]
    fn urgent_frames_and_a_close_never_wait() {
        let t0 = Instant::now();
        let mut c = WriteCoalescer::new(WINDOW);
        c.handle_write(t0, 2);
        assert_eq!(
            c.poll_write(t0 + ms(1), false, true, true),
            WriteDecision::Write
        );
        assert_eq!(
            c.poll_write(t0 + ms(1), true, false, true),
            WriteDecision::Write
        );
    }

    #[test]
    fn a_zero_or_unbounded_window_never_holds() {
        let t0 = Instant::now();
        for window in [Duration::ZERO, Duration::MAX] {
            let mut c = WriteCoalescer::new(window);
            c.handle_write(t0, 10);
            assert_eq!(
                c.poll_write(t0, false, false, true),
                WriteDecision::Write,
                "window {window:?}"
            );
        }
    }
}
