//! Engine.IO v4: packets, polling payloads, handshake and the session state machine.
