// Connection state recovery across a mixed cluster on the Redis Streams adapter: Node node N
// (socket.io 4.8.4 + @socket.io/redis-streams-adapter 0.3.1, CSR on) and sockgate nodes S1, S2
// (StreamsAdapter, CSR on) on one redis-server. A client whose transport dropped comes back on
// another node with `auth {pid, offset}` (what socket.io-client sends) and must get its id,
// rooms, data and every missed packet in order, `recovered` true.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { io as connect } from "socket.io-client";
import {
  call, client, haveRedis, rustEmit, sleep, startNodeNode, startRedis, startSockgateNode,
  stopAll, until,
} from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";
const CSR = ["--csr", "--csr-ttl-ms", "60000"];

/** A client of `node`; with `from`, it presents `from`'s session as socket.io-client does. */
function csrClient(node, label, auth) {
  const socket = connect(`http://127.0.0.1:${node.port}`, {
    transports: ["websocket"],
    reconnection: false,
    auth,
  });
  socket.label = label;
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push([event, ...args]));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** What the client would present on reconnect: its pid and the last offset it saw. */
const session = (socket) => ({ pid: socket._pid, offset: socket._lastOffset });

/** Drops the transport (the server sees "transport close") and waits for the client to see it. */
async function dropTransport(socket) {
  const gone = new Promise((resolve) => socket.once("disconnect", resolve));
  socket.io.engine.close();
  await gone;
}

const events = (socket, event) => socket.received.filter(([e]) => e === event);
/** Event arguments without the trailing offset the stream appends. */
const payloads = (socket, event) => events(socket, event).map((args) => args.slice(1, -1));
const isOffset = (v) => typeof v === "string" && /^\d+-\d+$/.test(v);
/** Offsets in stream order: the order every live client sees. */
const byOffset = (a, b) => {
  const [x, y] = [a.at(-1).split("-").map(BigInt), b.at(-1).split("-").map(BigInt)];
  return x[0] === y[0] ? Number(x[1] - y[1]) : Number(x[0] - y[0]);
};
/** The replay must be the stream order, with every message once. */
function assertInStreamOrder(replayed, expectedPayloads, what) {
  assert.deepEqual(replayed.map((e) => e.slice(1, -1)).sort(), expectedPayloads.map((p) => [p]).sort(), what);
  assert.deepEqual(replayed, [...replayed].sort(byOffset), `${what}: in stream order`);
}

describe("streams adapter with connection state recovery, Node + sockgate", { skip }, () => {
  let redis, N, S1, S2, helperN, helperS;

  before(async () => {
    redis = await startRedis();
    [N, S1, S2] = await Promise.all([
      startNodeNode(redis.url, "N", "streams", CSR),
      startSockgateNode(redis.url, "S1", "streams", CSR),
      startSockgateNode(redis.url, "S2", "streams", CSR),
    ]);
    [helperN, helperS] = await Promise.all([client(N, "hN"), client(S2, "hS")]);
    for (let i = 0; i < 100 && (await call(helperS, "server-count")) !== 3; i++) await sleep(50);
  });

  after(async () => {
    helperN?.disconnect();
    helperS?.disconnect();
    await stopAll();
  });

  test("with CSR on, broadcasts and socket.emit carry the stream offset on both kinds", async () => {
    const a = await csrClient(S1, "a");
    const b = await csrClient(N, "b");
    await call(helperN, "emit-op", { event: "all" }, "from N");
    await call(helperS, "emit-op", { event: "all" }, "from S2");
    await call(a, "emit-self", { event: "me" }, 1);
    await until(() => events(a, "all").length === 2 && events(b, "all").length === 2
      && events(a, "me").length === 1, 5000, "broadcasts");
    for (const c of [a, b]) {
      for (const args of events(c, "all")) assert.ok(isOffset(args.at(-1)), `${c.label}: ${args}`);
      assert.deepEqual(events(c, "all").map((e) => e.at(-1)).sort(),
        events(a, "all").map((e) => e.at(-1)).sort(), "the same entries everywhere");
    }
    // A sockgate client sees the stream in order, its own node's broadcasts included (a Node
    // node delivers its own at XADD time, so its clients may not).
    assert.deepEqual(a.received, [...a.received].sort(byOffset), "stream order on sockgate");
    assert.ok(isOffset(events(a, "me")[0].at(-1)), "socket.emit goes through the stream");
    assert.equal(a._lastOffset, a.received.at(-1).at(-1), "the client tracks the last offset");
    a.disconnect();
    b.disconnect();
  });

  test("recovery from a sockgate node to a Node node and back, missed packets in order", async () => {
    const c = await csrClient(S1, "c");
    await call(c, "join", "r1");
    await call(c, "set-data", { user: "carol" });
    await call(c, "emit-self", { event: "welcome" });
    await until(() => events(c, "welcome").length === 1, 5000, "welcome");
    const id = c.id;
    await dropTransport(c);
    await sleep(200);
    for (let i = 1; i <= 3; i++) {
      await call(helperS, "emit-op", { event: "m", ops: [["to", "r1"]] }, i);
      await call(helperN, "emit-op", { event: "m", ops: [["to", "r1"]] }, i + 10);
    }
    await call(helperN, "emit-op", { event: "other", ops: [["to", "not-mine"]] }, "x");
    const onN = await csrClient(N, "c@N", session(c));
    assert.equal(onN.id, id, "same id on the Node node");
    const me = await call(onN, "whoami");
    assert.equal(me.recovered, true);
    assert.deepEqual(me.rooms, [id, "r1"].sort());
    assert.deepEqual(me.data, { user: "carol" });
    await until(() => events(onN, "m").length === 6, 5000, "replay on N");
    assertInStreamOrder(events(onN, "m"), [1, 11, 2, 12, 3, 13], "replay on N");
    assert.equal(events(onN, "other").length, 0);

    // And back, from the Node node to another sockgate node.
    await dropTransport(onN);
    await sleep(200);
    for (let i = 1; i <= 3; i++) {
      await call(helperN, "emit-op", { event: "n", ops: [["to", "r1"]] }, i);
      await call(helperS, "emit-op", { event: "n" }, i + 10);
    }
    const onS2 = await csrClient(S2, "c@S2", session(onN));
    assert.equal(onS2.id, id, "same id on the sockgate node");
    const again = await call(onS2, "whoami");
    assert.equal(again.recovered, true);
    assert.deepEqual(again.rooms, [id, "r1"].sort());
    assert.deepEqual(again.data, { user: "carol" });
    await until(() => events(onS2, "n").length === 6, 5000, "replay on S2");
    assertInStreamOrder(events(onS2, "n"), [1, 11, 2, 12, 3, 13], "replay on S2");
    // Live traffic keeps flowing after the replay, once.
    await call(helperN, "emit-op", { event: "live", ops: [["to", "r1"]] }, "after");
    await until(() => events(onS2, "live").length === 1, 5000, "live after replay");
    await sleep(200);
    assert.equal(events(onS2, "live").length, 1);
    onS2.disconnect();
  });

  test("a session recovers when the client is back before the old node saw the disconnect", async () => {
    // Node only saves a session when it processes the disconnect; sockgate saves it as it
    // changes, so a reconnect that overtakes the disconnect still recovers, on either kind.
    for (const target of [N, S1]) {
      const c = await csrClient(S2, "race");
      await call(c, "join", "race-room");
      await call(c, "set-data", { n: 1 });
      await call(c, "emit-self", { event: "hi" });
      await until(() => events(c, "hi").length === 1, 5000, "hi");
      await sleep(300); // one session flush
      const auth = session(c);
      // Sent after the offset the client presents: the replay must carry them.
      await call(helperN, "emit-op", { event: "lost", ops: [["to", "race-room"]] }, 1);
      await call(helperS, "emit-op", { event: "lost", ops: [["to", "race-room"]] }, 2);
      const back = await csrClient(target, "race-back", auth);
      const me = await call(back, "whoami");
      assert.equal(back.id, c.id, target === N ? "on N" : "on S1");
      assert.equal(me.recovered, true);
      assert.deepEqual(me.rooms, [c.id, "race-room"].sort());
      assert.deepEqual(me.data, { n: 1 });
      await until(() => events(back, "lost").length === 2, 5000, "replay");
      assertInStreamOrder(events(back, "lost"), [1, 2], "replay");
      c.disconnect();
      back.disconnect();
    }
  });

  test("a wrong offset or an unknown pid gives a fresh socket", async () => {
    const c = await csrClient(S1, "fresh");
    await call(c, "emit-self", { event: "hi" });
    await until(() => events(c, "hi").length === 1, 5000, "hi");
    const fake = await csrClient(S2, "fake", { pid: c._pid, offset: "not-an-offset" });
    assert.notEqual(fake.id, c.id);
    assert.equal((await call(fake, "whoami")).recovered, false);
    const unknown = await csrClient(N, "unknown", { pid: "nobody", offset: c._lastOffset });
    assert.equal((await call(unknown, "whoami")).recovered, false);
    for (const s of [c, fake, unknown]) s.disconnect();
  });

  test("the Rust emitter's streams mode reaches Node and sockgate nodes", async () => {
    const a = await csrClient(N, "eN");
    const b = await csrClient(S1, "eS");
    await call(a, "join", "em");
    await rustEmit(redis.url, [
      { op: "emit", event: "from-rust", args: [{ x: 1 }] },
      { op: "emit", event: "bin-rust", args: ["b"], binary: [7, 8] },
      { op: "emit", event: "room-rust", to: ["em"], args: ["r"] },
      { op: "join", to: [b.id], rooms: ["em2"] },
      { op: "sse", event: "sse-ping", args: ["rust"] },
    ], ["--streams"]);
    await until(() => events(a, "from-rust").length === 1 && events(b, "from-rust").length === 1
      && events(a, "bin-rust").length === 1 && events(b, "bin-rust").length === 1
      && events(a, "room-rust").length === 1, 5000, "emitter broadcasts");
    assert.deepEqual(payloads(a, "from-rust"), [[{ x: 1 }]]);
    assert.deepEqual([...events(b, "bin-rust")[0][2]], [7, 8]);
    assert.deepEqual([...events(a, "bin-rust")[0][2]], [7, 8]);
    await sleep(200);
    assert.equal(events(b, "room-rust").length, 0);
    const inEm2 = await call(helperN, "fetch-sockets", { ops: [["to", "em2"]] });
    assert.deepEqual(inEm2.map((s) => s.id), [b.id]);
    assert.deepEqual(await call(helperN, "server-side-log"), [["sse-ping", "rust"]]);
    assert.ok((await call(helperS, "server-side-log")).some((e) => e[1] === "rust"));
    a.disconnect();
    b.disconnect();
  });

  test("sessions survive their sockgate node being SIGKILLed, recovered on sockgate and Node", async () => {
    const clients = [];
    for (const label of ["k1", "k2"]) {
      const c = await csrClient(S1, label);
      await call(c, "join", "k-room");
      await call(c, "set-data", { killed: label });
      await call(c, "emit-self", { event: "hi" });
      await until(() => events(c, "hi").length === 1, 5000, "hi");
      clients.push(c);
    }
    await sleep(300); // one session flush
    const auths = clients.map(session);
    const ids = clients.map((c) => c.id);
    await S1.stop(); // SIGKILL: no disconnect is processed, nothing is saved at the end
    for (let i = 1; i <= 3; i++) {
      await call(helperN, "emit-op", { event: "k", ops: [["to", "k-room"]] }, i);
      await call(helperS, "emit-op", { event: "k", ops: [["to", "k-room"]] }, i + 10);
    }
    for (const [i, target, label] of [[0, S2, "S2"], [1, N, "N"]]) {
      const back = await csrClient(target, `k@${label}`, auths[i]);
      assert.equal(back.id, ids[i], label);
      const me = await call(back, "whoami");
      assert.equal(me.recovered, true, label);
      assert.deepEqual(me.rooms, [ids[i], "k-room"].sort(), label);
      assert.deepEqual(me.data, { killed: clients[i].label }, label);
      await until(() => events(back, "k").length === 6, 5000, `replay on ${label}`);
      assertInStreamOrder(events(back, "k"), [1, 11, 2, 12, 3, 13], label);
      back.disconnect();
    }
  });
});

describe("streams adapter with streamCount 2 (Java hashCode routing), Node + sockgate", { skip }, () => {
  let redis, N, S;

  before(async () => {
    redis = await startRedis();
    [N, S] = await Promise.all([
      startNodeNode(redis.url, "N", "streams", ["--stream-count", "2"]),
      startSockgateNode(redis.url, "S", "streams", ["--stream-count", "2"]),
    ]);
  });

  after(stopAll);

  test("both write and read socket.io-1 for namespace / (hashCode(\"/\") = 47)", async () => {
    const [cN, cS] = await Promise.all([client(N, "cN"), client(S, "cS")]);
    for (let i = 0; i < 100 && (await call(cS, "server-count")) !== 2; i++) await sleep(50);
    await call(cN, "emit-op", { event: "x" }, "from N");
    await call(cS, "emit-op", { event: "x" }, "from S");
    await until(() => events(cN, "x").length === 2 && events(cS, "x").length === 2, 5000, "both ways");
    const len = (key) => Number(spawnSync("redis-cli", ["-p", String(redis.port), "XLEN", key]).stdout.toString());
    assert.equal(len("socket.io-1"), 2);
    assert.equal(len("socket.io-0") + len("socket.io"), 0);
    cN.disconnect();
    cS.disconnect();
  });
});

describe("streams adapter: Redis goes away and comes back", { skip }, () => {
  let redis, N, S;

  before(async () => {
    redis = await startRedis();
    [N, S] = await Promise.all([
      startNodeNode(redis.url, "N", "streams", CSR),
      startSockgateNode(redis.url, "S", "streams", CSR),
    ]);
  });

  after(stopAll);

  test("broadcasts flow again both ways, none sent during the outage is lost, the logs say what happened", async () => {
    const [cN, cS] = await Promise.all([client(N, "cN"), client(S, "cS")]);
    for (let i = 0; i < 100 && (await call(cS, "server-count")) !== 2; i++) await sleep(50);
    await call(cN, "emit-op", { event: "before" }, 1);
    await until(() => events(cS, "before").length === 1, 5000, "before").catch((e) => {
      throw new Error(`${e.message}\nS: ${S.output()}\nN: ${N.output()}`);
    });

    const port = redis.port;
    await redis.stop();
    await sleep(500);
    // Redis is down: the sockgate node holds its stream writes (append_retry) instead of
    // dropping them; they reach every node once Redis is back.
    await call(cS, "emit-op", { event: "during" }, 2);

    redis = await startRedis(port);
    // Published at once on N, while S's reader may still be backing off: S resumes from its
    // last id, so the entries are read once it is back, none skipped.
    let sent = 0;
    await until(async () => {
      try {
        await call(cN, "emit-op", { event: "after" }, ++sent);
      } catch {}
      return events(cS, "after").length > 0;
    }, 15_000, "S reads the stream again");
    for (let i = 0; i < 5; i++) await call(cN, "emit-op", { event: "burst" }, i);
    await call(cS, "emit-op", { event: "back" }, "S");
    await until(() => events(cS, "burst").length === 5 && events(cN, "back").length === 1, 10_000,
      "both ways after the outage").catch((e) => {
      const dump = spawnSync("redis-cli", ["-p", String(port), "XRANGE", "socket.io", "-", "+"]).stdout.toString();
      throw new Error(`${e.message}: burst ${events(cS, "burst").length}, back ${events(cN, "back").length}\nS: ${S.output()}\nstream: ${dump}\nN: ${N.output()}`);
    });
    assert.deepEqual(payloads(cS, "burst"), [[0], [1], [2], [3], [4]]);
    await until(() => events(cS, "during").length === 1 && events(cN, "during").length === 1,
      10_000, "the broadcast sent during the outage, on both nodes");
    assert.deepEqual(payloads(cN, "during"), [[2]]);
    const log = S.output();
    assert.match(log, /cannot read the stream/);
    assert.match(log, /redis is back: reading the stream again from the last entry read/);
    cN.disconnect();
    cS.disconnect();
  });
});
