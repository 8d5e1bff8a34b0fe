use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message]
    fn a(&self) {}

    #[subscribe_message()]
    fn b(&self) {}

    #[subscribe_message = "c"]
    fn c(&self) {}
}

fn main() {}
