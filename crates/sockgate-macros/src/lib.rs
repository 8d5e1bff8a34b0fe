//! `#[gateway]` and `#[subscribe_message]`: NestJS's `@WebSocketGateway` and
//! `@SubscribeMessage` as sugar over sockgate's plain gateway API.
//!
//! Use them through `sockgate::gateway::{gateway, subscribe_message}` (the `macros` feature of
//! `sockgate`, on by default). They expand to an ordinary `impl sockgate::gateway::Gateway`,
//! so everything they write can also be written by hand, and the two styles mix.
//!
//! The seed gateway, in NestJS:
//!
//! ```ts
//! @WebSocketGateway({ namespace: '/example', transports: ['websocket'], cors: { origin: '*' } })
//! export class ExampleGateway implements OnGatewayConnection, OnGatewayDisconnect {
//!   @WebSocketServer() io: Server;
//!   handleConnection(client: Socket) { console.log(`client connected: ${client.id}`); }
//!   handleDisconnect(client: Socket) { console.log(`client disconnected: ${client.id}`); }
//!   @SubscribeMessage('message')
//!   handleTestMessage(@MessageBody() message: string, @ConnectedSocket() client: Socket) {
//!     const username = client.handshake.query.name[0];
//!     this.io.emit('message', `${username} : ${message}`);
//!   }
//! }
//! ```
//!
//! and with the macros:
//!
//! ```
//! use sockgate::gateway::{gateway, subscribe_message, WsException};
//! use sockgate::{DisconnectReason, NamespaceRef, SocketRef};
//!
//! struct ExampleGateway;
//!
//! #[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
//! impl ExampleGateway {
//!     fn handle_connection(&self, client: SocketRef) {
//!         println!("client connected: {}", client.id());
//!     }
//!
//!     fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
//!         println!("client disconnected: {} ({reason})", client.id());
//!     }
//!
//!     #[subscribe_message("message")]
//!     fn handle_test_message(
//!         &self,
//!         #[message_body] message: String,
//!         #[connected_socket] client: SocketRef,
//!         #[ws_server] io: NamespaceRef,
//!     ) -> Result<(), WsException> {
//!         let username = client.handshake().query().get("name").ok_or("name is required")?;
//!         io.emit("message", &format!("{username} : {message}"))?;
//!         Ok(())
//!     }
//! }
//!
//! let gateways = sockgate::gateway::GatewayApp::new().gateway(ExampleGateway).build();
//! assert!(gateways.is_ok());
//! ```
//!
//! # `#[gateway(...)]`
//!
//! Goes on an inherent `impl` block of the gateway type and writes `impl Gateway` for it.
//! Its `options()` builds a `GatewayOptions` from these keys (all optional), each calling the
//! `GatewayOptions` setter of the same name (any other option: `options_from`):
//!
//! | key | value | NestJS |
//! |---|---|---|
//! | `namespace` | `"/example"` | `namespace` |
//! | `dynamic_namespace` | `"/tenant/{id}"` | `namespace: /regex/` |
//! | `port` | `3001` (none: the application's port) | `@WebSocketGateway(3001)` |
//! | `path` | `"/ws/"` | `path` |
//! | `transports` | `["websocket"]`, `["polling"]`, or both | `transports` |
//! | `cors(...)` | `origin = "*"` / `"https://a.example"` / `[..]` / `true` (reflect), `credentials = true`, `methods = ["GET", "POST"]`, `allowed_headers = [..]`, `exposed_headers = [..]`, `max_age = 600` | `cors` |
//! | `ping_interval`, `ping_timeout`, `connect_timeout`, `upgrade_timeout`, `ack_timeout` | milliseconds | `pingInterval`... |
//! | `write_coalescing`, `websocket_write_timeout`, `pending_attachments_timeout`, `http_request_body_timeout` | milliseconds | none (`httpRequestBodyTimeout` for the last) |
//! | `max_http_buffer_size` | bytes | `maxHttpBufferSize` |
//! | `max_buffered_bytes`, `max_decoded_bytes`, `max_pending_attachment_bytes` | bytes | none |
//! | `max_attachments` | a count | socket.io-parser's `maxAttachments` |
//! | `allow_upgrades` | `true` / `false` | `allowUpgrades` |
//! | `trust_proxy`, `cleanup_empty_child_namespaces` | `true` / `false` | `trust proxy`, `cleanupEmptyChildNamespaces` |
//! | `allowed_origins` | `["https://a.example", ..]` | none (an origin check that covers WebSockets) |
//! | `parser` | `"json"` / `"msgpack"` | `parser` |
//! | `connection_state_recovery` | `true`, or `(max_disconnection_duration = ms, skip_middlewares = bool)` | `connectionStateRecovery` |
//! | `options_from` | `path::to_fn`, a `fn(&Self) -> GatewayOptions` called at startup (alone: it returns every option) | none: NestJS #15536, #5244 |
//! | `guard` | `path::to_fn`, a `fn(&GatewayContext) -> bool` for every message (repeatable) | `@UseGuards` on the class |
//! | `filter` | an `ExceptionFilter` value for every handler (repeatable) | `@UseFilters` on the class |
//!
//! In the block:
//!
//! - a method marked `#[subscribe_message("event")]` is registered for `event`
//!   (`router.subscribe_message("event", Self::method)`); it takes `&self`, or
//!   `self: Arc<Self>` when `async`, then up to six extractors. Add
//!   `#[subscribe_message("event", guard = path::to_fn, filter = MyFilter)]` for per-handler
//!   guards and filters (`@UseGuards`, `@UseFilters` on the method).
//! - handler parameters may use NestJS-style attributes instead of extractor patterns:
//!   `#[message_body] x: T` (`MessageBody(x): MessageBody<T>`), `#[message_body("prop")] x: T`
//!   (`Prop(x, _): Prop<Key, T>` with a generated key type), `#[connected_socket] s: SocketRef`,
//!   `#[ack] a: AckSender`, `#[ws_server] io: NamespaceRef`. Plain extractors work as well.
//! - methods named `after_init`, `handle_connection` and `handle_disconnect` become the hooks:
//!   `fn after_init(&self[, namespace: &NamespaceRef])`,
//!   `[async] fn handle_connection(&self | self: Arc<Self>, socket: SocketRef)
//!   [-> Result<(), E>]` (any `E: Into<WsException>`), and
//!   `fn handle_disconnect(&self, socket: SocketRef[, reason: DisconnectReason])`.
//! - a `fn register(router: &mut GatewayRouter<Self>)` runs after the generated registrations,
//!   for whatever the attributes do not say (connection guards, more routes...).
//!
//! Mistakes are compile errors pointing at the code: unknown keys, values of the wrong type,
//! unknown transports, a `#[subscribe_message]` without an event name or with a duplicate or
//! reserved one, handlers or hooks with a signature the gateway cannot call, and `#[gateway]`
//! anywhere but on an inherent `impl` block.
//!
//! # `#[derive(Event)]` and `#[derive(Contract)]`
//!
//! The impls of `sockgate::typed` (feature `typed`), re-exported there:
//!
//! - `#[derive(Event)] #[event(name = "message", payload = String, server_to_client,
//!   client_to_server(ack = Delivered))]` on a unit struct writes `Event` and one impl per
//!   direction (`ServerToClient`, `ClientToServer`, `InterServer`), each with its ack type
//!   (`NoAck` when none is given). A reserved or empty name is a compile error.
//! - `#[derive(Contract)] #[contract(namespace = "/chat", server_to_client(A, B),
//!   client_to_server(C), inter_server(D))]` writes `Contract` (`name = "..."` renames it in
//!   the generated files). An event listed in a direction it does not implement is a compile
//!   error.
//! - In a gateway, `#[subscribe_message(event = Message)]` subscribes to a declared
//!   client-to-server event by its marker instead of its name.

mod gateway;
mod options;
mod typed;

use proc_macro::TokenStream;
use syn::parse::Parser;

/// NestJS's `@WebSocketGateway(...)` on an inherent `impl` block: writes
/// `impl sockgate::gateway::Gateway` from the attribute's options, the block's
/// `#[subscribe_message]` methods and its hook methods. See the crate docs for the keys.
///
/// ```
/// use std::sync::Arc;
/// use sockgate::gateway::{gateway, subscribe_message};
///
/// struct Echo;
///
/// #[gateway(namespace = "/echo", cors(origin = ["https://app.example"], credentials = true))]
/// impl Echo {
///     #[subscribe_message("echo")]
///     fn echo(&self, #[message_body] text: String) -> String {
///         text
///     }
///
///     #[subscribe_message("greet")]
///     async fn greet(self: Arc<Self>, #[message_body("name")] name: String) -> String {
///         format!("hello {name}")
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn gateway(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut args = options::GatewayArgs::default();
    let parsed = syn::meta::parser(|meta| args.parse_meta(meta)).parse(attr);
    let error = parsed
        .err()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    let expanded = gateway::expand(&args, item.into());
    quote::quote!(#error #expanded).into()
}

/// NestJS's `@SubscribeMessage("event")`, on a method of an `impl` block marked
/// `#[gateway(...)]`, which reads it: `#[subscribe_message("event")]`, optionally with
/// `guard = path::to_fn` and `filter = MyFilter`. Anywhere else it is a compile error.
#[proc_macro_attribute]
pub fn subscribe_message(attr: TokenStream, item: TokenStream) -> TokenStream {
    if attr.to_string() == gateway::CHECKED_MARKER {
        // Read by `#[gateway]` already.
        return item;
    }
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[subscribe_message] only works on a method of an `impl` block marked #[gateway(...)]; \
         without the macro, call `router.subscribe_message(\"event\", Self::method)` in \
         `Gateway::register`",
    )
    .to_compile_error();
    let item = proc_macro2::TokenStream::from(item);
    // Drop the parameter attributes `#[gateway]` would have read, so the error stands alone.
    let item = match syn::parse2::<syn::ImplItemFn>(item.clone()) {
        Ok(mut method) => {
            for arg in method.sig.inputs.iter_mut() {
                if let syn::FnArg::Typed(typed) = arg {
                    typed.attrs.retain(|attr| {
                        !attr.path().get_ident().is_some_and(|ident| {
                            ["message_body", "connected_socket", "ack", "ws_server"]
                                .iter()
                                .any(|name| ident == name)
                        })
                    });
                }
            }
            quote::ToTokens::into_token_stream(method)
        }
        Err(_) => item,
    };
    quote::quote!(#error #item).into()
}

/// Writes `sockgate::typed::Event` and its direction impls from `#[event(...)]`: see the crate
/// docs.
///
/// ```
/// use sockgate::typed::{Event, ServerToClient};
///
/// #[derive(Clone, Copy, Event)]
/// #[event(name = "joined", payload = String, server_to_client)]
/// struct Joined;
///
/// assert_eq!(<Joined as Event>::NAME, "joined");
/// ```
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(item).and_then(typed::derive_event) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Writes `sockgate::typed::Contract` from `#[contract(...)]`: see the crate docs.
///
/// ```
/// use sockgate::typed::{Contract, Event};
///
/// #[derive(Clone, Copy, Event)]
/// #[event(name = "joined", payload = String, server_to_client)]
/// struct Joined;
///
/// #[derive(Contract)]
/// #[contract(namespace = "/chat", server_to_client(Joined))]
/// struct Chat;
///
/// assert_eq!(<Chat as Contract>::NAMESPACE, "/chat");
/// ```
#[proc_macro_derive(Contract, attributes(contract))]
pub fn derive_contract(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(item).and_then(typed::derive_contract) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}
