// @socket.io/redis-emitter 5.1.0 (a Node process that is not a server) driving a cluster of
// a Node node and a sockgate node on the classic adapter.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import {
  call, client, haveRedis, sleep, startNodeNode, startRedis, startSockgateNode, stopAll, until,
} from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";

describe("redis-emitter → Node and sockgate nodes", { skip }, () => {
  let redis, N, S, cN, cS, redisClient, emitter;
  const got = (socket, event) => socket.received.filter(([e]) => e === event);

  before(async () => {
    redis = await startRedis();
    [N, S] = await Promise.all([startNodeNode(redis.url, "N"), startSockgateNode(redis.url, "S")]);
    [cN, cS] = await Promise.all([client(N, "cN"), client(S, "cS")]);
    redisClient = createClient({ url: redis.url });
    await redisClient.connect();
    emitter = new Emitter(redisClient);
    for (let i = 0; i < 100 && (await call(cS, "server-count")) !== 2; i++) await sleep(50);
  });

  after(async () => {
    cN?.disconnect();
    cS?.disconnect();
    await redisClient?.quit();
    await stopAll();
  });

  test("emit and room emit", async () => {
    emitter.emit("from-emitter", { x: 1 }, Buffer.from([9]));
    await until(() => got(cN, "from-emitter").length === 1 && got(cS, "from-emitter").length === 1);
    assert.deepEqual(got(cS, "from-emitter")[0].slice(0, 2), ["from-emitter", { x: 1 }]);
    assert.deepEqual([...got(cS, "from-emitter")[0][2]], [9]);

    await call(cS, "join", "room1");
    emitter.to("room1").emit("room-emit", "r");
    emitter.except("room1").emit("except-emit", "e");
    await until(() => got(cS, "room-emit").length === 1 && got(cN, "except-emit").length === 1);
    await sleep(150);
    assert.equal(got(cN, "room-emit").length, 0);
    assert.equal(got(cS, "except-emit").length, 0);
  });

  test("socketsJoin then room emit, socketsLeave", async () => {
    emitter.socketsJoin("ej");
    await sleep(150);
    emitter.to("ej").emit("ej-emit");
    await until(() => got(cN, "ej-emit").length === 1 && got(cS, "ej-emit").length === 1);
    emitter.in(cS.id).socketsLeave("ej");
    await sleep(150);
    const inRoom = await call(cN, "fetch-sockets", { ops: [["to", "ej"]] });
    assert.deepEqual(inRoom.map((s) => s.id), [cN.id]);
  });

  test("serverSideEmit reaches both kinds", async () => {
    emitter.serverSideEmit("sse-ping", "from emitter");
    await sleep(200);
    assert.deepEqual(await call(cN, "server-side-log"), [["sse-ping", "from emitter"]]);
    assert.deepEqual(await call(cS, "server-side-log"), [["sse-ping", "from emitter"]]);
  });

  test("disconnectSockets", async () => {
    const gone = new Promise((resolve) => cS.once("disconnect", resolve));
    emitter.in(cS.id).disconnectSockets();
    assert.equal(await gone, "io server disconnect");
    assert.ok(cN.connected);
  });
});
