//! The macros generate code against the one handler system: the server's extractors
//! (`Data`, `Payload`, `AckSender`), the gateway as `Arc<Self>` in an async handler, binary
//! arguments, typed acks, and `?` on any error with `HandlerResult`.

use std::sync::Arc;

use sockgate::extract::{AckSender, Args, Data, Payload};
use sockgate::gateway::{gateway, subscribe_message, GatewayApp};
use sockgate::handler::HandlerResult;
use sockgate::SocketRef;

struct Files;

#[gateway(namespace = "/files")]
impl Files {
    #[subscribe_message("upload")]
    fn upload(&self, Data(bytes): Data<bytes::Bytes>, ack: AckSender) -> HandlerResult {
        ack.send(&bytes.len())?;
        Ok(())
    }

    #[subscribe_message("forward")]
    fn forward(&self, socket: SocketRef, payload: Payload) -> HandlerResult {
        let file = payload.arg(0).ok_or("no file")?;
        socket.emit("file", file)?;
        Ok(())
    }

    #[subscribe_message("ask")]
    async fn ask(self: Arc<Self>, socket: SocketRef) -> HandlerResult<String> {
        let Args((a, b)): Args<(String, u32)> = socket.emit_with_ack("question", ()).await?;
        Ok(format!("{a} {b}"))
    }
}

fn main() {
    GatewayApp::new().gateway(Files).build().unwrap();
}
