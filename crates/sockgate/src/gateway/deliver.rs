//! Replies: what a gateway handler's return value sends (see [`super::response`]).

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;

use super::handler::GatewayScope;
use super::response::{Reply, WsStream};

/// Sends a reply: an ack (once, and only if asked and no extractor took it), an emit, each
/// item of a stream (in a task if it has to wait), or an exception through the filters.
pub(super) fn deliver<G: Send + Sync + 'static>(reply: Reply, scope: GatewayScope<G>) {
    let mut acked = false;
    if let Some(stream) = send(reply, &scope, &mut acked) {
        crate::handler::run_future(async move {
            drain(stream, &scope, &mut acked).await;
        });
    }
}

/// Sends one reply now; a stream is handed back to be drained.
fn send<G>(reply: Reply, scope: &GatewayScope<G>, acked: &mut bool) -> Option<WsStream> {
    let socket = &scope.context.socket;
    match reply {
        Reply::Nothing => {}
        Reply::Ack(payload) => {
            if let (Some(id), false, false) =
                (scope.context.parts.ack_id, scope.ack_taken(), *acked)
            {
                *acked = true;
                let _ = socket.send_payload(payload, crate::payload::Outgoing::Ack(id));
            }
        }
        Reply::Emit(event, payload) => {
            let _ = socket.emit(&event, payload);
        }
        Reply::Stream(stream) => return Some(stream),
        Reply::Exception(exception) => scope.fail(&exception),
    }
    None
}

/// Sends each item of a stream as it comes, until the socket leaves.
fn drain<'a, G: Send + Sync>(
    mut stream: WsStream,
    scope: &'a GatewayScope<G>,
    acked: &'a mut bool,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        while let Some(item) = stream.0.next().await {
            if !scope.context.socket.connected() {
                break;
            }
            if let Some(inner) = send(item, scope, acked) {
                drain(inner, scope, acked).await;
            }
        }
    })
}
