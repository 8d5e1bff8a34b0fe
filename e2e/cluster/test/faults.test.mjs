// Faults in a mixed cluster (classic and sharded adapters): Redis killed and restarted under a Node node and two sockgate
// nodes, then a sockgate node killed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  call, client, haveRedis, sleep, startNodeNode, startRedis, startSockgateNode, stopAll, until,
} from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";

for (const mode of ["classic", "sharded"]) describe(`${mode}: redis restart, node death`, { skip }, () => {
  let redis, N, S1, S2, cN, cS1, cS2;
  const got = (socket, event) => socket.received.filter(([e]) => e === event);

  before(async () => {
    redis = await startRedis();
    [N, S1, S2] = await Promise.all([
      startNodeNode(redis.url, "N", mode),
      startSockgateNode(redis.url, "S1", mode),
      startSockgateNode(redis.url, "S2", mode),
    ]);
    [cN, cS1, cS2] = await Promise.all([client(N, "cN"), client(S1, "cS1"), client(S2, "cS2")]);
    for (let i = 0; i < 100 && (await call(cS1, "server-count")) !== 3; i++) await sleep(50);
  });

  after(async () => {
    [cN, cS1, cS2].forEach((c) => c?.disconnect());
    await stopAll();
  });

  test("redis killed: local delivery goes on, requests fail fast; restarted: delivery resumes", async () => {
    await redis.stop();
    await call(cS1, "emit-op", { event: "during" }, 1);
    await until(() => got(cS1, "during").length === 1, 2000, "local delivery during the outage");
    // fetchSockets answers (this node's sockets) instead of hanging; the count falls back to 1.
    const timed = async (what, f) => {
      const t = Date.now();
      const result = await f();
      assert.ok(Date.now() - t < 2500, `${what} took ${Date.now() - t} ms`);
      return result;
    };
    const sockets = await timed("fetchSockets", () => call(cS1, "fetch-sockets", {}));
    assert.deepEqual(sockets.map((s) => s.id), [cS1.id]);
    assert.equal(await timed("serverCount", () => call(cS1, "server-count")), 1);
    const sse = await timed("serverSideEmitWithAck", () =>
      call(cS1, "server-side-emit", { event: "sse-ping", ack: true }, "x"));
    assert.match(sse.error, /could not reach the other nodes/);
    assert.ok(cS1.connected && cS2.connected && cN.connected, "clients stay connected");

    redis = await startRedis(redis.port);
    // The nodes reconnect with backoff and resubscribe; send until something gets through.
    const deadline = Date.now() + 20_000;
    let n = 0;
    while (!(got(cN, "after-S1").length && got(cS2, "after-N").length)) {
      assert.ok(Date.now() < deadline, `delivery did not resume within 20 s: cN got ${
        got(cN, "after-S1").length} from S1, cS2 got ${got(cS2, "after-N").length} from N\nS1: ${
        S1.output()}\nS2: ${S2.output()}`);
      await call(cS1, "emit-op", { event: "after-S1" }, n);
      await call(cN, "emit-op", { event: "after-N" }, n++);
      await sleep(200);
    }
    for (let i = 0; i < 100 && (await call(cN, "server-count")) !== 3; i++) await sleep(100);
    assert.equal(await call(cN, "server-count"), 3);
    assert.equal(await call(cS2, "server-count"), 3);
    // A request right after the restart may still be lost (a publishing connection may come
    // back after the subscriptions); it does not hang, and a retry sees every node.
    let seen = 0;
    for (let i = 0; i < 20 && seen !== 3; i++) seen = (await call(cN, "fetch-sockets", {})).length;
    assert.equal(seen, 3);
  });

  test("a sockgate node killed: serverCount drops, fetch and acks do not wait for it", async () => {
    await S2.stop();
    for (let i = 0; i < 100 && (await call(cN, "server-count")) !== 2; i++) await sleep(50);
    assert.equal(await call(cN, "server-count"), 2);
    assert.equal(await call(cS1, "server-count"), 2);
    const started = Date.now();
    assert.equal((await call(cN, "fetch-sockets", {})).length, 2);
    assert.equal((await call(cS1, "fetch-sockets", {})).length, 2);
    const acks = await call(cS1, "broadcast-ack", { event: "ask", timeout: 3000 }, "q");
    assert.deepEqual(acks, { error: null, responses: ["ack from cN", "ack from cS1"] });
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });
});
