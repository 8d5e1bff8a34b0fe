use sockgate::gateway::{gateway, subscribe_message};

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("a")]
    async fn borrowing(&self) {}

    #[subscribe_message("b")]
    fn mutating(&mut self) {}

    #[subscribe_message("c")]
    fn associated() {}

    #[subscribe_message("d")]
    fn generic<T>(&self) {}
}

fn main() {}
