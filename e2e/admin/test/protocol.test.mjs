// The admin namespace of the chat example (ADMIN_PASSWORD set) spoken to by the official
// socket.io-client, as @socket.io/admin-ui 0.5.1's UI speaks it: authentication, sessions,
// config, server_stats, development-mode events and the commands.
import assert from "node:assert/strict";
import os from "node:os";
import { after, afterEach, before, describe, test } from "node:test";
import { PASSWORD, admin, client, closeAll, connected, next, record, sleep, startChat, within } from "../lib.mjs";

const DEV_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"];

/** A chat client of `/example` named `name`. */
function chatter(url, name) {
  return client(`${url}/example`, { query: { name } });
}

/** An admin client, connected, with its first `config` (and `session`, if it logged in). */
async function loggedIn(url, auth) {
  const socket = admin(url, auth);
  const session = next(socket, "session").catch(() => null);
  const config = next(socket, "config");
  await connected(socket);
  return { socket, config: (await config)[0], session: auth?.sessionId ? null : (await session)?.[0] };
}

describe("admin namespace of the chat (development mode)", () => {
  let chat;
  before(async () => {
    chat = await startChat();
  });
  after(async () => {
    closeAll();
    await chat?.stop();
  });
  afterEach(() => closeAll());

  test("wrong or missing credentials are refused with 'invalid credentials'", async () => {
    for (const auth of [
      { username: "admin", password: "wrong" },
      { username: "root", password: PASSWORD },
      {},
      { username: "admin", password: 42 },
      { sessionId: "0123456789abcdef" },
    ]) {
      const socket = admin(chat.url, auth);
      await assert.rejects(connected(socket), (err) => {
        assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
        return true;
      });
    }
  });

  test("a login gets a session id that a later connection reuses", async () => {
    const first = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
    assert.match(first.session, /^[0-9a-f]{16}$/);
    assert.deepEqual(first.config, { supportedFeatures: DEV_FEATURES });
    first.socket.close();

    const again = admin(chat.url, { sessionId: first.session });
    const sessions = record(again, "session");
    const config = next(again, "config");
    await connected(again);
    assert.deepEqual((await config)[0], { supportedFeatures: DEV_FEATURES });
    await sleep(200);
    assert.equal(sessions.length, 0, "a reused session gets no new session id");
  });

  test("server_stats arrive every 2 s with Node's fields", async () => {
    const alice = chatter(chat.url, "alice");
    await connected(alice);
    const { socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
    const stats = record(socket, "server_stats");
    await within(9000, (async () => { while (stats.length < 3) await sleep(50); })(), "3 server_stats");
    const gaps = [stats[1].at - stats[0].at, stats[2].at - stats[1].at];
    for (const gap of gaps) assert.ok(gap > 1700 && gap < 2400, `stats 2 s apart, got ${gaps}`);
    const [s] = stats.at(-1).args;
    assert.deepEqual(Object.keys(s).sort(), [
      "aggregatedEvents", "clientsCount", "hostname", "namespaces", "pid", "pollingClientsCount", "serverId", "uptime",
    ]);
    assert.equal(s.serverId, "sockgate-chat");
    assert.equal(s.hostname, os.hostname());
    assert.equal(s.pid, chat.pid);
    assert.ok(typeof s.uptime === "number" && s.uptime > 0 && s.uptime < 3600, `uptime ${s.uptime}`);
    assert.equal(s.clientsCount, 2, "alice and the admin client");
    assert.equal(s.pollingClientsCount, 0);
    assert.ok(Array.isArray(s.aggregatedEvents));
    const byName = Object.fromEntries(s.namespaces.map((n) => [n.name, n.socketsCount]));
    assert.deepEqual(byName, { "/": 0, "/admin": 1, "/example": 1 }, "every namespace, as Node's io._nsps");
  });

  test("the commands reach the client: emit, join, leave and disconnect, filtered by room", async () => {
    const alice = chatter(chat.url, "alice");
    const bob = chatter(chat.url, "bob");
    await Promise.all([connected(alice), connected(bob)]);
    const { socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });

    // emit to the whole namespace, several arguments
    const a1 = next(alice, "announce");
    const b1 = next(bob, "announce");
    socket.emit("emit", "/example", null, "announce", "hello", { n: 1 });
    assert.deepEqual(await a1, ["hello", { n: 1 }]);
    assert.deepEqual(await b1, ["hello", { n: 1 }]);

    // join alice (filter: her id) to "vip", then emit to "vip" only
    socket.emit("join", "/example", "vip", alice.id);
    await sleep(200);
    const bobGot = record(bob, "vip-only");
    const a2 = next(alice, "vip-only");
    socket.emit("emit", "/example", "vip", "vip-only", 1);
    assert.deepEqual(await a2, [1]);
    await sleep(200);
    assert.equal(bobGot.length, 0, "bob is not in vip");

    // leave, then the room reaches nobody
    socket.emit("leave", "/example", "vip", alice.id);
    await sleep(200);
    const aliceGot = record(alice, "vip-again");
    socket.emit("emit", "/example", "vip", "vip-again");
    await sleep(300);
    assert.equal(aliceGot.length, 0, "alice left vip");

    // disconnect bob only
    const bobGone = next(bob, "disconnect");
    socket.emit("_disconnect", "/example", false, bob.id);
    assert.equal((await bobGone)[0], "io server disconnect");
    assert.ok(alice.connected);
  });

  test("malformed commands are ignored and the namespace keeps working", async () => {
    const alice = chatter(chat.url, "alice");
    await connected(alice);
    const { socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
    socket.emit("emit", 42, null, "x");
    socket.emit("emit", "/example", { not: "a room" }, "x");
    socket.emit("emit", "/example", null, 7);
    socket.emit("emit", "/nowhere", null, "x");
    socket.emit("join");
    socket.emit("leave", "/example", ["a"], alice.id);
    socket.emit("_disconnect", "/example", "yes", { bad: true });
    socket.emit("emit", "/example", null, "disconnect");
    const got = next(alice, "still-here");
    socket.emit("emit", "/example", null, "still-here", "ok");
    assert.deepEqual(await got, ["ok"]);
    assert.ok(alice.connected && socket.connected);
  });

  test("all_sockets lists every socket with Node's serialized shape", async () => {
    const alice = chatter(chat.url, "alice");
    await connected(alice);
    const socket = admin(chat.url, { username: "admin", password: PASSWORD });
    const all = next(socket, "all_sockets");
    await connected(socket);
    const [sockets] = await all;
    const mine = sockets.find((s) => s.id === alice.id);
    assert.ok(mine, JSON.stringify(sockets));
    assert.deepEqual(Object.keys(mine).sort(), ["clientId", "data", "handshake", "id", "nsp", "rooms", "transport"]);
    assert.equal(mine.nsp, "/example");
    assert.equal(mine.transport, "websocket");
    assert.equal(mine.clientId, alice.io.engine.id.slice(0, 12));
    assert.deepEqual(mine.data, {});
    assert.deepEqual(mine.rooms, [alice.id]);
    assert.deepEqual(Object.keys(mine.handshake).sort(), ["address", "headers", "issued", "query", "secure", "time", "url", "xdomain"]);
    assert.equal(mine.handshake.address, "127.0.0.1");
    assert.equal(mine.handshake.query.name, "alice");
    assert.equal(mine.handshake.secure, false);
    assert.ok(Math.abs(mine.handshake.issued - Date.now()) < 10_000);
    assert.ok(mine.handshake.url.startsWith("/socket.io/?"));
    assert.ok(sockets.some((s) => s.nsp === "/admin"), "the admin socket itself is listed");
  });

  test("the socket address comes from cf-connecting-ip, else x-forwarded-for", async () => {
    const viaProxy = client(`${chat.url}/example`, { query: { name: "p" }, extraHeaders: { "x-forwarded-for": "10.1.2.3" } });
    const viaCf = client(`${chat.url}/example`, {
      query: { name: "c" },
      extraHeaders: { "x-forwarded-for": "10.1.2.3", "cf-connecting-ip": "10.9.9.9" },
    });
    await Promise.all([connected(viaProxy), connected(viaCf)]);
    const socket = admin(chat.url, { username: "admin", password: PASSWORD });
    const all = next(socket, "all_sockets");
    await connected(socket);
    const [sockets] = await all;
    assert.equal(sockets.find((s) => s.id === viaProxy.id).handshake.address, "10.1.2.3");
    assert.equal(sockets.find((s) => s.id === viaCf.id).handshake.address, "10.9.9.9");
  });
});

describe("development-mode events and aggregated counts", () => {
  let chat;
  before(async () => {
    chat = await startChat();
  });
  after(async () => {
    closeAll();
    await chat?.stop();
  });
  afterEach(() => closeAll());

  test("socket_connected, event_received, event_sent, room and socket updates, socket_disconnected", async () => {
    const { socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
    await sleep(100);
    const events = [];
    socket.onAny((event, ...args) => events.push([event, ...args]));
    const sawEvent = (pick, what) =>
      within(5000, (async () => { for (;;) { const e = events.find(pick); if (e) return e; await sleep(20); } })(), what);

    const bob = chatter(chat.url, "bob");
    await connected(bob);
    const [, serialized, at] = await sawEvent((e) => e[0] === "socket_connected" && e[1].id === bob.id, "socket_connected");
    assert.equal(serialized.nsp, "/example");
    assert.equal(serialized.transport, "websocket");
    assert.equal(serialized.clientId, bob.io.engine.id.slice(0, 12));
    assert.deepEqual(serialized.rooms, [bob.id]);
    assert.equal(serialized.handshake.query.name, "bob");
    assert.ok(Math.abs(Date.parse(at) - Date.now()) < 10_000, `an ISO timestamp: ${at}`);

    // bob sends "message": received from bob, then the chat's broadcast sent to bob.
    bob.emit("message", "hi there");
    const received = await sawEvent((e) => e[0] === "event_received" && e[2] === bob.id, "event_received");
    assert.deepEqual(received.slice(1, 4), ["/example", bob.id, ["message", "hi there"]]);
    const sent = await sawEvent((e) => e[0] === "event_sent" && e[2] === bob.id && e[3][0] === "message", "event_sent");
    assert.deepEqual(sent.slice(1, 4), ["/example", bob.id, ["message", "bob : hi there"]]);

    // A join through the admin command is reported.
    socket.emit("join", "/example", "lobby", bob.id);
    const joined = await sawEvent((e) => e[0] === "room_joined" && e[2] === "lobby", "room_joined");
    assert.deepEqual(joined.slice(1, 4), ["/example", "lobby", bob.id]);
    await sleep(300);
    assert.equal(events.filter((e) => e[0] === "room_joined" && e[2] === "lobby").length, 1, "reported once");

    // bob leaves: socket_disconnected with the reason, then room_left for its rooms.
    const bobId = bob.id;
    bob.disconnect();
    const gone = await sawEvent((e) => e[0] === "socket_disconnected" && e[2] === bobId, "socket_disconnected");
    assert.deepEqual(gone.slice(1, 4), ["/example", bobId, "client namespace disconnect"]);
    await sawEvent((e) => e[0] === "room_left" && e[2] === "lobby" && e[3] === bobId, "room_left lobby");
    await sawEvent((e) => e[0] === "room_left" && e[2] === bobId && e[3] === bobId, "room_left of its own room");

    // Nothing is reported about the admin namespace's own events.
    assert.ok(!events.some((e) => (e[0] === "event_sent" || e[0] === "event_received") && e[1] === "/admin"));
  });

  test("aggregated events count connections, disconnections by reason, packets and bytes", async () => {
    const { socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
    const stats = record(socket, "server_stats");
    await within(5000, (async () => { while (stats.length < 1) await sleep(20); })(), "first stats");
    const from = stats.length;
    const N = 3;
    const chatters = [];
    for (let i = 0; i < N; i++) chatters.push(await connected(chatter(chat.url, `c${i}`)));
    for (const c of chatters) c.emit("message", "x".repeat(100));
    await sleep(300);
    for (const c of chatters) c.close();
    await within(9000, (async () => { while (stats.length < from + 2) await sleep(50); })(), "two more stats");
    const events = stats.slice(from).flatMap((s) => s.args[0].aggregatedEvents);
    const total = (type, subType) =>
      events.filter((e) => e.type === type && (subType === undefined || e.subType === subType)).reduce((n, e) => n + e.count, 0);
    assert.equal(total("rawConnection"), N);
    assert.equal(total("rawDisconnection", "transport close"), N);
    // N CONNECTs and N messages in; N CONNECT answers and N×N broadcast messages (plus the
    // joined/left notices) out.
    assert.ok(total("packetsIn") >= 2 * N, `packetsIn ${total("packetsIn")}`);
    assert.ok(total("bytesIn") >= N * 100, `bytesIn ${total("bytesIn")}`);
    assert.ok(total("packetsOut") >= N + N * N, `packetsOut ${total("packetsOut")}`);
    assert.ok(total("bytesOut") > total("bytesIn"), "the broadcasts are bigger than what came in");
    for (const e of events) {
      assert.equal(e.timestamp % 1000, 0, "per-second buckets");
      assert.ok(Math.abs(e.timestamp - Date.now()) < 20_000);
    }
  });
});

describe("read-only and production modes", () => {
  afterEach(() => closeAll());

  test("read-only: no command feature, and commands are ignored", async () => {
    const chat = await startChat({ ADMIN_READONLY: "1" });
    try {
      const alice = chatter(chat.url, "alice");
      await connected(alice);
      const { config, socket } = await loggedIn(chat.url, { username: "admin", password: PASSWORD });
      assert.deepEqual(config, { supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
      const got = record(alice, "announce");
      socket.emit("emit", "/example", null, "announce", "x");
      socket.emit("_disconnect", "/example", false, alice.id);
      await sleep(500);
      assert.equal(got.length, 0);
      assert.ok(alice.connected);
    } finally {
      closeAll();
      await chat.stop();
    }
  });

  test("production: aggregated events only, no all_sockets", async () => {
    const chat = await startChat({ ADMIN_MODE: "production" });
    try {
      const socket = admin(chat.url, { username: "admin", password: PASSWORD });
      const all = record(socket, "all_sockets");
      const config = next(socket, "config");
      const stats = next(socket, "server_stats", { ms: 4000 });
      await connected(socket);
      assert.deepEqual((await config)[0], {
        supportedFeatures: ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS"],
      });
      await stats;
      const connectedEvents = record(socket, "socket_connected");
      const alice = chatter(chat.url, "alice");
      await connected(alice);
      await sleep(300);
      assert.equal(all.length, 0);
      assert.equal(connectedEvents.length, 0);
    } finally {
      closeAll();
      await chat.stop();
    }
  });

  test("a wrong ADMIN_MODE stops the chat with a message saying what to fix", async () => {
    await assert.rejects(startChat({ ADMIN_MODE: "verbose" }), /ADMIN_MODE is "verbose": use development or production/);
  });
});
