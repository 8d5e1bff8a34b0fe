use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

/// Not serializable, so not a reply.
struct Summary;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("summary")]
    fn summary(&self) -> Summary {
        Summary
    }
}

fn main() {}
