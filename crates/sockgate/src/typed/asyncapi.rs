//! Contracts as an AsyncAPI 3.0 document: channels are namespaces, operations are events in
//! each direction (`send`: the server emits, `receive`: clients emit), acks are replies,
//! payloads are JSON Schemas (draft 7, from `schemars`) under `components.schemas`.

use serde_json::{json, Map, Value};

use super::{Direction, EventInfo, Events};
use crate::typed::ContractError;

/// The `info` of the document.
#[derive(Debug, Clone)]
pub struct AsyncApiInfo {
    /// The application's name.
    pub title: String,
    /// The contract's version (not the AsyncAPI version).
    pub version: String,
    /// What the application does.
    pub description: Option<String>,
}

impl Default for AsyncApiInfo {
    fn default() -> Self {
        AsyncApiInfo {
            title: "Socket.IO server".to_owned(),
            version: "0.1.0".to_owned(),
            description: None,
        }
    }
}

/// One contract, already listed: what [`asyncapi`] needs of it.
#[derive(Debug)]
pub(crate) struct ListedContract {
    pub(crate) name: &'static str,
    pub(crate) namespace: &'static str,
    pub(crate) events: Events,
}

/// A component key: letters, digits, `.`, `-`, `_` (what AsyncAPI allows).
fn key(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches('_').is_empty() {
        "root".to_owned()
    } else {
        cleaned.trim_start_matches('_').to_owned()
    }
}

fn direction_key(direction: Direction) -> &'static str {
    match direction {
        Direction::ServerToClient => "serverToClient",
        Direction::ClientToServer => "clientToServer",
        Direction::InterServer => "interServer",
    }
}

/// The AsyncAPI 3.0 document of several contracts (one channel each).
///
/// # Errors
///
/// A [`ContractError`] when a contract is invalid (see [`super::typescript`]) or two share a
/// namespace.
pub fn asyncapi(
    info: &AsyncApiInfo,
    contracts: &super::ContractFiles,
) -> Result<Value, ContractError> {
    document(info, contracts.listed()?)
}

pub(crate) fn document(
    info: &AsyncApiInfo,
    contracts: Vec<ListedContract>,
) -> Result<Value, ContractError> {
    let mut settings = schemars::generate::SchemaSettings::draft07().for_serialize();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();

    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for contract in &contracts {
        let channel_id = key(contract.namespace);
        let mut channel_messages = Map::new();
        let mut add_message =
            |id: String, message: Value, channel_messages: &mut Map<String, Value>| {
                channel_messages.insert(
                    id.clone(),
                    json!({ "$ref": format!("#/components/messages/{id}") }),
                );
                messages.insert(id, message);
            };
        for event in &contract.events.events {
            let message_id = format!("{}.{}", key(event.name), direction_key(event.direction));
            let payload = (event.payload.schema)(&mut generator);
            add_message(
                message_id.clone(),
                json!({
                    "name": event.name,
                    "title": format!("{} ({})", event.name, direction_key(event.direction)),
                    "contentType": "application/json",
                    "payload": Value::from(payload),
                }),
                &mut channel_messages,
            );
            let message_ref =
                json!({ "$ref": format!("#/channels/{channel_id}/messages/{message_id}") });
            let reply = match &event.ack {
                None => None,
                Some(ack) => {
                    let ack_id = format!("{message_id}.ack");
                    let schema = (ack.schema)(&mut generator);
                    add_message(
                        ack_id.clone(),
                        json!({
                            "name": format!("{} ack", event.name),
                            "title": format!("The ack of {}", event.name),
                            "contentType": "application/json",
                            "payload": Value::from(schema),
                        }),
                        &mut channel_messages,
                    );
                    Some(json!({
                        "channel": { "$ref": format!("#/channels/{channel_id}") },
                        "messages": [{ "$ref": format!("#/channels/{channel_id}/messages/{ack_id}") }],
                    }))
                }
            };
            let actions: &[&str] = match event.direction {
                Direction::ServerToClient => &["send"],
                Direction::ClientToServer => &["receive"],
                Direction::InterServer => &["send", "receive"],
            };
            for action in actions {
                let mut operation = json!({
                    "action": action,
                    "channel": { "$ref": format!("#/channels/{channel_id}") },
                    "summary": summary(event, action),
                    "messages": [message_ref.clone()],
                });
                if let Some(reply) = &reply {
                    operation["reply"] = reply.clone();
                }
                let operation_id = format!("{channel_id}.{message_id}.{action}");
                operations.insert(operation_id, operation);
            }
        }
        if channels.contains_key(&channel_id) {
            return Err(ContractError::DuplicateNamespace(
                contract.namespace.to_owned(),
            ));
        }
        channels.insert(
            channel_id,
            json!({
                "address": contract.namespace,
                "title": contract.name,
                "description": format!("The Socket.IO namespace \"{}\" (contract `{}`).", contract.namespace, contract.name),
                "messages": channel_messages,
            }),
        );
    }
    let mut info_value = json!({ "title": info.title, "version": info.version });
    if let Some(description) = &info.description {
        info_value["description"] = json!(description);
    }
    let schemas = generator.take_definitions(true);
    Ok(json!({
        "asyncapi": "3.0.0",
        "info": info_value,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
    }))
}

fn summary(event: &EventInfo, action: &str) -> String {
    let who = match (event.direction, action) {
        (Direction::ServerToClient, _) => "The server emits",
        (Direction::ClientToServer, _) => "Clients emit",
        (Direction::InterServer, "send") => "This server sends the other servers",
        (Direction::InterServer, _) => "This server receives from another server",
    };
    let ack = if event.ack.is_some() {
        ", with an ack"
    } else {
        ""
    };
    format!("{who} `{}`{ack}.", event.name)
}
