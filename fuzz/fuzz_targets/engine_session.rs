//! Drives the Engine.IO session machine with arbitrary sequences of packets, timeouts, sends,
//! polls, probes and closes under a simulated clock, and checks its invariants after every step:
//! no panic; the queue's byte count matches what drains; a closed session accepts nothing; after
//! `handle_timeout(now)` the next deadline is never at or before `now`; a finished session has no
//! deadline; the clock only moves forward.
//!
//! Input: 3 bytes of config (ping interval, ping timeout, upgrade timeout, each 0 = "Duration::MAX"
//! or `b * 10` ms), then one op per byte, some followed by an argument byte.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::engine::{
    CloseReason, Frame, Packet, PollBatch, Session, SessionConfig, TransportKind,
};

fn duration(b: u8) -> Duration {
    if b == 0 {
        Duration::MAX
    } else {
        Duration::from_millis(u64::from(b) * 10)
    }
}

fn packet(b: u8) -> Packet {
    match b % 9 {
        0 => Packet::Message(Bytes::from_static(b"hello")),
        1 => Packet::Binary(Bytes::from_static(&[1, 2, 3])),
        2 => Packet::Pong(Bytes::new()),
        3 => Packet::Ping(Bytes::new()),
        4 => Packet::Ping(Bytes::from_static(b"probe")),
        5 => Packet::Close,
        6 => Packet::Open,
        7 => Packet::Upgrade,
        _ => Packet::Noop,
    }
}

fn reason(b: u8) -> CloseReason {
    match b % 6 {
        0 => CloseReason::TransportClose,
        1 => CloseReason::TransportError,
        2 => CloseReason::PingTimeout,
        3 => CloseReason::ParseError,
        4 => CloseReason::ForcedClose,
        _ => CloseReason::BufferFull,
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c, rest @ ..] = data else { return };
    let config = Arc::new(SessionConfig {
        ping_interval: duration(*a),
        ping_timeout: duration(*b),
        upgrade_timeout: duration(*c),
        max_payload: 1_000_000,
        max_buffered_bytes: 256,
    });
    let t0 = Instant::now();
    let transport = if a & 1 == 0 {
        TransportKind::Polling
    } else {
        TransportKind::WebSocket
    };
    let mut s = Session::new(config, transport, t0);
    let mut now = t0;
    let mut ops = rest.iter().copied();
    while let Some(op) = ops.next() {
        let arg = ops.next().unwrap_or(0);
        let mut timed_out = false;
        match op % 14 {
            0 => now += Duration::from_millis(u64::from(arg) * 7),
            1 => {
                s.handle_timeout(now);
                timed_out = true;
            }
            2 => {
                // Jump to the next deadline, as the driver's timer does.
                if let Some(at) = s.poll_timeout() {
                    if at > now {
                        now = at;
                    }
                    s.handle_timeout(now);
                    timed_out = true;
                }
            }
            3 => {
                s.handle_packet(now, packet(arg));
            }
            4 => {
                let closed = s.is_closed();
                let frame = Arc::new(Frame::message(&vec![b'x'; usize::from(arg)]));
                let sent = s.send(frame);
                assert!(!closed || sent.is_err(), "a closed session accepted a frame");
            }
            5 => {
                let before = s.queued_bytes();
                let frames = s.drain();
                assert_eq!(frames.iter().map(|f| f.len()).sum::<usize>(), before);
                assert_eq!(s.queued_bytes(), 0);
            }
            6 => {
                let before = s.queued_bytes();
                if let PollBatch::Frames { frames, .. } = s.take_poll_batch() {
                    assert_eq!(frames.iter().map(|f| f.len()).sum::<usize>(), before);
                    assert_eq!(s.queued_bytes(), 0);
                }
            }
            7 => {
                let _ = s.start_probe(now);
            }
            8 => s.abort_probe(),
            9 => {
                let _ = s.handle_probe_packet(now, packet(arg));
            }
            10 => {
                s.close(now);
            }
            11 => {
                s.fail(reason(arg));
            }
            12 => now += Duration::from_millis(u64::from(arg)),
            _ => now += Duration::from_secs(u64::from(arg)),
        }
        // Invariants.
        assert_eq!(s.has_queued(), s.queued_bytes() > 0);
        assert!(!s.is_writable() || !s.has_queued());
        if s.is_finished() {
            assert!(s.is_closed());
            assert!(s.close_reason().is_some());
            assert_eq!(s.poll_timeout(), None, "a finished session keeps a deadline");
        }
        if timed_out {
            if let Some(at) = s.poll_timeout() {
                assert!(at > now, "deadline {at:?} not after handle_timeout({now:?})");
            }
        }
        if s.transport() == TransportKind::WebSocket {
            assert!(!s.is_upgrading());
        }
    }
});
