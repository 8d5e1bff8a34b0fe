use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespace = "/chat", transports = ["websockets"])]
impl Chat {}

fn main() {}
