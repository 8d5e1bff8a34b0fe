//! Run with `./scripts/chat.sh` (or `cargo run --release -p chat` once `npm ci --prefix e2e/js`
//! has installed the official browser client).
//!
//! Serves the seed's `ExampleGateway` on namespace `/example` (WebSocket only, CORS `*`) and a
//! chat page at `/`, on `HOST:PORT` (default `127.0.0.1:3000`). The browser client is served at
//! `/socket.io/socket.io.js` from the npm package `socket.io-client`, as Node's `serveClient`
//! does.
//!
//! `REDIS_URL=redis://host:port` joins a cluster of chat nodes (and Node socket.io servers) on
//! that Redis; `SOCKGATE_ADAPTER=classic|sharded|streams` picks the adapter (`streams` turns
//! connection state recovery on; see [`chat::cluster`]).
//! A wrong setting exits with status 2 and a message saying what to fix; an unreachable Redis
//! does not stop the node (it serves its own clients and joins when Redis answers).
//!
//! `ADMIN_PASSWORD=...` turns on the Socket.IO Admin UI's namespace `/admin` (user `admin`)
//! and serves the UI at `/admin/` when `@socket.io/admin-ui` is installed (see
//! [`chat::admin`]).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT is not a port number: {port}"))?,
        Err(_) => 3000,
    };
    let cluster = match chat::cluster::ClusterSettings::from_env() {
        Ok(cluster) => cluster,
        Err(error) => exit_with(&error),
    };
    let adapter = match &cluster {
        None => None,
        Some(settings) => match settings.connect().await {
            Ok(factory) => Some(factory),
            Err(error) => exit_with(&error),
        },
    };
    let recovery = cluster.as_ref().and_then(|c| c.recovery());
    let admin = match chat::admin::options_from_env() {
        Ok(admin) => admin,
        Err(error) => exit_with(&error),
    };
    let admin_on = admin.is_some();
    let gateways = chat::gateways_with(adapter, recovery, admin)?;
    let ui_dir = if admin_on {
        chat::admin::locate_ui()
    } else {
        None
    };
    let app = chat::router_with_admin_ui(&gateways, ui_dir.clone());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    println!("chat listening on http://{addr}/");
    match &cluster {
        Some(settings) => println!(
            "cluster mode: {} adapter on {} (key socket.io){}",
            settings.adapter,
            settings.url,
            if recovery.is_some() {
                ", connection state recovery on"
            } else {
                ""
            }
        ),
        None => println!("single node (in-memory adapter; set REDIS_URL to join a cluster)"),
    }
    match (admin_on, &ui_dir) {
        (false, _) => {}
        (true, Some(dir)) => println!(
            "admin UI: namespace /admin (user admin), UI at http://{addr}/admin/ (from {})",
            dir.display()
        ),
        (true, None) => println!(
            "admin UI: namespace /admin (user admin); UI not installed (npm ci --prefix e2e/admin)"
        ),
    }
    // On SIGTERM or Ctrl-C: stop accepting, let every socket leave with `server shutting
    // down` and every queue reach its client, then exit (clients reconnect elsewhere).
    let shutdown = async move {
        shutdown_signal().await;
        println!("shutting down: delivering what is queued");
        gateways.close().await;
    };
    sockgate::engine::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// A configuration error: the message and status 2, before anything is served.
fn exit_with(error: &dyn std::error::Error) -> ! {
    eprintln!("chat: {error}");
    std::process::exit(2)
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
