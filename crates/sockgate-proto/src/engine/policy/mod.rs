//! Transport policy: the decisions the I/O drivers of `sockgate-engine` used to make inline,
//! as pure functions of their inputs with the time passed in (quinn-proto style), so that each
//! can be tested with a simulated clock instead of real sockets and real time.
//!
//! - [`WriteCoalescer`]: whether a WebSocket writes its queue now or holds it for the rest of
//!   the coalescing window.
//! - [`handle_ws_message`], [`handle_ws_packet`] and [`poll_probe`]: where a packet read from a WebSocket goes (the
//!   probe of an upgrade or the session) and what the driver does next.
//! - [`handle_ws_end`]: how a WebSocket ending maps to a [`CloseReason`](super::CloseReason) and to the close code
//!   the driver sends.
//! - [`poll_answer`] and [`handle_poll_fault`]: the answer a polling GET or POST gets in each
//!   state of its session.
//!
//! The drivers keep only the I/O: they read, write, sleep until the instants these functions
//! return, and call back in.

mod coalesce;
mod polling;
mod websocket;

pub use coalesce::{WriteCoalescer, WriteDecision};
pub use polling::{
    handle_poll_fault, poll_answer, PollAnswer, PollFault, PollFaultAnswer, PollRefusal,
};
pub use websocket::{
    handle_ws_end, handle_ws_message, handle_ws_packet, poll_probe, WsEnd, WsEnding, WsRole, WsStep,
};
