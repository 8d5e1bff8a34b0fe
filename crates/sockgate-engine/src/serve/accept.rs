//! The accept loop: connections under the cap are served, one task each; on shutdown the
//! listener closes, every connection is asked to close gracefully, and those still busy after
//! the shutdown timeout are dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::Parts;
use crate::config::HttpConfig;
use crate::service::BoxFuture;

/// What one connection task gets from the accept loop.
pub(super) struct ConnectionContext {
    pub(super) config: Arc<HttpConfig>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) slot: Option<ConnectionSlot>,
}

/// A place under [`HttpConfig::max_connections`], held by the connection's task and, after a
/// WebSocket upgrade, by the WebSocket's task (the upgrade takes it from the request's
/// extensions), so upgraded connections count too.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

pub(super) async fn run(parts: Parts, signal: Option<BoxFuture<()>>) -> std::io::Result<()> {
    let Parts {
        listener,
        connect,
        config,
    } = parts;
    let config = Arc::new(config);
    let limit = config.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let slot = match &limit {
                    None => None,
                    Some(limit) => match limit.clone().try_acquire_owned() {
                        Ok(permit) => Some(ConnectionSlot(Arc::new(permit))),
                        Err(_) => {
                            refuse_over_cap(stream, peer);
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let ctx = ConnectionContext {
                    config: config.clone(),
                    shutdown: shutdown_rx.clone(),
                    slot,
                };
                tasks.spawn(connect(stream, peer, ctx));
            }
            // Reap finished connection tasks so the set stays as large as the live ones.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = &mut signal => break,
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "graceful shutdown: requests still in flight after the shutdown timeout, dropping their connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Over the connection cap: a best-effort 503 (one non-blocking write, never a wait), then
/// close.
fn refuse_over_cap(stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "connection cap reached, refusing a connection");
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
}
