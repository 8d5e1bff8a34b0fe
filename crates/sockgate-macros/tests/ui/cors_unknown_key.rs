use sockgate::gateway::gateway;

struct Chat;

#[gateway(cors(origin = "*", credential = true))]
impl Chat {}

fn main() {}
