use sockgate::gateway::{gateway, GatewayOptions};

struct Chat;

fn options(_: &Chat) -> GatewayOptions {
    GatewayOptions::new()
}

#[gateway(namespace = "/chat", options_from = options)]
impl Chat {}

fn main() {}
