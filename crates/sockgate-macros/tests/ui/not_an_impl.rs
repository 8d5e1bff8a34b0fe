use sockgate::gateway::gateway;

#[gateway(namespace = "/chat")]
struct Chat;

fn main() {}
