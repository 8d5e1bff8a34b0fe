use sockgate::gateway::gateway;

struct Chat;

#[gateway(transports = "websocket")]
impl Chat {}

fn main() {}
