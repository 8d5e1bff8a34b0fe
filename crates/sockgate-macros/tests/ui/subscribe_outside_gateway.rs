use sockgate::gateway::subscribe_message;

struct Chat;

impl Chat {
    #[subscribe_message("message")]
    fn message(&self) {}
}

fn main() {}
