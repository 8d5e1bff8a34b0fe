// The chat example (examples/chat) in cluster mode, with the official socket.io-client: two
// chat nodes on one redis-server (REDIS_URL), and a Node socket.io 4.8.4 server on
// @socket.io/redis-adapter 8.3.0 with its defaults (key `socket.io`) in this process, sharing
// the chat's `/example` namespace both ways. Then the sharded and the streams adapter
// (SOCKGATE_ADAPTER; streams with recovery across nodes), a wrong setting (exit status 2), and a
// node started before its Redis.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { io as connect } from "socket.io-client";
import { freePort, haveRedis, sleep, startChatNode, startRedis, stopAll, until } from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";
const here = path.dirname(fileURLToPath(import.meta.url));
const binDir = process.env.SOCKGATE_BIN_DIR ?? path.resolve(here, "../../../target/debug");

/** A chat user on `/example` of `url`, recording `message` and `joined` events. */
function user(url, name) {
  const socket = connect(`${url}/example`, {
    transports: ["websocket"],
    reconnection: false,
    query: { name },
  });
  socket.messages = [];
  socket.joined = [];
  socket.on("message", (text) => socket.messages.push(text));
  socket.on("joined", ({ name }) => socket.joined.push(name));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Sends `message`s until one reaches `receiver` (subscriptions are set up asynchronously). */
async function firstDelivery(sender, receiver, text) {
  for (let i = 0; i < 50; i++) {
    sender.emit("message", `${text} #${i}`);
    await sleep(100);
    if (receiver.messages.some((m) => m.includes(text))) return;
  }
  throw new Error(`"${text}" never reached the other node`);
}

describe("chat cluster (classic adapter) with a Node socket.io server", { skip }, () => {
  let redis, A, B, nodeIo, httpServer, pub, sub;
  const users = [];

  before(async () => {
    redis = await startRedis();
    [A, B] = await Promise.all([startChatNode(redis.url), startChatNode(redis.url)]);
    // Node's side: the NestJS gateway's behaviour on /example, adapter defaults.
    pub = createClient({ url: redis.url });
    sub = pub.duplicate();
    pub.on("error", () => {});
    sub.on("error", () => {});
    await Promise.all([pub.connect(), sub.connect()]);
    httpServer = createServer();
    nodeIo = new Server(httpServer, { adapter: createAdapter(pub, sub) });
    nodeIo.of("/example").on("connection", (socket) => {
      socket.on("message", (m) => nodeIo.of("/example").emit("message", `${socket.handshake.query.name} : ${m}`));
    });
    const port = await freePort();
    await new Promise((resolve) => httpServer.listen(port, "127.0.0.1", resolve));
    nodeIo.url = `http://127.0.0.1:${port}`;
    // Every node subscribed: PUBSUB NUMSUB on /example's request channel counts them.
    for (let i = 0; i < 100; i++) {
      if ((await nodeIo.of("/example").adapter.serverCount()) === 3) break;
      await sleep(50);
    }
    assert.equal(await nodeIo.of("/example").adapter.serverCount(), 3, "2 chat nodes + Node");
  });

  after(async () => {
    users.forEach((u) => u.disconnect());
    nodeIo?.close();
    await Promise.allSettled([pub?.quit(), sub?.quit()]);
    await stopAll();
  });

  test("a message sent on node A reaches a client on node B, and back", async () => {
    const alice = await user(A.url, "alice");
    const bob = await user(B.url, "bob");
    users.push(alice, bob);
    await firstDelivery(alice, bob, "hello from A");
    assert.ok(alice.messages.some((m) => m.startsWith("alice : hello from A")), "the sender gets it too");
    alice.messages.length = bob.messages.length = 0;
    bob.emit("message", "hi from B");
    await until(() => alice.messages.length === 1 && bob.messages.length === 1, 5000, "hi from B");
    assert.deepEqual(alice.messages, ["bob : hi from B"]);
    // The page's `joined` notice crosses too.
    const carol = await user(B.url, "carol");
    users.push(carol);
    await until(() => alice.joined.includes("carol"), 5000, "carol joined, seen on A");
  });

  test("the Node server shares /example with the chat nodes, both ways", async () => {
    const alice = await user(A.url, "alice2");
    const bob = await user(B.url, "bob2");
    const nora = await user(nodeIo.url, "nora");
    users.push(alice, bob, nora);
    await firstDelivery(alice, nora, "chat to node");
    await until(() => bob.messages.some((m) => m.includes("chat to node")), 5000, "B too");
    assert.ok(nora.messages.some((m) => m.startsWith("alice2 : chat to node")), nora.messages.join("|"));
    for (const u of [alice, bob, nora]) u.messages.length = 0;
    nora.emit("message", "node to chat");
    await until(() => [alice, bob, nora].every((u) => u.messages.length === 1), 5000, "from Node");
    for (const u of [alice, bob]) assert.deepEqual(u.messages, ["nora : node to chat"]);
    // A server-side emit of Node's io (no client involved) reaches the chat's clients.
    nodeIo.of("/example").emit("message", "announcement");
    await until(() => [alice, bob].every((u) => u.messages.includes("announcement")), 5000, "io.emit");
  });
});

describe("chat cluster settings", { skip }, () => {
  after(stopAll);

  test("SOCKGATE_ADAPTER=sharded: two chat nodes see each other's messages", async () => {
    const redis = await startRedis();
    const [A, B] = await Promise.all([
      startChatNode(redis.url, "sharded"),
      startChatNode(redis.url, "sharded"),
    ]);
    const alice = await user(A.url, "alice");
    const bob = await user(B.url, "bob");
    try {
      assert.match(A.output(), /sharded adapter/);
      await firstDelivery(bob, alice, "sharded hello");
      assert.ok(alice.messages.some((m) => m.startsWith("bob : sharded hello")));
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  });

  test("SOCKGATE_ADAPTER=streams: messages cross, and a user recovers on the other node", async () => {
    const redis = await startRedis();
    const [A, B] = await Promise.all([
      startChatNode(redis.url, "streams"),
      startChatNode(redis.url, "streams"),
    ]);
    const alice = await user(A.url, "alice");
    const bob = await user(B.url, "bob");
    try {
      assert.match(A.output(), /streams adapter .*connection state recovery on/);
      await firstDelivery(bob, alice, "streams hello");
      await sleep(200); // every message reached alice, and her session was saved
      const auth = { pid: alice._pid, offset: alice._lastOffset };
      assert.ok(auth.pid && auth.offset, "recovery is on: the client has a pid and an offset");
      const id = alice.id;
      const gone = new Promise((resolve) => alice.once("disconnect", resolve));
      alice.io.engine.close();
      await gone;
      bob.emit("message", "while you were away");
      await sleep(300);
      // What socket.io-client does when it reconnects: it presents its pid and last offset.
      const back = connect(`${B.url}/example`, {
        transports: ["websocket"], reconnection: false, query: { name: "alice" }, autoConnect: false,
      });
      back._pid = auth.pid;
      back._lastOffset = auth.offset;
      back.connect();
      back.messages = [];
      back.on("message", (text) => back.messages.push(text));
      await new Promise((resolve, reject) => {
        back.once("connect", resolve);
        back.once("connect_error", reject);
      });
      try {
        assert.equal(back.id, id, "same id on node B");
        assert.equal(back.recovered, true);
        await until(() => back.messages.includes("bob : while you were away"), 5000, "the missed message");
      } finally {
        back.disconnect();
      }
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  });

  test("a wrong adapter name exits with status 2 and says what to set", () => {
    const run = spawnSync(path.join(binDir, "chat"), [], {
      env: { ...process.env, REDIS_URL: "redis://127.0.0.1:1", SOCKGATE_ADAPTER: "bogus", PORT: "0" },
      encoding: "utf8",
      timeout: 10_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /SOCKGATE_ADAPTER=bogus is no adapter: use `classic` \(default\) or `sharded`/);
  });

  test("a node started before its Redis serves, then joins the cluster", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const A = await startChatNode(url); // waits for Redis a few seconds, then serves
    assert.match(A.output(), /not reachable yet/);
    const alice = await user(A.url, "alice");
    try {
      alice.emit("message", "alone");
      await until(() => alice.messages.includes("alice : alone"), 5000, "local delivery");
      await startRedis(port);
      const B = await startChatNode(url);
      const bob = await user(B.url, "bob");
      try {
        await firstDelivery(bob, alice, "after the outage");
      } finally {
        bob.disconnect();
      }
    } finally {
      alice.disconnect();
    }
  });
});
