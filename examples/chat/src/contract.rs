//! The chat's events, declared once: the typed gateway ([`crate::typed_gateway`]) emits and
//! handles them, and `cargo run -p chat --bin chat-contract` turns them into
//! `examples/chat/contract/example.d.ts` (for the TypeScript client in
//! `examples/chat/client`) and `examples/chat/contract/asyncapi.json`.
//!
//! | event | direction | payload | ack |
//! |---|---|---|---|
//! | `message` | client → server | [`ChatText`] (a string) | none (as the seed's gateway) |
//! | `message` | server → client | [`ChatText`]: `"<name> : <text>"` | none |
//! | `joined`, `left` | server → client | [`Presence`] | none |
//! | `exception` | server → client | [`sockgate::typed::ExceptionPayload`] | none |
//! | `members` | client → server | [`MembersQuery`] | [`MemberList`] |

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sockgate::typed::{AsyncApiInfo, Contract, ContractFiles, Event, Exception, TypeScriptOptions};
use ts_rs::TS;

use crate::gateway::js_string;

/// A chat line. The contract says `string`; for the seed's clients the server also accepts
/// any other JSON body and formats it as JavaScript's template literal would (`["x", "y"]` is
/// `"x,y"`, an object `"[object Object]"`), as the NestJS gateway did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, JsonSchema)]
#[ts(type = "string")]
#[schemars(transparent)]
pub struct ChatText(pub String);

impl<'de> Deserialize<'de> for ChatText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|value| ChatText(js_string(&value)))
    }
}

/// Who joined or left the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct Presence {
    /// The `name` query parameter of their connection (`(none)` without one).
    pub name: String,
}

/// What `members` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct MembersQuery {
    /// At most this many names (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// The ack of `members`: who is in `/example` on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberList {
    /// Their names, sorted (`(none)` for a nameless client), cut at the query's `limit`.
    pub names: Vec<String>,
    /// How many sockets are connected, whatever the limit.
    pub total_count: u32,
}

/// `message`: a chat line, both ways. No ack, as in the seed's gateway.
#[derive(Debug, Clone, Copy, Event)]
#[event(name = "message", payload = ChatText, server_to_client, client_to_server)]
pub struct Message;

/// `members`: who is here, answered in the ack (an addition of the typed chat).
#[derive(Debug, Clone, Copy, Event)]
#[event(name = "members", payload = MembersQuery, client_to_server(ack = MemberList))]
pub struct Members;

/// `joined`: someone connected to `/example`.
#[derive(Debug, Clone, Copy, Event)]
#[event(name = "joined", payload = Presence, server_to_client)]
pub struct Joined;

/// `left`: someone disconnected.
#[derive(Debug, Clone, Copy, Event)]
#[event(name = "left", payload = Presence, server_to_client)]
pub struct Left;

/// The contract of namespace `/example`.
#[derive(Debug, Contract)]
#[contract(
    namespace = "/example",
    server_to_client(Message, Joined, Left, Exception),
    client_to_server(Message, Members)
)]
pub struct ExampleContract;

/// Where the generated files are committed.
pub const CONTRACT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contract");

/// The generated files: `example.d.ts` and `asyncapi.json`.
pub fn files() -> ContractFiles {
    ContractFiles::new()
        .typescript_options(TypeScriptOptions {
            regenerate_hint: Some("Regenerate: `cargo run -p chat --bin chat-contract`.".into()),
        })
        .contract::<ExampleContract>("example.d.ts")
        .asyncapi(
            "asyncapi.json",
            AsyncApiInfo {
                title: "sockgate chat".into(),
                version: "1.0.0".into(),
                description: Some(format!(
                    "The chat example's namespace `{}`: the seed's NestJS ExampleGateway.",
                    ExampleContract::NAMESPACE
                )),
            },
        )
}
