use sockgate::gateway::{gateway, subscribe_message};
use sockgate::typed::Event;

// Server to client only: a gateway cannot subscribe to it.
#[derive(Clone, Copy, Event)]
#[event(name = "joined", payload = String, server_to_client)]
struct Joined;

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message(event = Joined)]
    fn joined(&self) {}
}

fn main() {}
