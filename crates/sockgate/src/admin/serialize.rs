//! Node's serialized socket (`SerializedSocket` of `@socket.io/admin-ui`), built from what
//! `fetch_sockets` returns for a socket of any node: its id, rooms, `data` (whose `_admin`
//! holds the client id and transport) and handshake as Node serializes it.

use serde_json::{json, Map, Value};

/// How many characters of the Engine.IO session id the UI shows as the client id (Node
/// truncates it: the full id would let anyone who sees the UI hijack a polling session).
pub(crate) const CLIENT_ID_LEN: usize = 12;

/// `data._admin` of a local socket: `{clientId, transport}`.
pub(crate) fn admin_field(engine_sid: &str, transport: &str) -> Value {
    let client_id: String = engine_sid.chars().take(CLIENT_ID_LEN).collect();
    json!({ "clientId": client_id, "transport": transport })
}

/// `data` with `_admin` added: an object gets the field, `null` becomes `{_admin}`, any other
/// value is left as it is (Node's `socket.data` is always an object).
pub(crate) fn with_admin_field(data: Value, admin: Value) -> Value {
    match data {
        Value::Object(mut map) => {
            map.insert("_admin".to_owned(), admin);
            Value::Object(map)
        }
        Value::Null => json!({ "_admin": admin }),
        other => other,
    }
}

/// The serialized socket: `{id, clientId, transport, nsp, data, handshake, rooms}`.
///
/// `data` loses its `_admin` field; the handshake keeps Node's fields but `auth` (which may
/// hold credentials), and its `address` is `cf-connecting-ip`, else `x-forwarded-for`, else
/// the peer's address, as in Node.
pub(crate) fn serialize(
    nsp: &str,
    id: &str,
    rooms: &[String],
    data: &Value,
    handshake: &Value,
) -> Value {
    let admin = data.get("_admin");
    let client_id = admin
        .and_then(|a| a.get("clientId"))
        .cloned()
        .unwrap_or(Value::Null);
    let transport = admin
        .and_then(|a| a.get("transport"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "id": id,
        "clientId": client_id,
        "transport": transport,
        "nsp": nsp,
        "data": without_admin(data),
        "handshake": public_handshake(handshake),
        "rooms": rooms,
    })
}

/// `data` without `_admin` (Node's `serializeData`).
pub(crate) fn without_admin(data: &Value) -> Value {
    match data {
        Value::Object(map) => {
            let mut map = map.clone();
            map.remove("_admin");
            Value::Object(map)
        }
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    }
}

fn public_handshake(handshake: &Value) -> Value {
    let headers = handshake
        .get("headers")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let header = |name: &str| headers.get(name).filter(|v| !v.is_null()).cloned();
    let address = header("cf-connecting-ip")
        .or_else(|| header("x-forwarded-for"))
        .or_else(|| handshake.get("address").cloned())
        .unwrap_or(Value::Null);
    let field = |name: &str| handshake.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "address": address,
        "headers": headers,
        "query": field("query"),
        "issued": field("issued"),
        "secure": field("secure"),
        "time": field("time"),
        "url": field("url"),
        "xdomain": field("xdomain"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(headers: Value) -> Value {
        json!({
            "headers": headers, "time": "t", "address": "127.0.0.1", "xdomain": false,
            "secure": false, "issued": 5, "url": "/socket.io/?EIO=4", "query": {"EIO": "4"},
            "auth": {"token": "secret"}
        })
    }

    #[test]
    fn a_socket_is_serialized_as_node_does() {
        let data = with_admin_field(
            json!({"name": "alice"}),
            admin_field("abcdefghijklmnopqrst", "websocket"),
        );
        let value = serialize(
            "/chat",
            "sid1",
            &["sid1".into(), "room".into()],
            &data,
            &handshake(json!({"host": "h"})),
        );
        assert_eq!(
            value,
            json!({
                "id": "sid1", "clientId": "abcdefghijkl", "transport": "websocket", "nsp": "/chat",
                "data": {"name": "alice"},
                "handshake": {
                    "address": "127.0.0.1", "headers": {"host": "h"}, "query": {"EIO": "4"},
                    "issued": 5, "secure": false, "time": "t", "url": "/socket.io/?EIO=4", "xdomain": false
                },
                "rooms": ["sid1", "room"]
            })
        );
    }

    #[test]
    fn the_address_prefers_proxy_headers() {
        let hs = handshake(json!({"x-forwarded-for": "10.0.0.1", "cf-connecting-ip": "10.0.0.2"}));
        assert_eq!(
            serialize("/", "a", &[], &Value::Null, &hs)["handshake"]["address"],
            "10.0.0.2"
        );
        let hs = handshake(json!({"x-forwarded-for": "10.0.0.1"}));
        assert_eq!(
            serialize("/", "a", &[], &Value::Null, &hs)["handshake"]["address"],
            "10.0.0.1"
        );
    }

    #[test]
    fn data_without_an_object_keeps_its_value() {
        assert_eq!(with_admin_field(json!(3), json!({})), json!(3));
        assert_eq!(
            with_admin_field(Value::Null, json!({"clientId": "x"})),
            json!({"_admin": {"clientId": "x"}})
        );
        assert_eq!(without_admin(&json!({"_admin": 1})), json!({}));
        assert_eq!(without_admin(&Value::Null), json!({}));
    }
}
