//! The tower `Layer` and `Service` that put one or more servers in front of an application.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Either;
use sockgate_engine::{BoxError, ResponseBody};
use tower_layer::Layer;
use tower_service::Service;

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
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;
    fn layer(&self, inner: S) -> SocketIoService<S> {
        SocketIoService {
            servers: self.servers.clone(),
            inner,
        }
    }
}

/// The service of [`SocketIoLayer`].
#[derive(Debug, Clone)]
pub struct SocketIoService<S> {
    servers: Arc<Vec<SocketIo>>,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for SocketIoService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<ResponseBody, ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if let Some(io) = self.servers.iter().find(|io| io.matches(path)) {
            let io = io.clone();
            return Box::pin(async move { Ok(io.handle(request).await.map(Either::Left)) });
        }
        // Take the service that was polled ready, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { Ok(inner.call(request).await?.map(Either::Right)) })
    }
}
