//! The seed's NestJS `ExampleGateway` ported to sockgate, with its chat page.
//!
//! The binary (`cargo run --release -p chat`) serves [`router`] on `HOST:PORT`; the tests drive
//! [`gateways`] with the in-process `sockgate::testing::TestClient` (feature `testing`). With
//! `REDIS_URL` set the binary joins a cluster ([`cluster`]) and builds its gateways with
//! [`gateways_on`].

pub mod cluster;
pub mod contract;
pub mod gateway;
pub mod typed_gateway;
pub mod with_macros;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockgate::core::AdapterFactory;
use sockgate::gateway::{Gateway, GatewayApp, GatewayError, Gateways};
use sockgate::ClientBundle;

pub use gateway::ExampleGateway;
pub use typed_gateway::TypedExampleGateway;

const PAGE: &str = include_str!("../static/index.html");

/// The gateways of the chat: `ExampleGateway` with typed events ([`TypedExampleGateway`]), serving the browser client when the npm package
/// `socket.io-client` is installed.
pub fn gateways() -> Result<Gateways, GatewayError> {
    gateways_on(None)
}

/// [`gateways`] on a cluster adapter (`None`: the in-memory adapter, one node).
pub fn gateways_on(adapter: Option<AdapterFactory>) -> Result<Gateways, GatewayError> {
    let gateway = TypedExampleGateway;
    let mut options = gateway.options();
    match ClientBundle::locate() {
        Ok(bundle) => options.server.serve_client = Some(bundle),
        Err(error) => tracing::warn!(%error, "the chat page needs the browser client"),
    }
    let mut app = GatewayApp::new();
    if let Some(factory) = adapter {
        app = app.adapter(move |namespace| factory(namespace));
    }
    app.gateway_with_options(gateway, options).build()
}

/// The whole application: the chat page at `/` and the gateways on the same port.
pub fn router(gateways: &Gateways) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(gateways.layer())
}
