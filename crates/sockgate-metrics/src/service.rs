//! [`MetricsService`]: the scrape endpoint as a tower service.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::{header, Request, Response, StatusCode};

use crate::Metrics;

/// Answers a `GET` (or `HEAD`) with every metric in the Prometheus text format
/// (`text/plain; version=0.0.4`), anything else with 405. Mount it at a path of your choice;
/// with axum: `Router::new().route_service("/metrics", metrics.service())`.
#[derive(Debug, Clone)]
pub struct MetricsService {
    metrics: Metrics,
}

impl MetricsService {
    pub(crate) fn new(metrics: Metrics) -> MetricsService {
        MetricsService { metrics }
    }
}

impl<B> tower_service::Service<Request<B>> for MetricsService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response =
            if request.method() == http::Method::GET || request.method() == http::Method::HEAD {
                let mut response = Response::new(self.metrics.render());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            } else {
                let mut response = Response::new("only GET is served here\n".to_owned());
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
                response
            };
        ready(Ok(response))
    }
}
