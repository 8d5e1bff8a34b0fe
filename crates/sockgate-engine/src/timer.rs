//! One shared timer per engine drives every session's heartbeat and timeouts.
//!
//! A tokio `Sleep` per connection would cost an allocation and a timer-wheel entry for each idle
//! client. Instead each session registers its next deadline (from `Session::poll_timeout`) in a
//! heap, and a single task wakes at the earliest one. Entries are never removed when a deadline
//! moves: a stale entry just makes the task check a session that has nothing due, which is
//! cheaper than keeping the heap exact. Each session has at most a couple of entries.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

struct Entry<T> {
    at: Instant,
    target: Weak<T>,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest deadline on top.
        other.at.cmp(&self.at)
    }
}

/// A heap of deadlines serviced by one task.
pub(crate) struct SharedTimer<T> {
    heap: Mutex<BinaryHeap<Entry<T>>>,
    earlier: Notify,
}

impl<T: Send + Sync + 'static> SharedTimer<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SharedTimer {
            heap: Mutex::new(BinaryHeap::new()),
            earlier: Notify::new(),
        })
    }

    /// Asks for `fire(target, now)` to run at or after `at`.
    pub(crate) fn schedule(&self, target: &Arc<T>, at: Instant) {
        let mut heap = self.heap.lock();
        let is_earliest = heap.peek().is_none_or(|top| at < top.at);
        heap.push(Entry {
            at,
            target: Arc::downgrade(target),
        });
        drop(heap);
        if is_earliest {
            self.earlier.notify_one();
        }
    }

    /// Runs until `timer` is the last reference to itself (the engine was dropped).
    pub(crate) async fn run(self: Arc<Self>, fire: impl Fn(Arc<T>, Instant)) {
        loop {
            let next = {
                let now = Instant::now();
                let mut due = Vec::new();
                let mut heap = self.heap.lock();
                while heap.peek().is_some_and(|top| top.at <= now) {
                    if let Some(entry) = heap.pop() {
                        due.push(entry);
                    }
                }
                let next = heap.peek().map(|top| top.at);
                drop(heap);
                for entry in due {
                    if let Some(target) = entry.target.upgrade() {
                        fire(target, now);
                    }
                }
                next
            };
            if Arc::strong_count(&self) == 1 {
                return;
            }
            let notified = self.earlier.notified();
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = notified => {}
                    }
                }
                None => {
                    tokio::select! {
                        _ = notified => {}
                        // Wake now and then so a dropped engine lets this task end.
                        _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    }
                }
            }
        }
    }
}
