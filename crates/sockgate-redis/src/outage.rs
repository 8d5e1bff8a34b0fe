//! Logs a Redis outage once when it starts and once when it ends, not once per message.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::driver::DriverError;

#[derive(Debug, Default)]
pub(crate) struct Outage {
    down: AtomicBool,
    dropping: AtomicBool,
}

impl Outage {
    /// A Redis command failed.
    pub(crate) fn failed(&self, operation: &str, error: &DriverError) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                %operation,
                %error,
                "cross-node messages are failing; local delivery goes on and the adapter \
                 keeps retrying (logged once until redis answers again)"
            );
        }
    }

    /// A message was dropped because too many are waiting to be published.
    pub(crate) fn dropped(&self) {
        if !self.dropping.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "redis publish queue is full: cross-node messages are dropped until it drains \
                 (logged once until then)"
            );
        }
    }

    /// A Redis command succeeded.
    pub(crate) fn ok(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("redis answers again: cross-node messages resume");
        }
        self.dropping.store(false, Ordering::Release);
    }
}
