use sockgate::typed::{Contract, Event};

#[derive(Clone, Copy, Event)]
#[event(name = "disconnect", payload = String, server_to_client)]
struct Reserved;

#[derive(Clone, Copy, Event)]
#[event(name = "no_payload", server_to_client)]
struct NoPayload;

#[derive(Clone, Copy, Event)]
#[event(name = "nowhere", payload = String)]
struct NoDirection;

#[derive(Clone, Copy, Event)]
#[event(name = "typo", payload = String, server_to_clinet)]
struct UnknownKey;

#[derive(Contract)]
#[contract(server_to_client())]
struct NoNamespace;

fn main() {}
