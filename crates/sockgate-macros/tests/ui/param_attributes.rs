use sockgate::gateway::{gateway, subscribe_message};
use sockgate::SocketRef;

struct Chat;

#[gateway(namespace = "/chat")]
impl Chat {
    #[subscribe_message("a")]
    fn a(&self, #[connected_socket] _socket: String) {}

    #[subscribe_message("b")]
    fn b(&self, #[message_body(name)] _name: String) {}

    #[subscribe_message("c")]
    fn c(&self, #[ack(now)] _ack: sockgate::AckSender) {}

    #[subscribe_message("d")]
    fn d(
        &self,
        #[message_body]
        #[connected_socket]
        _socket: SocketRef,
    ) {
    }
}

fn main() {}
