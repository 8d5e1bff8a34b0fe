use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespace = "/chat", port = 3001, namespace = "/other")]
impl Chat {}

fn main() {}
