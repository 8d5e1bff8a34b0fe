//! The seed's NestJS `ExampleGateway` ported to sockgate, with its chat page.
//!
//! The binary (`cargo run --release -p chat`) serves [`router`] on `HOST:PORT`; the tests drive
//! [`gateways`] with the in-process `sockgate::testing::TestClient` (feature `testing`). With
//! `REDIS_URL` set the binary joins a cluster ([`cluster`]) and builds its gateways with
//! [`gateways_on`].

pub mod admin;
pub mod cluster;
pub mod contract;
pub mod gateway;
pub mod typed_gateway;
pub mod with_macros;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockgate::core::{AdapterFactory, RecoveryConfig};
use sockgate::gateway::{Gateway, GatewayApp, GatewayError, Gateways};
use sockgate::ClientBundle;

pub use gateway::ExampleGateway;
pub use typed_gateway::TypedExampleGateway;

const PAGE: &str = include_str!("../static/index.html");

/// The gateways of the chat: `ExampleGateway` with typed events ([`TypedExampleGateway`]),
/// serving the browser client when the npm package `socket.io-client` is installed, and a
/// health check at `/health` (503 while draining; `SOCKGATE_DRAIN_DELAY_MS` /
/// `SOCKGATE_DRAIN_WINDOW_MS` set the drain of a shutdown).
pub fn gateways() -> Result<Gateways, GatewayError> {
    gateways_on(None)
}

/// [`gateways`] on a cluster adapter (`None`: the in-memory adapter, one node).
pub fn gateways_on(adapter: Option<AdapterFactory>) -> Result<Gateways, GatewayError> {
    gateways_with(adapter, None, None)
}

/// [`gateways_on`] with connection state recovery (`Some` with the streams adapter, see
/// [`cluster::ClusterSettings::recovery`]) and the Admin UI's namespace when `admin` is given
/// ([`admin`]).
pub fn gateways_with(
    adapter: Option<AdapterFactory>,
    recovery: Option<RecoveryConfig>,
    admin: Option<sockgate::admin::AdminOptions>,
) -> Result<Gateways, GatewayError> {
    let gateway = TypedExampleGateway;
    let mut options = gateway.options().observer(metrics().clone());
    if recovery.is_some() {
        options.server.recovery = recovery;
    }
    match ClientBundle::locate() {
        Ok(bundle) => options.server.serve_client = Some(bundle),
        Err(error) => tracing::warn!(%error, "the chat page needs the browser client"),
    }
    // Rolling deploys (README "Rolling deploys"): a health check for the load balancer, and
    // the drain of SIGTERM from the environment (default: everything at once).
    options.server.health_path = Some("/health".to_owned());
    let millis = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    };
    if let Some(delay) = millis("SOCKGATE_DRAIN_DELAY_MS") {
        options.server.drain.delay = delay;
    }
    if let Some(window) = millis("SOCKGATE_DRAIN_WINDOW_MS") {
        options.server.drain.window = window;
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
