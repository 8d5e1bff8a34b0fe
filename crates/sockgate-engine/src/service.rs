//! Serving the engine: as a tower `Service`, as a `Layer` in front of an application's routes
//! (axum), or alone on a listener.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::{Engine, ResponseBody};
use crate::handler::EngineHandler;
use crate::request::RemoteAddr;
use crate::BoxError;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The engine as a tower `Service` answering every request it gets.
#[derive(Debug)]
pub struct EngineService<H: EngineHandler> {
    engine: Engine<H>,
}

impl<H: EngineHandler> Clone for EngineService<H> {
    fn clone(&self) -> Self {
        EngineService {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler, B> Service<Request<B>> for EngineService<H>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.handle(request).await) })
    }
}

/// A `Layer` that answers requests under the engine's path and passes the rest to the
/// wrapped service, so the engine shares the application's port (the NestJS default).
#[derive(Debug)]
pub struct EngineLayer<H: EngineHandler> {
    engine: Engine<H>,
}

impl<H: EngineHandler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler, S> Layer<S> for EngineLayer<H> {
    type Service = Mounted<H, S>;

    fn layer(&self, inner: S) -> Mounted<H, S> {
        Mounted {
            engine: self.engine.clone(),
            inner,
        }
    }
}

/// The service [`EngineLayer`] produces.
#[derive(Debug)]
pub struct Mounted<H: EngineHandler, S> {
    engine: Engine<H>,
    inner: S,
}

impl<H: EngineHandler, S: Clone> Clone for Mounted<H, S> {
    fn clone(&self) -> Self {
        Mounted {
            engine: self.engine.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H, S, B, ResBody> Service<Request<B>> for Mounted<H, S>
where
    H: EngineHandler,
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
        if self.engine.matches(request.uri().path()) {
            let engine = self.engine.clone();
            Box::pin(async move { Ok(engine.handle(request).await.map(Either::Left)) })
        } else {
            // Take the service that was polled ready, leave a fresh clone behind.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            Box::pin(async move { Ok(inner.call(request).await?.map(Either::Right)) })
        }
    }
}

impl<H: EngineHandler> Engine<H> {
    /// The engine as a `Service` (for `Router::route_service` or `nest_service`).
    pub fn service(&self) -> EngineService<H> {
        EngineService {
            engine: self.clone(),
        }
    }

    /// The engine as a `Layer` in front of other routes (for `Router::layer`).
    pub fn layer(&self) -> EngineLayer<H> {
        EngineLayer {
            engine: self.clone(),
        }
    }

    /// Serves the engine alone on `listener`; other paths get 404.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let not_found = service_fn(|_req: Request<Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"Not Found")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(response)
        });
        serve(listener, self.layer().layer(not_found)).await
    }
}

/// Serves any HTTP service (an engine, or an axum `Router` with the engine layered on it) on
/// `listener`, with HTTP/1.1 upgrades enabled and the peer address in [`RemoteAddr`].
pub async fn serve<S, ResBody>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(RemoteAddr(peer));
                let mut service = service.clone();
                async move { service.call(request).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                tracing::trace!(%error, "HTTP connection ended with an error");
            }
        });
    }
}

/// A tower service from an async function (for fallbacks in front of which an engine is
/// layered).
pub fn service_fn<F, Fut, Req, Res, E>(f: F) -> ServiceFn<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Res, E>>,
{
    ServiceFn(f)
}

/// The service [`service_fn`] returns.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFn<F>(F);

impl<F, Fut, Req, Res, E> Service<Req> for ServiceFn<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Res, E>>,
{
    type Response = Res;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Fut {
        (self.0)(request)
    }
}
