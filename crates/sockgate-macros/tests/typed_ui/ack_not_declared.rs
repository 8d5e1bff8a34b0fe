use sockgate::typed::{EmitWithAckTyped, Event, TypedAck};

// No ack in either direction.
#[derive(Clone, Copy, Event)]
#[event(name = "note", payload = String, server_to_client, client_to_server)]
struct Note;

async fn ask(socket: sockgate::SocketRef) {
    let _ = socket.emit_with_ack_typed(Note, &"hi".to_owned()).await;
}

fn answer(ack: TypedAck<Note>) {
    let _ = ack.send(&"ok".to_owned());
}

fn main() {}
