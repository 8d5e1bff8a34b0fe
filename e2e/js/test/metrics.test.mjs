// Prometheus metrics of the chat example (issue 12): a scripted scenario with the official
// socket.io-client (and one raw WebSocket for what the client never does), then exact counts
// on GET /metrics, and the output validated by `promtool check metrics` (Debian's
// prometheus package; scripts/test.sh installs it when missing).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { binaryPath, freePort, repoRoot } from "../lib/server.mjs";
import { sleep, within } from "../lib/eio.mjs";

let chat;

before(async () => {
  const port = await freePort();
  const child = spawn(binaryPath("chat"), [], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", RUST_LOG: "warn", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.on("data", (chunk) => (stdout += chunk.toString()));
  child.stderr.on("data", () => {});
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await within(
    20000,
    (async () => {
      while (!stdout.includes(`chat listening on http://127.0.0.1:${port}/`)) {
        if (child.exitCode !== null) throw new Error(`chat exited (${child.exitCode}):\n${stdout}`);
        await sleep(20);
      }
    })(),
    "chat to listen",
  );
  chat = {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
});

after(async () => {
  await chat?.stop();
});

/** The samples of the /metrics text: `name{labels}` -> value. */
function parse(text) {
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function scrape() {
  const response = await fetch(`${chat.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** Sum of every sample of the family `name`. */
function total(samples, name) {
  return [...samples].filter(([k]) => k.startsWith(`${name}{`)).reduce((sum, [, v]) => sum + v, 0);
}

/** Scrapes until `ready(samples)` (bounded), then returns the samples. */
async function scrapeUntil(ready, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const samples = parse(await scrape());
    if (ready(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`/metrics never showed ${what}:\n${[...samples].join("\n")}`);
    await sleep(50);
  }
}

function client(name) {
  return io(`${chat.url}/example`, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    query: { name },
  });
}

function next(socket, event, ms = 3000) {
  return within(ms, new Promise((resolve) => socket.once(event, (...args) => resolve(args))), `'${event}'`);
}

/** A raw WebSocket client of /example: its frames, in order, as strings. */
async function rawClient() {
  const ws = new WebSocket(`${chat.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  ws.on("message", (data) => frames.push(data.toString()));
  const waitFrame = async (pred, what) => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const index = frames.findIndex(pred);
      if (index >= 0) return frames.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`raw client: no ${what} in ${JSON.stringify(frames)}`);
      await sleep(10);
    }
  };
  await waitFrame((f) => f.startsWith("0"), "OPEN");
  ws.send("40/example,");
  await waitFrame((f) => f.startsWith("40/example,"), "CONNECT answer");
  const closed = new Promise((resolve) => ws.once("close", resolve));
  return { ws, waitFrame, closed };
}

test("GET /metrics counts a scripted scenario exactly and promtool accepts it", async () => {
  const ns = 'namespace="/example"';
  // N = 4 connects: three official clients, one by one, then a raw WebSocket client (no name).
  const clients = [];
  for (const name of ["ann", "bob", "cid"]) {
    const socket = client(name);
    await next(socket, "joined");
    clients.push(socket);
  }
  const [ann, bob, cid] = clients;
  const raw = await rawClient();
  await raw.waitFrame((f) => f.startsWith('42/example,["joined"'), "joined");

  // M = 4 events from named clients, each broadcast to the 4 sockets.
  for (const [socket, text] of [[ann, "one"], [ann, "two"], [bob, "three"], [cid, "four"]]) {
    const got = Promise.all([ann, bob, cid].map((s) => next(s, "message")));
    socket.emit("message", text);
    await got;
    await raw.waitFrame((f) => f.startsWith('42/example,["message"'), "message");
  }
  // A 5th event, from the nameless raw client: the handler fails (NestJS's `exception` to it).
  raw.ws.send('42/example,["message","x"]');
  await raw.waitFrame((f) => f.startsWith('42/example,["exception"'), "exception");

  // K = 3 disconnects, by three reasons.
  let left = next(cid, "left");
  ann.disconnect(); // client namespace disconnect
  await left;
  left = next(cid, "left");
  bob.io.engine.close(); // transport close
  await left;
  left = next(cid, "left");
  raw.ws.send("4not a packet"); // parse error
  await left;
  await raw.closed;

  // The last session's close is reported once its transport is done: wait for the three.
  const samples = await scrapeUntil(
    (s) => s.get(`sockgate_sockets{${ns}}`) === 1 && total(s, "sockgate_engine_sessions_closed_total") === 3,
    "1 socket and 3 closed sessions",
  );
  const expected = {
    'sockgate_engine_sessions_opened_total{transport="websocket"}': 4,
    'sockgate_engine_sessions_opened_total{transport="polling"}': 0,
    'sockgate_engine_sessions{transport="websocket"}': 1,
    'sockgate_engine_upgrades_total': 0,
    [`sockgate_connects_total{${ns}}`]: 4,
    [`sockgate_disconnects_total{${ns},reason="client namespace disconnect"}`]: 1,
    [`sockgate_disconnects_total{${ns},reason="transport close"}`]: 1,
    [`sockgate_disconnects_total{${ns},reason="parse error"}`]: 1,
    [`sockgate_disconnects_total{${ns},reason="ping timeout"}`]: 0,
    [`sockgate_packets_received_total{${ns},type="connect"}`]: 4,
    [`sockgate_packets_received_total{${ns},type="event"}`]: 5,
    [`sockgate_packets_received_total{${ns},type="disconnect"}`]: 1,
    // joined: 4 broadcasts; message: 4; left: 3.
    [`sockgate_broadcasts_total{${ns}}`]: 11,
    // joined 1+2+3+4, message 4×4, left 3+2+1.
    [`sockgate_broadcast_deliveries_total{${ns}}`]: 32,
    // The deliveries, and the `exception` to the raw client.
    [`sockgate_packets_sent_total{${ns},type="event"}`]: 33,
    [`sockgate_packets_sent_total{${ns},type="connect"}`]: 4,
    [`sockgate_handler_failures_total{${ns},kind="errored"}`]: 1,
    [`sockgate_handler_failures_total{${ns},kind="panicked"}`]: 0,
    [`sockgate_dropped_packets_total{${ns},reason="queue_full"}`]: 0,
    // The server closed the parse error's session.
    [`sockgate_engine_sessions_closed_total{reason="forced close"}`]: 1,
  };
  for (const [series, value] of Object.entries(expected)) {
    assert.equal(samples.get(series), value, series);
  }
  // The two others were closed by their clients.
  assert.equal(samples.get('sockgate_engine_sessions_closed_total{reason="transport close"}'), 2);
  // Bytes: every received packet counted, `42/example,["message","one"]` (28 bytes) among them.
  assert.ok(samples.get(`sockgate_received_bytes_total{${ns}}`) >= 4 * 11 + 28);
  // Every handled message (5) and connection was timed.
  assert.ok(samples.get(`sockgate_handler_duration_seconds_count{${ns}}`) >= 5);
  cid.disconnect();

  const text = await scrape();
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  assert.equal(check.error, undefined, "promtool must be installed (scripts/test.sh installs it)");
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}\n${text}`);
});

test("/metrics answers only GET and HEAD", async () => {
  const response = await fetch(`${chat.url}/metrics`, { method: "POST" });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET, HEAD");
});
