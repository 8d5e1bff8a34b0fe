//! The TypeScript that `sockgate::typed` generates matches what serde really serializes:
//! types using `rename_all`, `tag`, `untagged`, `Option`, enums, maps and `flatten` are
//! generated, then serde_json's output for sample values is written as constants of those
//! types, and `tsc --strict` compiles the file (examples/chat/client, `typed_contracts` in
//! scripts/test.sh). This test fails when the committed file is stale; `SOCKGATE_BLESS=1`
//! rewrites it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sockgate::typed::{Contract, Event};
use ts_rs::TS;

#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Profile {
    display_name: String,
    avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    nick_name: Option<String>,
    scores: BTreeMap<String, u32>,
    role: Role,
    status: Status,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
struct Extra {
    since: u64,
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Role {
    Admin,
    PlainMember,
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Status {
    Online { since: u64 },
    Away { reason: Option<String> },
    Offline,
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[serde(tag = "t", content = "c")]
enum Envelope {
    Text(String),
    Pair(u8, bool),
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[serde(untagged)]
enum Either {
    Number(f64),
    Words(Vec<String>),
}

#[derive(Serialize, Deserialize, TS, JsonSchema)]
enum External {
    Unit,
    Newtype(i32),
    Struct { a: bool },
}

#[derive(Clone, Copy, Event)]
#[event(name = "profile", payload = Profile, server_to_client(ack = Either))]
struct ProfileEvent;

#[derive(Clone, Copy, Event)]
#[event(name = "envelope", payload = Envelope, client_to_server(ack = External))]
struct EnvelopeEvent;

#[derive(Contract)]
#[contract(
    namespace = "/shapes",
    server_to_client(ProfileEvent),
    client_to_server(EnvelopeEvent)
)]
struct Shapes;

fn sample<T: Serialize + TS>(out: &mut String, name: &str, value: T) {
    let json = serde_json::to_string(&value).unwrap();
    out.push_str(&format!("export const {name}: {} = {json};\n", T::name()));
}

fn render() -> String {
    let mut out = sockgate::typed::typescript::<Shapes>(&Default::default())
        .unwrap()
        .replace("export declare const NAMESPACE", "declare const NAMESPACE");
    out.push_str("\n// serde_json's output for sample values, typed by the declarations above.\n");
    let mut scores = BTreeMap::new();
    scores.insert("chess".to_owned(), 3);
    sample(
        &mut out,
        "profileFull",
        Profile {
            display_name: "Ada".into(),
            avatar_url: Some("a.png".into()),
            nick_name: Some("ada".into()),
            scores,
            role: Role::PlainMember,
            status: Status::Away {
                reason: Some("lunch".into()),
            },
            extra: Extra { since: 7 },
        },
    );
    sample(
        &mut out,
        "profileSparse",
        Profile {
            display_name: "Bob".into(),
            avatar_url: None,
            nick_name: None,
            scores: BTreeMap::new(),
            role: Role::Admin,
            status: Status::Offline,
            extra: Extra { since: 0 },
        },
    );
    sample(&mut out, "online", Status::Online { since: 1 });
    sample(&mut out, "text", Envelope::Text("hi".into()));
    sample(&mut out, "pair", Envelope::Pair(1, true));
    sample(&mut out, "number", Either::Number(1.5));
    sample(&mut out, "words", Either::Words(vec!["a".into()]));
    sample(&mut out, "unit", External::Unit);
    sample(&mut out, "newtype", External::Newtype(-1));
    sample(&mut out, "structVariant", External::Struct { a: true });
    out.push_str(
        "\n// The event maps take these payloads.\n\
         export const listen: ServerToClientEvents[\"profile\"] = (_p: Profile, ack: (r: Either) => void) => ack(number);\n\
         export const emitEnvelope: Parameters<ClientToServerEvents[\"envelope\"]> = [pair, (_r: External) => {}];\n",
    );
    out
}

#[test]
fn generated_typescript_matches_serde_json_and_is_committed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/client/shapes/serde-shapes.ts");
    let fresh = render();
    if std::env::var_os("SOCKGATE_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{path} is stale: rerun with SOCKGATE_BLESS=1 and review the diff"
    );
}
