use sockgate::typed::{Contract, Event};

#[derive(Clone, Copy, Event)]
#[event(name = "joined", payload = String, server_to_client)]
struct Joined;

// `joined` does not travel from client to server.
#[derive(Contract)]
#[contract(namespace = "/chat", client_to_server(Joined))]
struct Chat;

fn main() {}
