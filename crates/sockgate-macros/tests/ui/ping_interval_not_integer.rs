use sockgate::gateway::gateway;

struct Chat;

#[gateway(ping_interval = "25s")]
impl Chat {}

fn main() {}
