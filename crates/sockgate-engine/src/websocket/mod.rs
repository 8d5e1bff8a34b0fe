//! WebSocket: the HTTP upgrade, and one driver task per socket that reads client frames and
//! writes the session's queue.
//!
//! - [`upgrade`](self::upgrade): the 101 answer and the spawn of the socket's task;
//! - `socket`: the upgraded stream, read through one scratch buffer per worker thread and
//!   written with vectored writes;
//! - `driver`: the task's loop (read, route, flush, close handshake);
//! - `write`: the driver's writes, their deadline and write coalescing.
//!
//! Every decision the driver takes (hold or flush, where a packet goes, how an end maps to a
//! close reason and code) is a pure function of `sockgate_proto::engine::policy`; this module
//! only does the I/O around them.

use std::time::Duration;

use http::header::{self, HeaderMap};

mod driver;
mod socket;
#[cfg(feature = "tungstenite-framing")]
mod tungstenite;
mod upgrade;
mod write;

pub(crate) use upgrade::upgrade;

/// How long a closing socket waits for the client's close frame before it shuts down: closing
/// with unread input makes Linux answer with a reset, which can destroy the last frames we sent.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}
