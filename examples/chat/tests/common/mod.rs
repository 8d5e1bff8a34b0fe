//! What the chat's test files share.

use sockgate::testing::{TestClient, TestSocket};
use sockgate::SocketIo;

/// A client named `name` (the `?name=` query the chat reads) joined to `/example`. The client
/// is returned too: dropping it would close the connection.
pub(crate) async fn join(io: &SocketIo, name: &str) -> (TestClient, TestSocket) {
    let client = TestClient::connect_with_query(io, &format!("name={name}"))
        .await
        .unwrap();
    let socket = client.socket("/example", None).await.unwrap();
    (client, socket)
}
