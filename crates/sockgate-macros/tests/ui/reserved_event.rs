use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("disconnect")]
    fn on_disconnect(&self) {}
}

fn main() {}
