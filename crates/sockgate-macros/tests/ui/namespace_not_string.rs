use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespace = chat)]
impl Chat {}

fn main() {}
