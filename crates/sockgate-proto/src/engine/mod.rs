//! Engine.IO v4: packets, polling payloads, handshake and the session state machine.
//!
//! The transport driver in `sockgate-engine` feeds decoded packets and the current time into a
//! [`Session`], asks it what to send, and sleeps until [`Session::poll_timeout`].

mod frame;
mod packet;
mod payload;
pub mod policy;
mod session;
mod sid;

pub use frame::{Frame, FrameKind, SharedFrame};
pub use packet::{DecodeError, Packet};
pub use payload::{decode_payload, encode_payload, RECORD_SEPARATOR};
pub use session::{
    CloseReason, PacketOutcome, PollBatch, ProbeError, ProbeOutcome, Session, SessionConfig,
    SessionError, TimeoutOutcome, TransportKind,
};
pub use sid::{handshake_json, Sid, MAX_ADVERTISED_HEARTBEAT, SID_LEN};
