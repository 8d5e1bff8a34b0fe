//! Pure protocol logic for sockgate: Engine.IO v4 and Socket.IO v5 codecs, RFC 6455 framing and the
//! Engine.IO session state machine.
//!
//! Nothing in this crate performs I/O or reads a clock. Inputs are byte buffers and `Instant`s passed
//! in by the caller; outputs are values to send and deadlines to wake up at. That makes every rule of
//! the protocols testable with a simulated clock and fuzzable from plain bytes, in the style of
//! `quinn-proto`. The async drivers live in `sockgate-engine`.

pub mod engine;
pub mod socketio;
pub mod ws;
