//! The engine as a tower `Service` answering every request it gets, or as a `Layer` in front
//! of an application's routes (axum), so the engine shares the application's port.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Either;
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::{Engine, ResponseBody};
use crate::handler::EngineHandler;
use crate::BoxError;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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
}
