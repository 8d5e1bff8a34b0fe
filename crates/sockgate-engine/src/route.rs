//! Request routing: which handler an Engine.IO request goes to (a handshake, an upgrade probe,
//! a polling GET or POST) or which of Node's errors it gets. Pure: no I/O, no session table;
//! the engine looks the session up between [`route_request`] and [`route_session`], and checks
//! the origin and `allowRequest` (which may be async) on the routes that open or upgrade.

use http::Method;
use sockgate_proto::engine::{Sid, TransportKind};

use crate::config::Transports;
use crate::error::RequestError;
use crate::request::raw_query_param;

/// What routing needs of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLine<'a> {
    pub(crate) method: &'a Method,
    /// The raw query string.
    pub(crate) query: &'a str,
    /// `Upgrade: websocket` is present.
    pub(crate) is_upgrade: bool,
}

/// What a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A live session's request: the sid (`None` when malformed: simply unknown, it never opens
    /// a session) and the transport it names.
    Session {
        sid: Option<Sid>,
        transport: TransportKind,
    },
    /// A handshake opening a session on this transport.
    Handshake(TransportKind),
}

/// Where a session's request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionRoute {
    /// A WebSocket probing an upgrade of a polling session.
    Probe,
    /// A polling GET.
    PollGet,
    /// A polling POST.
    PollPost,
}

/// Routes a request before any session is looked up. `shutting_down` refuses handshakes.
pub(crate) fn route_request(
    request: &RequestLine<'_>,
    transports: &Transports,
    shutting_down: bool,
) -> Result<Target, RequestError> {
    let transport = raw_query_param(request.query, "transport")
        .and_then(TransportKind::parse)
        .filter(|t| match t {
            TransportKind::Polling => transports.polling,
            TransportKind::WebSocket => transports.websocket,
        })
        .ok_or(RequestError::TransportUnknown)?;
    if let Some(sid) = raw_query_param(request.query, "sid") {
        return Ok(Target::Session {
            sid: Sid::parse(sid),
            transport,
        });
    }
    if shutting_down {
        return Err(RequestError::ShuttingDown);
    }
    if request.method != Method::GET {
        return Err(RequestError::BadHandshakeMethod);
    }
    if transport == TransportKind::WebSocket && !request.is_upgrade {
        return Err(RequestError::BadRequest);
    }
    if raw_query_param(request.query, "EIO") != Some("4") {
        return Err(RequestError::UnsupportedProtocolVersion);
    }
    Ok(Target::Handshake(transport))
}

/// Routes a request of a session found live, whose transport is now `current`.
pub(crate) fn route_session(
    request: &RequestLine<'_>,
    transport: TransportKind,
    current: TransportKind,
    allow_upgrades: bool,
) -> Result<SessionRoute, RequestError> {
    if request.is_upgrade && transport == TransportKind::WebSocket {
        // Sessions only ever open with EIO=4; an upgrade claiming another protocol version is
        // refused, as engine.io 6.6.13 refuses it. (A session that already upgraded gets its
        // probe accepted and closed by the upgrade itself, as Node does.)
        if !allow_upgrades || raw_query_param(request.query, "EIO") != Some("4") {
            return Err(RequestError::BadRequest);
        }
        return Ok(SessionRoute::Probe);
    }
    if transport != current || transport != TransportKind::Polling {
        return Err(RequestError::BadRequest);
    }
    match *request.method {
        Method::GET => Ok(SessionRoute::PollGet),
        Method::POST => Ok(SessionRoute::PollPost),
        _ => Err(RequestError::BadRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AAAAAAAAAAAAAAAAAAAA";

    fn line<'a>(method: &'a Method, query: &'a str, is_upgrade: bool) -> RequestLine<'a> {
        RequestLine {
            method,
            query,
            is_upgrade,
        }
    }

    fn both() -> Transports {
        Transports {
            polling: true,
            websocket: true,
        }
    }

    #[test]
    fn handshakes() {
        let get = Method::GET;
        let route = |q: &str, upgrade: bool, shutting_down: bool| {
            route_request(&line(&get, q, upgrade), &both(), shutting_down)
        };
        assert_eq!(
            route("EIO=4&transport=polling", false, false),
            Ok(Target::Handshake(TransportKind::Polling))
        );
        assert_eq!(
            route("EIO=4&transport=websocket", true, false),
            Ok(Target::Handshake(TransportKind::WebSocket))
        );
        assert_eq!(
            route("EIO=4&transport=websocket", false, false),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            route("EIO=3&transport=polling", false, false),
            Err(RequestError::UnsupportedProtocolVersion)
        );
        assert_eq!(
            route("EIO=4&transport=flash", false, false),
            Err(RequestError::TransportUnknown)
        );
        assert_eq!(
            route("EIO=4", false, false),
            Err(RequestError::TransportUnknown)
        );
        assert_eq!(
            route("EIO=4&transport=polling", false, true),
            Err(RequestError::ShuttingDown)
        );
        let post = Method::POST;
        assert_eq!(
            route_request(
                &line(&post, "EIO=4&transport=polling", false),
                &both(),
                false
            ),
            Err(RequestError::BadHandshakeMethod)
        );
        // A transport switched off is unknown.
        let polling_only = Transports {
            polling: true,
            websocket: false,
        };
        assert_eq!(
            route_request(
                &line(&get, "EIO=4&transport=websocket", true),
                &polling_only,
                false
            ),
            Err(RequestError::TransportUnknown)
        );
    }

    #[test]
    fn session_requests_skip_the_handshake_checks() {
        let post = Method::POST;
        let q = format!("EIO=4&transport=polling&sid={SID}");
        // Even while shutting down: only new sessions are refused.
        assert_eq!(
            route_request(&line(&post, &q, false), &both(), true),
            Ok(Target::Session {
                sid: Sid::parse(SID),
                transport: TransportKind::Polling
            })
        );
        assert!(Sid::parse(SID).is_some());
        assert_eq!(
            route_request(
                &line(&post, "transport=polling&sid=nope", false),
                &both(),
                false
            ),
            Ok(Target::Session {
                sid: None,
                transport: TransportKind::Polling
            })
        );
    }

    #[test]
    fn probes_and_polls() {
        use SessionRoute::*;
        use TransportKind::*;
        let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
        let q = "EIO=4&transport=websocket";
        assert_eq!(
            route_session(&line(&get, q, true), WebSocket, Polling, true),
            Ok(Probe)
        );
        // A probe of a session that already upgraded is routed too (the upgrade refuses it).
        assert_eq!(
            route_session(&line(&get, q, true), WebSocket, WebSocket, true),
            Ok(Probe)
        );
        assert_eq!(
            route_session(&line(&get, q, true), WebSocket, Polling, false),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            route_session(
                &line(&get, "EIO=3&transport=websocket", true),
                WebSocket,
                Polling,
                true
            ),
            Err(RequestError::BadRequest)
        );
        // A WebSocket request without the upgrade, or polling on an upgraded session.
        assert_eq!(
            route_session(&line(&get, q, false), WebSocket, WebSocket, true),
            Err(RequestError::BadRequest)
        );
        let q = "EIO=4&transport=polling";
        assert_eq!(
            route_session(&line(&get, q, false), Polling, WebSocket, true),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            route_session(&line(&get, q, false), Polling, Polling, true),
            Ok(PollGet)
        );
        assert_eq!(
            route_session(&line(&post, q, false), Polling, Polling, true),
            Ok(PollPost)
        );
        assert_eq!(
            route_session(&line(&put, q, false), Polling, Polling, true),
            Err(RequestError::BadRequest)
        );
        // An upgrade header on a polling request is just a poll.
        assert_eq!(
            route_session(&line(&get, q, true), Polling, Polling, true),
            Ok(PollGet)
        );
    }
}
