//! The engine as a tower `Service` answering every request it gets, or as a `Layer` in front
//! of an application's routes (axum), so the engine shares the application's port.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::engine::{Engine, ResponseBody};
use crate::handler::EngineHandler;
use crate::mount::EngineLayer;
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
