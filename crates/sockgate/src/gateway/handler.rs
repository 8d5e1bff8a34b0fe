//! Gateway message handlers: methods or functions taking the gateway and extractors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::extract::{FromGatewayContext, GatewayContext};
use super::response::{IntoWsReply, Reply};

/// A boxed reply future.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// A function usable as a `subscribe_message` handler of gateway `G`: either
/// `fn(&G, extractors...) -> R` or `async fn(Arc<G>, extractors...) -> R` where `R` is an
/// [`IntoWsReply`]. `M` is a marker the compiler picks.
pub trait GatewayHandler<G, M>: Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, gateway: Arc<G>, context: &GatewayContext) -> ReplyFuture;
}

#[doc(hidden)]
pub mod marker {
    /// `fn(&G, ...) -> R`.
    #[derive(Debug)]
    pub struct ByRef;
    /// `async fn(Arc<G>, ...) -> R`.
    #[derive(Debug)]
    pub struct ByArc;
}

pub(crate) trait ErasedGatewayHandler<G>: Send + Sync {
    fn call(&self, gateway: Arc<G>, context: &GatewayContext) -> ReplyFuture;
}

struct Erased<H, M>(H, std::marker::PhantomData<fn() -> M>);

impl<G, H: GatewayHandler<G, M>, M: Send + Sync + 'static> ErasedGatewayHandler<G>
    for Erased<H, M>
{
    fn call(&self, gateway: Arc<G>, context: &GatewayContext) -> ReplyFuture {
        self.0.call(gateway, context)
    }
}

pub(crate) fn erase<G: 'static, H: GatewayHandler<G, M>, M: Send + Sync + 'static>(
    handler: H,
) -> Arc<dyn ErasedGatewayHandler<G>> {
    Arc::new(Erased(handler, std::marker::PhantomData))
}

macro_rules! impl_gateway_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<G, F, R, $($ty,)*> GatewayHandler<G, (marker::ByRef, $($ty,)*)> for F
        where
            G: Send + Sync + 'static,
            F: Fn(&G, $($ty,)*) -> R + Send + Sync + 'static,
            R: IntoWsReply,
            $($ty: FromGatewayContext + Send + 'static,)*
        {
            fn call(&self, gateway: Arc<G>, context: &GatewayContext) -> ReplyFuture {
                $(
                    let $ty = match $ty::from_context(context) {
                        Ok(value) => value,
                        Err(exception) => return Box::pin(async move { Reply::Exception(exception) }),
                    };
                )*
                let reply = (self)(&gateway, $($ty,)*).into_reply();
                Box::pin(async move { reply })
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<G, F, Fut, R, $($ty,)*> GatewayHandler<G, (marker::ByArc, $($ty,)*)> for F
        where
            G: Send + Sync + 'static,
            F: Fn(Arc<G>, $($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoWsReply,
            $($ty: FromGatewayContext + Send + 'static,)*
        {
            fn call(&self, gateway: Arc<G>, context: &GatewayContext) -> ReplyFuture {
                $(
                    let $ty = match $ty::from_context(context) {
                        Ok(value) => value,
                        Err(exception) => return Box::pin(async move { Reply::Exception(exception) }),
                    };
                )*
                let future = (self)(gateway, $($ty,)*);
                Box::pin(async move { future.await.into_reply() })
            }
        }
    };
}

impl_gateway_handler!();
impl_gateway_handler!(T1);
impl_gateway_handler!(T1, T2);
impl_gateway_handler!(T1, T2, T3);
impl_gateway_handler!(T1, T2, T3, T4);
impl_gateway_handler!(T1, T2, T3, T4, T5);
impl_gateway_handler!(T1, T2, T3, T4, T5, T6);
