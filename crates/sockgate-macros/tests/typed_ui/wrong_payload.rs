use sockgate::typed::{EmitTyped, Event};

#[derive(Clone, Copy, Event)]
#[event(name = "joined", payload = String, server_to_client)]
struct Joined;

fn emit(socket: sockgate::SocketRef) {
    let _ = socket.emit_typed(Joined, &42);
}

fn main() {}
