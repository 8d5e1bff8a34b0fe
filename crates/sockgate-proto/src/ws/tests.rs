use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::decode::unmask;
use super::*;

const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// How a reference frame writes its payload length.
#[derive(Debug, Clone, Copy)]
enum LenForm {
    Minimal,
    /// 16-bit extended length even when 7 bits would do (non-minimal but decodable).
    Force16,
    /// 64-bit extended length even when fewer bytes would do.
    Force64,
}

/// Reference client encoder: builds a masked frame byte by byte, independent of the decoder.
fn client_frame(b0: u8, payload: &[u8], key: [u8; 4], form: LenForm) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![b0];
    match form {
        LenForm::Minimal if len <= 125 => out.push(0x80 | len as u8),
        LenForm::Minimal | LenForm::Force16 if len <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(b0, payload, KEY, LenForm::Minimal)
}

/// Feeds `chunks` one after another, draining messages after each; stops at the first error.
fn run<'a>(
    max: usize,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Result<Message, ProtocolError>> {
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => break,
                Err(err) => {
                    out.push(Err(err));
                    return out;
                }
            }
        }
    }
    out
}

fn decode_all(max: usize, input: &[u8]) -> Vec<Result<Message, ProtocolError>> {
    run(max, [input])
}

fn first_error(input: &[u8]) -> ProtocolError {
    match decode_all(1 << 20, input).pop() {
        Some(Err(err)) => err,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Cuts `data` at the given positions (taken modulo its length, sorted).
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&data[start..cut]);
        start = cut;
    }
    pieces.push(&data[start..]);
    pieces
}

#[test]
fn accept_key_matches_rfc_example() {
    // RFC 6455 section 1.3.
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn opcode_wire_values_round_trip() {
    for value in 0..=0xFF {
        if let Some(op) = OpCode::from_u8(value) {
            assert_eq!(op.as_u8(), value);
            assert_eq!(op.is_control(), value >= 8);
        } else {
            assert!(matches!(value, 3..=7 | 0xB..));
        }
    }
}

#[test]
fn unmask_matches_bytewise_xor() {
    for len in 0..40 {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut fast = data.clone();
        unmask(&mut fast, KEY);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ KEY[i % 4])
            .collect();
        assert_eq!(fast, slow, "len {len}");
    }
}

#[test]
fn round_trips_boundary_lengths() {
    for (len, header) in [
        (0, vec![0x82, 0x80]),
        (125, vec![0x82, 0x80 | 125]),
        (126, vec![0x82, 0xFE, 0x00, 0x7E]),
        (65535, vec![0x82, 0xFE, 0xFF, 0xFF]),
        (65536, vec![0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut frame = header.clone();
        frame.extend_from_slice(&KEY);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        assert_eq!(
            frame,
            masked(0x82, &payload),
            "reference encoder, len {len}"
        );

        let mut buf = BytesMut::from(&frame[..]);
        let mut decoder = FrameDecoder::new(1 << 20);
        let message = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            message,
            Message::Binary(payload.clone().into()),
            "len {len}"
        );
        assert!(buf.is_empty());
        assert_eq!(decoder.decode(&mut buf), Ok(None));

        // The same frame arriving in small reads.
        let pieces: Vec<&[u8]> = frame.chunks(997).collect();
        assert_eq!(
            run(1 << 20, pieces),
            [Ok(Message::Binary(payload.clone().into()))]
        );

        let text = "é".repeat(len / 2) + &"a".repeat(len % 2);
        assert_eq!(
            decode_all(1 << 20, &masked(0x81, text.as_bytes())),
            [Ok(Message::Text(text.into()))]
        );

        let server = encode_frame(OpCode::Binary, &payload);
        let mut unmasked_header = header;
        unmasked_header[1] &= 0x7F;
        assert_eq!(&server[..unmasked_header.len()], &unmasked_header[..]);
        assert_eq!(&server[unmasked_header.len()..], &payload[..]);
    }
}

#[test]
fn decodes_byte_by_byte() {
    let mut input = masked(0x81, b"hello");
    input.extend(masked(0x89, b"ping"));
    input.extend(masked(0x82, &[0; 300]));
    let out = run(1 << 20, input.chunks(1));
    assert_eq!(
        out,
        [
            Ok(Message::Text("hello".into())),
            Ok(Message::Ping("ping".into())),
            Ok(Message::Binary(vec![0; 300].into())),
        ]
    );
}

#[test]
fn leaves_the_next_frame_in_the_buffer() {
    let first = masked(0x82, b"one");
    let second = masked(0x82, b"two");
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second[..3]);
    let mut decoder = FrameDecoder::new(100);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Message::Binary("one".into())))
    );
    assert_eq!(&buf[..], &second[..3]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], &second[..3]);
}

#[test]
fn reassembles_fragments_with_interleaved_control_frames() {
    let text = "Hello wörld";
    let bytes = text.as_bytes();
    // Split inside the two-byte "ö" to show validation waits for the whole message.
    let cut = text.find('ö').unwrap() + 1;
    let mut decoder = FrameDecoder::new(1 << 10);
    let mut buf = BytesMut::new();

    buf.extend_from_slice(&masked(0x01, &bytes[..3]));
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(decoder.is_mid_message());

    buf.extend_from_slice(&masked(0x89, b"are you there"));
    buf.extend_from_slice(&masked(0x00, &bytes[3..cut]));
    buf.extend_from_slice(&masked(0x8A, b""));
    buf.extend_from_slice(&masked(0x80, &bytes[cut..]));
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Message::Ping("are you there".into())))
    );
    assert!(decoder.is_mid_message());
    assert_eq!(decoder.decode(&mut buf), Ok(Some(Message::Pong("".into()))));
    assert!(decoder.is_mid_message());
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Message::Text(text.into())))
    );
    assert!(!decoder.is_mid_message());
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn fragmented_binary_with_empty_fragments() {
    let mut input = masked(0x02, b"");
    input.extend(masked(0x00, b"ab"));
    input.extend(masked(0x00, b""));
    input.extend(masked(0x80, b"c"));
    assert_eq!(decode_all(10, &input), [Ok(Message::Binary("abc".into()))]);
}

#[test]
fn close_frames() {
    assert_eq!(
        decode_all(0, &masked(0x88, b"")),
        [Ok(Message::Close(None))]
    );
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ✓".as_bytes());
        assert_eq!(
            decode_all(0, &masked(0x88, &payload)),
            [Ok(Message::Close(Some(CloseFrame {
                code,
                reason: "bye ✓".into()
            })))]
        );
    }
    for code in [
        0u16,
        999,
        1004,
        1005,
        1006,
        1015,
        1016,
        2999,
        5000,
        u16::MAX,
    ] {
        assert_eq!(
            first_error(&masked(0x88, &code.to_be_bytes())),
            ProtocolError::InvalidCloseFrame,
            "code {code}"
        );
    }
    assert_eq!(
        first_error(&masked(0x88, &[0x03])),
        ProtocolError::InvalidCloseFrame
    );
    assert_eq!(
        first_error(&masked(0x88, &[0x03, 0xE8, 0xFF])),
        ProtocolError::InvalidUtf8
    );
}

#[test]
fn message_too_big_is_detected_from_the_header_alone() {
    // 2 GiB announced; only the 10 header bytes before the mask key have arrived.
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(2u64 << 30).to_be_bytes());
    let mut decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::MessageTooBig));
    assert_eq!(ProtocolError::MessageTooBig.close_code(), 1009);

    // 16-bit length over the limit.
    let mut buf = BytesMut::from(&[0x82, 0xFE, 0x01, 0x00][..]);
    let mut decoder = FrameDecoder::new(255);
    assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::MessageTooBig));

    // Exactly at the limit is fine; one more byte is not.
    assert_eq!(
        decode_all(4, &masked(0x82, b"four")),
        [Ok(Message::Binary("four".into()))]
    );
    assert_eq!(
        decode_all(3, &masked(0x82, b"four")),
        [Err(ProtocolError::MessageTooBig)]
    );
}

#[test]
fn message_too_big_counts_all_fragments() {
    let mut input = masked(0x01, b"abc");
    input.extend(masked(0x89, b"control frames do not count"));
    input.extend(masked(0x00, b"de"));
    let ok_end = masked(0x80, b"");
    let bad_end = masked(0x80, b"f");

    let mut fits = input.clone();
    fits.extend_from_slice(&ok_end);
    assert_eq!(
        decode_all(5, &fits),
        [
            Ok(Message::Ping("control frames do not count".into())),
            Ok(Message::Text("abcde".into())),
        ]
    );

    let mut too_big = input;
    too_big.extend_from_slice(&bad_end);
    assert_eq!(
        decode_all(5, &too_big).pop(),
        Some(Err(ProtocolError::MessageTooBig))
    );
}

#[test]
fn rejects_64_bit_length_with_top_bit_set() {
    let mut input = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    input.extend_from_slice(&KEY);
    assert_eq!(first_error(&input), ProtocolError::InvalidFrameLength);
    assert_eq!(
        decode_all(usize::MAX, &input),
        [Err(ProtocolError::InvalidFrameLength)]
    );
}

#[test]
fn every_error_variant() {
    use ProtocolError::*;
    let frag_text = masked(0x01, b"a");
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (masked(0x81, &[0xC3, 0x28]), InvalidUtf8),
        (
            [frag_text.clone(), masked(0x80, &[0xE2, 0x82])].concat(),
            InvalidUtf8,
        ),
        (vec![0x82, 0x03, b'a', b'b', b'c'], UnmaskedFrame),
        (vec![0x82, 0x00], UnmaskedFrame),
        (masked(0xC2, b"x"), ReservedBits),
        (masked(0xA2, b"x"), ReservedBits),
        (masked(0x92, b"x"), ReservedBits),
        (vec![0x89, 0xFE, 0x00, 0x7E], ControlFrameTooLong),
        (masked(0x89, &[0; 126]), ControlFrameTooLong),
        (masked(0x8A, &[0; 200]), ControlFrameTooLong),
        (masked(0x88, &[0; 65536]), ControlFrameTooLong),
        (masked(0x09, b""), FragmentedControl),
        (masked(0x08, b""), FragmentedControl),
        (masked(0x80, b"x"), UnexpectedContinuation),
        (masked(0x00, b"x"), UnexpectedContinuation),
        (
            [frag_text.clone(), masked(0x81, b"b")].concat(),
            ExpectedContinuation,
        ),
        (
            [frag_text, masked(0x02, b"b")].concat(),
            ExpectedContinuation,
        ),
        (masked(0x88, &[0x03]), InvalidCloseFrame),
        (masked(0x88, &[0x03, 0xEE]), InvalidCloseFrame),
        (
            [vec![0x82, 0xFF], u64::MAX.to_be_bytes().to_vec()].concat(),
            InvalidFrameLength,
        ),
        (vec![0x82, 0xFE, 0xFF, 0xFF], MessageTooBig),
    ];
    for (input, expected) in cases {
        assert_eq!(
            decode_all(1000, &input).pop(),
            Some(Err(expected)),
            "{input:02x?}"
        );
    }
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(first_error(&masked(0x80 | opcode, b"")), UnknownOpcode);
        // Detected from the first byte alone.
        assert_eq!(run(10, [&[0x80 | opcode][..]]), [Err(UnknownOpcode)]);
    }
}

#[test]
fn close_codes_and_messages() {
    use ProtocolError::*;
    let all = [
        MessageTooBig,
        InvalidUtf8,
        UnmaskedFrame,
        ReservedBits,
        ControlFrameTooLong,
        FragmentedControl,
        UnexpectedContinuation,
        ExpectedContinuation,
        UnknownOpcode,
        InvalidCloseFrame,
        InvalidFrameLength,
    ];
    for err in all {
        let expected = match err {
            MessageTooBig => 1009,
            InvalidUtf8 => 1007,
            _ => 1002,
        };
        assert_eq!(err.close_code(), expected, "{err:?}");
        assert!(!err.to_string().is_empty());
        let _: &dyn std::error::Error = &err;
    }
}

#[test]
fn encode_frame_parts_equals_concatenation() {
    for len in [0usize, 1, 124, 125, 126, 127, 65535, 65536, 70000] {
        let rest = vec![b'x'; len];
        let mut whole = vec![b'4'];
        whole.extend_from_slice(&rest);
        assert_eq!(
            encode_frame_parts(OpCode::Text, b"4", &rest),
            encode_frame(OpCode::Text, &whole),
            "len {len}"
        );
    }
    assert_eq!(&encode_frame(OpCode::Pong, b"hi")[..], b"\x8A\x02hi");
    assert_eq!(&encode_frame(OpCode::Text, b"")[..], b"\x81\x00");
}

#[test]
fn encode_close_truncates_reason_at_char_boundary() {
    assert_eq!(&encode_close(1000, "")[..], b"\x88\x02\x03\xE8");
    assert_eq!(&encode_close(1001, "bye")[..], b"\x88\x05\x03\xE9bye");

    // 61 two-byte characters plus one more would be 124 bytes; the last one must go whole.
    let reason = "é".repeat(62);
    let frame = encode_close(4000, &reason);
    assert_eq!(frame.len(), 2 + 2 + 122);
    assert_eq!(frame[1] as usize, 124);
    assert_eq!(&frame[4..], "é".repeat(61).as_bytes());

    let frame = encode_close(4000, &"a".repeat(500));
    assert_eq!(frame[1] as usize, MAX_CONTROL_PAYLOAD);
    assert_eq!(frame.len(), 2 + MAX_CONTROL_PAYLOAD);
}

#[test]
fn accepts_non_minimal_length_encodings() {
    for form in [LenForm::Force16, LenForm::Force64] {
        assert_eq!(
            decode_all(100, &client_frame(0x82, b"abc", KEY, form)),
            [Ok(Message::Binary("abc".into()))]
        );
        assert_eq!(
            first_error(&client_frame(0x89, b"abc", KEY, form)),
            ProtocolError::ControlFrameTooLong
        );
    }
}

/// One data message to send: text or binary, fragmented at `cuts`, with optional pings
/// between fragments and a length form / masking key per frame.
#[derive(Debug, Clone)]
struct Plan {
    text: bool,
    payload: Vec<u8>,
    cuts: Vec<usize>,
    pings: Vec<bool>,
    keys: Vec<[u8; 4]>,
    forms: Vec<u8>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop_oneof![
            ".{0,60}".prop_map(|s| (true, s.into_bytes())),
            prop::collection::vec(any::<u8>(), 0..400).prop_map(|v| (false, v)),
        ],
        prop::collection::vec(any::<usize>(), 0..5),
        prop::collection::vec(any::<bool>(), 6),
        prop::collection::vec(any::<[u8; 4]>(), 6),
        prop::collection::vec(0u8..3, 6),
    )
        .prop_map(|((text, payload), cuts, pings, keys, forms)| Plan {
            text,
            payload,
            cuts,
            pings,
            keys,
            forms,
        })
}

/// Encodes `plan` with the reference encoder and returns the messages it should decode to.
fn encode_plan(plan: &Plan, out: &mut Vec<u8>, expected: &mut Vec<Message>) {
    let fragments = split(&plan.payload, &plan.cuts);
    let last = fragments.len() - 1;
    for (i, fragment) in fragments.iter().enumerate() {
        let opcode = match (i, plan.text) {
            (0, true) => 0x1,
            (0, false) => 0x2,
            _ => 0x0,
        };
        let fin = if i == last { 0x80 } else { 0 };
        let form = match plan.forms[i] {
            0 => LenForm::Minimal,
            1 => LenForm::Force16,
            _ => LenForm::Force64,
        };
        out.extend(client_frame(fin | opcode, fragment, plan.keys[i], form));
        if i != last && plan.pings[i] {
            let ping = vec![i as u8; i];
            out.extend(client_frame(0x89, &ping, plan.keys[i], LenForm::Minimal));
            expected.push(Message::Ping(ping.into()));
        }
    }
    let payload = plan.payload.clone().into();
    expected.push(if plan.text {
        Message::Text(payload)
    } else {
        Message::Binary(payload)
    });
}

/// Frame-shaped noise: random first bytes and lengths, mostly masked, so inputs get past the
/// first-byte checks far more often than uniformly random bytes do.
fn noisy_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0x81u8),
            Just(0x82),
            Just(0x01),
            Just(0x00),
            Just(0x80),
            Just(0x88),
            Just(0x89),
            Just(0x8A),
            any::<u8>(),
        ],
        prop::collection::vec(any::<u8>(), 0..140),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(b0, payload, form, unmasked)| {
            let form = match form {
                0 => LenForm::Minimal,
                1 => LenForm::Force16,
                _ => LenForm::Force64,
            };
            let mut frame = client_frame(b0, &payload, KEY, form);
            if unmasked {
                frame[1] &= 0x7F;
            }
            frame
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_ignore_splits(
        input in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max in 0usize..300,
    ) {
        let whole = decode_all(max, &input);
        let pieces = run(max, split(&input, &cuts));
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn frame_shaped_noise_never_panics_and_ignores_splits(
        frames in prop::collection::vec(noisy_frame(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..300],
    ) {
        let input = frames.concat();
        let whole = decode_all(max, &input);
        for message in whole.iter().flatten() {
            if let Message::Text(text) = message {
                prop_assert!(std::str::from_utf8(text).is_ok());
            }
        }
        prop_assert_eq!(whole, run(max, split(&input, &cuts)));
    }

    #[test]
    fn reference_encoded_messages_round_trip(
        plans in prop::collection::vec(plan(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for plan in &plans {
            encode_plan(plan, &mut input, &mut expected);
        }
        let expected: Vec<Result<Message, ProtocolError>> =
            expected.into_iter().map(Ok).collect();
        prop_assert_eq!(run(400, split(&input, &cuts)), expected);
    }
}

#[test]
fn client_side_round_trip() {
    // A client encodes masked frames the server decoder accepts, and decodes the server's
    // unmasked frames.
    let mut server = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::from(&encode_masked_frame(OpCode::Text, b"4hello", [1, 2, 3, 4])[..]);
    assert_eq!(
        server.decode(&mut buf).unwrap(),
        Some(Message::Text(Bytes::from_static(b"4hello")))
    );
    let mut client = FrameDecoder::for_client(1 << 20);
    let big = vec![7u8; 70_000];
    let mut buf = BytesMut::from(&encode_frame(OpCode::Binary, &big)[..]);
    assert_eq!(
        client.decode(&mut buf).unwrap(),
        Some(Message::Binary(Bytes::from(big)))
    );
    let mut buf = BytesMut::from(&encode_masked_frame(OpCode::Text, b"x", [9, 9, 9, 9])[..]);
    assert_eq!(client.decode(&mut buf), Err(ProtocolError::MaskedFrame));
}

#[test]
fn masked_frames_use_each_length_form_and_append() {
    let key = [0x11, 0x22, 0x33, 0x44];
    for (len, header) in [
        (0usize, vec![0x82, 0x80]),
        (125, vec![0x82, 0x80 | 125]),
        (126, vec![0x82, 0x80 | 126, 0, 126]),
        (65_535, vec![0x82, 0x80 | 126, 0xff, 0xff]),
        (65_536, vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let frame = encode_masked_frame(OpCode::Binary, &payload, key);
        assert_eq!(&frame[..header.len()], &header[..], "length {len}");
        assert_eq!(&frame[header.len()..header.len() + 4], &key[..]);
        let masked = &frame[header.len() + 4..];
        assert!(masked
            .iter()
            .enumerate()
            .all(|(i, b)| *b == payload[i] ^ key[i % 4]));
        let mut server = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(
            server.decode(&mut buf).unwrap(),
            Some(Message::Binary(Bytes::from(payload)))
        );
    }
    // The buffer form appends, so one buffer can carry several frames.
    let mut out = b"prefix".to_vec();
    encode_masked_frame_into(&mut out, OpCode::Text, b"3", key);
    assert_eq!(&out[6..], &encode_masked_frame(OpCode::Text, b"3", key)[..]);
}
