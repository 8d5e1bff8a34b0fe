//! [`GatewayRouter`]: the handler table of one gateway, with its guards and filters.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::exception::ExceptionFilter;
use super::handler::GatewayScope;
use super::GatewayContext;
use crate::handler::{erase, ErasedArc, MessageHandler};
use crate::namespace::MiddlewareError;
use crate::socket::SocketRef;

/// A guard on messages: `false` refuses the message with `Forbidden resource`.
pub type MessageGuard = Arc<dyn Fn(&GatewayContext) -> bool + Send + Sync>;

pub(super) type ConnectionGuard = Arc<
    dyn Fn(SocketRef) -> Pin<Box<dyn Future<Output = Result<(), MiddlewareError>> + Send>>
        + Send
        + Sync,
>;

/// One `subscribe_message`: the event, its handler, and its own guards and filters.
pub(super) struct Route<G> {
    pub(super) event: String,
    pub(super) handler: ErasedArc<GatewayScope<G>>,
    pub(super) guards: Vec<MessageGuard>,
    pub(super) filters: Vec<Arc<dyn ExceptionFilter>>,
}

/// The handler table of one gateway, filled by [`Gateway::register`](super::Gateway::register).
pub struct GatewayRouter<G> {
    pub(super) routes: Vec<Route<G>>,
    pub(super) guards: Vec<MessageGuard>,
    pub(super) connection_guards: Vec<ConnectionGuard>,
    pub(super) filters: Vec<Arc<dyn ExceptionFilter>>,
    pub(super) server_side: Vec<(String, Arc<dyn crate::server_side::ErasedServerSide>)>,
}

impl<G> fmt::Debug for GatewayRouter<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayRouter")
            .field(
                "events",
                &self
                    .routes
                    .iter()
                    .map(|r| r.event.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Options of one handler, returned by [`GatewayRouter::subscribe_message`].
#[derive(Debug)]
pub struct RouteConfig<'a, G> {
    router: &'a mut GatewayRouter<G>,
    index: usize,
}

impl<G> RouteConfig<'_, G> {
    /// A guard for this handler only (`@UseGuards` on the method).
    pub fn guard(self, guard: impl Fn(&GatewayContext) -> bool + Send + Sync + 'static) -> Self {
        self.router.routes[self.index].guards.push(Arc::new(guard));
        self
    }

    /// A filter for this handler only (`@UseFilters` on the method).
    pub fn filter(self, filter: impl ExceptionFilter) -> Self {
        self.router.routes[self.index]
            .filters
            .push(Arc::new(filter));
        self
    }
}

impl<G: Send + Sync + 'static> GatewayRouter<G> {
    pub(super) fn new() -> Self {
        GatewayRouter {
            routes: Vec::new(),
            guards: Vec::new(),
            connection_guards: Vec::new(),
            filters: Vec::new(),
            server_side: Vec::new(),
        }
    }

    /// Handles a server-side event on the gateway's namespace: what another server of the
    /// cluster sends with `serverSideEmit` (Node's `io.on(event, ...)`; NestJS has no
    /// decorator for it). `handler` takes [`crate::server_side`] extractors (`Data`, `Args`,
    /// `AckSender`...) and the gateway itself as `Arc<G>`. Guards and exception filters do not
    /// apply (no client is involved); errors are logged.
    pub fn on_server_side<H, M>(&mut self, event: &str, handler: H) -> &mut Self
    where
        H: crate::server_side::ServerSideHandler<M>,
        M: Send + Sync + 'static,
    {
        self.server_side
            .push((event.to_owned(), crate::server_side::erase(handler)));
        self
    }

    /// `@SubscribeMessage(event)`: `handler` is `fn(&G, extractors...) -> R`,
    /// `async fn(Arc<G>, extractors...) -> R`, or any handler of the server
    /// (`Fn(extractors...) -> R`, async or not), where `R` is an [`IntoWsReply`](super::IntoWsReply) and the
    /// extractors any [`FromMessageParts<GatewayScope<G>>`](crate::handler::FromMessageParts): the server's
    /// and the gateway's.
    pub fn subscribe_message<H, M>(&mut self, event: &str, handler: H) -> RouteConfig<'_, G>
    where
        H: MessageHandler<M, GatewayScope<G>>,
        M: Send + Sync + 'static,
    {
        self.routes.push(Route {
            event: event.to_owned(),
            handler: erase(handler),
            guards: Vec::new(),
            filters: Vec::new(),
        });
        let index = self.routes.len() - 1;
        RouteConfig {
            router: self,
            index,
        }
    }

    /// A guard on every message of this gateway (`@UseGuards` on the class).
    pub fn use_guard(
        &mut self,
        guard: impl Fn(&GatewayContext) -> bool + Send + Sync + 'static,
    ) -> &mut Self {
        self.guards.push(Arc::new(guard));
        self
    }

    /// A guard on connecting: an error refuses the socket with `connect_error` (its message
    /// and data) before any hook or handler runs, and takes it out of any room an earlier guard
    /// joined. NestJS has none (#882).
    pub fn use_connection_guard<F, Fut>(&mut self, guard: F) -> &mut Self
    where
        F: Fn(SocketRef) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), MiddlewareError>> + Send + 'static,
    {
        self.connection_guards
            .push(Arc::new(move |socket| Box::pin(guard(socket))));
        self
    }

    /// An exception filter for every handler of this gateway (`@UseFilters` on the class).
    pub fn use_filter(&mut self, filter: impl ExceptionFilter) -> &mut Self {
        self.filters.push(Arc::new(filter));
        self
    }
}
