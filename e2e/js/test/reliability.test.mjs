// Reliability cases of the hardening issue, with the official socket.io-client against the
// `testserver` binary: slow consumers on both transports, and delivery under connection jitter
// with connection state recovery. Each case is bounded in count and time; the server's RSS
// is reported before, during and after (t.diagnostic) and bounded where the issue says so.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { io as ioc } from "socket.io-client";
import { startServer } from "../lib/server.mjs";
import { request, sleep, within } from "../lib/eio.mjs";

let server;
let url;

before(async () => {
  server = await startServer({ name: "testserver" });
  url = server.url;
});
after(async () => {
  await server?.stop();
});

function rssMiB() {
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
  const kb = Number(status.match(/VmRSS:\s+(\d+)/)[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

function connect(path, opts = {}) {
  const socket = ioc(url, { path, forceNew: true, reconnection: false, transports: ["websocket"], ...opts });
  return within(5000, new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  }), `connect ${path}`);
}

async function reasonOf(sid) {
  const res = await request("GET", `${url}/reasons?sid=${sid}`);
  const list = JSON.parse(res.body);
  return list.length ? list[list.length - 1].reason : null;
}

/** A polling client that joins `/` and then never polls again (a throttled background tab). */
async function stalledPoller(path) {
  const base = `${url}${path}?EIO=4&transport=polling`;
  const hs = await request("GET", base);
  const sid = JSON.parse(hs.body.slice(1)).sid;
  await request("POST", `${base}&sid=${sid}`, { body: "40", headers: { "content-type": "text/plain" } });
  const connected = await request("GET", `${base}&sid=${sid}`);
  return JSON.parse(connected.body.match(/^40(\{.*?\})/)[1]).sid;
}

describe("slow consumers", () => {
  for (const mode of ["polling", "websocket"]) {
    test(`a ${mode} client that stops reading is dropped; everyone else gets every broadcast`, { timeout: 60000 }, async (t) => {
      const path = "/smallqueue/"; // 1 MiB send queue per client
      const rssBefore = rssMiB();
      const readers = [];
      for (let i = 0; i < 5; i++) readers.push(await connect(path));
      const counts = readers.map(() => 0);
      readers.forEach((r, i) => r.on("big", () => counts[i]++));
      let slowId;
      let slowClient;
      if (mode === "polling") {
        slowId = await stalledPoller(path);
      } else {
        slowClient = await connect(path);
        slowId = slowClient.id;
        // Stop reading from the TCP socket: the server's writes back up, then its queue.
        slowClient.io.engine.transport.ws._socket.pause();
      }
      const sender = readers[0];
      const big = "x".repeat(64 * 1024);
      const total = 200;
      let droppedAt = null;
      let limitPassedAt = null;
      let peakRss = rssBefore;
      const started = Date.now();
      for (let i = 0; i < total; i++) {
        await sender.timeout(5000).emitWithAck("emit-op", { from: "ns", event: "big" }, i, big);
        // 17 broadcasts of 64 KiB pass a 1 MiB queue that nobody drains (over polling nothing
        // leaves it; over WebSocket the kernel's buffers take some first).
        if (i === 16 && mode === "polling") limitPassedAt = Date.now();
        if (i % 10 === 0) {
          peakRss = Math.max(peakRss, rssMiB());
          if (droppedAt === null && (await reasonOf(slowId)) !== null) droppedAt = Date.now();
        }
      }
      const deadline = Date.now() + 5000;
      while (droppedAt === null && Date.now() < deadline) {
        if ((await reasonOf(slowId)) !== null) droppedAt = Date.now();
        else await sleep(20);
      }
      assert.ok(droppedAt !== null, "the slow client was dropped");
      assert.equal(await reasonOf(slowId), "transport error");
      if (limitPassedAt !== null) {
        assert.ok(droppedAt - limitPassedAt <= 1000, `dropped ${droppedAt - limitPassedAt} ms after passing its limit`);
      }
      // every other client receives 100% of the broadcasts
      const end = Date.now() + 10000;
      while (counts.some((c) => c < total) && Date.now() < end) await sleep(20);
      assert.deepEqual(counts, readers.map(() => total), "every reader got every broadcast");
      peakRss = Math.max(peakRss, rssMiB());
      assert.ok(peakRss < 64, `server RSS peaked at ${peakRss} MiB`);
      for (const r of readers) r.close();
      slowClient?.close();
      await sleep(200);
      t.diagnostic(
        `${mode}: dropped ${droppedAt - started} ms after the first broadcast` +
          (limitPassedAt ? `, ${droppedAt - limitPassedAt} ms after passing its queue limit` : "") +
          `; readers ${counts.join("/")} of ${total}; RSS before ${rssBefore} MiB, peak ${peakRss}, after ${rssMiB()}`,
      );
    });
  }
});

describe("delivery under jitter", () => {
  test("clients whose TCP sockets are destroyed every second or so, recovery on: 100% delivered", { timeout: 90000 }, async (t) => {
    const path = "/recovery/";
    const rssBefore = rssMiB();
    const clients = [];
    for (let i = 0; i < 5; i++) {
      clients.push(await connect(path, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }));
    }
    const got = clients.map(() => []);
    clients.forEach((c, i) => c.on("n", (n) => got[i].push(n)));
    const recoveries = clients.map(() => 0);
    clients.forEach((c, i) => c.on("connect", () => { if (c.recovered) recoveries[i]++; }));
    const sender = await connect(path);

    let stop = false;
    let drops = 0;
    const jitter = clients.map(async (c, i) => {
      await sleep(300 + i * 150);
      while (!stop) {
        const ws = c.io.engine?.transport?.ws;
        if (c.connected && ws?._socket) {
          ws._socket.destroy();
          drops++;
        }
        await sleep(700 + Math.floor(Math.random() * 800));
      }
    });

    const total = 300;
    let peakRss = rssBefore;
    for (let i = 0; i < total; i++) {
      await sender.timeout(5000).emitWithAck("emit-op", { from: "ns", event: "n" }, i);
      await sleep(20);
      if (i % 50 === 0) peakRss = Math.max(peakRss, rssMiB());
    }
    stop = true;
    await Promise.all(jitter);
    const end = Date.now() + 15000;
    while (got.some((g) => new Set(g).size < total) && Date.now() < end) await sleep(50);

    const expected = Array.from({ length: total }, (_, i) => i);
    for (let i = 0; i < clients.length; i++) {
      const missing = expected.filter((n) => !got[i].includes(n));
      const duplicates = got[i].length - new Set(got[i]).size;
      assert.deepEqual(missing, [], `client ${i} missed ${missing.length} of ${total}`);
      assert.equal(duplicates, 0, `client ${i} got ${duplicates} duplicates`);
      assert.deepEqual(got[i], expected, `client ${i} got them in order`);
    }
    assert.ok(drops >= 10, `only ${drops} connection drops`);
    assert.ok(recoveries.every((r) => r > 0), `recoveries per client: ${recoveries}`);
    for (const c of clients) c.close();
    sender.close();
    await sleep(200);
    t.diagnostic(
      `${drops} TCP drops over ${clients.length} clients, recoveries ${recoveries.join("/")}, ` +
        `${total} of ${total} delivered to each; RSS before ${rssBefore} MiB, peak ${peakRss}, after ${rssMiB()}`,
    );
  });
});
