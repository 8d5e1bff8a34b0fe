// The seed's example, exactly: the `chat` binary (examples/chat, the NestJS ExampleGateway
// ported to sockgate) driven by the official socket.io-client, raw HTTP and a raw WebSocket.
//
// `chat` reads PORT/HOST from the environment (not --port), so this file starts it itself on a
// free port and keeps its stdout, where the connect/disconnect log lines go.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, afterEach, before, test } from "node:test";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { binaryPath, freePort, repoRoot } from "../lib/server.mjs";
import { sleep, within } from "../lib/eio.mjs";

let chat;
let url;
let stdout = "";
const open = new Set();

/** Starts `chat` on a free port and waits for its "listening" line. */
async function startChat() {
  const port = await freePort();
  const child = spawn(binaryPath("chat"), [], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", RUST_LOG: "info", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk.toString();
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await within(
    20000,
    (async () => {
      while (!stdout.includes(`chat listening on http://127.0.0.1:${port}/`)) {
        if (child.exitCode !== null) throw new Error(`chat exited (${child.exitCode}):\n${stdout}\n${stderr}`);
        await sleep(20);
      }
    })(),
    "chat to listen",
  );
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

before(async () => {
  chat = await startChat();
  url = chat.url;
});

after(async () => {
  for (const s of open) s.disconnect();
  await chat?.stop();
});

afterEach(() => {
  for (const s of open) s.disconnect();
  open.clear();
});

/** The seed's client: namespace /example, WebSocket only. */
function client(query, opts = {}) {
  const socket = io(`${url}/example`, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    query,
    ...opts,
  });
  open.add(socket);
  return socket;
}

function connected(socket) {
  return within(
    5000,
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    "connect",
  );
}

function next(socket, event, ms = 3000) {
  return within(ms, new Promise((resolve) => socket.once(event, (...args) => resolve(args))), `'${event}'`);
}

function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}

/** Strips ANSI colours, in case the log is coloured. */
function plain(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

async function waitForLog(pattern, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = plain(stdout).match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`log line ${pattern} not found in:\n${plain(stdout)}`);
    await sleep(20);
  }
}

test('"alice" sending "hi" makes every client of /example, sender included, receive "alice : hi"', async () => {
  const alice = await connected(client({ name: "alice" }));
  const bob = await connected(client({ name: "bob" }));
  const carol = await connected(client({ name: "carol" }));
  const got = Promise.all([alice, bob, carol].map((s) => next(s, "message")));
  alice.emit("message", "hi");
  for (const args of await got) assert.deepEqual(args, ["alice : hi"]);
  // the whole name, not its first character (the seed's `name[0]` quirk, documented)
  const fromBob = Promise.all([alice, bob, carol].map((s) => next(s, "message")));
  bob.emit("message", "hello there");
  for (const args of await fromBob) assert.deepEqual(args, ["bob : hello there"]);
});

test("no ack for message (parity: the handler returns nothing)", async () => {
  const alice = await connected(client({ name: "alice" }));
  const message = next(alice, "message");
  await assert.rejects(alice.timeout(200).emitWithAck("message", "ack?"), /operation has timed out/);
  assert.deepEqual(await message, ["alice : ack?"]);
});

test("the CONNECT reply carries a namespace socket id distinct from the engine sid; OPEN has Node's values", async () => {
  const s = await connected(client({ name: "dave" }));
  assert.equal(typeof s.id, "string");
  assert.notEqual(s.id, s.io.engine.id);

  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&name=raw`);
  try {
    const [first] = await within(3000, new Promise((resolve) => ws.once("message", (d) => resolve([d.toString()]))), "OPEN");
    assert.equal(first[0], "0");
    const open = JSON.parse(first.slice(1));
    assert.deepEqual(
      { upgrades: open.upgrades, pingInterval: open.pingInterval, pingTimeout: open.pingTimeout, maxPayload: open.maxPayload },
      { upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 },
    );
  } finally {
    ws.close();
  }
});

test('polling is refused with 400 {"code":0,"message":"Transport unknown"} and CORS *', async () => {
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling&name=alice`, {
    headers: { Origin: "http://elsewhere.example" },
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.deepEqual(await res.json(), { code: 0, message: "Transport unknown" });

  // without an Origin header too (the cors package answers * regardless)
  const bare = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(bare.status, 400);
  assert.equal(bare.headers.get("access-control-allow-origin"), "*");

  // a CORS preflight on the engine path
  const preflight = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, {
    method: "OPTIONS",
    headers: { Origin: "http://elsewhere.example", "Access-Control-Request-Method": "GET" },
  });
  assert.ok(preflight.status === 204 || preflight.status === 200, `preflight status ${preflight.status}`);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
});

test("a polling client (socket.io-client's default) gets connect_error", async () => {
  const s = client({ name: "alice" }, { transports: ["polling"] });
  const err = await connected(s).then(
    () => assert.fail("connected over polling"),
    (e) => e,
  );
  assert.match(err.message, /xhr poll error/);
  assert.equal(err.description, 400);
});

test("a missing name never panics: the sender gets the NestJS exception, nobody gets a message", async () => {
  const anonymous = await connected(client({}));
  const bystander = await connected(client({ name: "bystander" }));
  const anonymousMessages = record(anonymous, "message");
  const bystanderMessages = record(bystander, "message");
  const exception = next(anonymous, "exception");
  anonymous.emit("message", "hi");
  const [payload] = await exception;
  assert.deepEqual(Object.keys(payload).sort(), ["cause", "message", "status"]);
  assert.equal(payload.status, "error");
  assert.match(payload.message, /name/);
  assert.deepEqual(payload.cause, { pattern: "message", data: "hi" });
  await sleep(200);
  assert.deepEqual(anonymousMessages, []);
  assert.deepEqual(bystanderMessages, []);
  // still connected, and the server still works
  assert.ok(anonymous.connected);
  const got = next(bystander, "message");
  bystander.emit("message", "still here");
  assert.deepEqual(await got, ["bystander : still here"]);
});

test("the chat page's joined/left notices", async () => {
  const watcher = await connected(client({ name: "watcher" }));
  const joined = next(watcher, "joined");
  const erin = await connected(client({ name: "erin" }));
  assert.deepEqual(await joined, [{ name: "erin" }]);
  const left = next(watcher, "left");
  erin.disconnect();
  assert.deepEqual(await left, [{ name: "erin" }]);
});

test("GET / is the chat page and /socket.io/socket.io.js the official browser client", async () => {
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const html = await page.text();
  assert.match(html, /<script src="\/socket.io\/socket.io.js"><\/script>/);

  const js = await fetch(`${url}/socket.io/socket.io.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type") ?? "", /^(application|text)\/javascript/);
  const body = await js.text();
  assert.match(body, /Socket\.IO v4\.\d+\.\d+/);
  assert.ok(body.length > 10000);
});

test("connect and disconnect are logged with the socket id, the name and the reason", async () => {
  const s = await connected(client({ name: "logan" }));
  const id = s.id;
  await waitForLog(new RegExp(`client connected: ${id}, name: logan`));
  s.disconnect();
  await waitForLog(new RegExp(`client disconnected: ${id}, name: logan, reason: client namespace disconnect`));

  const t = await connected(client({ name: "tess" }));
  const tid = t.id;
  t.io.engine.close();
  await waitForLog(new RegExp(`client disconnected: ${tid}, name: tess, reason: transport close`));
});
