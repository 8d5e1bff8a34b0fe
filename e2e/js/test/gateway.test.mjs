// Gateways end to end: the official socket.io-client against `gateway-testserver`
// (e2e/gateway-testserver), a GatewayApp with several gateways (see its main.rs):
//
//   /main          extractors, return values, validation, panics, internal errors
//   /lifecycle     after_init, async handle_connection (sleeps, sets data / fails / panics),
//                  handle_disconnect with the reason
//   /guarded       connection guard (auth.token == "secret"), class guard, route guard
//   /filters       gateway filter, route filter, global filter, default filter
//   /tenant/{id}   a dynamic namespace
//   own port       namespace "/" on a port of its own (GET /info), WebSocket only
//
// HTTP: /info, /after-init, /disconnects, /connections.
//
// Every assertion is about what the client receives on the wire.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import { startServer } from "../lib/server.mjs";
import { sleep, within } from "../lib/eio.mjs";

let server;
let url;
const open = new Set();

before(async () => {
  server = await startServer({ name: "gateway-testserver" });
  url = server.url;
});

after(async () => {
  for (const s of open) s.disconnect();
  await server?.stop();
});

afterEach(() => {
  for (const s of open) s.disconnect();
  open.clear();
});

/** A socket.io-client socket on `nsp` (own Manager), not yet connected. */
function client(nsp, opts = {}) {
  const socket = io(`${opts.base ?? url}${nsp}`, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    timeout: 5000,
    ...opts,
  });
  open.add(socket);
  return socket;
}

/** Connects, resolving with the socket, rejecting with the connect_error. */
function connected(socket) {
  return within(
    5000,
    new Promise((resolve, reject) => {
      if (socket.connected) return resolve(socket);
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    `connect to ${socket.nsp}`,
  );
}

async function connect(nsp, opts) {
  return connected(client(nsp, opts));
}

/** The next `event` on `socket` (its arguments as an array). */
function next(socket, event, ms = 3000) {
  return within(
    ms,
    new Promise((resolve) => socket.once(event, (...args) => resolve(args))),
    `event '${event}' on ${socket.nsp}`,
  );
}

/** Records every `event` received by `socket`. */
function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args.length === 1 ? args[0] : args));
  return seen;
}

function ack(socket, event, ...args) {
  return socket.timeout(3000).emitWithAck(event, ...args);
}

/** Asserts that the server never answers this ack (NestJS: no ack for nothing / emits / exceptions). */
async function noAck(socket, event, ...args) {
  await assert.rejects(socket.timeout(200).emitWithAck(event, ...args), /operation has timed out/);
}

async function getJson(path) {
  const res = await fetch(`${url}${path}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** Polls GET `path` until `pick(json)` is truthy. */
async function waitForJson(path, pick, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = pick(await getJson(path));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${path}: condition not met within ${ms} ms`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------------------------

describe("servers and namespaces", () => {
  test("several gateways on different namespaces share the application port (and one connection)", async () => {
    const main = client("/main");
    const manager = main.io;
    const lifecycle = manager.socket("/lifecycle", { query: { delay: "0" } });
    const filters = manager.socket("/filters");
    const guarded = manager.socket("/guarded", { auth: { token: "secret" } });
    for (const s of [lifecycle, filters, guarded]) {
      open.add(s);
      s.connect();
    }
    await Promise.all([main, lifecycle, filters, guarded].map(connected));
    assert.equal(await ack(main, "who"), "main");
    assert.equal(await ack(lifecycle, "who"), "lifecycle");
    assert.equal(await ack(filters, "who"), "filters");
    assert.equal(await ack(guarded, "who"), "guarded");
    // one Engine.IO session carries all four namespaces
    assert.equal(manager.engine.transport.name, "websocket");
    assert.equal(new Set([main, lifecycle, filters, guarded].map((s) => s.io)).size, 1);
  });

  test("the default transports (polling, then upgrade) work on the shared server", async () => {
    const s = await connect("/main", { transports: ["polling", "websocket"] });
    assert.equal(await ack(s, "who"), "main");
  });

  test("a gateway with its own port (GatewayOptions::port) and its own options", async () => {
    const { ownPort } = await getJson("/info");
    assert.equal(typeof ownPort, "number");
    assert.notEqual(ownPort, server.port);
    const base = `http://127.0.0.1:${ownPort}`;
    const s = await connect("/own", { base });
    assert.equal(await ack(s, "who"), "own-port");
    // its server is WebSocket only: polling is refused there ...
    const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 0, message: "Transport unknown" });
    // ... but not on the application port, which does not serve namespace /own
    const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(polling.status, 200);
    await assert.rejects(connect("/own"), { message: "Invalid namespace" });
  });

  test("dynamic namespace /tenant/{id}: hooks, handlers and broadcasts per tenant", async () => {
    const acme1 = await connect("/tenant/acme");
    const acme2 = await connect("/tenant/acme");
    const globex = await connect("/tenant/globex");
    assert.deepEqual(await ack(acme1, "whereami"), { nsp: "/tenant/acme", data: { tenant: "acme" } });
    assert.deepEqual(await ack(globex, "whereami"), { nsp: "/tenant/globex", data: { tenant: "globex" } });

    const globexShouts = record(globex, "shout");
    const got = Promise.all([next(acme1, "shout"), next(acme2, "shout")]);
    acme1.emit("shout", "hello acme");
    for (const [payload] of await got) assert.deepEqual(payload, { nsp: "/tenant/acme", body: "hello acme" });
    await sleep(150);
    assert.deepEqual(globexShouts, [], "a broadcast stays in its tenant");

    // the connection guard applies to every tenant
    await assert.rejects(connect("/tenant/forbidden"), { message: "tenant refused" });

    // handle_disconnect runs for dynamic namespaces too
    const id = globex.id;
    globex.disconnect();
    const entry = await waitForJson("/disconnects", (list) => list.find((d) => d.id === id));
    assert.deepEqual(entry, { gateway: "tenant", nsp: "/tenant/globex", id, reason: "client namespace disconnect" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("lifecycle hooks", () => {
  test("after_init ran for the gateway's namespace before any client (route and event)", async () => {
    const list = await getJson("/after-init");
    assert.ok(list.includes("/lifecycle"), JSON.stringify(list));
    const s = await connect("/lifecycle", { query: { delay: "0" } });
    assert.deepEqual(await ack(s, "after-init"), list);
  });

  test("messages wait for an async handle_connection (no race with authentication)", async () => {
    const s = client("/lifecycle", { query: { name: "alice", delay: "400" } });
    await connected(s);
    const connectedAt = Date.now();
    // sent right after the CONNECT reply, while handle_connection is still sleeping
    const data = await ack(s, "whoami");
    const waited = Date.now() - connectedAt;
    assert.deepEqual(data, { user: "alice", ready: true, delayMs: 400 });
    assert.ok(waited >= 250, `the message was handled after ${waited} ms, before the hook finished`);
    const phases = (await getJson("/connections")).filter((c) => c.id === s.id).map((c) => c.phase);
    assert.deepEqual(phases, ["start", "ready"]);
  });

  test("several messages sent during handle_connection are all handled after it", async () => {
    const s = client("/lifecycle", { query: { name: "bob", delay: "200" } });
    await connected(s);
    const answers = await Promise.all([ack(s, "whoami"), ack(s, "whoami"), ack(s, "who")]);
    assert.deepEqual(answers, [
      { user: "bob", ready: true, delayMs: 200 },
      { user: "bob", ready: true, delayMs: 200 },
      "lifecycle",
    ]);
  });

  test("handle_connection returning Err: `exception` (pattern handleConnection), then disconnected", async () => {
    const s = client("/lifecycle", { query: { fail: "nope", delay: "100" }, auth: { who: "mallory" } });
    const exception = next(s, "exception");
    const disconnected = next(s, "disconnect");
    await connected(s);
    const handled = record(s, "whoami");
    s.emit("whoami", (answer) => handled.push(answer)); // queued behind the hook, never handled
    const [payload] = await exception;
    assert.deepEqual(payload, {
      status: "error",
      message: "connection refused: nope",
      cause: { pattern: "handleConnection", data: { who: "mallory" } },
    });
    assert.equal((await disconnected)[0], "io server disconnect");
    await sleep(100);
    assert.deepEqual(handled, []);
  });

  test("a panic in handle_connection is caught and treated like an error", async () => {
    const s = client("/lifecycle", { query: { panic: "1" } });
    const exception = next(s, "exception");
    const disconnected = next(s, "disconnect");
    await connected(s);
    const [payload] = await exception;
    assert.deepEqual(payload, {
      status: "error",
      message: "Internal server error",
      cause: { pattern: "handleConnection", data: {} },
    });
    assert.equal((await disconnected)[0], "io server disconnect");
    // the server is fine
    const other = await connect("/lifecycle", { query: { delay: "0", name: "after-panic" } });
    assert.equal((await ack(other, "whoami")).user, "after-panic");
  });

  test("handle_disconnect receives the reason: client disconnect", async () => {
    const s = await connect("/lifecycle", { query: { delay: "0" } });
    const id = s.id;
    s.disconnect();
    const entry = await waitForJson("/disconnects", (list) => list.find((d) => d.id === id));
    assert.deepEqual(entry, { gateway: "lifecycle", nsp: "/lifecycle", id, reason: "client namespace disconnect" });
  });

  test("handle_disconnect receives the reason: server disconnect", async () => {
    const s = await connect("/lifecycle", { query: { delay: "0" } });
    const id = s.id;
    const disconnected = next(s, "disconnect");
    s.emit("kick");
    assert.equal((await disconnected)[0], "io server disconnect");
    const entry = await waitForJson("/disconnects", (list) => list.find((d) => d.id === id));
    assert.equal(entry.reason, "server namespace disconnect");
  });

  test("handle_disconnect receives the reason: transport close", async () => {
    const s = await connect("/lifecycle", { query: { delay: "0" } });
    const id = s.id;
    s.io.engine.close();
    const entry = await waitForJson("/disconnects", (list) => list.find((d) => d.id === id));
    assert.equal(entry.reason, "transport close");
  });
});

// ---------------------------------------------------------------------------------------------

describe("extractors", () => {
  let s;
  before(async () => {
    s = await connect("/main", { query: { name: "quinn" }, auth: { token: "t0k" } });
    open.delete(s); // kept for the whole group
  });
  after(() => s?.disconnect());

  test("MessageBody<T>: typed with serde", async () => {
    assert.deepEqual(await ack(s, "body-typed", { x: 2, y: 3 }), { sum: 5 });
  });

  test("MessageBody<T>: a body of the wrong type is a readable exception, and no ack", async () => {
    const exception = next(s, "exception");
    await noAck(s, "body-typed", "not a point");
    const [payload] = await exception;
    assert.equal(payload.status, "error");
    assert.equal(payload.message, "Validation failed");
    assert.equal(payload.errors.length, 1);
    assert.equal(payload.errors[0].field, "body");
    assert.match(payload.errors[0].messages[0], /expected struct Point/);
    assert.deepEqual(payload.cause, { pattern: "body-typed", data: "not a point" });
  });

  test("MessageBody: one argument as is, several as an array (NestJS), none as null", async () => {
    assert.deepEqual(await ack(s, "body", "x"), { body: "x" });
    assert.deepEqual(await ack(s, "body", "x", "y"), { body: ["x", "y"] });
    assert.deepEqual(await ack(s, "body", { a: [1, 2] }, 3, null), { body: [{ a: [1, 2] }, 3, null] });
    assert.deepEqual(await ack(s, "body"), { body: null });
  });

  test("Prop: one property of the body", async () => {
    assert.equal(await ack(s, "prop", { name: "bob", other: 1 }), "hello bob");
    const exception = next(s, "exception");
    await noAck(s, "prop", { other: 1 });
    const [payload] = await exception;
    assert.equal(payload.message, "Validation failed");
    assert.equal(payload.errors[0].field, "name");
  });

  test("Args: several arguments as a tuple", async () => {
    assert.deepEqual(await ack(s, "args", "a", 2, true), { a: "a", b: 2, c: true });
    const exception = next(s, "exception");
    await noAck(s, "args", "a", "not a number", true);
    const [payload] = await exception;
    assert.equal(payload.errors[0].field, "args");
    assert.deepEqual(payload.cause, { pattern: "args", data: ["a", "not a number", true] });
  });

  test("ConnectedSocket / SocketRef: the caller, whose id is the client's socket.id", async () => {
    assert.deepEqual(await ack(s, "socket"), { id: s.id, nsp: "/main" });
    assert.equal(await ack(s, "socket-ref"), s.id);
    assert.notEqual(s.id, s.io.engine.id, "the namespace socket id is not the engine sid");
  });

  test("Ack: answered by the handler; the return value is not sent as the ack", async () => {
    assert.equal(await ack(s, "ack-manual"), "manual");
  });

  test("WsServer: emits to every socket of the namespace, and only there", async () => {
    const other = await connect("/main");
    const elsewhere = await connect("/filters");
    const elsewhereSeen = record(elsewhere, "broadcast");
    const got = Promise.all([next(s, "broadcast"), next(other, "broadcast")]);
    s.emit("ws-server", { hello: 1 });
    for (const [payload] of await got) assert.deepEqual(payload, { nsp: "/main", body: { hello: 1 } });
    await sleep(100);
    assert.deepEqual(elsewhereSeen, []);
  });

  test("State: application state", async () => {
    const first = await ack(s, "state");
    const second = await ack(s, "state");
    assert.equal(first.name, "gateway-testserver");
    assert.equal(second.hits, first.hits + 1);
  });

  test("Query: the handshake query", async () => {
    const q = await ack(s, "query");
    assert.equal(q.name, "quinn");
    assert.deepEqual(q.tags, []);
    assert.equal(q.all.name, "quinn");
    assert.equal(q.all.EIO, "4");
    assert.equal(q.all.transport, "websocket");
  });

  test("Auth: the CONNECT auth payload, typed; missing fields are an exception", async () => {
    assert.equal(await ack(s, "auth"), "token=t0k");
    const anonymous = await connect("/main");
    const exception = next(anonymous, "exception");
    await noAck(anonymous, "auth");
    const [payload] = await exception;
    assert.equal(payload.message, "Validation failed");
    assert.equal(payload.errors[0].field, "auth");
    assert.match(payload.errors[0].messages[0], /missing field `token`/);
  });

  test("Pattern: the event name", async () => {
    assert.equal(await ack(s, "pattern-a"), "pattern-a");
    assert.equal(await ack(s, "pattern-b"), "pattern-b");
  });
});

// ---------------------------------------------------------------------------------------------

describe("return values", () => {
  let s;
  before(async () => {
    s = await connect("/main");
    open.delete(s);
  });
  after(() => s?.disconnect());

  test("nothing (`()` or None) sends nothing, not even an ack", async () => {
    const exceptions = record(s, "exception");
    await noAck(s, "nothing", "x");
    await noAck(s, "none");
    assert.deepEqual(exceptions, []);
  });

  test("a value is the ack (sync, async and Ok)", async () => {
    assert.equal(await ack(s, "value"), "a value");
    assert.deepEqual(await ack(s, "async-value", 7), { later: 7 });
    assert.equal(await ack(s, "result-ok"), "fine");
  });

  test("WsResponse emits its event to the caller, and is not an ack", async () => {
    const event = next(s, "reply-event");
    await noAck(s, "ws-response", 1);
    assert.deepEqual(await event, [{ echo: 1 }]);
  });

  test("a struct with a field named `event` (Json) is an ack, not an emit", async () => {
    const created = record(s, "created");
    assert.deepEqual(await ack(s, "event-field"), { event: "created", data: 42 });
    await sleep(150);
    assert.deepEqual(created, []);
  });

  test("WsStream: each WsResponse is emitted in order, the first plain value is the ack", async () => {
    const ticks = record(s, "tick");
    const answer = await ack(s, "stream", 3);
    assert.equal(answer, "done");
    assert.deepEqual(ticks, [1, 2, 3], "the events arrive before the ack that follows them");
    await sleep(100);
    assert.deepEqual(ticks, [1, 2, 3]);
  });

  test("WsStream without an ack requested: only the events", async () => {
    const ticks = record(s, "tick");
    s.emit("stream", 2);
    await waitFor(() => ticks.length === 2);
    assert.deepEqual(ticks, [1, 2]);
  });

  test("Result Err goes to the exception filters, and there is no ack", async () => {
    const exception = next(s, "exception");
    await noAck(s, "result-err", "payload");
    assert.deepEqual(await exception, [
      { status: "error", message: "bad thing", cause: { pattern: "result-err", data: "payload" } },
    ]);
  });
});

async function waitFor(cond, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met");
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------

describe("guards", () => {
  test("connection guard: refused with connect_error (message and data)", async () => {
    const err = await connect("/guarded", { auth: { token: "wrong" } }).then(
      () => assert.fail("connected"),
      (e) => e,
    );
    assert.equal(err.message, "unauthorized");
    assert.deepEqual(err.data, { hint: "connect with auth.token", got: "wrong" });
    const none = await connect("/guarded").then(
      () => assert.fail("connected"),
      (e) => e,
    );
    assert.deepEqual(none.data, { hint: "connect with auth.token", got: null });
    const ok = await connect("/guarded", { auth: { token: "secret" } });
    assert.equal(await ack(ok, "who"), "guarded");
  });

  test("message guard on a handler: `exception` Forbidden resource with its cause, no ack", async () => {
    const s = await connect("/guarded", { auth: { token: "secret" } });
    const exception = next(s, "exception");
    await noAck(s, "admin", { role: "user" });
    assert.deepEqual(await exception, [
      { status: "error", message: "Forbidden resource", cause: { pattern: "admin", data: { role: "user" } } },
    ]);
    assert.equal(await ack(s, "admin", { role: "admin" }), "welcome admin");
  });

  test("message guard on the gateway: applies to every handler", async () => {
    const readonly = await connect("/guarded", { auth: { token: "secret", role: "readonly" } });
    assert.equal(await ack(readonly, "read"), "read ok");
    const exception = next(readonly, "exception");
    await noAck(readonly, "write", 1);
    assert.deepEqual(await exception, [
      { status: "error", message: "Forbidden resource", cause: { pattern: "write", data: 1 } },
    ]);
    const writer = await connect("/guarded", { auth: { token: "secret", role: "writer" } });
    assert.equal(await ack(writer, "write", 1), "write ok");
  });
});

// ---------------------------------------------------------------------------------------------

describe("validation", () => {
  test("Valid<T>: a valid body reaches the handler", async () => {
    const s = await connect("/main");
    assert.deepEqual(await ack(s, "validate", { name: "alice", email: "alice@example.com", age: 30 }), {
      created: "alice",
      email: "alice@example.com",
      age: 30,
    });
  });

  test("Valid<T>: failures are a readable `exception` listing every field (not Internal server error)", async () => {
    const s = await connect("/main");
    const exception = next(s, "exception");
    const body = { name: "al", email: "not-an-email", age: 12 };
    await noAck(s, "validate", body);
    const [payload] = await exception;
    assert.deepEqual(payload, {
      status: "error",
      message: "Validation failed",
      errors: [
        { field: "age", messages: ["failed the `range` check"] },
        { field: "email", messages: ["failed the `email` check"] },
        { field: "name", messages: ["name must have at least 3 characters"] },
      ],
      cause: { pattern: "validate", data: body },
    });
  });

  test("Valid<T>: a body that does not even deserialize is a readable exception too", async () => {
    const s = await connect("/main");
    const exception = next(s, "exception");
    await noAck(s, "validate", { name: "alice" });
    const [payload] = await exception;
    assert.equal(payload.message, "Validation failed");
    assert.equal(payload.errors[0].field, "body");
    assert.match(payload.errors[0].messages[0], /missing field `email`/);
  });
});

// ---------------------------------------------------------------------------------------------

describe("exception filters", () => {
  test('default filter: {"status":"error","message":...,"cause":{"pattern":...,"data":...}}', async () => {
    const s = await connect("/filters");
    const exception = next(s, "exception");
    await noAck(s, "plain", "hi");
    assert.deepEqual(await exception, [
      { status: "error", message: "plain: the default filter", cause: { pattern: "plain", data: "hi" } },
    ]);
  });

  test("a custom filter of the gateway replaces the default one", async () => {
    const s = await connect("/filters");
    const exceptions = record(s, "exception");
    const custom = next(s, "custom-error");
    s.emit("custom", { n: 1 });
    assert.deepEqual(await custom, [
      {
        filter: "gateway",
        message: "custom: caught by the gateway filter",
        pattern: "custom",
        data: { n: 1 },
      },
    ]);
    await sleep(100);
    assert.deepEqual(exceptions, []);
  });

  test("a handler's own filter runs before the gateway's", async () => {
    const s = await connect("/filters");
    const customs = record(s, "custom-error");
    const route = next(s, "route-error");
    s.emit("route-filtered");
    assert.deepEqual(await route, [{ filter: "route", message: "custom: the route filter runs first" }]);
    await sleep(100);
    assert.deepEqual(customs, []);
  });

  test("a global filter (GatewayApp::use_global_filter) applies to every gateway", async () => {
    const filters = await connect("/filters");
    const fromFilters = next(filters, "global-error");
    filters.emit("global");
    assert.deepEqual(await fromFilters, [
      { filter: "global", message: "global: caught by the global filter", pattern: "global", nsp: "/filters" },
    ]);
    const main = await connect("/main");
    const exceptions = record(main, "exception");
    const fromMain = next(main, "global-error");
    main.emit("global-main");
    assert.deepEqual(await fromMain, [
      { filter: "global", message: "global: from main", pattern: "global-main", nsp: "/main" },
    ]);
    await sleep(100);
    assert.deepEqual(exceptions, []);
  });

  test("a filter that panics is skipped; the next one handles the exception", async () => {
    const s = await connect("/filters");
    const exception = next(s, "exception");
    s.emit("filter-panics");
    assert.deepEqual(await exception, [
      { status: "error", message: "plain: after a panicking filter", cause: { pattern: "filter-panics", data: null } },
    ]);
  });

  test("WsException::object is sent as is (no status, no cause)", async () => {
    const s = await connect("/main");
    const exception = next(s, "exception");
    await noAck(s, "object-exception", "x");
    assert.deepEqual(await exception, [{ code: 42, reason: "sent as is" }]);
  });

  test('an internal error reaches the client as "Internal server error" only', async () => {
    const s = await connect("/main");
    const exception = next(s, "exception");
    await noAck(s, "internal");
    assert.deepEqual(await exception, [
      { status: "error", message: "Internal server error", cause: { pattern: "internal", data: null } },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("panics", () => {
  for (const event of ["panic", "panic-async"]) {
    test(`a handler that panics (${event}) is treated like an error; the socket keeps working`, async () => {
      const s = await connect("/main");
      const disconnects = record(s, "disconnect");
      const exception = next(s, "exception");
      await noAck(s, event, "boom");
      assert.deepEqual(await exception, [
        {
          status: "error",
          message: "Internal server error",
          cause: { pattern: event, data: "boom" },
        },
      ]);
      // later events are still answered, on the same socket
      assert.equal(await ack(s, "value"), "a value");
      assert.deepEqual(await ack(s, "body-typed", { x: 1, y: 1 }), { sum: 2 });
      // and the same event again: still handled (not silenced)
      const again = next(s, "exception");
      s.emit(event, "again");
      await again;
      assert.equal(await ack(s, "value"), "a value");
      assert.ok(s.connected);
      assert.deepEqual(disconnects, []);
    });
  }
});
