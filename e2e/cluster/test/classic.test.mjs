// Mixed clusters on the classic, the sharded and the streams adapter (streams: CSR off here, see
// streams.test.mjs for recovery): Node node N (socket.io 4.8.4 +
// @socket.io/redis-adapter 8.3.0) and sockgate nodes S1, S2 on one redis-server, one official
// client on each. Every operation is started on both kinds of node.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  call, client, haveRedis, roomSubscribed, sleep, startNodeNode, startRedis, startSockgateNode, stopAll, until,
} from "../lib.mjs";

const skip = haveRedis() ? false : "redis-server not installed (apt-get install -y redis-server)";

for (const mode of ["classic", "sharded", "streams"]) describe(`${mode} adapter, Node + sockgate`, { skip }, () => {
  let redis, N, S1, S2, cN, cS1, cS2;
  const clients = () => [cN, cS1, cS2];
  const got = (socket, event) => socket.received.filter(([e]) => e === event);
  const clear = () => clients().forEach((c) => (c.received.length = 0));

  before(async () => {
    redis = await startRedis();
    [N, S1, S2] = await Promise.all([
      startNodeNode(redis.url, "N", mode),
      startSockgateNode(redis.url, "S1", mode),
      startSockgateNode(redis.url, "S2", mode),
    ]);
    [cN, cS1, cS2] = await Promise.all([client(N, "cN"), client(S1, "cS1"), client(S2, "cS2")]);
    await call(cN, "set-data", { on: "N" });
    await call(cS1, "set-data", { on: "S1" });
    await call(cS2, "set-data", { on: "S2" });
    for (let i = 0; i < 100; i++) {
      const counts = await Promise.all(clients().map((c) => call(c, "server-count")));
      if (counts.every((n) => n === 3)) break;
      await sleep(50);
    }
  });

  after(async () => {
    clients().forEach((c) => c?.disconnect());
    await stopAll();
  });

  test("serverCount counts every node, on both kinds", async () => {
    for (const c of clients()) assert.equal(await call(c, "server-count"), 3, c.label);
  });

  test("io.emit crosses both ways", async () => {
    clear();
    await call(cN, "emit-op", { event: "hello" }, { from: "N", n: 1 });
    await until(() => clients().every((c) => got(c, "hello").length === 1), 5000, "hello from N");
    assert.deepEqual(got(cS1, "hello")[0], ["hello", { from: "N", n: 1 }]);
    await call(cS1, "emit-op", { event: "hello" }, { from: "S1", n: 2 });
    await until(() => clients().every((c) => got(c, "hello").length === 2), 5000, "hello from S1");
    assert.deepEqual(got(cN, "hello")[1], ["hello", { from: "S1", n: 2 }]);
    assert.deepEqual(got(cS2, "hello")[1], ["hello", { from: "S1", n: 2 }]);
  });

  test("rooms and except cross both ways", async () => {
    await call(cN, "join", "room1");
    await call(cS2, "join", "room1");
    if (mode === "sharded") await roomSubscribed(redis, "room1", 2);
    clear();
    await call(cS1, "emit-op", { event: "r", ops: [["to", "room1"]] }, "from S1");
    await call(cN, "emit-op", { event: "r", ops: [["to", "room1"], ["except", cN.id]] }, "from N");
    await call(cS2, "emit-op", { event: "x", ops: [["except", "room1"]] }, "from S2");
    await until(() => got(cN, "r").length === 1 && got(cS2, "r").length === 2, 5000, "room events");
    await until(() => got(cS1, "x").length === 1, 5000, "except event");
    await sleep(200);
    assert.equal(got(cS1, "r").length, 0, "cS1 is not in room1");
    assert.equal(got(cN, "x").length + got(cS2, "x").length, 0, "room1 was excepted");
    assert.deepEqual(got(cN, "r"), [["r", "from S1"]]);
    // A socket id is a room: to(<sockgate sid>) from Node.
    await call(cN, "emit-op", { event: "direct", ops: [["to", cS1.id]] }, "to you");
    await until(() => got(cS1, "direct").length === 1, 5000, "to(sid)");
  });

  test("binary crosses both ways", async () => {
    clear();
    await call(cN, "emit-op", { event: "bin" }, Buffer.from([1, 2, 3]));
    await call(cS1, "emit-op", { event: "bin2" }, { nested: Buffer.from([4, 5]) });
    await until(() => got(cS2, "bin").length === 1 && got(cN, "bin2").length === 1, 5000, "binary");
    assert.deepEqual([...got(cS2, "bin")[0][1]], [1, 2, 3]);
    assert.deepEqual([...got(cN, "bin2")[0][1].nested], [4, 5]);
  });

  test("fetchSockets sees the other kind's sockets", async () => {
    const expected = [
      { id: cN.id, data: { on: "N" } },
      { id: cS1.id, data: { on: "S1" } },
      { id: cS2.id, data: { on: "S2" } },
    ];
    // Node and Rust sort strings differently: compare by code unit here.
    const byId = (list) => [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const c of [cN, cS1]) {
      const sockets = await call(c, "fetch-sockets", {});
      assert.deepEqual(byId(sockets.map(({ id, data }) => ({ id, data }))), byId(expected), c.label);
    }
    const inRoom = await call(cN, "fetch-sockets", { ops: [["to", "room1"]] });
    const s2 = inRoom.find((s) => s.id === cS2.id);
    assert.deepEqual(s2.rooms, [cS2.id, "room1"].sort());
    const fromS1 = await call(cS1, "fetch-sockets", { ops: [["to", "room1"]] });
    assert.deepEqual(fromS1.map((s) => s.id).sort(), [cN.id, cS2.id].sort());
  });

  test("socketsJoin / socketsLeave cross both ways", async () => {
    await call(cN, "sockets-join", { rooms: ["joined-by-N"] });
    await call(cS1, "sockets-join", { ops: [["to", "room1"]], rooms: ["joined-by-S1"] });
    await sleep(200);
    let sockets = await call(cS2, "fetch-sockets", { ops: [["to", "joined-by-N"]] });
    assert.equal(sockets.length, 3);
    sockets = await call(cN, "fetch-sockets", { ops: [["to", "joined-by-S1"]] });
    assert.deepEqual(sockets.map((s) => s.id).sort(), [cN.id, cS2.id].sort());

    await call(cS1, "sockets-leave", { rooms: ["joined-by-N"] });
    await call(cN, "sockets-leave", { rooms: ["joined-by-S1"] });
    await sleep(200);
    assert.equal((await call(cN, "fetch-sockets", { ops: [["to", "joined-by-N"]] })).length, 0);
    assert.equal((await call(cS2, "fetch-sockets", { ops: [["to", "joined-by-S1"]] })).length, 0);
  });

  test("allRooms spans the cluster (classic only: the Cluster model has no such request)", { skip: mode !== "classic" }, async () => {
    for (const c of [cN, cS1]) {
      const rooms = await call(c, "all-rooms");
      for (const room of ["room1", cN.id, cS1.id, cS2.id]) assert.ok(rooms.includes(room), `${c.label}: ${room}`);
    }
  });

  test("broadcast with acks collects every client's ack, started on either kind", async () => {
    const all = ["ack from cN", "ack from cS1", "ack from cS2"];
    const fromS1 = await call(cS1, "broadcast-ack", { event: "ask", timeout: 2000 }, "q");
    assert.deepEqual(fromS1, { error: null, responses: all });
    const fromN = await call(cN, "broadcast-ack", { event: "ask", timeout: 2000 }, "q");
    assert.deepEqual(fromN, { error: null, responses: all });
    const room = await call(cN, "broadcast-ack", { event: "ask", ops: [["to", "room1"]] }, "q");
    assert.deepEqual(room, { error: null, responses: ["ack from cN", "ack from cS2"] });
  });

  test("an ack whose one argument is an array stays one argument, started on either kind", async () => {
    // Regression: a remote answer `cb(["list", name])` reached a sockgate node spread into
    // two arguments, so the first argument read "list".
    const all = [["list", "cN"], ["list", "cS1"], ["list", "cS2"]];
    for (const c of [cS1, cN]) {
      const result = await call(c, "broadcast-ack", { event: "ask-list", timeout: 2000 });
      assert.deepEqual(result, { error: null, responses: all }, c.label);
    }
  });

  test("RemoteSocket emit/join/leave/disconnect reach the other kind's sockets", async () => {
    const fromTo = [[cS1, cN], [cN, cS2], [cS1, cS2]];
    for (const [from, to] of fromTo) {
      clear();
      const where = `${from.label} -> ${to.label}`;
      let r = await call(from, "remote-socket", { id: to.id, op: "emit", event: "direct" }, "hi", 2);
      assert.deepEqual(r, { error: null }, where);
      await until(() => got(to, "direct").length === 1, 5000, `emit ${where}`);
      assert.deepEqual(got(to, "direct")[0], ["direct", "hi", 2]);
      const room = `rs-${from.label}-${to.label}`;
      r = await call(from, "remote-socket", { id: to.id, op: "join", rooms: [room] });
      assert.deepEqual(r, { error: null }, where);
      await until(async () => (await call(cS2, "fetch-sockets", { ops: [["to", room]] })).length === 1, 5000, `join ${where}`);
      const members = await call(cN, "fetch-sockets", { ops: [["to", room]] });
      assert.deepEqual(members.map((s) => s.id), [to.id], where);
      await call(from, "remote-socket", { id: to.id, op: "leave", rooms: [room] });
      await until(async () => (await call(cN, "fetch-sockets", { ops: [["to", room]] })).length === 0, 5000, `leave ${where}`);
    }
    // Others receive nothing from a RemoteSocket's emit.
    assert.equal(got(cN, "direct").length + got(cS1, "direct").length, 0);
  });

  test("serverSideEmit with and without acks, started on either kind", async () => {
    let result = await call(cS1, "server-side-emit", { event: "sse-ping" }, "from S1");
    assert.deepEqual(result, { error: null });
    result = await call(cN, "server-side-emit", { event: "sse-ping" }, "from N");
    assert.deepEqual(result, { error: null });
    await sleep(200);
    assert.deepEqual(await call(cN, "server-side-log"), [["sse-ping", "from S1"]]);
    assert.deepEqual(await call(cS2, "server-side-log"), [["sse-ping", "from S1"], ["sse-ping", "from N"]]);
    assert.deepEqual(await call(cS1, "server-side-log"), [["sse-ping", "from N"]], "not to itself");

    result = await call(cS1, "server-side-emit", { event: "sse-ping", ack: true }, "ack?");
    assert.deepEqual(result, { error: null, responses: ["N got sse-ping", "S2 got sse-ping"] });
    result = await call(cN, "server-side-emit", { event: "sse-ping", ack: true }, "ack?");
    assert.deepEqual(result, { error: null, responses: ["S1 got sse-ping", "S2 got sse-ping"] });
  });

  test("RemoteSocket.disconnect crosses both ways", async () => {
    const extraN = await client(N, "xN");
    const extraS = await client(S2, "xS2");
    const nGone = new Promise((resolve) => extraN.once("disconnect", resolve));
    assert.deepEqual(await call(cS1, "remote-socket", { id: extraN.id, op: "disconnect" }), { error: null });
    assert.equal(await nGone, "io server disconnect");
    const sGone = new Promise((resolve) => extraS.once("disconnect", resolve));
    assert.deepEqual(await call(cN, "remote-socket", { id: extraS.id, op: "disconnect" }), { error: null });
    assert.equal(await sGone, "io server disconnect");
    assert.ok(cN.connected && cS1.connected && cS2.connected);
  });

  test("disconnectSockets crosses both ways", async () => {
    await call(cS2, "join", "kick");
    const s2Gone = new Promise((resolve) => cS2.once("disconnect", resolve));
    await call(cN, "disconnect-sockets", { ops: [["to", "kick"]] });
    assert.equal(await s2Gone, "io server disconnect");
    const nGone = new Promise((resolve) => cN.once("disconnect", resolve));
    await call(cS1, "disconnect-sockets", { ops: [["to", cN.id]] });
    assert.equal(await nGone, "io server disconnect");
    assert.ok(cS1.connected);
  });
});
