//! One HTTP/1.1 connection: hyper serves it with upgrades, and it closes gracefully when the
//! server shuts down or when it has had no request in flight for the idle timeout (decided by
//! the pure [`IdleClock`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower_service::Service;

use super::idle::{own_idle_timeout, IdleClock, IdlePoll};
use super::ConnectionContext;
use crate::request::RemoteAddr;
use crate::BoxError;

/// The connection's [`IdleClock`], shared with its requests.
///
/// Nothing is woken when a request begins or ends: the idle timer looks at the clock only when
/// its own deadline passes (see [`idle`]). A `Notify` here woke the connection's task twice per
/// request, and each wake-up of a task that is already running can make the scheduler unpark
/// the other worker (an eventfd write and an `epoll_wait` per request, measured on the
/// long-polling benchmark).
struct Activity {
    clock: parking_lot::Mutex<IdleClock>,
}

struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.clock.lock().begin();
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.clock.lock().end(Instant::now());
    }
}

/// Completes once the connection has had no request in flight for `timeout`.
///
/// It polls the clock at deadlines instead of being told of changes, and is still exact: with
/// no request in flight it sleeps until `timeout` after the last end, and when that has moved
/// on it sleeps again; with a request in flight, the connection cannot be idle before
/// `timeout` after that request ends, which is after `now + timeout`, so looking again then
/// misses nothing (a parked long-poll costs one timer per `timeout`).
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let now = Instant::now();
        let poll = activity.clock.lock().poll_idle(now, timeout);
        let at = match poll {
            IdlePoll::Idle => return,
            IdlePoll::Until(at) => Some(at),
            IdlePoll::WaitForChange => now.checked_add(timeout),
        };
        match at {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            // Past `Instant`'s range: never idle.
            None => std::future::pending().await,
        }
    }
}

pub(super) async fn serve_connection<S, ResBody>(
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
        clock: parking_lot::Mutex::new(IdleClock::new(Instant::now())),
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
    let idle_timeout = own_idle_timeout(&config);
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
