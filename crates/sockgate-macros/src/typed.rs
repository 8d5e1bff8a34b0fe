//! `#[derive(Event)]` and `#[derive(Contract)]`: the impls of `sockgate::typed` written from
//! one attribute.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{DeriveInput, Ident, LitStr, Path, Token, Type};

use crate::gateway::RESERVED_EVENTS;

const EVENT_USAGE: &str = "expected `#[event(name = \"joined\", payload = Presence, server_to_client)]`; \
directions: `server_to_client`, `client_to_server`, `inter_server`, each optionally with `(ack = AckType)`";

/// One direction of an event, with its ack type.
struct DirectionAttr {
    trait_name: Ident,
    ack: Option<Type>,
}

fn single_attr<'a>(
    input: &'a DeriveInput,
    name: &str,
    usage: &str,
) -> syn::Result<&'a syn::Attribute> {
    let mut found = input.attrs.iter().filter(|a| a.path().is_ident(name));
    let first = found.next().ok_or_else(|| {
        syn::Error::new_spanned(&input.ident, format!("missing #[{name}(...)]: {usage}"))
    })?;
    if let Some(second) = found.next() {
        return Err(syn::Error::new_spanned(
            second,
            format!("one #[{name}(...)] only"),
        ));
    }
    Ok(first)
}

fn direction_trait(key: &Ident) -> Option<&'static str> {
    match key.to_string().as_str() {
        "server_to_client" => Some("ServerToClient"),
        "client_to_server" => Some("ClientToServer"),
        "inter_server" => Some("InterServer"),
        _ => None,
    }
}

pub(crate) fn derive_event(input: DeriveInput) -> syn::Result<TokenStream> {
    let attr = single_attr(&input, "event", EVENT_USAGE)?;
    let mut name: Option<LitStr> = None;
    let mut payload: Option<Type> = None;
    let mut directions: Vec<DirectionAttr> = Vec::new();
    attr.parse_args_with(|stream: ParseStream<'_>| {
        while !stream.is_empty() {
            let key: Ident = stream.parse()?;
            if let Some(trait_name) = direction_trait(&key) {
                let trait_name = Ident::new(trait_name, key.span());
                if directions.iter().any(|d| d.trait_name == trait_name) {
                    return Err(syn::Error::new_spanned(
                        &key,
                        format!("`{key}` is given twice"),
                    ));
                }
                let mut ack = None;
                if stream.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in stream);
                    let ack_key: Ident = content.parse()?;
                    if ack_key != "ack" {
                        return Err(syn::Error::new_spanned(
                            ack_key,
                            format!("expected `{key}(ack = AckType)`"),
                        ));
                    }
                    content.parse::<Token![=]>()?;
                    ack = Some(content.parse()?);
                }
                directions.push(DirectionAttr { trait_name, ack });
            } else if key == "name" {
                stream.parse::<Token![=]>()?;
                name = Some(stream.parse()?);
            } else if key == "payload" {
                stream.parse::<Token![=]>()?;
                payload = Some(stream.parse()?);
            } else {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("unknown key `{key}`: {EVENT_USAGE}"),
                ));
            }
            if !stream.is_empty() {
                stream.parse::<Token![,]>()?;
            }
        }
        Ok(())
    })?;
    let name = name.ok_or_else(|| {
        syn::Error::new_spanned(attr, format!("missing `name = \"...\"`: {EVENT_USAGE}"))
    })?;
    let payload = payload.ok_or_else(|| {
        syn::Error::new_spanned(attr, format!("missing `payload = Type`: {EVENT_USAGE}"))
    })?;
    if directions.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            format!("no direction: {EVENT_USAGE}"),
        ));
    }
    let event = name.value();
    if event.is_empty() {
        return Err(syn::Error::new_spanned(
            &name,
            "the event name cannot be empty",
        ));
    }
    if RESERVED_EVENTS
        .iter()
        .any(|(reserved, _)| *reserved == event)
    {
        return Err(syn::Error::new_spanned(
            &name,
            format!("`{event}` is a reserved Socket.IO event name: pick another"),
        ));
    }
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let direction_impls = directions.iter().map(|direction| {
        let trait_name = &direction.trait_name;
        let ack = match &direction.ack {
            Some(ack) => quote!(#ack),
            None => quote!(::sockgate::typed::NoAck),
        };
        quote! {
            impl #impl_generics ::sockgate::typed::#trait_name for #ident #type_generics #where_clause {
                type Ack = #ack;
            }
        }
    });
    Ok(quote! {
        impl #impl_generics ::sockgate::typed::Event for #ident #type_generics #where_clause {
            const NAME: &'static str = #name;
            type Payload = #payload;
        }
        #(#direction_impls)*
    })
}

const CONTRACT_USAGE: &str = "expected `#[contract(namespace = \"/chat\", server_to_client(A, B), client_to_server(C), inter_server(D))]`";

pub(crate) fn derive_contract(input: DeriveInput) -> syn::Result<TokenStream> {
    let attr = single_attr(&input, "contract", CONTRACT_USAGE)?;
    let mut namespace: Option<LitStr> = None;
    let mut name: Option<LitStr> = None;
    let mut lists: Vec<(Ident, Vec<Path>)> = Vec::new();
    attr.parse_args_with(|stream: ParseStream<'_>| {
        while !stream.is_empty() {
            let key: Ident = stream.parse()?;
            if direction_trait(&key).is_some() {
                let content;
                syn::parenthesized!(content in stream);
                let events = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
                lists.push((key, events.into_iter().collect()));
            } else if key == "namespace" {
                stream.parse::<Token![=]>()?;
                let value: LitStr = stream.parse()?;
                if !value.value().starts_with('/') {
                    return Err(syn::Error::new_spanned(
                        value,
                        "a namespace starts with `/`",
                    ));
                }
                namespace = Some(value);
            } else if key == "name" {
                stream.parse::<Token![=]>()?;
                name = Some(stream.parse()?);
            } else {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("unknown key `{key}`: {CONTRACT_USAGE}"),
                ));
            }
            if !stream.is_empty() {
                stream.parse::<Token![,]>()?;
            }
        }
        Ok(())
    })?;
    let namespace = namespace.ok_or_else(|| {
        syn::Error::new_spanned(
            attr,
            format!("missing `namespace = \"/...\"`: {CONTRACT_USAGE}"),
        )
    })?;
    let ident = &input.ident;
    let name = name.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let calls = lists.iter().flat_map(|(direction, events)| {
        events
            .iter()
            .map(move |event| quote! { events.#direction::<#event>(); })
    });
    Ok(quote! {
        impl ::sockgate::typed::Contract for #ident {
            const NAMESPACE: &'static str = #namespace;
            fn name() -> &'static str {
                #name
            }
            fn events(events: &mut ::sockgate::typed::Events) {
                #(#calls)*
            }
        }
    })
}
