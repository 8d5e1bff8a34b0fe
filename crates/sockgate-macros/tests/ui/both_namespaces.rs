use sockgate::gateway::gateway;

struct Tenant;

#[gateway(namespace = "/tenant", dynamic_namespace = "/tenant/{id}")]
impl Tenant {}

fn main() {}
