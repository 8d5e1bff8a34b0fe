use sockgate::typed::{EmitTyped, Event};

// Declared from client to server only: the server cannot emit it.
#[derive(Clone, Copy, Event)]
#[event(name = "hello", payload = String, client_to_server)]
struct Hello;

fn emit(socket: sockgate::SocketRef) {
    let _ = socket.emit_typed(Hello, &"hi".to_owned());
}

fn main() {}
