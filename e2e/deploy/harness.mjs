// The rolling-deploy and jitter scenarios: Redis, two nodes of one kind behind HAProxy,
// official socket.io-client clients (WebSocket, polling, and polling upgraded to WebSocket,
// in thirds), and a publisher process (publisher.mjs) that XADDs a broadcast with a sequence
// number to the stream every 100 ms (the entry @socket.io/redis-streams-emitter writes).
//
// What is measured, per client: every sequence number received exactly once (lost and
// duplicated counted), every reconnect recovered (`socket.recovered`, same `socket.id`).
// Per scenario: the time from each SIGTERM until every client that lost its transport is
// connected again ("back"), and the replay latency: for each packet published while a client
// was away, its arrival minus the moment that client's recovered CONNECT completed.
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";
import { freePort, percentile, startHaproxy, startNode, startRedis } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** An HTTP agent whose TCP sockets can all be destroyed at once (the jitter). */
function destroyableAgent() {
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set();
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return socket;
  };
  // With an error, as a reset connection: xmlhttprequest-ssl (the polling transport in Node)
  // does not notice a socket that just closes under a pending request, and would wait for
  // the ping timeout.
  agent.destroyAll = () => {
    for (const socket of sockets) socket.destroy(new Error("jitter: connection destroyed"));
  };
  return agent;
}

const TRANSPORTS = [["websocket"], ["polling"], ["polling", "websocket"]];

/** The publisher process (publisher.mjs): XADDs a numbered broadcast every 100 ms. */
class Publisher {
  constructor(redisUrl) {
    this.redisUrl = redisUrl;
    this.seq = 0;
    this.errors = 0;
  }
  async start() {
    this.child = spawn(process.execPath, [path.join(here, "publisher.mjs"), "--redis", this.redisUrl], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.output = "";
    this.child.stdout.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
    const deadline = Date.now() + 10_000;
    while (!this.output.includes("publishing")) {
      if (Date.now() > deadline) throw new Error(`the publisher did not start: ${this.output}`);
      await sleep(20);
    }
  }
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    await Promise.race([this.exited, sleep(5000)]);
    const match = /last (\d+) errors (\d+)/.exec(this.output);
    if (match) {
      this.seq = Number(match[1]);
      this.errors = Number(match[2]);
    } else {
      this.child.kill("SIGKILL");
      this.errors = -1;
    }
  }
}

/** When the entry at stream offset `ms-seq` was written (Redis's clock, same machine). */
const offsetTime = (offset) => (typeof offset === "string" ? Number(offset.split("-")[0]) : undefined);

class Client {
  constructor(url, index) {
    this.index = index;
    this.transports = TRANSPORTS[index % TRANSPORTS.length];
    this.agent = destroyableAgent();
    this.counts = new Map();
    this.firstCopy = new Map();
    this.reconnects = [];
    this.disconnectedAt = null;
    this.replayFrom = null;
    this.socket = connect(url, {
      transports: this.transports,
      withCredentials: true,
      agent: this.agent,
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
    });
  }
  watch(publisher, replayLatencies) {
    this.socket.on("connect", () => {
      const now = Date.now();
      if (this.id === undefined) {
        this.id = this.socket.id;
        return;
      }
      this.reconnects.push({
        at: now,
        after: now - (this.disconnectedAt ?? now),
        recovered: this.socket.recovered === true,
        sameId: this.socket.id === this.id,
      });
      this.replayFrom = { at: now, away: this.disconnectedAt ?? now };
      this.disconnectedAt = null;
    });
    this.socket.on("disconnect", (reason) => {
      this.disconnectedAt ??= Date.now();
      (this.reasons ??= []).push(reason);
    });
    this.socket.on("tick", (seq, offset) => {
      const now = Date.now();
      const count = (this.counts.get(seq) ?? 0) + 1;
      this.counts.set(seq, count);
      // Where each copy came from, for the report of a duplicate: the offset, and after how
      // many reconnects it arrived.
      const copy = { at: now, offset, after: this.reconnects.length, transport: this.socket.io.engine?.transport?.name };
      if (count === 1) this.firstCopy.set(seq, copy);
      else (this.extraCopies ??= []).push({ seq, first: this.firstCopy.get(seq), again: copy });
      // Published before the recovered CONNECT and first seen after it: a replayed packet.
      const published = offsetTime(offset);
      if (count === 1 && this.replayFrom && published !== undefined && published < this.replayFrom.at) {
        replayLatencies.push(now - this.replayFrom.at);
      }
    });
  }
  get down() {
    return !this.socket.connected;
  }
  close() {
    this.socket.disconnect();
    this.agent.destroy();
  }
}

/** How many seqs in 1..last each client missed or got twice, and their recovery record. */
function tally(clients, last, stoppedAt) {
  let lost = 0;
  let duplicated = 0;
  let reconnects = 0;
  let recovered = 0;
  const worst = [];
  for (const client of clients) {
    let missing = [];
    let twice = [];
    for (let seq = 1; seq <= last; seq++) {
      const count = client.counts.get(seq) ?? 0;
      if (count === 0) missing.push(seq);
      if (count > 1) twice.push(seq);
    }
    lost += missing.length;
    duplicated += twice.length;
    reconnects += client.reconnects.length;
    recovered += client.reconnects.filter((r) => r.recovered && r.sameId).length;
    if (missing.length || twice.length || client.reconnects.some((r) => !r.recovered || !r.sameId)) {
      worst.push({
        client: client.index,
        transports: client.transports.join("+"),
        missing: missing.slice(0, 20),
        duplicated: twice.slice(0, 20),
        copies: (client.extraCopies ?? []).slice(0, 5),
        reconnectTimes: client.reconnects.map((r) => r.at),
        disconnectReasons: client.reasons ?? [],
        lastTickAgoMs: Date.now() - Math.max(0, ...[...client.firstCopy.values()].map((c) => c.at)),
        reconnects: client.reconnects.map((r) => ({ recovered: r.recovered, sameId: r.sameId })),
      });
    }
  }
  // Nothing received in the last 5 s before the publisher stopped: a client whose transport
  // died without it noticing (it waits for the ping timeout, 45 s).
  const stalled = clients.filter(
    (c) => stoppedAt - Math.max(0, ...[...c.firstCopy.values()].map((copy) => copy.at)) > 5000,
  ).length;
  return { lost, duplicated, reconnects, recovered, stalled, failures: worst.slice(0, 10) };
}

/**
 * Runs one scenario and returns its numbers. `mode` is `deploy` (SIGTERM node A, start it
 * again, wait for its clients to be back, the same for B) or `jitter` (every client's TCP
 * sockets destroyed every `jitterMs` ± 50 %, for `jitterForMs`).
 */
export async function runScenario({
  kind,
  clients: count = 200,
  mode = "deploy",
  jitterMs = 3000,
  jitterForMs = 15_000,
  log = () => {},
}) {
  const redis = await startRedis();
  const ports = [await freePort(), await freePort()];
  const nodes = [
    await startNode(kind, "a", ports[0], redis.url),
    await startNode(kind, "b", ports[1], redis.url),
  ];
  const haproxy = await startHaproxy(ports);
  const publisher = new Publisher(redis.url);
  const clients = [];
  const replayLatencies = [];
  const restarts = [];
  try {
    await sleep(1000); // both servers UP in HAProxy (rise 2 × 300 ms)
    for (let i = 0; i < count; i++) {
      const client = new Client(haproxy.url, i);
      client.watch(publisher, replayLatencies);
      clients.push(client);
      if (i % 50 === 49) await sleep(100);
    }
    await until(() => clients.every((c) => c.id !== undefined), 30_000, "every client connected");
    log(`${kind}/${mode}: ${count} clients connected`);
    await publisher.start();
    await sleep(2000);

    if (mode === "deploy") {
      for (const [i, name] of ["a", "b"].entries()) {
        const sent = Date.now();
        const downBefore = clients.map((c) => c.reconnects.length);
        const exit = await Promise.race([
          nodes[i].signal("SIGTERM"),
          sleep(30_000).then(() => ({ code: "timeout" })),
        ]);
        const exitedAfter = Date.now() - sent;
        const drained = nodes[i].lines().filter((l) => l.startsWith("drained in")).at(-1) ?? null;
        nodes[i] = await startNode(kind, name, ports[i], redis.url);
        // Back: every client that lost its transport since the SIGTERM is connected again.
        await until(
          () => clients.every((c) => !c.down),
          60_000,
          `the clients of node ${name} back`,
        );
        const moved = clients.filter((c, j) => c.reconnects.length > downBefore[j]);
        const back = Math.max(0, ...moved.map((c) => c.reconnects.at(-1).at)) - sent;
        restarts.push({ node: name, exit, exitedAfterMs: exitedAfter, drained, moved: moved.length, backAfterMs: back });
        log(`${kind}: node ${name} restarted: exited after ${exitedAfter} ms, ${moved.length} clients back after ${back} ms`);
        await sleep(1500); // the new process UP in HAProxy before the next node drains
      }
    } else {
      const timers = clients.map((client) => {
        const jitter = () => {
          client.agent.destroyAll();
          client.timer = setTimeout(jitter, jitterMs * (0.5 + Math.random()));
        };
        client.timer = setTimeout(jitter, jitterMs * Math.random());
        return client;
      });
      await sleep(jitterForMs);
      for (const client of timers) clearTimeout(client.timer);
      await until(() => clients.every((c) => !c.down), 60_000, "every client back after jitter");
    }

    await sleep(2000);
    await publisher.stop();
    const stoppedAt = Date.now();
    const last = publisher.seq;
    // The last entries reach every client.
    await until(
      () => clients.every((c) => c.counts.has(last)),
      10_000,
      "the last broadcast delivered",
    ).catch(() => {});
    await sleep(500);
    const result = tally(clients, last, stoppedAt);
    return {
      kind,
      mode,
      clients: count,
      published: last,
      publishErrors: publisher.errors,
      ...result,
      restarts,
      replayed: replayLatencies.length,
      replayP50Ms: percentile(replayLatencies, 50),
      replayP99Ms: percentile(replayLatencies, 99),
      reconnectP99Ms: percentile(
        clients.flatMap((c) => c.reconnects.map((r) => r.after)),
        99,
      ),
    };
  } finally {
    for (const client of clients) client.close();
    await publisher.stop().catch(() => {});
    await haproxy.kill();
    for (const node of nodes) await node.kill();
    await redis.kill();
  }
}
