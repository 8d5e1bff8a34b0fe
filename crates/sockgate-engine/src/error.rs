//! The HTTP errors of Node's engine.io, with their codes and bodies.

use std::fmt;

/// A refused Engine.IO request, answered exactly as Node's engine.io answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Code 0: the `transport` parameter is missing, unknown or not allowed.
    TransportUnknown,
    /// Code 1: no session has this sid (it may have closed).
    UnknownSid,
    /// Code 2: a handshake must be a GET.
    BadHandshakeMethod,
    /// Code 3: the request does not fit the session's state.
    BadRequest,
    /// Code 4: `allowRequest` refused the handshake, with its message.
    Forbidden(String),
    /// Code 5: `EIO` is missing or not 4.
    UnsupportedProtocolVersion,
    /// A POST body over `maxHttpBufferSize`: 413, the session is kept.
    PayloadTooLarge,
    /// A handshake while the server shuts down: 503; the client retries (another node).
    ShuttingDown,
    /// A POST body that did not arrive within `httpRequestBodyTimeout`: 408, the connection
    /// and the session are closed.
    RequestTimeout,
}

impl RequestError {
    /// Node's error code.
    pub fn code(&self) -> Option<u8> {
        Some(match self {
            RequestError::TransportUnknown => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest => 3,
            RequestError::Forbidden(_) => 4,
            RequestError::UnsupportedProtocolVersion => 5,
            RequestError::PayloadTooLarge
            | RequestError::ShuttingDown
            | RequestError::RequestTimeout => return None,
        })
    }

    /// The HTTP status.
    pub fn status(&self) -> http::StatusCode {
        match self {
            RequestError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            RequestError::PayloadTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::ShuttingDown => http::StatusCode::SERVICE_UNAVAILABLE,
            RequestError::RequestTimeout => http::StatusCode::REQUEST_TIMEOUT,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// Node's message.
    pub fn message(&self) -> &str {
        match self {
            RequestError::TransportUnknown => "Transport unknown",
            RequestError::UnknownSid => "Session ID unknown",
            RequestError::BadHandshakeMethod => "Bad handshake method",
            RequestError::BadRequest => "Bad request",
            RequestError::Forbidden(message) => message,
            RequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
            RequestError::PayloadTooLarge => "Payload Too Large",
            RequestError::ShuttingDown => "Server is shutting down",
            RequestError::RequestTimeout => "Request Timeout",
        }
    }

    /// The JSON body: `{"code":N,"message":"..."}`.
    pub fn body(&self) -> String {
        match self.code() {
            Some(code) => format!(
                r#"{{"code":{},"message":{}}}"#,
                code,
                serde_json::Value::from(self.message())
            ),
            None => self.message().to_owned(),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RequestError {}
