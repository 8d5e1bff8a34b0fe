//! `#[gateway]` on an inherent `impl` block: the block, rewritten, plus `impl Gateway`.
//!
//! Long for a reason: one transformation (read the `impl` block, check every method, write the
//! `Gateway` impl and the router); its parts only make sense together.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, Ident, ImplItem, ImplItemFn, Item, LitStr, Meta, Pat, PatType,
    ReturnType, Signature, Token, Type, Visibility,
};

use crate::options::GatewayArgs;

/// What a `#[subscribe_message]` that `#[gateway]` has read carries, so that it expands to the
/// method unchanged.
pub(crate) const CHECKED_MARKER: &str = "__sockgate_read_by_gateway";

/// The most extractors a handler can take: `MessageHandler` is implemented for up to 7
/// extractors, and `self: Arc<Self>` is one of them in an async handler.
const MAX_EXTRACTORS: usize = 6;

/// Events Socket.IO reserves: a handler on them would never run.
pub(crate) const RESERVED_EVENTS: &[(&str, &str)] = &[
    ("connect", "use the `handle_connection` hook"),
    ("connect_error", "it is sent by the server, never received"),
    ("disconnect", "use the `handle_disconnect` hook"),
    ("disconnecting", "use the `handle_disconnect` hook"),
    ("newListener", "it is reserved by Socket.IO"),
    ("removeListener", "it is reserved by Socket.IO"),
];

/// The parameter attributes `#[gateway]` understands.
const PARAM_ATTRS: &[&str] = &["message_body", "connected_socket", "ack", "ws_server"];

/// Collects every error so the user sees them all at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn to_compile_error(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// One `#[subscribe_message("event", guard = .., filter = ..)]`, or with a declared event
/// (`event = Message`, a `sockgate::typed::ClientToServer` marker) instead of the name.
struct Subscription {
    event: EventName,
    guards: Vec<Expr>,
    filters: Vec<Expr>,
}

/// The event a handler subscribes to.
enum EventName {
    /// `"message"`.
    Literal(LitStr),
    /// `event = Message`: the name is `<Message as Event>::NAME`.
    Declared(syn::Path),
}

impl EventName {
    /// What identifies the event at compile time (the name, or the marker's path).
    fn key(&self) -> String {
        match self {
            EventName::Literal(name) => name.value(),
            EventName::Declared(path) => quote::quote!(#path).to_string(),
        }
    }

    fn span_tokens(&self) -> proc_macro2::TokenStream {
        match self {
            EventName::Literal(name) => quote::quote!(#name),
            EventName::Declared(path) => quote::quote!(#path),
        }
    }
}

/// A handler to register.
struct Route {
    subscription: Subscription,
    method: Ident,
}

/// How a method takes `self`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReceiverKind {
    /// No receiver (an associated function).
    None,
    /// `&self`.
    Ref,
    /// `self: Arc<Self>`.
    Arc,
    /// `self`, `&mut self`, `self: Box<Self>`...
    Other,
}

fn receiver_kind(sig: &Signature) -> ReceiverKind {
    let Some(receiver) = sig.receiver() else {
        return ReceiverKind::None;
    };
    if receiver.colon_token.is_some() {
        return match &*receiver.ty {
            Type::Path(path)
                if path
                    .path
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == "Arc") =>
            {
                ReceiverKind::Arc
            }
            _ => ReceiverKind::Other,
        };
    }
    match (&receiver.reference, &receiver.mutability) {
        (Some(_), None) => ReceiverKind::Ref,
        _ => ReceiverKind::Other,
    }
}

/// The arguments after the receiver.
fn arguments(sig: &Signature) -> Vec<&PatType> {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Expands `#[gateway(...)] impl Type { ... }`.
pub(crate) fn expand(args: &GatewayArgs, item: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut block = match item {
        Item::Impl(block) => block,
        other => {
            let error = syn::Error::new_spanned(
                item_head(&other),
                "#[gateway] goes on an inherent `impl` block: \
                 `#[gateway(namespace = \"/chat\")] impl ChatGateway { ... }`",
            )
            .to_compile_error();
            return quote!(#error #other);
        }
    };
    if let Some((_, path, _)) = &block.trait_ {
        let self_ty = &block.self_ty;
        let error = syn::Error::new_spanned(
            quote!(#path for #self_ty),
            "#[gateway] goes on an inherent `impl` block (`impl ChatGateway { ... }`), \
             not on a trait implementation: it writes `impl Gateway` itself",
        )
        .to_compile_error();
        return quote!(#error #block);
    }

    let mut errors = Errors::default();
    if let Err(error) = args.validate() {
        errors.push(error);
    }
    let type_name = match &*block.self_ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| "Gateway".to_owned(), |s| s.ident.to_string()),
        _ => "Gateway".to_owned(),
    };

    let mut routes: Vec<Route> = Vec::new();
    let mut hooks = Vec::new();
    let mut user_register = TokenStream::new();
    let mut keys = Vec::new();
    let mut checks = Vec::new();
    for impl_item in &mut block.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let subscriptions = take_subscriptions(&mut method.attrs, &mut errors);
        let name = method.sig.ident.to_string();
        if !subscriptions.is_empty() {
            let checked = match check_handler(&method.sig) {
                Ok(()) => true,
                Err(error) => {
                    errors.push(error);
                    false
                }
            };
            let rewritten = rewrite_params(method, &type_name, &mut keys, &mut checks, &mut errors);
            // A handler with a mistake already reported is left out, so the report stands alone.
            if checked && rewritten {
                checks.extend(handler_checks(&method.sig));
                for subscription in subscriptions {
                    routes.push(Route {
                        subscription,
                        method: method.sig.ident.clone(),
                    });
                }
            }
            continue;
        }
        let hook = match name.as_str() {
            "after_init" => Some(after_init(&method.sig)),
            "handle_connection" => Some(handle_connection(&method.sig)),
            "handle_disconnect" => Some(handle_disconnect(&method.sig)),
            "register" => match register(&method.sig) {
                Ok(call) => {
                    user_register = call;
                    None
                }
                Err(error) => Some(Err(error)),
            },
            _ => None,
        };
        match hook {
            Some(Ok(tokens)) => hooks.push(tokens),
            Some(Err(error)) => errors.push(error),
            None => {}
        }
        if matches!(
            name.as_str(),
            "after_init" | "handle_connection" | "handle_disconnect" | "register"
        ) {
            // Hooks get the socket and the namespace as they are: the attributes mean nothing.
            for arg in method.sig.inputs.iter_mut() {
                if let FnArg::Typed(typed) = arg {
                    typed.attrs.retain(|attr| !is_param_attr(attr));
                }
            }
        } else {
            rewrite_params(method, &type_name, &mut keys, &mut checks, &mut errors);
        }
    }

    for (index, route) in routes.iter().enumerate() {
        let event = route.subscription.event.key();
        if let Some(first) = routes[..index]
            .iter()
            .find(|r| r.subscription.event.key() == event)
        {
            errors.push(syn::Error::new_spanned(
                route.subscription.event.span_tokens(),
                format!(
                    "event `{event}` is already handled by `{}`: one handler per event",
                    first.method
                ),
            ));
        }
    }

    let registrations = routes.iter().map(|route| {
        let method = &route.method;
        let guards = &route.subscription.guards;
        let filters = &route.subscription.filters;
        let subscribe = match &route.subscription.event {
            EventName::Literal(event) => quote_spanned! {method.span()=>
                router.subscribe_message(#event, Self::#method)
            },
            // `on_typed` requires a `ClientToServer` event: a server-to-client marker or an
            // undeclared type does not compile.
            EventName::Declared(event) => quote_spanned! {method.span()=>
                ::sockgate::typed::OnTyped::on_typed(&mut *router, #event, Self::#method)
            },
        };
        quote_spanned! {method.span()=>
            #subscribe
                #(.guard(#guards))*
                #(.filter(#filters))*;
        }
    });
    let guards = &args.guards;
    let filters = &args.filters;
    let options = args.options_body();
    let self_ty = &block.self_ty;
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let errors = errors.to_compile_error();
    quote! {
        #errors
        #block
        #(#keys)*
        impl #impl_generics ::sockgate::gateway::Gateway for #self_ty #where_clause {
            fn options(&self) -> ::sockgate::gateway::GatewayOptions {
                #options
            }

            fn register(router: &mut ::sockgate::gateway::GatewayRouter<Self>) {
                #(router.use_guard(#guards);)*
                #(router.use_filter(#filters);)*
                #[allow(dead_code)]
                fn __sockgate_extractor<
                    G,
                    T: ::sockgate::handler::FromMessageParts<::sockgate::gateway::GatewayScope<G>>,
                >() {
                }
                #[allow(dead_code)]
                fn __sockgate_reply<R: ::sockgate::gateway::IntoWsReply>() {}
                #(#checks)*
                #(#registrations)*
                #user_register
            }

            #(#hooks)*
        }
    }
}

/// The first tokens of an item, to point an error at.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(s) => {
            let (token, ident) = (&s.struct_token, &s.ident);
            quote!(#token #ident)
        }
        Item::Enum(e) => {
            let (token, ident) = (&e.enum_token, &e.ident);
            quote!(#token #ident)
        }
        Item::Fn(f) => f.sig.to_token_stream(),
        Item::Trait(t) => {
            let (token, ident) = (&t.trait_token, &t.ident);
            quote!(#token #ident)
        }
        Item::Mod(m) => {
            let (token, ident) = (&m.mod_token, &m.ident);
            quote!(#token #ident)
        }
        other => other.to_token_stream(),
    }
}

fn is_subscribe_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "subscribe_message")
}

fn is_param_attr(attr: &Attribute) -> bool {
    attr.path()
        .get_ident()
        .is_some_and(|ident| PARAM_ATTRS.iter().any(|name| ident == name))
}

/// Removes the `#[subscribe_message]` attributes of a method and parses them.
fn take_subscriptions(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Vec<Subscription> {
    #[allow(non_snake_case)]
    let CHECKED = Ident::new(CHECKED_MARKER, Span::call_site());
    let mut subscriptions = Vec::new();
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if !is_subscribe_attr(&attr) {
            kept.push(attr);
            continue;
        }
        match parse_subscription(&attr) {
            Ok(subscription) => subscriptions.push(subscription),
            Err(error) => errors.push(error),
        }
        // Keep the attribute, read: it then uses the user's import of `subscribe_message`
        // (no unused-import warning), and its expansion leaves the method alone.
        let path = attr.path();
        kept.push(syn::parse_quote_spanned!(attr.span()=> #[#path(#CHECKED)]));
    }
    *attrs = kept;
    subscriptions
}

const NEEDS_EVENT: &str =
    "#[subscribe_message] needs the event name: `#[subscribe_message(\"message\")]`";

fn parse_subscription(attr: &Attribute) -> syn::Result<Subscription> {
    let list = match &attr.meta {
        Meta::List(list) if !list.tokens.is_empty() => list,
        Meta::List(_) | Meta::Path(_) => return Err(syn::Error::new_spanned(attr, NEEDS_EVENT)),
        Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                nv,
                "write the event name in parentheses: `#[subscribe_message(\"message\")]`",
            ))
        }
    };
    let subscription = list.parse_args_with(|input: ParseStream<'_>| {
        let declared = input.peek(Ident) && input.peek2(Token![=]);
        let event = if declared {
            {
                let key: Ident = input.parse()?;
                if key != "event" {
                    return Err(syn::Error::new_spanned(
                        key,
                        "the event comes first: a string literal (`#[subscribe_message(\"message\")]`) \
                         or a declared event (`#[subscribe_message(event = Message)]`)",
                    ));
                }
                input.parse::<Token![=]>()?;
                Ok(EventName::Declared(input.parse()?))
            }
        } else {
            input.parse().map(EventName::Literal)
        };
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                return Err(syn::Error::new(
                    error.span(),
                    "the event name comes first, as a string literal: \
                     `#[subscribe_message(\"message\")]`",
                ))
            }
        };
        let mut guards = Vec::new();
        let mut filters = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            match key.to_string().as_str() {
                "guard" => guards.push(value),
                "filter" => filters.push(value),
                other => {
                    return Err(syn::Error::new_spanned(
                        key,
                        format!(
                            "unknown key `{other}` in #[subscribe_message(...)]; \
                             expected `guard = path::to_fn` or `filter = MyFilter`"
                        ),
                    ))
                }
            }
        }
        Ok(Subscription {
            event,
            guards,
            filters,
        })
    })?;
    let EventName::Literal(literal) = &subscription.event else {
        // A declared event's name is checked by `#[derive(Event)]`.
        return Ok(subscription);
    };
    let event = literal.value();
    if event.is_empty() {
        return Err(syn::Error::new_spanned(
            literal,
            "the event name cannot be empty",
        ));
    }
    if let Some((_, hint)) = RESERVED_EVENTS.iter().find(|(name, _)| *name == event) {
        return Err(syn::Error::new_spanned(
            literal,
            format!("`{event}` is a reserved Socket.IO event and never reaches handlers: {hint}"),
        ));
    }
    Ok(subscription)
}

/// Checks what a gateway's `MessageHandler` accepts: `fn(&self, ..)` or `async fn(self: Arc<Self>, ..)`.
fn check_handler(sig: &Signature) -> syn::Result<()> {
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a message handler cannot be generic: its arguments are extractors the router builds",
        ));
    }
    match receiver_kind(sig) {
        ReceiverKind::Ref if sig.asyncness.is_some() => {
            return Err(syn::Error::new_spanned(
                sig.inputs.first(),
                "an async handler takes `self: Arc<Self>` (its future cannot borrow the gateway): \
                 `async fn handler(self: Arc<Self>, ...)`",
            ))
        }
        ReceiverKind::Ref | ReceiverKind::Arc => {}
        ReceiverKind::None => return Err(syn::Error::new_spanned(
            &sig.ident,
            "a message handler is a method: it takes `&self` (or `self: Arc<Self>` when async) \
                 first",
        )),
        ReceiverKind::Other => {
            return Err(syn::Error::new_spanned(
                sig.inputs.first(),
                "a message handler takes `&self`, or `self: Arc<Self>` when async: one gateway \
                 serves every socket (use a Mutex or atomics for state)",
            ))
        }
    }
    let count = arguments(sig).len();
    if count > MAX_EXTRACTORS {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!(
                "a message handler takes at most {MAX_EXTRACTORS} extractors (this one takes \
                 {count}): group values in one `MessageBody<T>` struct"
            ),
        ));
    }
    Ok(())
}

/// Rewrites `#[message_body] x: T` and friends into the extractor patterns.
fn rewrite_params(
    method: &mut ImplItemFn,
    type_name: &str,
    keys: &mut Vec<TokenStream>,
    checks: &mut Vec<TokenStream>,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    let method_name = method.sig.ident.to_string();
    let vis = method.vis.clone();
    for (index, arg) in method.sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = arg else {
            continue;
        };
        let mut found: Vec<Attribute> = Vec::new();
        typed.attrs.retain(|attr| {
            if is_param_attr(attr) {
                found.push(attr.clone());
                false
            } else {
                true
            }
        });
        let Some(attr) = found.first() else {
            continue;
        };
        if let Some(second) = found.get(1) {
            errors.push(syn::Error::new_spanned(
                second,
                "a parameter takes one of #[message_body], #[connected_socket], #[ack], \
                 #[ws_server]",
            ));
            ok = false;
            continue;
        }
        let name = attr.path().get_ident().map(ToString::to_string);
        let result = match name.as_deref() {
            Some("message_body") => {
                message_body(attr, typed, type_name, &method_name, index, &vis, keys)
            }
            Some("connected_socket") => wrapper(
                attr,
                typed,
                "ConnectedSocket",
                "SocketRef",
                "connected_socket",
                checks,
            ),
            Some("ack") => wrapper(attr, typed, "Ack", "AckSender", "ack", checks),
            Some("ws_server") => {
                wrapper(attr, typed, "WsServer", "NamespaceRef", "ws_server", checks)
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            errors.push(error);
            ok = false;
        }
    }
    ok
}

/// Bound checks on each argument and the return type of a handler, so that a type the router
/// cannot build or send is reported on that type rather than on the whole method.
fn handler_checks(sig: &Signature) -> Vec<TokenStream> {
    // The helpers keep the macro's span (they are declared with it); the types keep the user's,
    // where the compiler then reports an unsatisfied bound.
    let extractor = quote!(__sockgate_extractor);
    let reply = quote!(__sockgate_reply);
    let mut checks = Vec::new();
    for arg in arguments(sig) {
        let ty = &arg.ty;
        checks.push(quote!(#extractor::<Self, #ty>();));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if !matches!(&**ty, Type::ImplTrait(_)) {
            checks.push(quote!(#reply::<#ty>();));
        }
    }
    checks
}

fn message_body(
    attr: &Attribute,
    typed: &mut PatType,
    type_name: &str,
    method_name: &str,
    index: usize,
    vis: &Visibility,
    keys: &mut Vec<TokenStream>,
) -> syn::Result<()> {
    let pat = &typed.pat;
    let ty = &typed.ty;
    match &attr.meta {
        Meta::Path(_) => {
            let new_pat: Pat = syn::parse_quote_spanned!(pat.span()=>
                ::sockgate::gateway::MessageBody(#pat)
            );
            let new_ty: Type = syn::parse_quote_spanned!(ty.span()=>
                ::sockgate::gateway::MessageBody<#ty>
            );
            *typed.pat = new_pat;
            *typed.ty = new_ty;
            Ok(())
        }
        Meta::List(list) => {
            let property: LitStr = list.parse_args().map_err(|_| {
                syn::Error::new_spanned(
                    &list.tokens,
                    "#[message_body(...)] takes one property name as a string literal: \
                     `#[message_body(\"name\")]`",
                )
            })?;
            let key = format_ident!(
                "__SockgatePropKey_{}_{}_{}",
                type_name,
                method_name,
                index,
                span = property.span()
            );
            let doc = format!(
                "The `{}` property of the body of `{type_name}::{method_name}` \
                 (written by `#[message_body(\"{}\")]`).",
                property.value(),
                property.value()
            );
            keys.push(quote! {
                #[doc = #doc]
                #[doc(hidden)]
                #[allow(non_camel_case_types, unreachable_pub)]
                #vis struct #key;

                impl ::sockgate::gateway::PropKey for #key {
                    const KEY: &'static str = #property;
                }
            });
            let new_pat: Pat = syn::parse_quote_spanned!(pat.span()=>
                ::sockgate::gateway::Prop(#pat, _)
            );
            let new_ty: Type = syn::parse_quote_spanned!(ty.span()=>
                ::sockgate::gateway::Prop<#key, #ty>
            );
            *typed.pat = new_pat;
            *typed.ty = new_ty;
            Ok(())
        }
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write `#[message_body]` for the whole body or `#[message_body(\"name\")]` for one \
             property",
        )),
    }
}

fn wrapper(
    attr: &Attribute,
    typed: &mut PatType,
    extractor: &str,
    expected: &str,
    attr_name: &str,
    checks: &mut Vec<TokenStream>,
) -> syn::Result<()> {
    if !matches!(attr.meta, Meta::Path(_)) {
        return Err(syn::Error::new_spanned(
            &attr.meta,
            format!("#[{attr_name}] takes no arguments"),
        ));
    }
    let matches = match &*typed.ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == expected && segment.arguments.is_empty()),
        _ => false,
    };
    if !matches {
        return Err(syn::Error::new_spanned(
            &typed.ty,
            format!("#[{attr_name}] goes on a `{expected}` parameter"),
        ));
    }
    // The written type must be the one the extractor gives (this also keeps its import used).
    let ty = &typed.ty;
    let expected = Ident::new(expected, ty.span());
    checks.push(quote_spanned! {ty.span()=>
        let _: ::std::marker::PhantomData<#ty> = ::std::marker::PhantomData::<::sockgate::#expected>;
    });
    let pat = &typed.pat;
    let extractor = Ident::new(extractor, typed.ty.span());
    *typed.pat = syn::parse_quote_spanned!(pat.span()=> ::sockgate::gateway::#extractor(#pat));
    *typed.ty = syn::parse_quote_spanned!(typed.ty.span()=> ::sockgate::gateway::#extractor);
    Ok(())
}

fn wrong_hook(sig: &Signature, expected: &str) -> syn::Error {
    syn::Error::new(
        signature_span(sig),
        format!(
            "`{}` is a gateway hook, so its signature must be `{expected}` \
             (rename the method if it is not meant as the hook)",
            sig.ident
        ),
    )
}

/// The span of `fn name(...) -> R`, where the compiler can join spans; the name elsewhere.
fn signature_span(sig: &Signature) -> Span {
    let start = sig.fn_token.span;
    let end = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.paren_token.span.close(),
    };
    start.join(end).unwrap_or(sig.ident.span())
}

fn after_init(sig: &Signature) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "fn after_init(&self, namespace: &NamespaceRef)";
    let args = arguments(sig);
    if receiver_kind(sig) != ReceiverKind::Ref
        || sig.asyncness.is_some()
        || args.len() > 1
        || !matches!(sig.output, ReturnType::Default)
        || !sig.generics.params.is_empty()
    {
        return Err(wrong_hook(sig, EXPECTED));
    }
    let ident = &sig.ident;
    let call = if args.is_empty() {
        quote_spanned!(ident.span()=> { let _ = namespace; Self::after_init(self) })
    } else {
        quote_spanned!(ident.span()=> Self::after_init(self, namespace))
    };
    Ok(quote! {
        fn after_init(&self, namespace: &::sockgate::NamespaceRef) {
            #call
        }
    })
}

fn handle_connection(sig: &Signature) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "[async] fn handle_connection(&self or self: Arc<Self>, socket: \
                            SocketRef) [-> Result<(), WsException>]";
    let receiver = receiver_kind(sig);
    if !matches!(receiver, ReceiverKind::Ref | ReceiverKind::Arc)
        || arguments(sig).len() != 1
        || !sig.generics.params.is_empty()
    {
        return Err(wrong_hook(sig, EXPECTED));
    }
    let ident = &sig.ident;
    let call = match receiver {
        ReceiverKind::Arc => quote_spanned!(ident.span()=> Self::handle_connection(self, socket)),
        _ => quote_spanned!(ident.span()=> Self::handle_connection(&*self, socket)),
    };
    let call = if sig.asyncness.is_some() {
        quote!(#call.await)
    } else {
        call
    };
    let result = match &sig.output {
        ReturnType::Default => quote!({ #call; ::std::result::Result::Ok(()) }),
        ReturnType::Type(_, ty) => quote_spanned!(ty.span()=>
            ::std::result::Result::map_err(#call, ::std::convert::Into::into)
        ),
    };
    let body = if sig.asyncness.is_some() {
        quote!(async move { #result })
    } else {
        quote!({
            let result = #result;
            async move { result }
        })
    };
    Ok(quote! {
        fn handle_connection(
            self: ::std::sync::Arc<Self>,
            socket: ::sockgate::SocketRef,
        ) -> impl ::std::future::Future<
            Output = ::std::result::Result<(), ::sockgate::gateway::WsException>,
        > + ::std::marker::Send {
            #body
        }
    })
}

fn handle_disconnect(sig: &Signature) -> syn::Result<TokenStream> {
    const EXPECTED: &str =
        "fn handle_disconnect(&self, socket: SocketRef, reason: DisconnectReason)";
    let args = arguments(sig);
    if receiver_kind(sig) != ReceiverKind::Ref
        || sig.asyncness.is_some()
        || !(1..=2).contains(&args.len())
        || !matches!(sig.output, ReturnType::Default)
        || !sig.generics.params.is_empty()
    {
        return Err(wrong_hook(sig, EXPECTED));
    }
    let ident = &sig.ident;
    let call = if args.len() == 1 {
        quote_spanned!(ident.span()=> { let _ = reason; Self::handle_disconnect(self, socket) })
    } else {
        quote_spanned!(ident.span()=> Self::handle_disconnect(self, socket, reason))
    };
    Ok(quote! {
        fn handle_disconnect(
            &self,
            socket: ::sockgate::SocketRef,
            reason: ::sockgate::DisconnectReason,
        ) {
            #call
        }
    })
}

fn register(sig: &Signature) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "fn register(router: &mut GatewayRouter<Self>)";
    if receiver_kind(sig) != ReceiverKind::None
        || sig.asyncness.is_some()
        || arguments(sig).len() != 1
        || !matches!(sig.output, ReturnType::Default)
        || !sig.generics.params.is_empty()
    {
        return Err(wrong_hook(sig, EXPECTED));
    }
    let ident = &sig.ident;
    Ok(quote_spanned!(ident.span()=> Self::register(router);))
}
