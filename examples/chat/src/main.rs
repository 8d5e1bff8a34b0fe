//! Run with `./scripts/chat.sh` (or `cargo run --release -p chat` once `npm ci --prefix e2e/js`
//! has installed the official browser client).
//!
//! Serves the seed's `ExampleGateway` on namespace `/example` (WebSocket only, CORS `*`) and a
//! chat page at `/`, on `HOST:PORT` (default `127.0.0.1:3000`). The browser client is served at
//! `/socket.io/socket.io.js` from the npm package `socket.io-client`, as Node's `serveClient`
//! does.

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
    let gateways = chat::gateways()?;
    let app = chat::router(&gateways);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    println!("chat listening on http://{addr}/");
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
