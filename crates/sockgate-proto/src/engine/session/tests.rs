//! The session machine under a simulated clock: no sockets, no sleeps.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        ping_interval: ms(300),
        ping_timeout: ms(200),
        upgrade_timeout: ms(1000),
        max_payload: 1_000_000,
        max_buffered_bytes: 64,
    })
}

fn texts(frames: &VecDeque<SharedFrame>) -> Vec<&[u8]> {
    frames.iter().map(|f| &f.packet()[..]).collect()
}

#[test]
fn first_ping_is_due_one_interval_after_the_handshake() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::WebSocket, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(300)));
    assert_eq!(s.handle_timeout(t0 + ms(299)), TimeoutOutcome::default());
    let out = s.handle_timeout(t0 + ms(300));
    assert!(out.ping_queued);
    assert_eq!(texts(&s.drain()), vec![b"2".as_slice()]);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
}

#[test]
fn pong_keeps_the_session_alive_for_many_intervals() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    let mut now = t0;
    for _ in 0..10 {
        now = s.poll_timeout().unwrap();
        assert!(s.handle_timeout(now).ping_queued);
        s.drain();
        now += ms(50);
        assert_eq!(
            s.handle_packet(now, Packet::Pong(Bytes::new())),
            PacketOutcome::None
        );
        assert_eq!(s.poll_timeout(), Some(now + ms(300)));
    }
    assert!(!s.is_closed());
    assert!(now >= t0 + ms(3000));
}

#[test]
fn no_pong_closes_exactly_at_interval_plus_timeout() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert!(s.handle_timeout(t0 + ms(300)).ping_queued);
    assert_eq!(s.handle_timeout(t0 + ms(499)).closed, None);
    assert_eq!(
        s.handle_timeout(t0 + ms(500)).closed,
        Some(CloseReason::PingTimeout)
    );
    assert!(s.is_finished());
    assert!(matches!(s.take_poll_batch(), PollBatch::Refused));
}

#[test]
fn a_late_timer_gives_no_grace_period() {
    // The driver slept through both deadlines: the session is dead at once.
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    let out = s.handle_timeout(t0 + ms(520));
    assert_eq!(out.closed, Some(CloseReason::PingTimeout));
}

#[test]
fn client_ping_is_an_invalid_heartbeat_direction() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::WebSocket, t0);
    assert_eq!(
        s.handle_packet(t0, Packet::Ping(Bytes::new())),
        PacketOutcome::Closed(CloseReason::TransportError)
    );
    assert_eq!(
        s.send(Arc::new(Frame::message(b"x"))),
        Err(SessionError::Closed)
    );
}

#[test]
fn messages_are_delivered_and_close_is_reported_once() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert_eq!(
        s.handle_packet(t0, Packet::Message(Bytes::from("hi"))),
        PacketOutcome::Message(Bytes::from("hi"))
    );
    assert_eq!(
        s.handle_packet(t0, Packet::Binary(Bytes::from_static(&[1]))),
        PacketOutcome::Binary(Bytes::from_static(&[1]))
    );
    assert_eq!(
        s.handle_packet(t0, Packet::Close),
        PacketOutcome::Closed(CloseReason::TransportClose)
    );
    assert_eq!(s.handle_packet(t0, Packet::Close), PacketOutcome::None);
    assert_eq!(s.fail(CloseReason::TransportError), PacketOutcome::None);
}

#[test]
fn a_poll_racing_the_client_close_gets_a_noop() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert_eq!(
        s.handle_packet(t0, Packet::Close),
        PacketOutcome::Closed(CloseReason::TransportClose)
    );
    assert!(s.is_closed() && !s.is_finished());
    assert_eq!(s.close_reason(), Some(CloseReason::TransportClose));
    assert!(matches!(s.take_poll_batch(), PollBatch::Noop));
    assert!(s.is_finished());
    assert!(matches!(s.take_poll_batch(), PollBatch::Refused));

    // Nobody polls: the session is released after the drain period.
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.handle_packet(t0, Packet::Close);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(200)));
    s.handle_timeout(t0 + ms(200));
    assert!(s.is_finished());
}

#[test]
fn polling_get_returns_everything_queued_at_once() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert!(matches!(s.take_poll_batch(), PollBatch::Park));
    for text in ["a", "b", "c"] {
        s.send(Arc::new(Frame::message(text.as_bytes()))).unwrap();
    }
    let PollBatch::Frames { frames, close } = s.take_poll_batch() else {
        panic!("expected frames");
    };
    assert!(!close);
    assert_eq!(texts(&frames), vec![b"4a".as_slice(), b"4b", b"4c"]);
    assert_eq!(s.queued_bytes(), 0);
}

#[test]
fn server_close_over_polling_delivers_the_queue_then_close() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.send(Arc::new(Frame::message(b"bye"))).unwrap();
    assert_eq!(s.close(t0), Some(CloseReason::ForcedClose));
    assert!(s.is_closed() && !s.is_finished());
    assert_eq!(s.close(t0), None);
    let PollBatch::Frames { frames, close } = s.take_poll_batch() else {
        panic!("expected frames");
    };
    assert!(!close);
    assert_eq!(texts(&frames), vec![b"4bye".as_slice()]);
    assert!(!s.is_finished());
    let PollBatch::Frames { frames, close } = s.take_poll_batch() else {
        panic!("expected the close packet");
    };
    assert!(close && frames.is_empty());
    assert!(s.is_finished());
}

#[test]
fn server_close_over_polling_gives_up_when_nobody_polls() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.close(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
    s.handle_timeout(t0 + ms(500));
    assert!(s.is_finished());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn full_upgrade_sequence_flushes_the_buffer_over_the_websocket() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.send(Arc::new(Frame::message(b"before"))).unwrap();
    s.start_probe(t0).unwrap();
    assert_eq!(s.start_probe(t0), Err(ProbeError::AlreadyUpgraded));
    // Before the probe is answered, polling still works normally.
    assert!(matches!(s.take_poll_batch(), PollBatch::Frames { .. }));

    let reply = s
        .handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")))
        .unwrap();
    let ProbeOutcome::Reply(frame) = reply else {
        panic!("expected 3probe");
    };
    assert_eq!(&frame.packet()[..], b"3probe");
    // A poll during the upgrade waits for Node's next 100 ms check, then gets a noop so the
    // client pauses polling.
    assert!(matches!(s.take_poll_batch(), PollBatch::Park));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
    assert!(s.handle_timeout(t0 + ms(100)).noop_due);
    assert!(matches!(s.take_poll_batch(), PollBatch::Noop));
    // A client that still polls gets what is queued (the heartbeat must go on).
    s.send(Arc::new(Frame::message(b"polled"))).unwrap();
    let PollBatch::Frames { frames, .. } = s.take_poll_batch() else {
        panic!("expected the queued frame");
    };
    assert_eq!(texts(&frames), vec![b"4polled".as_slice()]);
    // Frames sent while nobody polls wait for the new transport.
    s.send(Arc::new(Frame::message(b"during"))).unwrap();

    assert_eq!(
        s.handle_probe_packet(t0, Packet::Upgrade),
        Ok(ProbeOutcome::Upgraded)
    );
    assert_eq!(s.transport(), TransportKind::WebSocket);
    assert!(!s.is_upgrading());
    assert_eq!(texts(&s.drain()), vec![b"4during".as_slice()]);
    // The old transport is refused afterwards, and so is a second WebSocket.
    assert!(matches!(s.take_poll_batch(), PollBatch::Refused));
    assert_eq!(s.start_probe(t0), Err(ProbeError::AlreadyUpgraded));
}

#[test]
fn upgrade_requires_the_probe_first() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.start_probe(t0).unwrap();
    assert_eq!(
        s.handle_probe_packet(t0, Packet::Upgrade),
        Err(ProbeError::UnexpectedPacket)
    );
    assert!(!s.is_upgrading());
    assert_eq!(s.transport(), TransportKind::Polling);
    assert!(!s.is_closed());
}

#[test]
fn an_upgrade_that_never_completes_expires_and_polling_carries_on() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.start_probe(t0).unwrap();
    s.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")))
        .unwrap();
    let mut now = t0;
    // Keep the heartbeat going over polling while the probe hangs.
    while now < t0 + ms(1000) {
        now = s.poll_timeout().unwrap();
        let out = s.handle_timeout(now);
        if out.ping_queued {
            let PollBatch::Frames { frames, .. } = s.take_poll_batch() else {
                panic!("the ping goes out over polling during the upgrade");
            };
            assert_eq!(texts(&frames), vec![b"2".as_slice()]);
            s.handle_packet(now, Packet::Pong(Bytes::new()));
        }
        if out.upgrade_expired {
            break;
        }
    }
    assert_eq!(now, t0 + ms(1000));
    assert!(!s.is_upgrading());
    assert!(!s.is_closed());
    assert!(matches!(s.take_poll_batch(), PollBatch::Park));
}

#[test]
fn a_slow_client_is_dropped_when_its_queue_is_full() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::WebSocket, t0);
    let frame = Arc::new(Frame::message(&[b'x'; 30]));
    s.send(frame.clone()).unwrap();
    s.send(frame.clone()).unwrap();
    assert_eq!(s.send(frame), Err(SessionError::BufferFull));
    assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
    assert_eq!(s.queued_bytes(), 0);
}

#[test]
fn websocket_close_is_immediate() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::WebSocket, t0);
    assert_eq!(s.close(t0), Some(CloseReason::ForcedClose));
    assert!(s.is_finished());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_packet_queued_right_after_the_probe_travels_in_the_pending_poll() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    s.start_probe(t0).unwrap();
    s.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")))
        .unwrap();
    // The pending poll is not answered with a noop at once...
    assert!(matches!(s.take_poll_batch(), PollBatch::Park));
    // ...so a packet queued 1 ms later goes out in it, as with Node.
    s.send(Arc::new(Frame::message(b"right after"))).unwrap();
    let PollBatch::Frames { frames, .. } = s.take_poll_batch() else {
        panic!("the queued packet travels in the poll");
    };
    assert_eq!(texts(&frames), vec![b"4right after".as_slice()]);
    // The checks go on every 100 ms until the upgrade ends.
    assert!(s.handle_timeout(t0 + ms(100)).noop_due);
    assert!(matches!(s.take_poll_batch(), PollBatch::Noop));
    assert!(matches!(s.take_poll_batch(), PollBatch::Park));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(200)));
}

#[test]
fn an_unsolicited_pong_is_not_a_heartbeat_failure() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::WebSocket, t0);
    // A pong nobody asked for (socketioxide reported these as heartbeat timeouts).
    assert_eq!(
        s.handle_packet(t0 + ms(10), Packet::Pong(Bytes::new())),
        PacketOutcome::None
    );
    assert!(!s.is_closed());
    // The heartbeat goes on: the next ping comes and a real pong keeps the session.
    let due = s.poll_timeout().unwrap();
    assert!(s.handle_timeout(due).ping_queued);
    s.drain();
    assert_eq!(
        s.handle_packet(due + ms(5), Packet::Pong(Bytes::new())),
        PacketOutcome::None
    );
    assert_eq!(
        s.handle_packet(due + ms(6), Packet::Pong(Bytes::new())),
        PacketOutcome::None
    );
    let next = s.poll_timeout().unwrap();
    assert!(s.handle_timeout(next).closed.is_none());
    assert!(!s.is_closed());
}

#[test]
fn a_server_close_does_not_restart_the_heartbeat_deadline() {
    // Issue 8 #17: a handshake never polled again, closed by the connect timeout in between,
    // must be gone at pingInterval + pingTimeout, not one more ping cycle after the close.
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert_eq!(s.close(t0 + ms(100)), Some(CloseReason::ForcedClose));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
    s.handle_timeout(t0 + ms(499));
    assert!(!s.is_finished());
    s.handle_timeout(t0 + ms(500));
    assert!(s.is_finished());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_server_close_while_a_pong_is_due_ends_at_the_pong_deadline() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert!(s.handle_timeout(t0 + ms(300)).ping_queued);
    s.close(t0 + ms(450));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
    // The client that polls in time still gets the ping it was owed, then the close.
    let PollBatch::Frames { frames, close } = s.take_poll_batch() else {
        panic!("expected the queued ping");
    };
    assert!(!close);
    assert_eq!(texts(&frames), vec![b"2".as_slice()]);
    let PollBatch::Frames { close, .. } = s.take_poll_batch() else {
        panic!("expected the close packet");
    };
    assert!(close && s.is_finished());
}

#[test]
fn a_server_close_after_a_pong_waits_at_most_one_cycle_from_the_pong() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), TransportKind::Polling, t0);
    assert!(s.handle_timeout(t0 + ms(300)).ping_queued);
    s.drain();
    s.handle_packet(t0 + ms(350), Packet::Pong(Bytes::new()));
    s.close(t0 + ms(400));
    // Last sign of life at 350: dead at 350 + 300 + 200.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(850)));
}

#[test]
fn durations_that_overflow_instant_mean_never_and_do_not_panic() {
    // Issue 8 #15: `ping_interval(Duration::MAX)` panicked on `Instant + Duration`.
    let huge = Arc::new(SessionConfig {
        ping_interval: Duration::MAX,
        ping_timeout: Duration::MAX,
        upgrade_timeout: Duration::MAX,
        ..SessionConfig::default()
    });
    let t0 = Instant::now();
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut s = Session::new(huge.clone(), transport, t0);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.handle_timeout(t0 + ms(10)), TimeoutOutcome::default());
        s.handle_packet(t0, Packet::Pong(Bytes::new()));
        assert_eq!(s.poll_timeout(), None);
        if transport == TransportKind::Polling {
            s.start_probe(t0).unwrap();
            assert_eq!(s.poll_timeout(), None);
            s.abort_probe();
        }
        s.close(t0);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + Duration::from_secs(3600));
        s.handle_packet(t0, Packet::Close);
    }
    // Only the timeout overflows: the ping is sent and its pong is awaited forever.
    let cfg = Arc::new(SessionConfig {
        ping_interval: ms(300),
        ping_timeout: Duration::MAX,
        ..SessionConfig::default()
    });
    let mut s = Session::new(cfg, TransportKind::Polling, t0);
    assert!(s.handle_timeout(t0 + ms(300)).ping_queued);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_timeout(t0 + ms(100_000)).closed, None);
    s.close(t0 + ms(400));
    assert_eq!(s.poll_timeout(), None);
}
