use sockgate::gateway::gateway;

struct Tenant;

#[gateway(namespace = "/tenant/{id}")]
impl Tenant {}

fn main() {}
