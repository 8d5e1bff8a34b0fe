//! The `exception` event of gateways, declared for contracts.

use serde::Serialize;

use super::{Event, NoAck, ServerToClient};

/// The payload of the `exception` event a gateway's default exception filter emits
/// ([`crate::gateway::DefaultExceptionFilter`]), for contracts of gateways: list
/// [`Exception`] among their server-to-client events.
#[derive(
    Debug, Clone, PartialEq, Serialize, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[ts(rename = "WsExceptionPayload")]
#[schemars(rename = "WsExceptionPayload")]
pub struct ExceptionPayload {
    /// Always `"error"`.
    pub status: String,
    /// What went wrong, for the user.
    pub message: String,
    /// The invalid fields, when the body failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub errors: Option<Vec<ExceptionFieldError>>,
    /// The message that failed (absent with `exclude_cause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cause: Option<ExceptionCause>,
}

/// One invalid field in an [`ExceptionPayload`].
#[derive(
    Debug, Clone, PartialEq, Serialize, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct ExceptionFieldError {
    /// The field path.
    pub field: String,
    /// What is wrong with it.
    pub messages: Vec<String>,
}

/// The message that caused an [`ExceptionPayload`].
#[derive(
    Debug, Clone, PartialEq, Serialize, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct ExceptionCause {
    /// The event name.
    pub pattern: String,
    /// The body as received.
    pub data: serde_json::Value,
}

/// The `exception` event of gateways (NestJS's), from server to client.
///
/// An exception filter that emits something else, or a `WsException::Object`, sends another
/// shape: declare your own event then.
#[derive(Debug, Clone, Copy)]
pub struct Exception;

impl Event for Exception {
    const NAME: &'static str = "exception";
    type Payload = ExceptionPayload;
}

impl ServerToClient for Exception {
    type Ack = NoAck;
}
