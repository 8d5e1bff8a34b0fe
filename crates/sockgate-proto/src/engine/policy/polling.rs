//! The answer matrix of HTTP long-polling: what a GET gets for each [`PollBatch`], and what a
//! faulty GET or POST does to its session.

use crate::engine::{encode_payload, CloseReason, PollBatch, RECORD_SEPARATOR};

/// What a polling GET answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    /// A `200` with this payload (`text/plain`).
    Payload(Vec<u8>),
    /// An error.
    Refuse(PollRefusal),
}

/// An error answer of a polling request (the engine turns it into Node's HTTP error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollRefusal {
    /// `400`, code 1: "Session ID unknown".
    UnknownSid,
    /// `400`, code 3: "Bad request".
    BadRequest,
    /// `413`; `close_connection` when the body was not read to its end, so the connection
    /// cannot carry another request.
    PayloadTooLarge {
        /// Answer with `Connection: close`.
        close_connection: bool,
    },
    /// `408` with `Connection: close`.
    RequestTimeout,
}

/// Something wrong with a polling request, as the engine saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollFault {
    /// A GET while another GET of the session is in flight.
    ConcurrentGet,
    /// A POST while another POST of the session is in flight.
    ConcurrentPost,
    /// A POST with `Content-Type: application/octet-stream`: Engine.IO v4 sends binary as
    /// base64 text over polling.
    BinaryBody,
    /// A POST body over `maxHttpBufferSize` (or too many chunks); `drained` when the rest of it
    /// was read and dropped.
    BodyTooLarge {
        /// The body was read to its end.
        drained: bool,
    },
    /// The POST body did not arrive within `httpRequestBodyTimeout`.
    BodyTimeout,
    /// The POST body failed (the client went away, or a framing error).
    BodyFailed,
    /// The POST body is no Engine.IO payload.
    InvalidPayload,
    /// The client went away before its GET was answered, or while the answer was prepared:
    /// what the GET took from the queue is lost.
    AbandonedGet,
}

/// What a [`PollFault`] does: [`handle_poll_fault`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFaultAnswer {
    /// Fail the session with this reason (`None`: the session is kept, as in Node).
    pub end_session: Option<CloseReason>,
    /// Answer the request with this (`None`: nobody is left to answer).
    pub answer: Option<PollRefusal>,
}

/// The answer to a polling GET that waited for `batch`. `close_reason` is the session's, and
/// `parked` tells whether the GET waited (it was parked) before the batch was ready.
pub fn poll_answer(
    batch: PollBatch,
    close_reason: Option<CloseReason>,
    parked: bool,
) -> PollAnswer {
    let body = match (batch, close_reason) {
        (PollBatch::Frames { frames, close }, _) => {
            let mut body = encode_payload(frames.iter().map(|f| &**f));
            if close {
                if !body.is_empty() {
                    body.push(RECORD_SEPARATOR);
                }
                body.push(b'1');
            }
            body
        }
        (PollBatch::Noop, _) => b"6".to_vec(),
        // The session ended (or upgraded) while this GET waited: release the client's poll.
        // A client close is acknowledged with a noop, anything else with a close packet.
        (PollBatch::Refused, Some(CloseReason::TransportClose)) if parked => b"6".to_vec(),
        (PollBatch::Refused, Some(_)) if parked => b"1".to_vec(),
        (PollBatch::Refused, None) if parked => b"6".to_vec(),
        // The session expired as this GET arrived: answer as if it had already been removed.
        (PollBatch::Refused, Some(_)) => return PollAnswer::Refuse(PollRefusal::UnknownSid),
        (PollBatch::Refused, None) => return PollAnswer::Refuse(PollRefusal::BadRequest),
        // A GET is only answered with a batch that is not Park; a noop is the harmless answer.
        (PollBatch::Park, _) => b"6".to_vec(),
    };
    PollAnswer::Payload(body)
}

/// What `fault` does to the session and which answer the request gets.
pub fn handle_poll_fault(fault: PollFault) -> PollFaultAnswer {
    let (end_session, answer) = match fault {
        // Two GETs (or POSTs) at once: the client is confused; Node answers the first GET
        // with a close packet and refuses the second.
        PollFault::ConcurrentGet | PollFault::ConcurrentPost => (
            Some(CloseReason::TransportError),
            Some(PollRefusal::BadRequest),
        ),
        // An invalid content ends the session, as in Node.
        PollFault::BinaryBody | PollFault::BodyFailed => (
            Some(CloseReason::TransportError),
            Some(PollRefusal::BadRequest),
        ),
        // The session is kept, as in Node.
        PollFault::BodyTooLarge { drained } => (
            None,
            Some(PollRefusal::PayloadTooLarge {
                close_connection: !drained,
            }),
        ),
        PollFault::BodyTimeout => (
            Some(CloseReason::TransportError),
            Some(PollRefusal::RequestTimeout),
        ),
        PollFault::InvalidPayload => (Some(CloseReason::ParseError), Some(PollRefusal::BadRequest)),
        // "poll connection closed prematurely" in Node: nobody would receive what the session
        // sends next.
        PollFault::AbandonedGet => (Some(CloseReason::TransportError), None),
    };
    PollFaultAnswer {
        end_session,
        answer,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::*;
    use crate::engine::{Frame, Packet, Session, SessionConfig, TransportKind};

    fn payload(answer: PollAnswer) -> Vec<u8> {
        match answer {
            PollAnswer::Payload(body) => body,
            other => panic!("expected a payload, got {other:?}"),
        }
    }

    /// Drives a session through its states with a simulated clock and checks what a GET gets
    /// in each.
    #[test]
    fn get_answers_follow_the_session() {
        let t0 = Instant::now();
        let config = Arc::new(SessionConfig::default());
        let mut s = Session::new(config.clone(), TransportKind::Polling, t0);
        // Nothing queued: the GET parks (the driver waits; it never answers Park).
        assert!(matches!(s.take_poll_batch(), PollBatch::Park));
        s.send(Arc::new(Frame::message(b"a"))).unwrap();
        s.send(Arc::new(Frame::message(b"b"))).unwrap();
        let batch = s.take_poll_batch();
        assert_eq!(
            payload(poll_answer(batch, s.close_reason(), true)),
            b"4a\x1e4b"
        );
        // The first ping, at the ping interval.
        s.handle_timeout(t0 + config.ping_interval);
        let batch = s.take_poll_batch();
        assert_eq!(payload(poll_answer(batch, s.close_reason(), false)), b"2");
        // A server close: the queue first, the close packet in the next answer.
        s.send(Arc::new(Frame::message(b"bye"))).unwrap();
        s.close(t0 + config.ping_interval);
        let batch = s.take_poll_batch();
        assert_eq!(
            payload(poll_answer(batch, s.close_reason(), false)),
            b"4bye"
        );
        let batch = s.take_poll_batch();
        assert_eq!(payload(poll_answer(batch, s.close_reason(), false)), b"1");
        // Closed: a GET that arrives now is answered as for an unknown session...
        let batch = s.take_poll_batch();
        assert_eq!(
            poll_answer(batch, s.close_reason(), false),
            PollAnswer::Refuse(PollRefusal::UnknownSid)
        );
        // ...and one that was parked when the session closed gets a close packet.
        let batch = s.take_poll_batch();
        assert_eq!(payload(poll_answer(batch, s.close_reason(), true)), b"1");
    }

    #[test]
    fn a_parked_get_of_a_session_that_ends_is_released() {
        let t0 = Instant::now();
        let config = Arc::new(SessionConfig::default());
        // The client closes (a `1` in a POST): its pending GET gets a noop.
        let mut s = Session::new(config.clone(), TransportKind::Polling, t0);
        s.handle_packet(t0, Packet::Close);
        let batch = s.take_poll_batch();
        assert_eq!(payload(poll_answer(batch, s.close_reason(), true)), b"6");
        let batch = s.take_poll_batch();
        assert_eq!(
            payload(poll_answer(batch, Some(CloseReason::TransportClose), true)),
            b"6"
        );
        // The client misses its pong: the pending GET gets a close packet.
        let mut s = Session::new(config.clone(), TransportKind::Polling, t0);
        s.handle_timeout(t0 + config.ping_interval);
        let _ping = s.take_poll_batch();
        s.handle_timeout(t0 + config.ping_interval + config.ping_timeout);
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        let batch = s.take_poll_batch();
        assert_eq!(payload(poll_answer(batch, s.close_reason(), true)), b"1");
        // A GET on a session that upgraded (no close reason) is refused, or released if parked.
        let mut s = Session::new(config, TransportKind::Polling, t0);
        s.start_probe(t0).unwrap();
        s.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")))
            .unwrap();
        s.handle_probe_packet(t0 + Duration::from_millis(1), Packet::Upgrade)
            .unwrap();
        assert_eq!(
            poll_answer(s.take_poll_batch(), s.close_reason(), false),
            PollAnswer::Refuse(PollRefusal::BadRequest)
        );
        assert_eq!(payload(poll_answer(s.take_poll_batch(), None, true)), b"6");
    }

    #[test]
    fn faults_and_what_they_do() {
        use CloseReason::*;
        let cases = [
            (
                PollFault::ConcurrentGet,
                Some(TransportError),
                Some(PollRefusal::BadRequest),
            ),
            (
                PollFault::ConcurrentPost,
                Some(TransportError),
                Some(PollRefusal::BadRequest),
            ),
            (
                PollFault::BinaryBody,
                Some(TransportError),
                Some(PollRefusal::BadRequest),
            ),
            (
                PollFault::BodyFailed,
                Some(TransportError),
                Some(PollRefusal::BadRequest),
            ),
            (
                PollFault::BodyTooLarge { drained: true },
                None,
                Some(PollRefusal::PayloadTooLarge {
                    close_connection: false,
                }),
            ),
            (
                PollFault::BodyTooLarge { drained: false },
                None,
                Some(PollRefusal::PayloadTooLarge {
                    close_connection: true,
                }),
            ),
            (
                PollFault::BodyTimeout,
                Some(TransportError),
                Some(PollRefusal::RequestTimeout),
            ),
            (
                PollFault::InvalidPayload,
                Some(ParseError),
                Some(PollRefusal::BadRequest),
            ),
            (PollFault::AbandonedGet, Some(TransportError), None),
        ];
        for (fault, end_session, answer) in cases {
            assert_eq!(
                handle_poll_fault(fault),
                PollFaultAnswer {
                    end_session,
                    answer
                },
                "{fault:?}"
            );
        }
    }
}
