use sockgate::typed::EmitTyped;

// Not declared at all.
#[derive(Clone, Copy)]
struct Typo;

fn emit(socket: sockgate::SocketRef) {
    let _ = socket.emit_typed(Typo, &"hi".to_owned());
}

fn main() {}
