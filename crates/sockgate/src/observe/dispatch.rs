//! Calling the observers: the list a server holds, and the per-namespace slots.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::{ObservedNamespace, Observer};

/// The observers of one server, in registration order (the
/// [`SocketIoConfig::observers`](crate::SocketIoConfig::observers) option; add one with the
/// builder's `observer` setter).
///
/// Two configurations have the same observers when they hold the same `Arc`s in the same
/// order.
#[derive(Clone, Default)]
pub struct Observers(Vec<Arc<dyn Observer>>);

impl Observers {
    /// Adds an observer, called after those added before.
    pub fn push(&mut self, observer: Arc<dyn Observer>) {
        self.0.push(observer);
    }

    /// Removes `observer` (the same `Arc`), if present.
    #[cfg(feature = "admin")]
    pub(crate) fn remove(&mut self, observer: &Arc<dyn Observer>) {
        self.0
            .retain(|o| !std::ptr::addr_eq(Arc::as_ptr(o), Arc::as_ptr(observer)));
    }

    /// Number of observers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing observes the server: every hook is then one length check.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The observers, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Observer>> {
        self.0.iter()
    }

    /// Same `Arc`s in the same order.
    pub(crate) fn same(&self, other: &Observers) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)))
    }

    /// Calls `f` on every observer (for callbacks without a namespace).
    #[inline]
    pub(crate) fn each(&self, mut f: impl FnMut(&dyn Observer)) {
        for observer in &self.0 {
            f(&**observer);
        }
    }

    /// Calls `f` on every observer with its view of the namespace `name` (`slots` are that
    /// namespace's, made by [`NamespaceSlots::new`] for this list).
    #[inline]
    pub(crate) fn each_in(
        &self,
        name: &str,
        slots: &NamespaceSlots,
        mut f: impl FnMut(&dyn Observer, &ObservedNamespace<'_>),
    ) {
        for (observer, slot) in self.0.iter().zip(slots.0.iter()) {
            f(&**observer, &ObservedNamespace { name, slot });
        }
    }
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

/// One slot per observer in a namespace, for [`ObservedNamespace::cached`]. Empty (no
/// allocation) when nothing observes.
pub(crate) struct NamespaceSlots(Box<[OnceLock<Box<dyn Any + Send + Sync>>]>);

impl NamespaceSlots {
    pub(crate) fn new(observers: &Observers) -> NamespaceSlots {
        NamespaceSlots((0..observers.len()).map(|_| OnceLock::new()).collect())
    }
}

/// Tells `socket`'s observers that a handler of `event` failed.
pub(crate) fn handler_failed(
    socket: &crate::socket::Socket,
    event: &str,
    kind: super::HandlerFailureKind,
) {
    let failure = super::HandlerFailure {
        socket,
        event,
        kind,
    };
    socket.ns.observe(|o, ns| o.handler_failed(ns, &failure));
}

/// When a handler started, if anything observes its namespace (no clock read otherwise).
pub(crate) struct HandlerTimer(Option<std::time::Instant>);

impl HandlerTimer {
    #[inline]
    pub(crate) fn start(socket: &crate::socket::Socket) -> HandlerTimer {
        HandlerTimer(socket.ns.is_observed().then(std::time::Instant::now))
    }

    /// The handler of `event` completed (returned, its future ended, or it panicked).
    #[inline]
    pub(crate) fn finish(self, socket: &crate::socket::Socket, event: &str) {
        if let Some(started) = self.0 {
            let duration = started.elapsed();
            socket
                .ns
                .observe(|o, ns| o.handler_finished(ns, event, duration));
        }
    }
}
