//! The arguments of `#[gateway(...)]`: gateway options, `options_from`, class-level guards
//! and filters.
//!
//! Long for a reason: one parser per option key of `#[gateway(...)]`, each a few lines.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, Lit, LitBool, LitInt, LitStr, Result};

/// Every key `#[gateway(...)]` accepts, for the "unknown key" message.
const KEYS: &str = "namespace, dynamic_namespace, port, path, transports, cors(...), \
                    ping_interval, ping_timeout, connect_timeout, upgrade_timeout, ack_timeout, \
                    write_coalescing, websocket_write_timeout, pending_attachments_timeout, \
                    http_request_body_timeout, max_http_buffer_size, max_buffered_bytes, \
                    max_attachments, max_decoded_bytes, max_pending_attachment_bytes, \
                    allow_upgrades, trust_proxy, cleanup_empty_child_namespaces, \
                    allowed_origins, parser, connection_state_recovery, options_from, guard, \
                    filter";

/// Every key `cors(...)` accepts.
const CORS_KEYS: &str = "origin, methods, allowed_headers, exposed_headers, credentials, max_age";

/// The HTTP methods `cors(methods = [...])` accepts.
const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The parsed `#[gateway(...)]` arguments.
#[derive(Default)]
pub(crate) struct GatewayArgs {
    /// Statements that adjust `options` (a `GatewayOptions`), one per key.
    statements: Vec<TokenStream>,
    /// The option keys already seen, with where they were written.
    seen: Vec<(String, Span)>,
    /// `options_from = path`.
    options_from: Option<Expr>,
    /// `guard = path`, in order.
    pub(crate) guards: Vec<Expr>,
    /// `filter = expr`, in order.
    pub(crate) filters: Vec<Expr>,
}

impl GatewayArgs {
    /// Parses one `key = value` or `key(...)` of `#[gateway(...)]`.
    pub(crate) fn parse_meta(&mut self, meta: ParseNestedMeta<'_>) -> Result<()> {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let span = meta.path.span();
        match key.as_str() {
            "guard" => {
                self.guards.push(meta.value()?.parse()?);
                return Ok(());
            }
            "filter" => {
                self.filters.push(meta.value()?.parse()?);
                return Ok(());
            }
            _ => {}
        }
        if let Some((_, _)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Err(meta.error(format!("`{key}` is set twice in #[gateway(...)]")));
        }
        let statement = match key.as_str() {
            "namespace" => {
                if self.seen_key("dynamic_namespace").is_some() {
                    return Err(meta.error(
                        "a gateway has either `namespace` or `dynamic_namespace`, not both",
                    ));
                }
                let name = lit_str(&value(&meta)?, &key, "a namespace name, e.g. \"/chat\"")?;
                if name.value().contains('{') {
                    return Err(syn::Error::new_spanned(
                        &name,
                        "this namespace has a `{param}` segment: write \
                         `dynamic_namespace = \"...\"` to serve every matching namespace",
                    ));
                }
                quote!(options = options.namespace(#name);)
            }
            "dynamic_namespace" => {
                if self.seen_key("namespace").is_some() {
                    return Err(meta.error(
                        "a gateway has either `namespace` or `dynamic_namespace`, not both",
                    ));
                }
                let pattern = lit_str(
                    &value(&meta)?,
                    &key,
                    "a namespace pattern, e.g. \"/tenant/{id}\"",
                )?;
                quote!(options = options.dynamic_namespace(#pattern);)
            }
            "port" => {
                let port = lit_int::<u16>(&value(&meta)?, &key, "a port number (0 to 65535)")?;
                quote!(options = options.port(#port);)
            }
            "path" => {
                let path = lit_str(&value(&meta)?, &key, "a path, e.g. \"/socket.io/\"")?;
                quote!(options = options.path(#path);)
            }
            "transports" => {
                let transports = transports(&value(&meta)?)?;
                quote!(options = options.transports(#transports);)
            }
            "cors" => {
                if !meta.input.peek(syn::token::Paren) {
                    return Err(meta.error(
                        "write `cors(origin = \"*\")` (or `origin = [\"https://a.example\"]`, \
                         `credentials = true`, `methods = [\"GET\", \"POST\"]`...)",
                    ));
                }
                let cors = cors(&meta)?;
                quote!(options = options.cors(#cors);)
            }
            // Every duration option, in milliseconds, set through its setter of the same name.
            "ping_interval"
            | "ping_timeout"
            | "connect_timeout"
            | "upgrade_timeout"
            | "ack_timeout"
            | "write_coalescing"
            | "websocket_write_timeout"
            | "pending_attachments_timeout"
            | "http_request_body_timeout" => {
                let ms = millis(&value(&meta)?, &key)?;
                let method = syn::Ident::new(&key, span);
                quote!(options = options.#method(::std::time::Duration::from_millis(#ms));)
            }
            "max_http_buffer_size" | "max_pending_attachment_bytes" => {
                let bytes = lit_int::<u64>(&value(&meta)?, &key, "a size in bytes")?;
                let method = syn::Ident::new(&key, span);
                quote!(options = options.#method(#bytes);)
            }
            "max_buffered_bytes" | "max_decoded_bytes" => {
                let bytes = lit_int::<usize>(&value(&meta)?, &key, "a size in bytes")?;
                let method = syn::Ident::new(&key, span);
                quote!(options = options.#method(#bytes);)
            }
            "max_attachments" => {
                let max = lit_int::<usize>(&value(&meta)?, &key, "a number of attachments")?;
                quote!(options = options.max_attachments(#max);)
            }
            "allow_upgrades" | "trust_proxy" | "cleanup_empty_child_namespaces" => {
                let flag = lit_bool(&value(&meta)?, &key)?;
                let method = syn::Ident::new(&key, span);
                quote!(options = options.#method(#flag);)
            }
            "allowed_origins" => {
                let origins = str_array(&value(&meta)?, &key, "[\"https://a.example\"]")?;
                quote!(options = options.allowed_origins([#(#origins),*]);)
            }
            "parser" => {
                let name = lit_str(&value(&meta)?, &key, "\"json\" or \"msgpack\"")?;
                let variant = match name.value().as_str() {
                    "json" | "default" => quote!(Json),
                    "msgpack" => quote!(Msgpack),
                    other => {
                        return Err(syn::Error::new_spanned(
                            &name,
                            format!("unknown parser `{other}`: expected \"json\" or \"msgpack\""),
                        ))
                    }
                };
                quote!(options = options.parser(::sockgate::Parser::#variant);)
            }
            "connection_state_recovery" => {
                let recovery = recovery(&meta)?;
                quote!(options = options.connection_state_recovery(#recovery);)
            }
            "options_from" => {
                let expr: Expr = meta.value()?.parse()?;
                self.options_from = Some(expr);
                TokenStream::new()
            }
            _ => {
                let shown = if key.is_empty() {
                    quote::ToTokens::to_token_stream(&meta.path).to_string()
                } else {
                    key.clone()
                };
                return Err(meta.error(format!(
                    "unknown key `{shown}` in #[gateway(...)]; expected one of: {KEYS}"
                )));
            }
        };
        self.seen.push((key, span));
        self.statements.push(statement);
        Ok(())
    }

    fn seen_key(&self, key: &str) -> Option<Span> {
        self.seen.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
    }

    /// Checks the keys together once all are parsed.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(from) = &self.options_from {
            if let Some((key, span)) = self.seen.iter().find(|(k, _)| k != "options_from") {
                let mut error = syn::Error::new(
                    *span,
                    format!(
                        "`{key}` cannot be combined with `options_from`: the function returns \
                         every option (set `{key}` there)"
                    ),
                );
                error.combine(syn::Error::new_spanned(from, "`options_from` is set here"));
                return Err(error);
            }
        }
        Ok(())
    }

    /// The body of `Gateway::options`.
    pub(crate) fn options_body(&self) -> TokenStream {
        if let Some(from) = &self.options_from {
            return quote_spanned!(from.span()=> (#from)(self));
        }
        let statements = &self.statements;
        if statements.is_empty() {
            return quote!(::sockgate::gateway::GatewayOptions::new());
        }
        quote! {
            #[allow(unused_mut)]
            let mut options = ::sockgate::gateway::GatewayOptions::new();
            #(#statements)*
            options
        }
    }
}

fn value(meta: &ParseNestedMeta<'_>) -> Result<Expr> {
    meta.value()?.parse()
}

/// Looks through the invisible groups `macro_rules!` leaves around expressions.
fn ungroup(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungroup(&group.expr),
        other => other,
    }
}

fn lit_str(expr: &Expr, key: &str, what: &str) -> Result<LitStr> {
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes a string literal: {what}"),
        )),
    }
}

fn lit_int<T>(expr: &Expr, key: &str, what: &str) -> Result<LitInt>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            if !i.suffix().is_empty() {
                return Err(syn::Error::new_spanned(
                    i,
                    format!("`{key}` takes an integer without a suffix"),
                ));
            }
            i.base10_parse::<T>()
                .map_err(|e| syn::Error::new_spanned(i, format!("`{key}` takes {what}: {e}")))?;
            Ok(i.clone())
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes an integer: {what}"),
        )),
    }
}

fn millis(expr: &Expr, key: &str) -> Result<LitInt> {
    lit_int::<u64>(expr, key, "a duration in milliseconds, e.g. 25000")
}

fn lit_bool(expr: &Expr, key: &str) -> Result<LitBool> {
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes `true` or `false`"),
        )),
    }
}

fn str_array(expr: &Expr, key: &str, example: &str) -> Result<Vec<LitStr>> {
    match ungroup(expr) {
        Expr::Array(ExprArray { elems, .. }) => {
            elems.iter().map(|e| lit_str(e, key, example)).collect()
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes an array of string literals, e.g. `{key} = {example}`"),
        )),
    }
}

fn transports(expr: &Expr) -> Result<TokenStream> {
    let names = str_array(expr, "transports", "[\"websocket\"]")?;
    if names.is_empty() {
        return Err(syn::Error::new_spanned(
            expr,
            "`transports` needs at least one of \"websocket\", \"polling\"",
        ));
    }
    let (mut polling, mut websocket) = (false, false);
    for name in &names {
        match name.value().as_str() {
            "websocket" => websocket = true,
            "polling" => polling = true,
            other => {
                return Err(syn::Error::new_spanned(
                    name,
                    format!("unknown transport `{other}`: expected \"websocket\" or \"polling\""),
                ))
            }
        }
    }
    Ok(quote!(::sockgate::Transports { polling: #polling, websocket: #websocket }))
}

fn cors(meta: &ParseNestedMeta<'_>) -> Result<TokenStream> {
    let mut origin = None;
    let mut statements = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    meta.parse_nested_meta(|inner| {
        let key = inner
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if seen.contains(&key) {
            return Err(inner.error(format!("`{key}` is set twice in cors(...)")));
        }
        match key.as_str() {
            "origin" => {
                let expr = value(&inner)?;
                origin =
                    Some(match ungroup(&expr) {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) if s.value() == "*" => quote!(::sockgate::Cors::any()),
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => quote!(::sockgate::Cors::origins([#s])),
                        Expr::Lit(ExprLit {
                            lit: Lit::Bool(b), ..
                        }) if b.value => quote!(::sockgate::Cors {
                            origin: ::sockgate::engine::AllowOrigin::Mirror,
                            ..::sockgate::Cors::any()
                        }),
                        Expr::Array(_) => {
                            let list = str_array(&expr, "origin", "[\"https://a.example\"]")?;
                            quote!(::sockgate::Cors::origins([#(#list),*]))
                        }
                        other => return Err(syn::Error::new_spanned(
                            other,
                            "`origin` takes \"*\", one origin (\"https://a.example\"), an array \
                             of origins, or `true` (reflect the request's origin)",
                        )),
                    });
            }
            "methods" => {
                let list = str_array(&value(&inner)?, "methods", "[\"GET\", \"POST\"]")?;
                let mut methods = Vec::new();
                for method in &list {
                    let name = method.value().to_ascii_uppercase();
                    if !METHODS.contains(&name.as_str()) {
                        return Err(syn::Error::new_spanned(
                            method,
                            format!(
                                "unknown HTTP method `{}`: expected one of {}",
                                method.value(),
                                METHODS.join(", ")
                            ),
                        ));
                    }
                    methods.push(LitStr::new(&name, method.span()));
                }
                // `Cors::methods` takes `http::Method`s: parse them, the type is inferred.
                statements.push(quote! {
                    cors = cors.methods([#(
                        ::std::str::FromStr::from_str(#methods).expect("a valid HTTP method")
                    ),*]);
                });
            }
            "allowed_headers" => {
                let list = str_array(&value(&inner)?, "allowed_headers", "[\"authorization\"]")?;
                statements.push(quote!(cors = cors.allowed_headers([#(#list),*]);));
            }
            "exposed_headers" => {
                let list = str_array(&value(&inner)?, "exposed_headers", "[\"x-request-id\"]")?;
                statements.push(quote! {
                    cors.exposed_headers = ::std::vec![#(::std::string::String::from(#list)),*];
                });
            }
            "credentials" => {
                let credentials = lit_bool(&value(&inner)?, "credentials")?;
                statements.push(quote!(cors = cors.credentials(#credentials);));
            }
            "max_age" => {
                let seconds = lit_int::<u64>(&value(&inner)?, "max_age", "a duration in seconds")?;
                statements.push(quote!(cors.max_age = ::std::option::Option::Some(#seconds);));
            }
            _ => {
                return Err(inner.error(format!(
                    "unknown key `{}` in cors(...); expected one of: {CORS_KEYS}",
                    quote::ToTokens::to_token_stream(&inner.path)
                )))
            }
        }
        seen.push(key);
        Ok(())
    })?;
    let Some(origin) = origin else {
        return Err(
            meta.error("cors(...) needs an `origin`: \"*\", an origin, or an array of origins")
        );
    };
    Ok(quote!({
        #[allow(unused_mut)]
        let mut cors = #origin;
        #(#statements)*
        cors
    }))
}

fn recovery(meta: &ParseNestedMeta<'_>) -> Result<TokenStream> {
    if meta.input.peek(syn::Token![=]) {
        let enabled = lit_bool(&value(meta)?, "connection_state_recovery")?;
        if !enabled.value {
            return Err(syn::Error::new_spanned(
                enabled,
                "connection state recovery is off by default: remove the key",
            ));
        }
        return Ok(quote!(::sockgate::RecoveryConfig::default()));
    }
    let mut statements = Vec::new();
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("max_disconnection_duration") {
            let ms = millis(&value(&inner)?, "max_disconnection_duration")?;
            statements.push(quote! {
                recovery.max_disconnection_duration = ::std::time::Duration::from_millis(#ms);
            });
        } else if inner.path.is_ident("skip_middlewares") {
            let skip = lit_bool(&value(&inner)?, "skip_middlewares")?;
            statements.push(quote!(recovery.skip_middlewares = #skip;));
        } else {
            return Err(inner.error(
                "unknown key in connection_state_recovery(...); expected one of: \
                 max_disconnection_duration, skip_middlewares",
            ));
        }
        Ok(())
    })?;
    Ok(quote!({
        #[allow(unused_mut)]
        let mut recovery = ::sockgate::RecoveryConfig::default();
        #(#statements)*
        recovery
    }))
}
