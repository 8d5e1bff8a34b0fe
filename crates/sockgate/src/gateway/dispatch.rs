//! Dispatch: how an installed gateway receives its sockets and messages (the connect hook,
//! the connection guards, one server handler per route, the guards, the handler call).

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};

use futures_util::FutureExt;

use super::definition::Gateway;
use super::exception::{ExceptionContext, ExceptionFilter, FilterChain, WsException};
use super::extract::GatewayContext;
use super::gate::{Admission, ConnectionGate, EarlyMessage};
use super::handler::{exception_context, panicked, GatewayScope};
use super::options::GatewayNamespace;
use super::router::GatewayRouter;
use crate::handler::{MessageHandler, MessageParts};
use crate::namespace::NamespaceRef;
use crate::server::SocketIo;
use crate::socket::SocketRef;

/// Installs a gateway on a server: its connect hook and gate, connection guards, and (now for
/// a static namespace, on each child's first connect for a dynamic one) its routes.
pub(super) fn install<G: Gateway>(
    io: &SocketIo,
    gateway: Arc<G>,
    namespace: GatewayNamespace,
    global_filters: &[Arc<dyn ExceptionFilter>],
) {
    let mut router = GatewayRouter::new();
    G::register(&mut router);
    let router = Arc::new(router);
    let mut base_filters = router.filters.clone();
    base_filters.extend(global_filters.iter().cloned());
    let base_filters = FilterChain {
        filters: base_filters,
    };

    // The children of a dynamic namespace are created on their first connect and inherit
    // only the connect handler and the middlewares of the pattern's namespace, so the message
    // handlers and the disconnect hook are bound on each child when its first socket connects
    // (before any of its messages is read).
    let dynamic = matches!(namespace, GatewayNamespace::Pattern(_));
    let bound_children = Arc::new(parking_lot::Mutex::new(BoundChildren::default()));
    let bind = {
        let router = router.clone();
        let gateway = gateway.clone();
        let base_filters = base_filters.clone();
        move |ns: &NamespaceRef| bind_routes(ns, &router, &gateway, &base_filters)
    };
    let bind = Arc::new(bind);

    let connect_gateway = gateway.clone();
    let connect_filters = base_filters.clone();
    let connect_bind = bind.clone();
    let on_connect = move |socket: SocketRef| {
        if dynamic {
            let ns = socket.namespace();
            let first = bound_children.lock().first_sight(ns.name(), &ns.0);
            if first {
                connect_bind(&ns);
            }
        }
        let gate = Arc::new(ConnectionGate::new(
            socket.ns.server().config.engine.session.max_payload,
        ));
        socket.extensions.insert(gate.clone());
        let gateway = connect_gateway.clone();
        let filters = connect_filters.clone();
        async move {
            // A panic in the hook is treated like an error (and the gate still opens).
            let result = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                gateway.handle_connection(socket.clone())
            })) {
                Ok(future) => AssertUnwindSafe(future)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked("handle_connection", &panic))),
                Err(panic) => Err(panicked("handle_connection", &panic)),
            };
            let ok = result.is_ok();
            if let Err(exception) = result {
                filters.handle(
                    &exception,
                    &ExceptionContext {
                        socket: socket.clone(),
                        pattern: "handleConnection".to_owned(),
                        data: socket.handshake().auth.clone(),
                    },
                );
                socket.0.disconnect();
            }
            gate.decide(ok);
        }
    };
    let ns = match &namespace {
        GatewayNamespace::Static(name) => io.ns(name, on_connect),
        GatewayNamespace::Pattern(pattern) => io.dynamic_ns(pattern, on_connect),
    };
    for guard in router.connection_guards.iter().cloned() {
        ns.use_middleware(move |socket: SocketRef| {
            let refused = guard(socket.clone());
            async move {
                let result = refused.await;
                if result.is_err() {
                    // An earlier guard may have joined rooms: a refused socket leaves no trace
                    // in the adapter (socketioxide's fix; the server's connect path does not
                    // clean up after a refusing middleware).
                    socket.ns.adapter().del_all(socket.id());
                }
                result
            }
        });
    }
    if !dynamic {
        bind(&ns);
    }
    gateway.after_init(&ns);
}

/// Binds the disconnect hook and the message handlers of a gateway on one namespace.
fn bind_routes<G: Gateway>(
    ns: &NamespaceRef,
    router: &Arc<GatewayRouter<G>>,
    gateway: &Arc<G>,
    base_filters: &FilterChain,
) {
    let disconnect_gateway = gateway.clone();
    ns.on_disconnect(move |socket, reason| {
        // Nothing that still waits for the gate will run: free it now.
        if let Some(gate) = socket.extensions.get::<Arc<ConnectionGate>>() {
            gate.refuse();
        }
        let gateway = disconnect_gateway.clone();
        crate::socket::guarded(move || gateway.handle_disconnect(socket, reason));
    });

    for (event, handler) in &router.server_side {
        let gateway: Arc<dyn std::any::Any + Send + Sync> = gateway.clone();
        ns.0.server_side_handlers.write().insert(
            event.clone().into_boxed_str(),
            crate::server_side::with_gateway(gateway, handler.clone()),
        );
    }

    for index in 0..router.routes.len() {
        let route = &router.routes[index];
        let mut filters = route.filters.clone();
        filters.extend(base_filters.filters.iter().cloned());
        let dispatch = RouteDispatch {
            router: router.clone(),
            index,
            gateway: gateway.clone(),
            filters: Arc::new(FilterChain { filters }),
        };
        ns.on(route.event.clone(), dispatch);
    }
}

/// The server handler of one route: admits the message through the connection gate, then
/// runs the route.
struct RouteDispatch<G> {
    router: Arc<GatewayRouter<G>>,
    index: usize,
    gateway: Arc<G>,
    /// The route's filters, then the gateway's, then the global ones.
    filters: Arc<FilterChain>,
}

impl<G> Clone for RouteDispatch<G> {
    fn clone(&self) -> Self {
        RouteDispatch {
            router: self.router.clone(),
            index: self.index,
            gateway: self.gateway.clone(),
            filters: self.filters.clone(),
        }
    }
}

/// The marker of [`RouteDispatch`] as a [`MessageHandler`].
#[derive(Debug)]
pub(super) struct RouteMarker;

/// Registered with [`NamespaceRef::on`] as any handler is: it takes the message by value when
/// it alone handles it (no copy of the payload).
impl<G: Gateway> MessageHandler<RouteMarker> for RouteDispatch<G> {
    fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, _: ()) {
        let parts = parts.into_owned();
        let gate = match socket.extensions.get::<Arc<ConnectionGate>>() {
            Some(gate) if !gate.is_open() => gate,
            _ => return self.run(socket, parts),
        };
        let start = {
            let this = self.clone();
            let socket = socket.clone();
            move |parts: MessageParts| this.run(socket, parts)
        };
        let message = EarlyMessage {
            parts,
            start: Box::new(start),
        };
        match gate.admit(message) {
            Admission::Run(message) => message.start(),
            Admission::Queued | Admission::Refused => {}
            Admission::Full(message, first) => {
                let context = GatewayContext::new(socket.clone(), message.parts);
                if first {
                    tracing::warn!(
                        socket = %socket.id(),
                        event = %context.parts.event,
                        "too many messages before handle_connection finished: refusing \
                         them (logged once per socket)"
                    );
                }
                self.filters.handle(
                    &WsException::new("Too many messages before the connection was ready"),
                    &exception_context(&context),
                );
            }
        }
    }
}

impl<G: Gateway> RouteDispatch<G> {
    /// Runs the guards, then the handler in the gateway's scope.
    fn run(&self, socket: SocketRef, parts: MessageParts) {
        let route = &self.router.routes[self.index];
        let context = Arc::new(GatewayContext::new(socket.clone(), parts));
        let allowed = self
            .router
            .guards
            .iter()
            .chain(&route.guards)
            .all(|guard| guard(&context));
        if !allowed {
            self.filters
                .handle(&WsException::forbidden(), &exception_context(&context));
            return;
        }
        let scope = GatewayScope {
            gateway: self.gateway.clone(),
            context: context.clone(),
            filters: self.filters.clone(),
            ack_taken: AtomicBool::new(false),
        };
        route
            .handler
            .call(socket, Cow::Borrowed(&context.parts), scope);
    }
}

/// The children of a dynamic namespace a gateway has bound its handlers on, held weakly.
///
/// A child that the server frees (empty-child cleanup) and creates again under the same name
/// is a new namespace without handlers: the gateway must bind it again, so the entry is the
/// namespace itself (by address), not its name, and it never keeps a freed child alive. Dead
/// entries are pruned when the table has doubled since the last pruning, so it stays within
/// twice the number of live children (plus a small floor).
struct BoundChildren<T> {
    children: HashMap<String, Weak<T>>,
    prune_at: usize,
}

impl<T> Default for BoundChildren<T> {
    fn default() -> Self {
        BoundChildren {
            children: HashMap::new(),
            prune_at: BoundChildren::<T>::MIN_PRUNE,
        }
    }
}

impl<T> BoundChildren<T> {
    const MIN_PRUNE: usize = 64;

    /// True the first time `child` is seen (the caller then binds it); false for a child
    /// already bound.
    fn first_sight(&mut self, name: &str, child: &Arc<T>) -> bool {
        if let Some(bound) = self.children.get(name) {
            // Our `Weak` keeps the allocation, so the same address is the same namespace.
            if std::ptr::eq(bound.as_ptr(), Arc::as_ptr(child)) {
                return false;
            }
        }
        self.children.insert(name.to_owned(), Arc::downgrade(child));
        if self.children.len() >= self.prune_at {
            self.children.retain(|_, child| child.strong_count() > 0);
            self.prune_at = (self.children.len() * 2).max(Self::MIN_PRUNE);
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.children.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_bound_once_while_it_lives() {
        let mut bound = BoundChildren::default();
        let child = Arc::new("tenant a");
        assert!(bound.first_sight("/tenant/a", &child));
        assert!(!bound.first_sight("/tenant/a", &child));
        assert!(!bound.first_sight("/tenant/a", &child.clone()));
        let other = Arc::new("tenant b");
        assert!(bound.first_sight("/tenant/b", &other));
    }

    #[test]
    fn a_child_freed_and_created_again_under_its_name_is_bound_again() {
        let mut bound = BoundChildren::default();
        let child = Arc::new(String::from("first"));
        let weak = Arc::downgrade(&child);
        assert!(bound.first_sight("/tenant/a", &child));
        drop(child);
        // Not kept alive by the table.
        assert_eq!(weak.strong_count(), 0);
        // A new namespace under the same name has no handlers yet: bind it (a table of names
        // said "bound" here and the new child never got its handlers).
        let again = Arc::new(String::from("second"));
        assert!(bound.first_sight("/tenant/a", &again));
        assert!(!bound.first_sight("/tenant/a", &again));
    }

    #[test]
    fn the_table_is_bounded_by_the_live_children() {
        let mut bound = BoundChildren::default();
        let live: Vec<Arc<u32>> = (0..10).map(Arc::new).collect();
        for (i, child) in live.iter().enumerate() {
            assert!(bound.first_sight(&format!("/live/{i}"), child));
        }
        // 10,000 short-lived children (one client each, then freed by the server).
        for i in 0..10_000u32 {
            let child = Arc::new(i);
            assert!(bound.first_sight(&format!("/gone/{i}"), &child));
        }
        assert!(
            bound.len() <= 2 * 10 + BoundChildren::<u32>::MIN_PRUNE,
            "{}",
            bound.len()
        );
        for (i, child) in live.iter().enumerate() {
            assert!(
                !bound.first_sight(&format!("/live/{i}"), child),
                "live child {i}"
            );
        }
    }
}
