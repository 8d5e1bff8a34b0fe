// sockgate_redis::Emitter (a Rust process that is not a server) driving a Node node and a
// sockgate node on the classic adapter.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  call, client, haveRedis, rustEmit, sleep, startNodeNode, startRedis, startSockgateNode,
  stopAll, until,
} from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";

describe("Rust emitter → Node and sockgate nodes", { skip }, () => {
  let redis, N, S, cN, cS;
  const got = (socket, event) => socket.received.filter(([e]) => e === event);

  before(async () => {
    redis = await startRedis();
    [N, S] = await Promise.all([startNodeNode(redis.url, "N"), startSockgateNode(redis.url, "S")]);
    [cN, cS] = await Promise.all([client(N, "cN"), client(S, "cS")]);
    for (let i = 0; i < 100 && (await call(cS, "server-count")) !== 2; i++) await sleep(50);
  });

  after(async () => {
    cN?.disconnect();
    cS?.disconnect();
    await stopAll();
  });

  test("emit (binary too), room emit, except", async () => {
    await call(cN, "join", "room1");
    await rustEmit(redis.url, [
      { op: "emit", event: "from-rust", args: [{ x: 1 }], binary: [7, 8] },
      { op: "emit", event: "room-emit", to: ["room1"], args: ["r"] },
      { op: "emit", event: "except-emit", except: ["room1"], args: ["e"] },
    ]);
    await until(() => got(cN, "from-rust").length === 1 && got(cS, "from-rust").length === 1);
    assert.deepEqual(got(cN, "from-rust")[0].slice(0, 2), ["from-rust", { x: 1 }]);
    assert.deepEqual([...got(cN, "from-rust")[0][2]], [7, 8]);
    await until(() => got(cN, "room-emit").length === 1 && got(cS, "except-emit").length === 1);
    await sleep(150);
    assert.equal(got(cS, "room-emit").length, 0);
    assert.equal(got(cN, "except-emit").length, 0);
  });

  test("socketsJoin, socketsLeave, serverSideEmit, disconnectSockets", async () => {
    await rustEmit(redis.url, [{ op: "join", rooms: ["rj"] }]);
    await sleep(150);
    let inRoom = await call(cN, "fetch-sockets", { ops: [["to", "rj"]] });
    assert.deepEqual(inRoom.map((s) => s.id).sort(), [cN.id, cS.id].sort());
    await rustEmit(redis.url, [{ op: "leave", to: [cN.id], rooms: ["rj"] }]);
    await sleep(150);
    inRoom = await call(cS, "fetch-sockets", { ops: [["to", "rj"]] });
    assert.deepEqual(inRoom.map((s) => s.id), [cS.id]);

    await rustEmit(redis.url, [{ op: "sse", event: "sse-ping", args: ["from rust"] }]);
    await sleep(200);
    assert.deepEqual(await call(cN, "server-side-log"), [["sse-ping", "from rust"]]);
    assert.deepEqual(await call(cS, "server-side-log"), [["sse-ping", "from rust"]]);

    const gone = new Promise((resolve) => cN.once("disconnect", resolve));
    await rustEmit(redis.url, [{ op: "disconnect", to: [cN.id] }]);
    assert.equal(await gone, "io server disconnect");
    assert.ok(cS.connected);
  });
});
