//! Serving the engine: as a tower `Service`, as a `Layer` in front of an application's routes
//! (axum), or alone on a listener.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::HttpConfig;
use crate::engine::{Engine, ResponseBody};
use crate::handler::EngineHandler;
use crate::mount::EngineLayer;
use crate::request::RemoteAddr;
use crate::BoxError;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The engine as a tower `Service` answering every request it gets.
#[derive(Debug)]
pub struct EngineService<H: EngineHandler> {
    engine: Engine<H>,
}

impl<H: EngineHandler> Clone for EngineService<H> {
    fn clone(&self) -> Self {
        EngineService {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler, B> Service<Request<B>> for EngineService<H>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.handle(request).await) })
    }
}

impl<H: EngineHandler> Engine<H> {
    /// The engine as a `Service` (for `Router::route_service` or `nest_service`).
    pub fn service(&self) -> EngineService<H> {
        EngineService {
            engine: self.clone(),
        }
    }

    /// The engine as a `Layer` in front of other routes (for `Router::layer`).
    pub fn layer(&self) -> EngineLayer<H> {
        EngineLayer {
            engine: self.clone(),
        }
    }

    /// Serves the engine alone on `listener`, with the engine's [`HttpConfig`]; other paths
    /// get 404. Await the result, or call [`Serve::with_graceful_shutdown`] first.
    pub fn serve(self, listener: TcpListener) -> Serve {
        let http = self.shared.config.http.clone();
        let not_found = service_fn(|_req: Request<Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"Not Found")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(response)
        });
        serve(listener, self.layer().layer(not_found)).http_config(http)
    }
}

/// Serves any HTTP service (an engine, or an axum `Router` with the engine layered on it) on
/// `listener`, with HTTP/1.1 upgrades enabled and the peer address in [`RemoteAddr`].
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

/// What one connection task gets from the accept loop.
struct ConnectionContext {
    config: Arc<HttpConfig>,
    shutdown: watch::Receiver<bool>,
    slot: Option<ConnectionSlot>,
}

/// A place under [`HttpConfig::max_connections`], held by the connection's task and, after a
/// WebSocket upgrade, by the WebSocket's task (the upgrade takes it from the request's
/// extensions), so upgraded connections count too.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

async fn run(parts: Parts, signal: Option<BoxFuture<()>>) -> std::io::Result<()> {
    let Parts {
        listener,
        connect,
        config,
    } = parts;
    let config = Arc::new(config);
    let limit = config.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let slot = match &limit {
                    None => None,
                    Some(limit) => match limit.clone().try_acquire_owned() {
                        Ok(permit) => Some(ConnectionSlot(Arc::new(permit))),
                        Err(_) => {
                            refuse_over_cap(stream, peer);
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let ctx = ConnectionContext {
                    config: config.clone(),
                    shutdown: shutdown_rx.clone(),
                    slot,
                };
                tasks.spawn(connect(stream, peer, ctx));
            }
            // Reap finished connection tasks so the set stays as large as the live ones.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = &mut signal => break,
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "graceful shutdown: requests still in flight after the shutdown timeout, dropping their connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Over the connection cap: a best-effort 503 (one non-blocking write, never a wait), then
/// close.
fn refuse_over_cap(stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "connection cap reached, refusing a connection");
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
}

/// Whether a connection has a request in flight, and since when it has none.
struct Activity {
    state: parking_lot::Mutex<(usize, Instant)>,
    changed: Notify,
}

struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.state.lock().0 += 1;
        self.changed.notify_waiters();
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut state = self.0.state.lock();
            state.0 -= 1;
            state.1 = Instant::now();
        }
        self.0.changed.notify_waiters();
    }
}

/// Completes once the connection has had no request in flight for `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let changed = activity.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (busy, since) = *activity.state.lock();
        if busy > 0 {
            changed.await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep_until((since + timeout).into()) => {
                if *activity.state.lock() == (0, since) {
                    return;
                }
            }
            () = changed => {}
        }
    }
}

async fn serve_connection<S, ResBody>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    ctx: ConnectionContext,
) where
    S: Service<Request<Incoming>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let ConnectionContext {
        config,
        mut shutdown,
        slot,
    } = ctx;
    let activity = Arc::new(Activity {
        state: parking_lot::Mutex::new((0, Instant::now())),
        changed: Notify::new(),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(RemoteAddr(peer));
        if let Some(slot) = &slot {
            request.extensions_mut().insert(slot.clone());
        }
        let busy = requests.begin();
        let mut service = service.clone();
        async move {
            let response = service.call(request).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Without a timer hyper silently ignores `header_read_timeout`.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    // hyper's header clock also runs while a keep-alive connection waits for its next request,
    // so our own idle timer is needed only when it is the shorter one.
    let idle_timeout = config.idle_timeout.filter(|idle| {
        config
            .header_read_timeout
            .is_none_or(|header| *idle < header)
    });
    let mut idle_armed = idle_timeout.is_some();
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            changed = shutdown.changed(), if !stopping => {
                // An error means the accept loop is gone: stop as well.
                let _ = changed;
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = idle(&activity, idle_timeout.unwrap_or_default()), if idle_armed => {
                idle_armed = false;
                connection.as_mut().graceful_shutdown();
            }
        }
    };
    if let Err(error) = result {
        tracing::trace!(%error, %peer, "HTTP connection ended with an error");
    }
}

/// A tower service from an async function (for fallbacks in front of which an engine is
/// layered).
pub fn service_fn<F, Fut, Req, Res, E>(f: F) -> ServiceFn<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Res, E>>,
{
    ServiceFn(f)
}

/// The service [`service_fn`] returns.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFn<F>(F);

impl<F, Fut, Req, Res, E> Service<Req> for ServiceFn<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Res, E>>,
{
    type Response = Res;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Fut {
        (self.0)(request)
    }
}
