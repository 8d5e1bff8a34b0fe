use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message(message)]
    fn message(&self) {}

    #[subscribe_message("typing", gaurd = is_allowed)]
    fn typing(&self) {}
}

fn main() {}
