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
use tokio::sync::Notify;
use tower_service::Service;

use super::idle::{own_idle_timeout, IdleClock, IdlePoll};
use super::ConnectionContext;
use crate::request::RemoteAddr;
use crate::BoxError;

/// The connection's [`IdleClock`], shared with its requests, and a wake-up for its changes.
struct Activity {
    clock: parking_lot::Mutex<IdleClock>,
    changed: Notify,
}

struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.clock.lock().begin();
        self.changed.notify_waiters();
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.clock.lock().end(Instant::now());
        self.0.changed.notify_waiters();
    }
}

/// Completes once the connection has had no request in flight for `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let changed = activity.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let poll = activity.clock.lock().poll_idle(Instant::now(), timeout);
        match poll {
            IdlePoll::Idle => return,
            IdlePoll::WaitForChange => changed.await,
            // Woken by either, the loop looks again.
            IdlePoll::Until(at) => tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = changed => {}
            },
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
