//! Where a WebSocket's packets go (the probe of an upgrade, or the session it carries), and how
//! the socket's end maps to a close reason and a close code.

use bytes::Bytes;

use crate::engine::{
    CloseReason, DecodeError, Packet, PacketOutcome, ProbeError, ProbeOutcome, Session, SharedFrame,
};
use crate::ws;
use std::time::Instant;

/// What a WebSocket is to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRole {
    /// The probe of an upgrade from polling: its packets go to the probe, and its end leaves
    /// the session (still polling) alone.
    Probe,
    /// The session's transport: its packets go to the session, and its end closes it.
    Transport,
}

/// What the driver does after [`handle_ws_message`] or [`handle_ws_packet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsStep {
    /// Read on.
    Continue,
    /// Route this packet with [`handle_ws_packet`].
    Packet(Packet),
    /// Hand this text message to the upper layer.
    Message(Bytes),
    /// Hand this binary message to the upper layer.
    Binary(Bytes),
    /// Answer a WebSocket ping with a pong carrying this payload.
    Pong(Bytes),
    /// Write this frame (the probe's `3probe`) on the socket.
    Reply(SharedFrame),
    /// The upgrade completed: the socket is now the session's transport (the role changed to
    /// [`WsRole::Transport`]); flush the queue over it.
    Upgraded,
    /// Stop reading; end the socket as [`handle_ws_end`] says.
    End(WsEnd),
}

/// Why a WebSocket driver stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    /// The session closed and its queue was written.
    SessionClosed,
    /// The probe is over without an upgrade: it timed out, or the session closed or moved on.
    ProbeEnded,
    /// The probe got a packet it does not expect: the upgrade is refused.
    ProbeRefused(ProbeError),
    /// Writing the session's queue failed (write deadline, aborted session, socket error).
    QueueWriteFailed,
    /// Writing a pong or the probe's reply failed.
    ReplyWriteFailed,
    /// A text frame that is no Engine.IO packet.
    InvalidPacket(DecodeError),
    /// The client sent a close frame with this code (1000 when it carried none).
    PeerClose {
        /// The client's close code, echoed back.
        code: u16,
    },
    /// The client broke RFC 6455 (or sent an oversized message).
    ProtocolError {
        /// The close code the decoder's error asks for.
        close_code: u16,
    },
    /// The client closed the TCP stream.
    PeerEof,
    /// Reading the socket failed.
    ReadFailed,
}

/// How to end a WebSocket: [`handle_ws_end`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsEnding {
    /// Fail the session with this reason at once, before the closing handshake (only a
    /// transport's end touches the session; the driver closes it with
    /// [`CloseReason::TransportClose`] after the socket is shut, if nothing closed it before).
    pub reason: Option<CloseReason>,
    /// Send a close frame with this code (`None`: the socket is gone or broken, just shut it).
    pub close_code: Option<u16>,
    /// After the close frame, wait (bounded) for the client's: closing with unread input makes
    /// Linux answer with a reset, which can destroy the last frames sent.
    pub await_peer_close: bool,
}

/// Reads one WebSocket message: a packet to route with [`handle_ws_packet`]
/// ([`WsStep::Packet`]), or what to do at the WebSocket level (answer a ping, stop on a close
/// frame or on text that is no packet). Needs no session, so the driver takes the session's
/// lock only for packets.
pub fn handle_ws_message(message: ws::Message) -> WsStep {
    match message {
        ws::Message::Text(text) => match Packet::decode_text(text) {
            Ok(packet) => WsStep::Packet(packet),
            Err(error) => WsStep::End(WsEnd::InvalidPacket(error)),
        },
        ws::Message::Binary(data) => WsStep::Packet(Packet::Binary(data)),
        ws::Message::Ping(payload) => WsStep::Pong(payload),
        ws::Message::Pong(_) => WsStep::Continue,
        ws::Message::Close(frame) => WsStep::End(WsEnd::PeerClose {
            code: frame.map_or(1000, |f| f.code),
        }),
    }
}

/// Routes one Engine.IO packet read from a WebSocket at `now`: to the probe while `role` is
/// [`WsRole::Probe`], else to the session. A completed upgrade changes `role`. Never returns
/// [`WsStep::Packet`] or [`WsStep::Pong`].
pub fn handle_ws_packet(
    session: &mut Session,
    role: &mut WsRole,
    now: Instant,
    packet: Packet,
) -> WsStep {
    match role {
        WsRole::Probe => match session.handle_probe_packet(now, packet) {
            Ok(ProbeOutcome::Reply(frame)) => WsStep::Reply(frame),
            Ok(ProbeOutcome::Upgraded) => {
                *role = WsRole::Transport;
                WsStep::Upgraded
            }
            Ok(ProbeOutcome::None) => WsStep::Continue,
            Err(error) => WsStep::End(WsEnd::ProbeRefused(error)),
        },
        WsRole::Transport => match session.handle_packet(now, packet) {
            PacketOutcome::Message(text) => WsStep::Message(text),
            PacketOutcome::Binary(data) => WsStep::Binary(data),
            PacketOutcome::Closed(_) => WsStep::End(WsEnd::SessionClosed),
            PacketOutcome::None => WsStep::Continue,
        },
    }
}

/// Whether a probing WebSocket must stop before it reads on: the session closed, or the probe
/// is over (it timed out or was refused; polling carries on).
pub fn poll_probe(session: &Session) -> Option<WsEnd> {
    (session.is_closed() || !session.is_upgrading()).then_some(WsEnd::ProbeEnded)
}

/// How a WebSocket in `role` ends for `end`.
pub fn handle_ws_end(end: &WsEnd, role: WsRole) -> WsEnding {
    let (reason, close_code) = match *end {
        WsEnd::SessionClosed | WsEnd::ProbeEnded | WsEnd::ProbeRefused(_) => (None, Some(1000)),
        WsEnd::ReplyWriteFailed => (None, Some(1000)),
        WsEnd::QueueWriteFailed => (Some(CloseReason::TransportError), None),
        WsEnd::InvalidPacket(_) => (Some(CloseReason::ParseError), Some(1000)),
        WsEnd::PeerClose { code } => (Some(CloseReason::TransportClose), Some(code)),
        // 1009 (message too big) is the client sending more than `maxPayload`, which Node
        // reports as a transport error; every other violation is a parse error.
        WsEnd::ProtocolError { close_code } => (
            Some(if close_code == 1009 {
                CloseReason::TransportError
            } else {
                CloseReason::ParseError
            }),
            Some(close_code),
        ),
        WsEnd::PeerEof => (Some(CloseReason::TransportClose), None),
        WsEnd::ReadFailed => (Some(CloseReason::TransportError), None),
    };
    WsEnding {
        reason: reason.filter(|_| role == WsRole::Transport),
        close_code,
        // A client that sent its close frame gets the echo and is not waited for.
        await_peer_close: close_code.is_some() && !matches!(end, WsEnd::PeerClose { .. }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::engine::{SessionConfig, TransportKind};

    fn session(transport: TransportKind, now: Instant) -> Session {
        Session::new(Arc::new(SessionConfig::default()), transport, now)
    }

    /// What the driver does with one message: read it, then route its packet.
    fn handle(session: &mut Session, role: &mut WsRole, now: Instant, m: ws::Message) -> WsStep {
        match handle_ws_message(m) {
            WsStep::Packet(packet) => handle_ws_packet(session, role, now, packet),
            step => step,
        }
    }

    fn text(s: &'static str) -> ws::Message {
        ws::Message::Text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn a_probe_upgrades_and_then_carries_the_session() {
        let t0 = Instant::now();
        let mut s = session(TransportKind::Polling, t0);
        s.start_probe(t0).unwrap();
        let mut role = WsRole::Probe;
        assert_eq!(poll_probe(&s), None);
        match handle(&mut s, &mut role, t0, text("2probe")) {
            WsStep::Reply(frame) => assert_eq!(&frame.packet()[..], b"3probe"),
            other => panic!("expected the probe's pong, got {other:?}"),
        }
        assert_eq!(handle(&mut s, &mut role, t0, text("6")), WsStep::Continue);
        assert_eq!(handle(&mut s, &mut role, t0, text("5")), WsStep::Upgraded);
        assert_eq!(role, WsRole::Transport);
        assert_eq!(s.transport(), TransportKind::WebSocket);
        assert_eq!(
            handle(&mut s, &mut role, t0, text("4hi")),
            WsStep::Message(Bytes::from_static(b"hi"))
        );
        assert_eq!(
            handle(
                &mut s,
                &mut role,
                t0,
                ws::Message::Binary(Bytes::from_static(b"\x01"))
            ),
            WsStep::Binary(Bytes::from_static(b"\x01"))
        );
    }

    #[test]
    fn a_probe_that_skips_its_ping_is_refused_and_the_session_polls_on() {
        let t0 = Instant::now();
        let mut s = session(TransportKind::Polling, t0);
        s.start_probe(t0).unwrap();
        let mut role = WsRole::Probe;
        let step = handle(&mut s, &mut role, t0, text("5"));
        let WsStep::End(end) = step else {
            panic!("expected a refusal, got {step:?}");
        };
        assert!(matches!(end, WsEnd::ProbeRefused(_)));
        let ending = handle_ws_end(&end, role);
        assert_eq!(
            ending.reason, None,
            "a probe's end leaves the session alone"
        );
        assert_eq!(ending.close_code, Some(1000));
        assert!(!s.is_closed());
        assert_eq!(s.transport(), TransportKind::Polling);
    }

    #[test]
    fn a_probe_ends_when_its_upgrade_times_out() {
        let t0 = Instant::now();
        let config = SessionConfig::default();
        let mut s = session(TransportKind::Polling, t0);
        s.start_probe(t0).unwrap();
        s.handle_timeout(t0 + config.upgrade_timeout - Duration::from_millis(1));
        assert_eq!(poll_probe(&s), None);
        s.handle_timeout(t0 + config.upgrade_timeout);
        assert_eq!(poll_probe(&s), Some(WsEnd::ProbeEnded));
    }

    #[test]
    fn control_frames_and_bad_text_on_a_transport() {
        let t0 = Instant::now();
        let mut s = session(TransportKind::WebSocket, t0);
        let mut role = WsRole::Transport;
        assert_eq!(
            handle(
                &mut s,
                &mut role,
                t0,
                ws::Message::Ping(Bytes::from_static(b"p"))
            ),
            WsStep::Pong(Bytes::from_static(b"p"))
        );
        assert_eq!(
            handle(&mut s, &mut role, t0, ws::Message::Pong(Bytes::new())),
            WsStep::Continue
        );
        assert!(matches!(
            handle(&mut s, &mut role, t0, text("x")),
            WsStep::End(WsEnd::InvalidPacket(_))
        ));
        assert_eq!(
            handle(&mut s, &mut role, t0, ws::Message::Close(None)),
            WsStep::End(WsEnd::PeerClose { code: 1000 })
        );
        assert_eq!(
            handle(
                &mut s,
                &mut role,
                t0,
                ws::Message::Close(Some(ws::CloseFrame {
                    code: 4001,
                    reason: String::new()
                }))
            ),
            WsStep::End(WsEnd::PeerClose { code: 4001 })
        );
        // An Engine.IO close packet closes the session.
        assert_eq!(
            handle(&mut s, &mut role, t0, text("1")),
            WsStep::End(WsEnd::SessionClosed)
        );
        assert!(s.is_closed());
    }

    #[test]
    fn close_codes_map_to_reasons() {
        let t = WsRole::Transport;
        let end = |e: WsEnd| {
            let ending = handle_ws_end(&e, t);
            (ending.reason, ending.close_code, ending.await_peer_close)
        };
        use CloseReason::*;
        assert_eq!(end(WsEnd::SessionClosed), (None, Some(1000), true));
        assert_eq!(
            end(WsEnd::QueueWriteFailed),
            (Some(TransportError), None, false)
        );
        assert_eq!(end(WsEnd::ReplyWriteFailed), (None, Some(1000), true));
        assert_eq!(
            end(WsEnd::PeerClose { code: 4001 }),
            (Some(TransportClose), Some(4001), false)
        );
        assert_eq!(
            end(WsEnd::ProtocolError { close_code: 1009 }),
            (Some(TransportError), Some(1009), true)
        );
        assert_eq!(
            end(WsEnd::ProtocolError { close_code: 1002 }),
            (Some(ParseError), Some(1002), true)
        );
        assert_eq!(
            end(WsEnd::ProtocolError { close_code: 1007 }),
            (Some(ParseError), Some(1007), true)
        );
        assert_eq!(end(WsEnd::PeerEof), (Some(TransportClose), None, false));
        assert_eq!(end(WsEnd::ReadFailed), (Some(TransportError), None, false));
        // The same ends on a probe never touch the session.
        for e in [
            WsEnd::PeerEof,
            WsEnd::ReadFailed,
            WsEnd::PeerClose { code: 1000 },
            WsEnd::ProtocolError { close_code: 1009 },
        ] {
            assert_eq!(handle_ws_end(&e, WsRole::Probe).reason, None, "{e:?}");
        }
    }
}
