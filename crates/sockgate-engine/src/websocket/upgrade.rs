//! The HTTP side of a WebSocket: checking the upgrade request, answering 101, and the task
//! that waits for hyper to hand the connection over.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use sockgate_proto::engine::{handshake_json, CloseReason, Frame, TransportKind};
use sockgate_proto::ws;
use tracing::Instrument;

use super::driver::Driver;
use super::socket::Socket;
use super::CLOSE_HANDSHAKE_TIMEOUT;
use crate::connection::Connection;
use crate::engine::{ResponseBody, Shared};
use crate::error::RequestError;
use crate::handler::EngineHandler;
use crate::request::RequestInfo;
use crate::serve::ConnectionSlot;

/// Answers the upgrade with a 101 and spawns the driver, for a new session (`existing` is
/// `None`) or as a probe of a polling session.
pub(crate) fn upgrade<H: EngineHandler, B>(
    shared: Arc<Shared<H>>,
    request: Request<B>,
    existing: Option<Arc<Connection<H::Data>>>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (mut parts, _body) = request.into_parts();
    let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Err(RequestError::BadRequest);
    };
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        // RFC 6455 4.4: name the version we speak, so the client can retry with it.
        let mut response = Response::new(Full::new(Bytes::from_static(b"Upgrade Required")));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Ok(response);
    }
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        // The server under us cannot hand over the connection (HTTP/2, or upgrades disabled).
        return Err(RequestError::BadRequest);
    };

    // A second WebSocket for a session that already upgraded (or is upgrading) is accepted
    // and closed at once, as Node does, rather than refused with an HTTP error.
    let (connection, refused) = match existing {
        Some(connection) => {
            let started = connection.state.lock().session.start_probe(Instant::now());
            connection.reschedule();
            (Some(connection), started.is_err())
        }
        None => (None, false),
    };
    let info = Arc::new(RequestInfo::from_parts(&parts, shared.config.trust_proxy));
    // The connection's place under `max_connections` moves to the WebSocket's task. Without a
    // cap the task is the driver's future alone (an idle socket's memory is mostly that task).
    let span = tracing::debug_span!(
        target: "sockgate_engine::session",
        "session",
        sid = tracing::field::Empty,
        transport = "websocket",
    );
    if let Some(connection) = &connection {
        span.record("sid", tracing::field::display(connection.sid()));
    }
    let upgrading = Box::new(Upgrading {
        shared,
        on_upgrade,
        existing: connection,
        refused,
        info,
    });
    match parts.extensions.remove::<ConnectionSlot>() {
        None => spawn_in(span, run_upgraded(upgrading)),
        Some(slot) => spawn_in(span, async move {
            run_upgraded(upgrading).await;
            drop(slot);
        }),
    }

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&ws::accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

/// Spawns a WebSocket's task, in `span` when tracing enabled it: a disabled span is dropped
/// here, so the task of an idle socket carries no span.
fn spawn_in(span: tracing::Span, task: impl Future<Output = ()> + Send + 'static) {
    if span.is_disabled() {
        tokio::spawn(task);
    } else {
        tokio::spawn(task.instrument(span));
    }
}

/// The task of one WebSocket: waits for the upgrade, then runs the driver. The driver is built
/// in place and borrowed by `run`, so the task's state holds it once.
///
/// This future's state is most of what an idle socket costs, and a value an async fn keeps in
/// a variable keeps its room in the state until the variable's scope ends, even once moved.
/// So the upgrade is awaited in a future of its own ([`upgraded_driver`]), over before the
/// driver runs, and the handshake frame lives in a block.
///
/// An async fn's arguments keep their room in its state for its whole life, even once moved
/// out (about 40 bytes here, for values used only until the upgrade): they come in one box,
/// which [`upgraded_driver`] takes apart.
async fn run_upgraded<H: EngineHandler>(upgrading: Box<Upgrading<H>>) {
    let Some(mut driver) = upgraded_driver(upgrading).await else {
        return;
    };
    if driver.is_new_session() {
        // A new session opens with the handshake packet; a probe sends nothing first.
        let sent = {
            let pending = {
                let handshake = handshake_frame(&driver.shared, &driver.connection);
                driver.write_now(&[handshake.ws_frame()])
            };
            match pending {
                Ok(None) => Ok(()),
                Ok(Some(rest)) => rest.await,
                Err(error) => Err(error),
            }
        };
        if !opened(&driver.shared, &driver.connection, sent) {
            return;
        }
    }
    driver.run().await;
}

/// What a WebSocket's task starts from: the upgrade to wait for and the session it opens or
/// probes (`refused`: a probe of a session that already has a WebSocket, closed at once).
struct Upgrading<H: EngineHandler> {
    shared: Arc<Shared<H>>,
    on_upgrade: OnUpgrade,
    existing: Option<Arc<Connection<H::Data>>>,
    refused: bool,
    info: Arc<RequestInfo>,
}

/// The open packet of a new session.
fn handshake_frame<H: EngineHandler>(
    shared: &Shared<H>,
    connection: &Connection<H::Data>,
) -> Frame {
    Frame::text_packet(Bytes::from(format!(
        "0{}",
        handshake_json(connection.sid(), &[], &shared.session_config)
    )))
}

/// Waits for hyper to hand the connection over, then opens the session (or joins the polling
/// session being probed) and builds the driver; `None` when nothing more is to be done (the
/// upgrade failed, the probe was refused, or another driver ran the socket).
async fn upgraded_driver<H: EngineHandler>(upgrading: Box<Upgrading<H>>) -> Option<Driver<H>> {
    let Upgrading {
        shared,
        on_upgrade,
        existing,
        refused,
        info,
    } = *upgrading;
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "WebSocket upgrade failed");
            if let (Some(connection), false) = (existing, refused) {
                connection.state.lock().session.abort_probe();
            }
            return None;
        }
    };
    if refused {
        // Boxed: this rare path's timer and write would otherwise be the largest part of the
        // state.
        Box::pin(async move {
            let (mut socket, _) = Socket::new(upgraded);
            let close = ws::encode_close(1000, "");
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                let _ = socket.write_frames(&[&close]).await;
                socket.shutdown().await;
            })
            .await;
        })
        .await;
        return None;
    }
    let probing = existing.is_some();
    let connection = match existing {
        Some(connection) => connection,
        None => {
            let connection = shared.open(TransportKind::WebSocket, info);
            connection.set_ws_attached(true);
            tracing::Span::current().record("sid", tracing::field::display(connection.sid()));
            connection
        }
    };
    #[cfg(feature = "tungstenite-framing")]
    if super::tungstenite::enabled() {
        let handshake = (!probing).then(|| Arc::new(handshake_frame(&shared, &connection)));
        // Boxed, so the default driver's task does not carry this one's state.
        Box::pin(super::tungstenite::run(
            shared, connection, upgraded, probing, handshake,
        ))
        .await;
        return None;
    }
    let (socket, leftover) = Socket::new(upgraded);
    Some(Driver::new(shared, connection, socket, leftover, probing))
}

/// After a new session's handshake packet was written: a failed write ends the session (no
/// driver runs), else the handler learns that the session opened. Returns whether the driver
/// runs.
pub(super) fn opened<H: EngineHandler>(
    shared: &Shared<H>,
    connection: &Arc<Connection<H::Data>>,
    sent: std::io::Result<()>,
) -> bool {
    if sent.is_err() {
        connection.fail(CloseReason::TransportError);
        connection.set_ws_attached(false);
        connection.settle();
        return false;
    }
    tracing::debug!(target: "sockgate_engine::session", "session opened");
    shared.handler.on_open(connection);
    true
}
