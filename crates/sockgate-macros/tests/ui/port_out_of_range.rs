use sockgate::gateway::gateway;

struct Chat;

#[gateway(port = 70000)]
impl Chat {}

fn main() {}
