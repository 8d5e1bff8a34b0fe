use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("message")]
    fn message(&self, text: String) -> String {
        text
    }
}

fn main() {}
