//! The tower `Layer` that puts one or more servers in front of an application. Its service is
//! the engine's [`Mounted`], with the servers as the mount: one routing service for an
//! engine and for Socket.IO servers alike.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body::Body;
use sockgate_engine::{BoxError, Mount, MountFuture, Mounted};
use tower_layer::Layer;

use super::io::SocketIo;

/// Serves one or more Socket.IO servers (one per path) in front of other routes, so they
/// share the application's port (the NestJS default).
#[derive(Debug, Clone)]
pub struct SocketIoLayer {
    servers: Arc<Vec<SocketIo>>,
}

impl SocketIoLayer {
    /// A layer for these servers.
    pub fn new(servers: Vec<SocketIo>) -> Self {
        SocketIoLayer {
            servers: Arc::new(servers),
        }
    }

    fn server_for(&self, path: &str) -> Option<&SocketIo> {
        self.servers.iter().find(|io| io.matches(path))
    }
}

/// The servers are the mount: a request under one server's path goes to that server.
impl Mount for SocketIoLayer {
    fn matches(&self, path: &str) -> bool {
        self.server_for(path).is_some()
    }

    fn answer<B>(&self, request: Request<B>) -> MountFuture
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let io = self.server_for(request.uri().path()).cloned();
        Box::pin(async move {
            match io {
                Some(io) => io.handle(request).await,
                // `Mounted` asks `matches` first; a server is never removed from a layer.
                None => {
                    let mut response = http::Response::new(sockgate_engine::ResponseBody::new(
                        Bytes::from_static(b"Not Found"),
                    ));
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                    response
                }
            }
        })
    }
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> SocketIoService<S> {
        Mounted::new(self.clone(), inner)
    }
}

/// The service of [`SocketIoLayer`]: the engine's [`Mounted`] routing service, with the
/// servers as its mount.
pub type SocketIoService<S> = Mounted<SocketIoLayer, S>;
