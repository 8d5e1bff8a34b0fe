use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespace = "/chat", port = "3001")]
impl Chat {}

fn main() {}
