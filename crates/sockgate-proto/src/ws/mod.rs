//! RFC 6455 WebSocket framing for the server side.
