use sockgate::gateway::gateway;
use sockgate::{NamespaceRef, SocketRef};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    async fn after_init(&self, _namespace: &NamespaceRef) {}

    fn handle_connection(&mut self, _socket: SocketRef) {}

    fn handle_disconnect(&self) {}

    fn register(&self) {}
}

fn main() {}
