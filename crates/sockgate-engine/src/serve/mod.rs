//! Serving the engine (or any HTTP service with the engine layered in) alone on a listener.
//!
//! - this file: [`serve`], the [`Serve`] future and its options, graceful shutdown;
//! - `accept`: the accept loop, the connection cap and the shutdown drain;
//! - `connection`: one HTTP/1.1 connection and its graceful close;
//! - `idle`: when a connection is idle (pure, time passed in).
//!
//! Why the accept loop is our own and not `hyper-util`'s: hyper-util has no accept loop (its
//! `server::conn::auto` serves one connection, like hyper's `http1::Builder` used here), and its
//! `server::graceful::GracefulShutdown` cannot serve us: it watches only connections of its
//! sealed `GracefulConnection` trait, which HTTP/1.1 connections *with upgrades* (which every
//! WebSocket needs) implement only through the `auto` builder, and that builder needs hyper's
//! HTTP/2 and the `h2` crate compiled in, for a protocol the engine does not serve. Once it wraps
//! a connection, nobody else can call `graceful_shutdown` on it either, and our
//! [`HttpConfig::idle_timeout`] does exactly that. The connection cap must also outlive the
//! HTTP connection (an upgraded WebSocket keeps its place), which a per-connection builder
//! knows nothing of. What hyper-util does give, its Tokio I/O adapter and timer, is used.

mod accept;
mod connection;
mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::HttpConfig;
use crate::engine::Engine;
use crate::handler::EngineHandler;
use crate::service::BoxFuture;
use crate::BoxError;

pub(crate) use accept::ConnectionSlot;
use accept::{run, ConnectionContext};
use connection::serve_connection;

impl<H: EngineHandler> Engine<H> {
    /// Serves the engine alone on `listener`, with the engine's [`HttpConfig`]; other paths
    /// get 404. Await the result, or call [`Serve::with_graceful_shutdown`] first.
    pub fn serve(self, listener: TcpListener) -> Serve {
        let http = self.shared.config.http.clone();
        let not_found = tower::service_fn(|_req: Request<Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"Not Found")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(response)
        });
        serve(listener, self.layer().layer(not_found)).http_config(http)
    }
}

/// Serves any HTTP service (an engine, or an axum `Router` with the engine layered on it) on
/// `listener`, with HTTP/1.1 upgrades enabled and the peer address in [`RemoteAddr`](crate::RemoteAddr).
///
/// The returned [`Serve`] is a future (await it or spawn it) that serves until it is dropped
/// (accept errors, such as running out of file descriptors, are logged and retried after a
/// pause), or until its shutdown signal; [`HttpConfig::default`] applies unless [`Serve::http_config`] says otherwise, and
/// [`Serve::with_graceful_shutdown`] adds a shutdown signal, as with `axum::serve`.
pub fn serve<S, ResBody>(listener: TcpListener, service: S) -> Serve
where
    S: Service<Request<Incoming>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    // Behind a mutex only to make the factory `Sync` without asking it of `S`; it is locked
    // once per accepted connection, to clone the service.
    let service = parking_lot::Mutex::new(service);
    let connect: Connect = Arc::new(move |stream, peer, ctx| {
        let service = service.lock().clone();
        Box::pin(serve_connection(stream, peer, service, ctx))
    });
    Serve {
        state: ServeState::Ready(Parts {
            listener,
            connect,
            config: HttpConfig::default(),
        }),
    }
}

type Connect = Arc<dyn Fn(TcpStream, SocketAddr, ConnectionContext) -> BoxFuture<()> + Send + Sync>;

struct Parts {
    listener: TcpListener,
    connect: Connect,
    config: HttpConfig,
}

enum ServeState {
    Ready(Parts),
    Running(BoxFuture<std::io::Result<()>>),
    Done,
}

impl ServeState {
    /// The options, while they can still change (a `Serve` is configured before it runs).
    fn parts(&mut self) -> Option<&mut Parts> {
        match self {
            ServeState::Ready(parts) => Some(parts),
            _ => None,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        signal: impl FnOnce() -> Option<BoxFuture<()>>,
    ) -> Poll<std::io::Result<()>> {
        if matches!(self, ServeState::Ready(_)) {
            if let ServeState::Ready(parts) = std::mem::replace(self, ServeState::Done) {
                *self = ServeState::Running(Box::pin(run(parts, signal())));
            }
        }
        match self {
            ServeState::Running(future) => {
                let result = std::task::ready!(future.as_mut().poll(cx));
                *self = ServeState::Done;
                Poll::Ready(result)
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// A server on a listener, returned by [`serve`], `Engine::serve` and `SocketIo::serve`: a
/// future that accepts connections until it is dropped or, with
/// [`Serve::with_graceful_shutdown`], until its signal. Configure it before awaiting it.
/// Dropping it closes the listener and drops its HTTP connections at once; upgraded
/// WebSockets belong to their sessions and live on.
#[must_use = "a Serve does nothing until awaited or spawned"]
pub struct Serve {
    state: ServeState,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Serve");
        if let ServeState::Ready(parts) = &self.state {
            d.field("config", &parts.config);
        }
        d.finish_non_exhaustive()
    }
}

impl Serve {
    /// Replaces the connection-level options.
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        if let Some(parts) = self.state.parts() {
            parts.config = config;
        }
        self
    }

    /// Sets [`HttpConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        if let Some(parts) = self.state.parts() {
            parts.config.header_read_timeout = timeout;
        }
        self
    }

    /// Sets [`HttpConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        if let Some(parts) = self.state.parts() {
            parts.config.idle_timeout = timeout;
        }
        self
    }

    /// Sets [`HttpConfig::max_connections`].
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        if let Some(parts) = self.state.parts() {
            parts.config.max_connections = max;
        }
        self
    }

    /// Sets [`HttpConfig::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        if let Some(parts) = self.state.parts() {
            parts.config.shutdown_timeout = timeout;
        }
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.state {
            ServeState::Ready(parts) => parts.listener.local_addr(),
            _ => Err(std::io::Error::other("the server is already running")),
        }
    }

    /// Stops when `signal` completes: the listener is closed (new connections are refused),
    /// idle keep-alive connections are closed, and requests in flight may finish for up to
    /// [`HttpConfig::shutdown_timeout`] before their connections are dropped; then the future
    /// resolves, which tells the caller that no HTTP request is being served any more.
    ///
    /// Upgraded WebSockets and parked long-polling GETs belong to sessions, not to HTTP: close
    /// the sessions (Socket.IO's `io.close()`, or `Engine::close_all`) to end them, for example
    /// inside `signal` before it completes, so that parked GETs are answered instead of waiting
    /// for the shutdown bound.
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// sockgate_engine::serve(listener, app)
    ///     .with_graceful_shutdown(async {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            state: self.state,
            signal: Some(Box::pin(signal)),
        }
    }
}

impl Future for Serve {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state.poll(cx, || None)
    }
}

/// A [`Serve`] with a shutdown signal (see [`Serve::with_graceful_shutdown`]).
#[must_use = "a server does nothing until awaited or spawned"]
pub struct WithGracefulShutdown {
    state: ServeState,
    signal: Option<BoxFuture<()>>,
}

impl std::fmt::Debug for WithGracefulShutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .finish_non_exhaustive()
    }
}

impl Future for WithGracefulShutdown {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let signal = &mut this.signal;
        this.state.poll(cx, || signal.take())
    }
}
