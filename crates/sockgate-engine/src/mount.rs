//! Mounting in front of an application: [`Mounted`] answers the requests its [`Mount`] claims
//! (an engine's path, or the paths of several Socket.IO servers) and passes the rest on.
//!
//! One service for every kind of mount, so the routing (and its `poll_ready` contract) is
//! written once: [`EngineLayer`] mounts an [`Engine`], `sockgate`'s `SocketIoLayer` mounts its
//! servers.

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

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The future a [`Mount`] answers with.
pub type MountFuture = BoxFuture<Response<ResponseBody>>;

/// What a [`Mounted`] service answers itself: the requests whose path it claims.
pub trait Mount: Clone + Send + Sync + 'static {
    /// True when the request for `path` is answered by this mount.
    fn matches(&self, path: &str) -> bool;

    /// Answers a request whose path [`Mount::matches`].
    fn answer<B>(&self, request: Request<B>) -> MountFuture
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>;
}

impl<H: EngineHandler> Mount for Engine<H> {
    fn matches(&self, path: &str) -> bool {
        Engine::matches(self, path)
    }

    fn answer<B>(&self, request: Request<B>) -> MountFuture
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let engine = self.clone();
        Box::pin(async move { engine.handle(request).await })
    }
}

/// A `Layer` that answers requests under the engine's path and passes the rest to the
/// wrapped service, so the engine shares the application's port (the NestJS default).
#[derive(Debug)]
pub struct EngineLayer<H: EngineHandler> {
    pub(crate) engine: Engine<H>,
}

impl<H: EngineHandler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler, S> Layer<S> for EngineLayer<H> {
    type Service = Mounted<Engine<H>, S>;

    fn layer(&self, inner: S) -> Mounted<Engine<H>, S> {
        Mounted::new(self.engine.clone(), inner)
    }
}

/// The service in front of an application: requests the mount [`matches`](Mount::matches)
/// go to it, the others to the wrapped service `S`.
#[derive(Debug, Clone)]
pub struct Mounted<M, S> {
    mount: M,
    inner: S,
}

impl<M: Mount, S> Mounted<M, S> {
    /// `mount` in front of `inner`.
    pub fn new(mount: M, inner: S) -> Self {
        Mounted { mount, inner }
    }
}

impl<M, S, B, ResBody> Service<Request<B>> for Mounted<M, S>
where
    M: Mount,
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
        if self.mount.matches(request.uri().path()) {
            let answer = self.mount.answer(request);
            Box::pin(async move { Ok(answer.await.map(Either::Left)) })
        } else {
            // Take the service that was polled ready, leave a fresh clone behind.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            Box::pin(async move { Ok(inner.call(request).await?.map(Either::Right)) })
        }
    }
}
