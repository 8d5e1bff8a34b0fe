use sockgate::gateway::{gateway, Gateway, GatewayRouter};

struct Chat;

#[gateway(namespace = "/chat")]
impl Gateway for Chat {
    fn register(_router: &mut GatewayRouter<Self>) {}
}

fn main() {}
