use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("message")]
    fn first(&self) {}

    #[subscribe_message("message")]
    fn second(&self) {}
}

fn main() {}
