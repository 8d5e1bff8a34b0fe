// Gateway hardening end to end (issue 8): the official socket.io-client against
// `gateway-testserver` (e2e/gateway-testserver/src/main.rs).
//
//   /ordered       an async handle_connection of ?delay= ms (default 200), ?fail refuses;
//                  `seq` records its body in arrival order (GET /order/{id}); `point` takes a
//                  typed body
//   /main          `body-typed` takes MessageBody<Point>
//   /filters       `typed-filtered`: a typed body with a route filter
//   /plain         the plain API (no gateway): `typed` takes Data<Point>
//   /rooms         a connection guard joins `lobby`, the next one refuses when auth.refuse
//   /tenant/{id}   a dynamic namespace
//
// Every "did not happen" check is ordered against a positive control that did happen after it.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import { startServer } from "../lib/server.mjs";
import { RawWs, sleep, within } from "../lib/eio.mjs";

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
  const socket = io(`${url}${nsp}`, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    timeout: 5000,
    ...opts,
  });
  open.add(socket);
  return socket;
}

/** Resolves with the socket once connected, rejects with the connect_error. */
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
  const got = [];
  socket.on(event, (...args) => got.push(args.length === 1 ? args[0] : args));
  return got;
}

async function getJson(path) {
  const res = await fetch(`${url}${path}`);
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

/** Polls GET /order/{id} until `done(list)` (bounded), returning the last list. */
async function orderOf(id, done, ms = 5000) {
  const deadline = Date.now() + ms;
  let list = null;
  while (Date.now() < deadline) {
    list = await getJson(`/order/${id}`);
    if (list && done(list)) return list;
    await sleep(25);
  }
  return list;
}

/** Waits until `cond()` is true (bounded). */
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const seq = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("#12 early messages keep their arrival order behind the connection gate", () => {
  for (const transport of ["websocket", "polling"]) {
    test(`${transport}: 50 events emitted right after connecting are handled in order, after handle_connection`, async () => {
      const s = client("/ordered", { transports: [transport] });
      s.on("connect", () => {
        for (let i = 1; i <= 50; i++) s.emit("seq", i);
      });
      await connected(s);
      const list = await orderOf(s.id, (l) => l.length >= 51);
      assert.equal(list.length, 51, JSON.stringify(list));
      // The hook finished first (its record), then every message in arrival order, each
      // seeing the state the hook set.
      assert.equal(list[0], "ready");
      assert.deepEqual(
        list.slice(1).map((e) => e.n),
        seq(1, 50),
      );
      assert.ok(list.slice(1).every((e) => e.ready === true), JSON.stringify(list));
    });
  }

  test("events buffered by the client before the connect (its send buffer) keep their order too", async () => {
    const s = client("/ordered", { autoConnect: false });
    for (let i = 1; i <= 20; i++) s.emit("seq", i);
    s.connect();
    await connected(s);
    const list = await orderOf(s.id, (l) => l.length >= 21);
    assert.deepEqual(list, ["ready", ...seq(1, 20).map((n) => ({ n, ready: true }))]);
  });

  test("messages after the gate opened follow the drained ones, and acks keep that order", async () => {
    const s = client("/ordered", { query: { delay: "150" } });
    const acks = [];
    s.on("connect", () => {
      for (let i = 1; i <= 30; i++) s.emit("seq", i, (n) => acks.push(n));
    });
    await connected(s);
    await sleep(120); // the gate is still closed: these queue behind the first 30
    for (let i = 31; i <= 60; i++) s.emit("seq", i, (n) => acks.push(n));
    await until(() => acks.length === 60, 5000, "60 acks");
    assert.deepEqual(acks, seq(1, 60));
    const list = await orderOf(s.id, (l) => l.length >= 61);
    assert.deepEqual(
      list.slice(1).map((e) => e.n),
      seq(1, 60),
    );
  });

  test("a refused gate drops the queued messages: none is handled after the hook's refusal", async () => {
    const s = client("/ordered", { query: { fail: "1" } });
    const exception = next(s, "exception");
    const disconnected = next(s, "disconnect");
    s.on("connect", () => {
      for (let i = 1; i <= 10; i++) s.emit("seq", i);
    });
    await connected(s);
    const id = s.id;
    const [payload] = await exception;
    assert.equal(payload.message, "refused after a slow check");
    assert.equal(payload.cause.pattern, "handleConnection");
    const [reason] = await disconnected;
    assert.equal(reason, "io server disconnect");
    // Positive control: the hook's own record, written once the messages were queued (the
    // client sent them ~200 ms earlier), is there, and no message was handled.
    const list = await orderOf(id, (l) => l.length >= 1);
    assert.deepEqual(list, ["refused"]);
  });

  test("the early queue is bounded in count: past 256 messages the rest get an `exception`", async () => {
    const s = client("/ordered", { query: { delay: "300" } });
    const exceptions = record(s, "exception");
    s.on("connect", () => {
      for (let i = 1; i <= 300; i++) s.emit("seq", i);
    });
    await connected(s);
    const list = await orderOf(s.id, (l) => l.length >= 257);
    assert.equal(list[0], "ready");
    assert.deepEqual(
      list.slice(1).map((e) => e.n),
      seq(1, 256),
    );
    await until(() => exceptions.length >= 44, 3000, "44 exceptions");
    assert.equal(exceptions.length, 44);
    assert.ok(
      exceptions.every((e) => /before the connection was ready/.test(e.message)),
      JSON.stringify(exceptions[0]),
    );
    assert.deepEqual(
      exceptions.map((e) => e.cause.data),
      seq(257, 300),
    );
    // Positive control after the refusals: the socket works normally once ready.
    assert.equal(await s.timeout(3000).emitWithAck("seq", 301), 301);
  });

  test("the early queue is bounded in bytes (1 MiB): large early messages past it get an `exception`", async () => {
    const s = client("/ordered", { query: { delay: "300" } });
    const exceptions = record(s, "exception");
    const pad = "x".repeat(400_000);
    s.on("connect", () => {
      for (let n = 1; n <= 4; n++) s.emit("seq", { n, pad });
    });
    await connected(s);
    const list = await orderOf(s.id, (l) => l.length >= 3);
    // Bounds are generous: 1.6 MB of early messages through a debug build on a loaded machine.
    await until(() => exceptions.length >= 2, 10_000, "2 exceptions");
    // Positive control: a small message after the big ones is handled after the drain.
    assert.equal(await s.timeout(10_000).emitWithAck("seq", 5), 5);
    const final = await orderOf(s.id, (l) => l.length >= 4);
    assert.deepEqual(
      final.slice(1).map((e) => e.n),
      [1, 2, 5],
      JSON.stringify(list),
    );
    assert.equal(exceptions.length, 2);
    assert.deepEqual(
      exceptions.map((e) => e.cause.data.n),
      [3, 4],
    );
  });
});

describe("#11 an extractor rejection answers with `exception`, promptly", () => {
  test("gateway: MessageBody<Point> with the wrong shape, sent with emitWithAck: `exception` with the cause well before the ack timeout", async () => {
    const s = await connected(client("/main"));
    const exception = next(s, "exception", 1000);
    const started = Date.now();
    const ack = s.timeout(5000).emitWithAck("body-typed", "not a point");
    ack.catch(() => {}); // NestJS never answers the ack of a failed handler
    const [payload] = await exception;
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `exception after ${elapsed} ms`);
    assert.equal(payload.status, "error");
    assert.equal(payload.message, "Validation failed");
    assert.equal(payload.errors[0].field, "body");
    assert.deepEqual(payload.cause, { pattern: "body-typed", data: "not a point" });
    // Positive control: the right shape is acked.
    assert.deepEqual(await s.timeout(3000).emitWithAck("body-typed", { x: 2, y: 3 }), { sum: 5 });
  });

  test("gateway: a rejection goes through the exception filters (a route filter answers it)", async () => {
    const s = await connected(client("/filters"));
    const defaults = record(s, "exception");
    const routeError = next(s, "route-error", 1000);
    s.emit("typed-filtered", { x: "one" });
    const [payload] = await routeError;
    assert.deepEqual(payload, {
      filter: "route",
      message: "Validation failed",
      pattern: "typed-filtered",
      data: { x: "one" },
    });
    // Positive control after it: a correct call is acked, and the default filter never ran.
    assert.equal(await s.timeout(3000).emitWithAck("typed-filtered", { x: 1, y: 2 }), 3);
    assert.deepEqual(defaults, []);
  });

  test("gateway: a rejected early message (queued behind handle_connection) gets its `exception` once the gate opens", async () => {
    const s = client("/ordered");
    const exception = next(s, "exception", 2000);
    let started;
    s.on("connect", () => {
      started = Date.now();
      s.timeout(5000)
        .emitWithAck("point", "not a point")
        .catch(() => {});
    });
    await connected(s);
    const [payload] = await exception;
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1500, `exception after ${elapsed} ms`);
    assert.equal(payload.message, "Validation failed");
    assert.deepEqual(payload.cause, { pattern: "point", data: "not a point" });
    assert.equal(await s.timeout(3000).emitWithAck("point", { x: 4, y: 5 }), 9);
  });

  test("plain API: a rejected Data<Point> is logged at warn with the socket id, event and rejection; the handler does not run", async () => {
    const s = await connected(client("/plain"));
    const badAcks = [];
    s.emit("typed", "not a point", (...args) => badAcks.push(args));
    // Positive control: handled after the rejected one on the same socket.
    assert.equal(await s.timeout(3000).emitWithAck("typed", { x: 1, y: 2 }), 3);
    assert.deepEqual(badAcks, []);
    // The server's stderr reaches this process on its own schedule: wait for the line.
    const find = () =>
      server
        .logs()
        .replace(/\x1b\[[0-9;]*m/g, "")
        .split("\n")
        .find((l) => l.includes(s.id) && l.includes("extractor rejected"));
    await until(() => find() !== undefined, 3000, `a warn line for socket ${s.id}`).catch(() => {});
    const line = find();
    assert.ok(line, `no warn line for socket ${s.id} in:\n${server.logs().slice(-2000)}`);
    assert.match(line, /WARN/);
    assert.match(line, /event=typed/);
    assert.match(line, /invalid message data/);
  });
});

describe("socketioxide's fixes, checked against gateways", () => {
  test("a connection guard that refuses after another one joined a room leaves no trace in the adapter", async () => {
    const a = await connected(client("/rooms"));
    const refused = client("/rooms", { auth: { refuse: true } });
    const error = await connected(refused).then(
      () => assert.fail("connected"),
      (e) => e,
    );
    assert.equal(error.message, "refused after joining a room");
    const refusedId = error.data.id;
    assert.ok(refusedId);
    // Positive control: the accepted socket is in the lobby and its own room.
    assert.deepEqual(await a.timeout(3000).emitWithAck("rooms"), [a.id, "lobby"].sort());
    assert.deepEqual(await a.timeout(3000).emitWithAck("rooms-of", a.id), [a.id, "lobby"].sort());
    assert.deepEqual(await a.timeout(3000).emitWithAck("rooms-of", refusedId), []);
  });

  test("a duplicate CONNECT closes the connection; it never re-runs the guards and handle_connection", async () => {
    const starts = async () => (await getJson("/connections")).filter((c) => c.phase === "start").length;
    const before = await starts();
    const raw = new RawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    try {
      assert.match(await raw.nextData(), /^0\{/);
      raw.send("40/lifecycle,{}");
      const ack = await raw.nextData();
      assert.match(ack, /^40\/lifecycle,\{"sid":"/);
      raw.send("40/lifecycle,{}");
      await raw.waitClose(3000);
    } finally {
      raw.terminate();
    }
    // Positive control: the first CONNECT's hook ran (once).
    await sleep(50);
    assert.equal((await starts()) - before, 1);
  });

  test("a dynamic child namespace served again after its sockets left still runs the gateway's handlers", async () => {
    // With empty-child cleanup the child is freed and created anew: the gateway must bind its
    // handlers on the new child (it once remembered names forever and would have skipped it).
    for (let round = 0; round < 3; round++) {
      const s = await connected(client("/tenant/rebound"));
      const reply = await s.timeout(3000).emitWithAck("whereami");
      assert.deepEqual(reply, { nsp: "/tenant/rebound", data: { tenant: "rebound" } });
      s.disconnect();
      await sleep(50);
    }
  });
});
