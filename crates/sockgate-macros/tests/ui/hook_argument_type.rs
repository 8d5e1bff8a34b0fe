use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    fn handle_disconnect(&self, _socket: String) {}
}

fn main() {}
