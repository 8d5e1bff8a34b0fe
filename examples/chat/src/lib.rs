//! The seed's NestJS `ExampleGateway` ported to sockgate, with its chat page.
//!
//! The binary (`cargo run --release -p chat`) serves [`router`] on `HOST:PORT`; the tests drive
//! [`gateways`] with the in-process `sockgate::testing::TestClient` (feature `testing`). With
//! `REDIS_URL` set the binary joins a cluster ([`cluster`]) and builds its gateways with
//! [`gateways_on`].

pub mod admin;
pub mod cluster;
pub mod gateway;
pub mod with_macros;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockgate::core::AdapterFactory;
use sockgate::gateway::{Gateway, GatewayApp, GatewayError, Gateways};
use sockgate::ClientBundle;

pub use gateway::ExampleGateway;

const PAGE: &str = include_str!("../static/index.html");

/// The gateways of the chat: `ExampleGateway`, serving the browser client when the npm package
/// `socket.io-client` is installed.
pub fn gateways() -> Result<Gateways, GatewayError> {
    gateways_on(None)
}

/// [`gateways`] on a cluster adapter (`None`: the in-memory adapter, one node).
pub fn gateways_on(adapter: Option<AdapterFactory>) -> Result<Gateways, GatewayError> {
    gateways_with(adapter, None)
}

/// [`gateways_on`] with the Admin UI's namespace when `admin` is given ([`admin`]).
pub fn gateways_with(
    adapter: Option<AdapterFactory>,
    admin: Option<sockgate::admin::AdminOptions>,
) -> Result<Gateways, GatewayError> {
    let gateway = ExampleGateway;
    let mut options = gateway.options().observer(metrics().clone());
    match ClientBundle::locate() {
        Ok(bundle) => options.server.serve_client = Some(bundle),
        Err(error) => tracing::warn!(%error, "the chat page needs the browser client"),
    }
    let mut app = GatewayApp::new();
    if let Some(factory) = adapter {
        app = app.adapter(move |namespace| factory(namespace));
    }
    if let Some(admin) = admin {
        app = app.admin_ui(admin);
    }
    app.gateway_with_options(gateway, options).build()
}

/// The whole application: the chat page at `/`, the Prometheus metrics at `/metrics` and the
/// gateways on the same port.
pub fn router(gateways: &Gateways) -> Router {
    router_with_admin_ui(gateways, None)
}

/// [`router`] also serving the Admin UI from `ui_dir` at `/admin/` ([`admin::ui_routes`]).
pub fn router_with_admin_ui(gateways: &Gateways, ui_dir: Option<std::path::PathBuf>) -> Router {
    let mut router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route_service("/metrics", metrics().service());
    if let Some(dir) = ui_dir {
        router = router.merge(admin::ui_routes(dir));
    }
    router.layer(gateways.layer())
}

/// The process's metrics, observed on every gateway built by [`gateways_on`] (one set per
/// process, as a scrape endpoint expects).
pub fn metrics() -> &'static sockgate_metrics::Metrics {
    static METRICS: std::sync::OnceLock<sockgate_metrics::Metrics> = std::sync::OnceLock::new();
    METRICS.get_or_init(sockgate_metrics::Metrics::new)
}
