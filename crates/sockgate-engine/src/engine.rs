//! The engine: the session table, request dispatch (routing itself is decided in `route`)
//! and the handshake.
//!
//! One file because the session table, the request dispatch and the `Reporter` (settling
//! closes) are one lock discipline over the same table.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use parking_lot::Mutex;
use sockgate_proto::engine::{handshake_json, Session, SessionConfig, Sid, TransportKind};
use tracing::Instrument;

use crate::config::EngineConfig;
use crate::connection::{BySid, Connection, Reporter};
use crate::error::RequestError;
use crate::handler::EngineHandler;
use crate::request::RequestInfo;
use crate::route::{route_request, route_session, RequestLine, SessionRoute, Target};
use crate::session_state::SessionState;
use crate::timer::SharedTimer;
use crate::{polling, websocket, BoxError};

/// The body of every response the engine writes.
pub type ResponseBody = Full<Bytes>;

/// An Engine.IO v4 server: owns the sessions and answers the requests under its path.
///
/// Serve it alone with [`crate::serve`], or mount it on an axum `Router` with
/// [`Engine::layer`] so it shares the application's port.
pub struct Engine<H: EngineHandler> {
    pub(crate) shared: Arc<Shared<H>>,
}

impl<H: EngineHandler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine {
            shared: self.shared.clone(),
        }
    }
}

impl<H: EngineHandler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.shared.config)
            .field("sessions", &self.session_count())
            .finish()
    }
}

pub(crate) struct Shared<H: EngineHandler> {
    pub(crate) config: EngineConfig,
    pub(crate) session_config: Arc<SessionConfig>,
    pub(crate) handler: H,
    /// Keyed by each connection's own sid (see [`BySid`]): an entry is one pointer, not a
    /// copy of the 20-byte sid next to it.
    sessions: Mutex<HashSet<BySid<H::Data>>>,
    timer: Arc<SharedTimer<Connection<H::Data>>>,
    timer_started: AtomicBool,
    /// Set by [`Engine::shutdown`]: new handshakes are refused with 503.
    shutting_down: AtomicBool,
    this: Weak<Shared<H>>,
}

impl<H: EngineHandler> Engine<H> {
    /// An engine with these options, calling `handler` for each session.
    pub fn new(mut config: EngineConfig, handler: H) -> Engine<H> {
        // `path` is a public field, so it may lack the trailing `/` that `EngineConfig::path`
        // adds: normalise it, so prefix matching and sub-paths behave the same either way.
        if !config.path.ends_with('/') {
            config.path.push('/');
        }
        let session_config = Arc::new(config.session.clone());
        let shared = Arc::new_cyclic(|this| Shared {
            config,
            session_config,
            handler,
            sessions: Mutex::new(HashSet::new()),
            timer: SharedTimer::new(),
            timer_started: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            this: this.clone(),
        });
        Engine { shared }
    }

    /// The options.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.shared.handler
    }

    /// Number of live sessions (closing ones included until they are released).
    pub fn session_count(&self) -> usize {
        self.shared.sessions.lock().len()
    }

    /// The session with this sid, if it is live.
    pub fn connection(&self, sid: Sid) -> Option<Arc<Connection<H::Data>>> {
        self.shared.sessions.lock().get(&sid).map(BySid::connection)
    }

    /// Every live session.
    pub fn connections(&self) -> Vec<Arc<Connection<H::Data>>> {
        self.shared
            .sessions
            .lock()
            .iter()
            .map(BySid::connection)
            .collect()
    }

    /// Closes every session (their queues are still delivered).
    pub fn close_all(&self) {
        for connection in self.connections() {
            connection.close();
        }
    }

    /// Shuts the engine down gracefully: refuses new handshakes (503), closes every session
    /// after its queue (a WebSocket writes what is queued, then closes; a polling client gets
    /// the rest of its queue, then a close packet), and resolves once every session is gone,
    /// or after `timeout`, when the sessions still open are dropped (their clients were too
    /// slow to read). Packets clients send meanwhile are discarded: their sessions are closed.
    /// Once it resolved, handshakes are accepted again. Returns how many sessions had to be
    /// dropped.
    pub async fn shutdown(&self, timeout: std::time::Duration) -> usize {
        self.shared.shutting_down.store(true, Ordering::Release);
        self.close_all();
        let deadline = Instant::now() + timeout;
        // Polled: a shutdown runs once, and a notification per removed session would cost
        // every close in normal operation.
        while self.session_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let left = self.connections();
        for connection in &left {
            connection.fail(sockgate_proto::engine::CloseReason::TransportError);
        }
        // Aborted WebSocket drivers stop their writes at once; give them a moment to go.
        let grace = Instant::now() + std::time::Duration::from_millis(500);
        while self.session_count() > 0 && Instant::now() < grace {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Drained: the engine may serve again (a process usually exits now).
        self.shared.shutting_down.store(false, Ordering::Release);
        left.len()
    }

    /// Starts a shutdown without closing anything: from now on handshakes are refused with
    /// 503 and [`Engine::is_shutting_down`] is true (a health check answers 503 with it, so a
    /// load balancer takes the node out), while the sessions already open keep working until
    /// they are closed one by one, or all at once by [`Engine::shutdown`], which finishes it.
    pub fn begin_shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::Release);
    }

    /// Whether [`Engine::shutdown`] or [`Engine::begin_shutdown`] was called (and the
    /// shutdown has not finished yet).
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Acquire)
    }

    /// True when `path` is under this engine's path.
    pub fn matches(&self, path: &str) -> bool {
        self.shared.matches(path)
    }

    /// Answers one HTTP request addressed to the engine.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.shared.clone().handle(request).await
    }
}

impl<H: EngineHandler> Shared<H> {
    pub(crate) fn matches(&self, path: &str) -> bool {
        // The configured path may lack its trailing `/` (the field is public): without it,
        // a prefix test would also capture `/socket.io-admin` for `/socket.io`.
        let base = self.config.path.trim_end_matches('/');
        match path.strip_prefix(base) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The `allowed_origins` check of a handshake or upgrade.
    fn check_origin(&self, headers: &http::HeaderMap) -> Result<(), RequestError> {
        let (Some(allowed), Some(origin)) =
            (&self.config.allowed_origins, headers.get(header::ORIGIN))
        else {
            return Ok(());
        };
        match origin.to_str() {
            Ok(origin) if allowed.allows(origin) => Ok(()),
            _ => Err(RequestError::Forbidden("Origin not allowed".to_owned())),
        }
    }

    pub(crate) async fn handle<B>(self: Arc<Self>, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // Only CORS reads the request's headers after it is handed on. Cloned only then: a
        // clone costs allocations on every request, and it would pin the block of hyper's
        // read buffer the headers point into for as long as a long-poll is parked.
        let request_headers = self
            .config
            .cors
            .as_ref()
            .map(|_| request.headers().clone())
            .unwrap_or_default();
        let mut response = if request.method() == Method::OPTIONS && self.config.cors.is_some() {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Some(cors) = &self.config.cors {
                cors.apply_preflight(&request_headers, response.headers_mut());
            }
            return response;
        } else {
            match self.clone().route(request).await {
                Ok(response) => response,
                Err(error) => error_response(&error),
            }
        };
        if let Some(cors) = &self.config.cors {
            cors.apply(&request_headers, response.headers_mut());
        }
        response
    }

    async fn route<B>(
        self: Arc<Self>,
        request: Request<B>,
    ) -> Result<Response<ResponseBody>, RequestError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let line = RequestLine {
            method: request.method(),
            query: request.uri().query().unwrap_or(""),
            is_upgrade: websocket::is_upgrade_request(request.headers()),
        };
        let shutting_down = self.shutting_down.load(Ordering::Acquire);
        match route_request(&line, &self.config.transports, shutting_down)? {
            Target::Session { sid, transport } => {
                let connection = sid
                    .and_then(|sid| self.sessions.lock().get(&sid).map(BySid::connection))
                    .ok_or(RequestError::UnknownSid)?;
                let route = route_session(
                    &line,
                    transport,
                    connection.transport(),
                    self.config.allow_upgrades,
                )?;
                match route {
                    SessionRoute::Probe => {
                        self.check_origin(request.headers())?;
                        websocket::upgrade(self, request, Some(connection))
                    }
                    SessionRoute::PollGet => {
                        let accepted = polling::Accepted::of(
                            self.config.http_compression_threshold,
                            request.headers(),
                        );
                        // Not held while the GET parks (see `Accepted`).
                        drop(request);
                        polling::get(&self, &connection, accepted)
                            .instrument(connection.span())
                            .await
                    }
                    SessionRoute::PollPost => {
                        polling::post(&self, &connection, request)
                            .instrument(connection.span())
                            .await
                    }
                }
            }
            Target::Handshake(transport) => {
                self.check_origin(request.headers())?;
                let (parts, body) = request.into_parts();
                let info = Arc::new(RequestInfo::from_parts(&parts, self.config.trust_proxy));
                let request = Request::from_parts(parts, body);
                if let Some(allow) = &self.config.allow_request {
                    allow(info.clone()).await.map_err(RequestError::Forbidden)?;
                }
                match transport {
                    TransportKind::Polling => {
                        let connection = self.open(TransportKind::Polling, info);
                        let body = format!(
                            "0{}",
                            handshake_json(connection.sid(), self.upgrades(), &self.session_config)
                        );
                        connection.span().in_scope(|| {
                            tracing::debug!(target: "sockgate_engine::session", "session opened");
                            self.handler.on_open(&connection);
                        });
                        Ok(polling::text_response(Bytes::from(body)))
                    }
                    // The session itself opens once the 101 is sent (see `websocket::upgrade`).
                    TransportKind::WebSocket => websocket::upgrade(self, request, None),
                }
            }
        }
    }

    pub(crate) fn upgrades(&self) -> &'static [&'static str] {
        if self.config.allow_upgrades && self.config.transports.websocket {
            &["websocket"]
        } else {
            &[]
        }
    }

    /// Creates and registers a session.
    pub(crate) fn open(
        &self,
        transport: TransportKind,
        info: Arc<RequestInfo>,
    ) -> Arc<Connection<H::Data>> {
        let sid = Sid::from_random(rand::random());
        let session = Session::new(self.session_config.clone(), transport, Instant::now());
        let reporter: Weak<dyn Reporter<H::Data>> = self.this.clone();
        let connection = Arc::new(Connection::new(
            sid,
            info,
            SessionState::new(session),
            reporter,
            H::Data::default(),
        ));
        self.sessions.lock().insert(BySid(connection.clone()));
        self.start_timer();
        connection.reschedule();
        connection
    }

    fn start_timer(&self) {
        if self.timer_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let timer = self.timer.clone();
        let this = self.this.clone();
        tokio::spawn(timer.run(move |connection, now| {
            if let Some(shared) = this.upgrade() {
                shared.fire(&connection, now);
            }
        }));
    }

    /// The shared timer reached a deadline of this session.
    fn fire(&self, connection: &Arc<Connection<H::Data>>, now: Instant) {
        {
            let mut state = connection.state.lock();
            if state.scheduled.is_some_and(|at| at <= now) {
                state.scheduled = None;
            }
            let outcome = state.session.handle_timeout(now);
            if outcome.ping_queued
                || outcome.upgrade_expired
                || outcome.noop_due
                || outcome.closed.is_some()
            {
                state.wake();
            }
        }
        connection.settle();
        connection.reschedule();
    }
}

impl<H: EngineHandler> Reporter<H::Data> for Shared<H> {
    fn settle(&self, connection: &Connection<H::Data>) {
        let (report, remove) = {
            let mut state = connection.state.lock();
            let report = (state.session.is_closed() && !state.close_reported).then(|| {
                state.close_reported = true;
                state
                    .session
                    .close_reason()
                    .unwrap_or(sockgate_proto::engine::CloseReason::ForcedClose)
            });
            let remove = state.session.is_finished() && !state.removed && !state.ws_attached;
            state.removed |= remove;
            (report, remove)
        };
        if remove {
            self.sessions.lock().remove(&connection.sid());
        }
        if let Some(reason) = report {
            connection.span().in_scope(|| {
                tracing::debug!(target: "sockgate_engine::session", %reason, "session closed");
                self.handler.on_close(connection, reason);
            });
        }
    }

    fn schedule(&self, connection: &Arc<Connection<H::Data>>, at: Instant) {
        self.timer.schedule(connection, at);
    }

    fn settle_soon(&self, connection: &Connection<H::Data>) {
        let live = self
            .sessions
            .lock()
            .get(&connection.sid())
            .map(BySid::connection);
        if let Some(connection) = live {
            self.timer.schedule(&connection, Instant::now());
        }
    }
}

pub(crate) fn error_response(error: &RequestError) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(error.body())));
    *response.status_mut() = error.status();
    let content_type = if error.code().is_some() {
        "application/json"
    } else {
        "text/html"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
