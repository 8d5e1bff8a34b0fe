use sockgate::gateway::gateway;

struct Chat;

#[gateway(namespcae = "/chat")]
impl Chat {}

fn main() {}
