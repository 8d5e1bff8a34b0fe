use sockgate::gateway::gateway;

struct Chat;

#[gateway(cors = "*")]
impl Chat {}

fn main() {}
