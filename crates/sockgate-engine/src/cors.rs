//! CORS answered the way Node's `cors` package answers it for engine.io.

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::Method;

/// Which origins may call the engine.
#[derive(Clone)]
pub enum AllowOrigin {
    /// `*`: any origin, answered with `Access-Control-Allow-Origin: *`.
    Any,
    /// Reflect the request's `Origin` (Node's `origin: true`).
    Mirror,
    /// Only these exact origins.
    List(Vec<String>),
    /// Origins for which the predicate returns true.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for AllowOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowOrigin::Any => f.write_str("Any"),
            AllowOrigin::Mirror => f.write_str("Mirror"),
            AllowOrigin::List(list) => f.debug_tuple("List").field(list).finish(),
            AllowOrigin::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl AllowOrigin {
    /// Whether `origin` passes this rule (`Any` and `Mirror` pass everything).
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowOrigin::Any | AllowOrigin::Mirror => true,
            AllowOrigin::List(list) => list.iter().any(|l| l == origin),
            AllowOrigin::Predicate(f) => f(origin),
        }
    }
}

/// CORS options (`cors: { origin, methods, allowedHeaders, credentials, ... }`).
///
/// As in Node, CORS only shapes response headers that browsers act on: it refuses nothing,
/// and browsers do not apply it to WebSocket upgrades at all. To refuse other origins on every
/// handshake, WebSocket included, use [`crate::EngineConfig::allowed_origins`].
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins.
    pub origin: AllowOrigin,
    /// Methods announced in preflight answers (default `GET,HEAD,PUT,PATCH,POST,DELETE`).
    pub methods: Vec<Method>,
    /// Headers announced in preflight answers; `None` mirrors `Access-Control-Request-Headers`.
    pub allowed_headers: Option<Vec<String>>,
    /// Headers exposed to the page.
    pub exposed_headers: Vec<String>,
    /// Whether to send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age` in seconds for preflight answers.
    pub max_age: Option<u64>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::any()
    }
}

impl Cors {
    /// `origin: "*"` with the `cors` package's defaults.
    pub fn any() -> Self {
        Cors {
            origin: AllowOrigin::Any,
            methods: [
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::PATCH,
                Method::POST,
                Method::DELETE,
            ]
            .to_vec(),
            allowed_headers: None,
            exposed_headers: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// Only the listed origins.
    pub fn origins<I: IntoIterator<Item = S>, S: Into<String>>(origins: I) -> Self {
        Cors {
            origin: AllowOrigin::List(origins.into_iter().map(Into::into).collect()),
            ..Cors::any()
        }
    }

    /// Origins accepted by a predicate.
    pub fn predicate(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Cors {
            origin: AllowOrigin::Predicate(Arc::new(predicate)),
            ..Cors::any()
        }
    }

    /// Sets the announced methods.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Sets the announced request headers.
    pub fn allowed_headers<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        headers: I,
    ) -> Self {
        self.allowed_headers = Some(headers.into_iter().map(Into::into).collect());
        self
    }

    /// Sends `Access-Control-Allow-Credentials: true`.
    pub fn credentials(mut self, credentials: bool) -> Self {
        self.credentials = credentials;
        self
    }

    /// Headers every response carries (the cors package's "simple" response path).
    pub(crate) fn apply(&self, request: &HeaderMap, out: &mut HeaderMap) {
        self.apply_origin(request, out);
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !self.exposed_headers.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&self.exposed_headers.join(",")) {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
    }

    /// Headers of a preflight (`OPTIONS`) answer, which is a 204 with no body.
    pub(crate) fn apply_preflight(&self, request: &HeaderMap, out: &mut HeaderMap) {
        self.apply_origin(request, out);
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        if let Ok(v) = HeaderValue::from_str(&methods.join(",")) {
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        match &self.allowed_headers {
            Some(list) => {
                if let Ok(v) = HeaderValue::from_str(&list.join(",")) {
                    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
                }
            }
            None => {
                if let Some(v) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                    out.append(
                        header::VARY,
                        HeaderValue::from_static("Access-Control-Request-Headers"),
                    );
                }
            }
        }
        if let Some(max_age) = self.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.into());
        }
    }

    fn apply_origin(&self, request: &HeaderMap, out: &mut HeaderMap) {
        let origin = request.get(header::ORIGIN);
        let allowed = match (&self.origin, origin) {
            (AllowOrigin::Any, _) => {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                return;
            }
            (_, None) => None,
            (AllowOrigin::Mirror, Some(o)) => Some(o),
            (AllowOrigin::List(list), Some(o)) => list
                .iter()
                .any(|l| l.as_bytes() == o.as_bytes())
                .then_some(o),
            (AllowOrigin::Predicate(f), Some(o)) => o.to_str().ok().filter(|s| f(s)).map(|_| o),
        };
        if let Some(origin) = allowed {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        out.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("x-a,content-type"),
        );
        h
    }

    #[test]
    fn any_origin_preflight_matches_the_cors_package() {
        let mut out = HeaderMap::new();
        Cors::any().apply_preflight(&request("http://x"), &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            out[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET,HEAD,PUT,PATCH,POST,DELETE"
        );
        assert_eq!(
            out[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "x-a,content-type"
        );
    }

    #[test]
    fn explicit_options() {
        let cors = Cors::origins(["http://x"])
            .methods([Method::GET, Method::POST])
            .allowed_headers(["content-type"])
            .credentials(true);
        let mut out = HeaderMap::new();
        cors.apply_preflight(&request("http://x"), &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://x");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        let mut out = HeaderMap::new();
        cors.apply(&request("http://evil"), &mut out);
        assert!(out.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(out[header::VARY], "Origin");
    }

    #[test]
    fn predicate_origin() {
        let cors = Cors::predicate(|o| o.ends_with(".example.com"));
        let mut out = HeaderMap::new();
        cors.apply(&request("https://a.example.com"), &mut out);
        assert_eq!(
            out[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://a.example.com"
        );
    }
}
