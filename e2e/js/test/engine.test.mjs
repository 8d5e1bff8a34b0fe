// Engine.IO v4 end to end: the official engine.io-client (Node side), raw `ws`
// sockets and raw HTTP requests against the `conformance` binary.
//
// conformance serves, on one port (pingInterval 300, pingTimeout 200,
// maxHttpBufferSize 1e6, CORS origin *):
//   /engine.io/    echo every message with its type
//   /test-engine/  `close` -> server closes the session; `sessions` -> {"echo":N,"test":M}
//                  (live session counts of both engines); anything else echoed
//   GET /health    200 ok
//
// One healthy engine.io-client session stays open for the whole file; after every
// test it must still echo, and the session counts must fall back to the baseline
// (no leaked sessions).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { after, afterEach, before, test } from "node:test";
import { startServer } from "../lib/server.mjs";
import {
  EioClient,
  RawWs,
  isBinary,
  pollingHandshake,
  request,
  sleep,
  toBuffer,
  within,
} from "../lib/eio.mjs";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const MAX_PAYLOAD = 1e6;
const UPGRADE_TIMEOUT = Number(process.env.SOCKGATE_UPGRADE_TIMEOUT_MS ?? 10000);

let server;
let url;
let wsUrl;
let healthy;
let healthySeq = 0;

const EIO = "/engine.io/";
const TEST = "/test-engine/";

function pollUrl(path, sid, extra = "") {
  return `${url}${path}?EIO=4&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ""}${extra}`;
}

/** Asks /test-engine/ for the live session counts (from a fresh, short-lived client). */
async function sessionCounts() {
  const c = await EioClient.open(url, { path: "/test-engine", transports: ["websocket"] });
  try {
    const reply = await c.echo("sessions");
    return JSON.parse(reply);
  } finally {
    await c.close().catch(() => {});
  }
}

/**
 * Waits (bounded) until the counts equal `expected`. `test` counts include the
 * querying client itself, hence the +1 in the baseline.
 */
async function expectSessions(expected, timeoutMs = 4000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let i = 0; i < 60; i++) {
    last = await sessionCounts();
    if (last.echo === expected.echo && last.test === expected.test) return;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  assert.deepEqual(last, expected, "live session counts (the querying /test-engine/ client counts as 1)");
}

const BASELINE = { echo: 1, test: 1 }; // the healthy client + the querying client

async function assertHealthy() {
  assert.equal(healthy.closeInfo, null, `the long-lived session closed: ${JSON.stringify(healthy.closeInfo)}`);
  const msg = `healthy-${++healthySeq}`;
  assert.equal(await healthy.echo(msg), msg, "the long-lived session still echoes");
}

function parseJson(body) {
  try {
    return JSON.parse(body);
  } catch {
    return { unparsable: body };
  }
}

async function assertEngineError(res, code, message) {
  assert.equal(res.status, 400, `status (body ${res.body})`);
  assert.match(res.headers["content-type"] ?? "", /^application\/json/, "content-type of an error");
  assert.deepEqual(parseJson(res.body), { code, message });
}

/** A GET on a sid that must be gone. */
async function assertSessionGone(path, sid) {
  const res = await request("GET", pollUrl(path, sid));
  await assertEngineError(res, 1, "Session ID unknown");
}

/** Closes a raw polling session if it is still alive (ignores failures). */
async function closeRaw(path, sid) {
  await request("POST", pollUrl(path, sid), { body: "1" }).catch(() => {});
}

before(async () => {
  server = await startServer({ name: "conformance" });
  url = server.url;
  wsUrl = server.wsUrl;
  healthy = await EioClient.open(url, { path: "/engine.io" });
  await healthy.waitUpgrade();
  assert.equal(healthy.transport, "websocket");
});

afterEach(async () => {
  if (!healthy || server.exited()) return;
  await assertHealthy();
  await expectSessions(BASELINE);
});

after(async () => {
  try {
    if (healthy) {
      if (!server.exited()) await assertHealthy();
      await healthy.close().catch(() => {});
    }
  } finally {
    await server?.stop();
  }
});

// ---------------------------------------------------------------------------
// plain HTTP

test("GET /health -> 200 ok on the same port as the engines", async () => {
  const res = await request("GET", `${url}/health`);
  assert.equal(res.status, 200);
  assert.equal(res.body, "ok");
});

test("polling handshake: 0{...} with exactly the advertised settings", async () => {
  for (const path of [EIO, TEST]) {
    const res = await request("GET", pollUrl(path));
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"] ?? "", /^text\/plain; charset=utf-8$/i);
    assert.ok(res.body.startsWith("0"), res.body);
    const hs = JSON.parse(res.body.slice(1));
    assert.deepEqual(Object.keys(hs).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.match(hs.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(hs.upgrades, ["websocket"]);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, MAX_PAYLOAD);
    await closeRaw(path, hs.sid);
  }
  // session ids are unique
  const a = await pollingHandshake(url);
  const b = await pollingHandshake(url);
  assert.notEqual(a.sid, b.sid);
  await closeRaw(EIO, a.sid);
  await closeRaw(EIO, b.sid);
});

// ---------------------------------------------------------------------------
// the official client: transports, text and binary

const MODES = [
  { name: "polling only", opts: { transports: ["polling"] }, expect: "polling" },
  { name: "websocket only", opts: { transports: ["websocket"] }, expect: "websocket" },
  { name: "polling then upgrade", opts: { transports: ["polling", "websocket"] }, expect: "websocket", upgrade: true },
];

const TEXTS = ["hello", "", "héllo wörld ✓ 😀 日本語", '{"json":[1,2,3]}', "x".repeat(10_000)];
const BINARIES = [
  Buffer.from([1, 2, 3, 4]),
  Buffer.alloc(0),
  Buffer.from([0, 255, 0x1e, 0x62, 0x34, 10, 13]),
  randomBytes(64 * 1024),
];

async function roundTrip(client, label) {
  for (const text of TEXTS) {
    let got = await client.echo(text);
    // engine.io-client decodes the empty message packet "4" as `undefined`
    if (text === "" && got === undefined) got = "";
    assert.equal(typeof got, "string", `${label}: text must come back as text`);
    assert.equal(got, text, `${label}: text echo (${text.length} chars)`);
  }
  for (const bin of BINARIES) {
    const got = await client.echo(bin);
    assert.ok(isBinary(got), `${label}: binary must come back as binary, got ${typeof got}`);
    assert.ok(toBuffer(got).equals(bin), `${label}: binary bytes (${bin.length} bytes)`);
  }
  // the same via ArrayBuffer and Uint8Array inputs
  const u8 = Uint8Array.from([9, 8, 7, 6, 5]);
  assert.ok(toBuffer(await client.echo(u8)).equals(Buffer.from(u8)), `${label}: Uint8Array echo`);
  const ab = Uint8Array.from([42, 43]).buffer;
  assert.ok(toBuffer(await client.echo(ab)).equals(Buffer.from([42, 43])), `${label}: ArrayBuffer echo`);
}

for (const path of [EIO, TEST]) {
  for (const mode of MODES) {
    test(`engine.io-client ${path} ${mode.name}: text and binary echoed with their type`, { timeout: 20000 }, async () => {
      const client = await EioClient.open(url, { path, ...mode.opts });
      try {
        if (mode.upgrade) {
          assert.equal(client.transport, "polling", "starts on polling");
          assert.equal(await client.waitUpgrade(), "websocket");
        }
        assert.equal(client.transport, mode.expect);
        await roundTrip(client, `${path} ${mode.name}`);
        assert.equal(client.transport, mode.expect, "transport unchanged");
        assert.equal(client.closeInfo, null);
      } finally {
        await client.close();
      }
    });
  }
}

test("engine.io-client: messages sent while the upgrade runs are all echoed, in order", { timeout: 15000 }, async () => {
  const client = await EioClient.open(url, { path: "/engine.io", transports: ["polling", "websocket"] });
  try {
    const sent = [];
    // sent right after open: the first ones go over polling, later ones are buffered
    // during the probe and flushed after the switch
    for (let i = 0; i < 30; i++) {
      const m = i % 3 === 2 ? Buffer.from([i, i + 1]) : `m${i}`;
      sent.push(m);
      client.send(m);
      if (i % 10 === 9) await sleep(20);
    }
    await client.waitUpgrade();
    for (let i = 0; i < 30; i++) {
      client.send(`after${i}`);
      sent.push(`after${i}`);
    }
    for (const expected of sent) {
      const got = await client.next();
      if (typeof expected === "string") assert.equal(got, expected);
      else assert.ok(isBinary(got) && toBuffer(got).equals(expected), `binary ${expected.toString("hex")}`);
    }
    assert.equal(client.transport, "websocket");
  } finally {
    await client.close();
  }
});

test("20 concurrent clients on mixed transports each get only their own echoes", { timeout: 20000 }, async () => {
  const clients = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      EioClient.open(url, { path: "/engine.io", ...MODES[i % MODES.length].opts }),
    ),
  );
  try {
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 10; j++) c.send(`c${i}-${j}`);
        for (let j = 0; j < 10; j++) assert.equal(await c.next(5000), `c${i}-${j}`);
      }),
    );
    await expectSessions({ echo: 21, test: 1 });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

// ---------------------------------------------------------------------------
// size limits

const BIG_TEXT_LEN = MAX_PAYLOAD - 8; // packet "4" + text stays below 1e6 bytes

for (const mode of MODES.slice(0, 2)) {
  test(`1 MB text message accepted and echoed (${mode.name})`, { timeout: 20000 }, async () => {
    const client = await EioClient.open(url, { path: "/engine.io", ...mode.opts });
    try {
      const big = "a".repeat(BIG_TEXT_LEN - 3) + "xyz";
      const got = await client.echo(big, 10000);
      assert.equal(got.length, big.length);
      assert.ok(got === big, "same content");
      assert.equal(client.closeInfo, null);
    } finally {
      await client.close();
    }
  });
}

test("1 MB binary message echoed over websocket; 700 kB binary over polling (base64 stays < 1e6)", { timeout: 20000 }, async () => {
  const ws = await EioClient.open(url, { path: "/engine.io", transports: ["websocket"] });
  const poll = await EioClient.open(url, { path: "/engine.io", transports: ["polling"] });
  try {
    const big = randomBytes(MAX_PAYLOAD - 8);
    assert.ok(toBuffer(await ws.echo(big, 10000)).equals(big), "websocket binary bytes");
    const mid = randomBytes(700_000);
    assert.ok(toBuffer(await poll.echo(mid, 10000)).equals(mid), "polling binary bytes");
  } finally {
    await ws.close();
    await poll.close();
  }
});

test("message larger than maxPayload over websocket: the server closes the connection", { timeout: 15000 }, async (t) => {
  const client = await EioClient.open(url, { path: "/engine.io", transports: ["websocket"] });
  const tooBig = "b".repeat(MAX_PAYLOAD + 100);
  client.send(tooBig);
  const info = await client.waitClose(5000);
  assert.equal(info.reason, "transport close");
  assert.equal(client.queue.length, 0, "nothing echoed");

  // the same with a raw socket, to see the close code (ws uses 1009 for "message too big")
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  const open = await raw.next();
  assert.ok(open.startsWith("0{"), open);
  raw.send("4" + tooBig);
  const closed = await raw.waitClose(5000);
  assert.equal(closed.code, 1009, "1009: message too big");
  const msgs = raw.messages.filter((m) => m !== "2");
  assert.deepEqual(msgs, [], "no echo of the oversized message");
});

test("POST body larger than maxHttpBufferSize -> 413; exactly 1e6 bytes accepted", { timeout: 20000 }, async () => {
  const { sid } = await pollingHandshake(url);
  try {
    const ok = await request("POST", pollUrl(EIO, sid), { body: "4" + "z".repeat(MAX_PAYLOAD - 1) });
    assert.equal(ok.status, 200, "a body of exactly 1e6 bytes is accepted");
    assert.equal(ok.body, "ok");
    const echoed = await request("GET", pollUrl(EIO, sid), { timeoutMs: 10000 });
    assert.equal(echoed.status, 200);
    assert.equal(echoed.body.length, MAX_PAYLOAD);
    assert.ok(echoed.body.startsWith("4zzz"));

    // The client must actually receive the 413: a server that answers without reading the
    // body and then closes the connection makes the client's upload fail with EPIPE/ECONNRESET
    // instead (intermittently), so try several times.
    const tally = {};
    for (const size of [MAX_PAYLOAD + 1, ...Array(9).fill(MAX_PAYLOAD + 100)]) {
      // a fresh session each time, so no ping timeout can interfere
      const fresh = (await pollingHandshake(url)).sid;
      const outcome = await request("POST", pollUrl(EIO, fresh), { body: "4" + "y".repeat(size - 1) }).then(
        (r) => `HTTP ${r.status}`,
        (e) => `client error ${e.code ?? e.message}`,
      );
      tally[outcome] = (tally[outcome] ?? 0) + 1;
      await closeRaw(EIO, fresh);
    }
    assert.deepEqual(tally, { "HTTP 413": 10 }, "outcomes of 10 oversized POSTs (1e6+1 once, 1e6+100 nine times)");
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("oversized chunked POST (no Content-Length) -> 413 or connection dropped, never accepted", { timeout: 15000 }, async () => {
  const { sid } = await pollingHandshake(url);
  try {
    const outcome = await new Promise((resolve) => {
      const req = http.request(pollUrl(EIO, sid), { method: "POST", agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode }));
        res.on("error", (e) => resolve({ error: e.code ?? e.message }));
      });
      req.on("error", (e) => resolve({ error: e.code ?? e.message }));
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ error: "timeout" });
      }, 10000);
      req.on("close", () => clearTimeout(timer));
      const chunk = "4" + "c".repeat(64 * 1024 - 1);
      let sent = 0;
      const pump = () => {
        while (sent < MAX_PAYLOAD + 200 * 1024) {
          sent += chunk.length;
          if (req.destroyed) return;
          if (!req.write(sent === chunk.length ? chunk : "c".repeat(chunk.length))) {
            req.once("drain", pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    assert.notEqual(outcome.error, "timeout", "the server must answer or drop the connection");
    if (outcome.status !== undefined) assert.equal(outcome.status, 413);
  } finally {
    await closeRaw(EIO, sid);
  }
});

// ---------------------------------------------------------------------------
// heartbeat and close

for (const mode of MODES.slice(0, 2)) {
  test(`heartbeat keeps an idle session alive for 5 ping intervals (${mode.name})`, { timeout: 15000 }, async () => {
    const client = await EioClient.open(url, { path: "/engine.io", ...mode.opts });
    try {
      await sleep(5 * PING_INTERVAL + 150);
      assert.equal(client.closeInfo, null, `closed: ${JSON.stringify(client.closeInfo)}`);
      assert.ok(client.pings >= 4, `expected >= 4 server pings in ${5 * PING_INTERVAL + 150} ms, saw ${client.pings}`);
      assert.ok(client.pings <= 7, `too many pings: ${client.pings}`);
      assert.equal(await client.echo("still here"), "still here");
    } finally {
      await client.close();
    }
  });
}

for (const mode of MODES) {
  test(`server-side close via the 'close' message (${mode.name})`, { timeout: 15000 }, async () => {
    const client = await EioClient.open(url, { path: "/test-engine", ...mode.opts });
    if (mode.upgrade) await client.waitUpgrade();
    assert.equal(await client.echo("before"), "before");
    client.send("close");
    const info = await client.waitClose(3000);
    assert.equal(info.reason, "transport close", `close reason (${JSON.stringify(info)})`);
  });
}

test("session counts follow opens and closes on both engines", { timeout: 20000 }, async () => {
  const opened = [];
  for (const mode of MODES) opened.push(await EioClient.open(url, { path: "/engine.io", ...mode.opts }));
  opened.push(await EioClient.open(url, { path: "/test-engine", transports: ["polling"] }));
  opened.push(await EioClient.open(url, { path: "/test-engine", transports: ["websocket"] }));
  await expectSessions({ echo: BASELINE.echo + 3, test: BASELINE.test + 2 });
  await Promise.all(opened.map((c) => c.close()));
  await expectSessions(BASELINE);
});

// ---------------------------------------------------------------------------
// CORS

test("CORS preflight: 204, Allow-Origin *, the methods list, mirrored Allow-Headers", async () => {
  for (const path of [EIO, TEST]) {
    const res = await request("OPTIONS", pollUrl(path), {
      headers: {
        Origin: "http://example.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-custom-header",
      },
    });
    assert.equal(res.status, 204, `${path} preflight status`);
    assert.equal(res.headers["access-control-allow-origin"], "*");
    assert.equal(res.headers["access-control-allow-methods"], "GET,HEAD,PUT,PATCH,POST,DELETE");
    assert.equal(res.headers["access-control-allow-headers"], "content-type,x-custom-header");
  }
});

test("CORS: a GET handshake and a POST carry Access-Control-Allow-Origin: *", async () => {
  const res = await request("GET", pollUrl(EIO), { headers: { Origin: "http://example.test" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers["access-control-allow-origin"], "*");
  const sid = JSON.parse(res.body.slice(1)).sid;
  const post = await request("POST", pollUrl(EIO, sid), { headers: { Origin: "http://example.test" }, body: "4x" });
  assert.equal(post.status, 200);
  assert.equal(post.headers["access-control-allow-origin"], "*");
  await closeRaw(EIO, sid);
});

test("CORS: error responses carry Access-Control-Allow-Origin: * too", async () => {
  const res = await request("GET", `${url}/engine.io/?EIO=4&transport=abc`, { headers: { Origin: "http://example.test" } });
  assert.equal(res.status, 400);
  assert.equal(res.headers["access-control-allow-origin"], "*");
});

// ---------------------------------------------------------------------------
// error bodies and bad input (raw HTTP)

test("unknown or missing transport -> 400 {code:0, Transport unknown}", async () => {
  for (const q of ["EIO=4&transport=abc", "EIO=4"]) {
    await assertEngineError(await request("GET", `${url}/engine.io/?${q}`), 0, "Transport unknown");
  }
});

test("unknown sid -> 400 {code:1, Session ID unknown} (GET and POST)", async () => {
  await assertEngineError(await request("GET", pollUrl(EIO, "AAAAAAAAAAAAAAAAAAAA")), 1, "Session ID unknown");
  await assertEngineError(
    await request("POST", pollUrl(EIO, "AAAAAAAAAAAAAAAAAAAA"), { body: "4hi" }),
    1,
    "Session ID unknown",
  );
});

test("handshake via POST (or PUT) -> 400 {code:2, Bad handshake method}", async () => {
  await assertEngineError(await request("POST", pollUrl(EIO), { body: "4hi" }), 2, "Bad handshake method");
  await assertEngineError(await request("PUT", pollUrl(EIO), { body: "4hi" }), 2, "Bad handshake method");
});

test("missing EIO, EIO=3 or EIO=abc -> 400 {code:5, Unsupported protocol version}", async () => {
  for (const q of ["transport=polling", "EIO=3&transport=polling", "EIO=abc&transport=polling"]) {
    await assertEngineError(await request("GET", `${url}/engine.io/?${q}`), 5, "Unsupported protocol version");
  }
});

test("transport=websocket on a plain GET (no Upgrade) -> 400 {code:3, Bad request}", async () => {
  await assertEngineError(
    await request("GET", `${url}/engine.io/?EIO=4&transport=websocket`),
    3,
    "Bad request",
  );
});

test("POST of an invalid packet (abc) -> 400 and the session is gone", async () => {
  const { sid } = await pollingHandshake(url);
  const res = await request("POST", pollUrl(EIO, sid), { body: "abc" });
  assert.equal(res.status, 400);
  await assertSessionGone(EIO, sid);
});

test("a client ping (2) over a polling POST closes the session (invalid heartbeat direction)", async () => {
  const { sid } = await pollingHandshake(url);
  const res = await request("POST", pollUrl(EIO, sid), { body: "2" });
  assert.ok([200, 400].includes(res.status), `POST status ${res.status}`);
  await assertSessionGone(EIO, sid);
});

test("overlapping GETs: the first gets 1 (close), the second 400, the session is gone", async () => {
  const { sid } = await pollingHandshake(url);
  const first = request("GET", pollUrl(EIO, sid));
  await sleep(50);
  const second = await request("GET", pollUrl(EIO, sid, "&t=overlap"));
  const firstRes = await first;
  assert.equal(firstRes.status, 200);
  assert.equal(firstRes.body, "1");
  assert.equal(second.status, 400, `second GET status (body ${second.body})`);
  await assertSessionGone(EIO, sid);
});

test("binary over polling with invalid base64 (bAQ!!) -> 400 and the session is gone", async () => {
  const { sid } = await pollingHandshake(url);
  const res = await request("POST", pollUrl(EIO, sid), { body: "bAQ!!" });
  assert.equal(res.status, 400);
  await assertSessionGone(EIO, sid);
});

test("a WebSocket with an unknown sid is refused", async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA`);
  const closed = await raw.waitClose(3000);
  if (raw.unexpectedResponse) {
    assert.equal(raw.unexpectedResponse.status, 400);
  } else {
    // accepted at the HTTP level, then closed without a session
    assert.ok(closed, "closed");
    assert.ok(!raw.messages.some((m) => typeof m === "string" && m.startsWith("0")), "no open packet");
    assert.ok(!raw.messages.includes("3probe"), "no probe answer");
  }
});

test("a WebSocket with an unknown sid gets no probe answer", async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket&sid=BBBBBBBBBBBBBBBBBBBB`);
  raw.ws.on("open", () => raw.send("2probe"));
  await raw.waitClose(3000);
  assert.ok(!raw.messages.includes("3probe"), "the server must not answer a probe for an unknown sid");
});

test("a raw WebSocket client that never answers pings is closed after pingInterval + pingTimeout", { timeout: 10000 }, async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  const open = await raw.next();
  const t0 = Date.now();
  assert.ok(open.startsWith("0{"), open);
  const ping = await raw.next(2000);
  assert.equal(ping, "2", "the server pings first");
  const closed = await raw.waitClose(3000);
  const elapsed = closed.at - t0;
  assert.ok(elapsed >= PING_INTERVAL + PING_TIMEOUT - 100, `closed too early: ${elapsed} ms after the handshake`);
  assert.ok(elapsed <= 1500, `closed too late: ${elapsed} ms after the handshake`);
});

test("a client ping (2) over a WebSocket closes the connection", async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  const open = await raw.next();
  assert.ok(open.startsWith("0{"), open);
  raw.send("2");
  const t0 = Date.now();
  await raw.waitClose(2000);
  assert.ok(Date.now() - t0 < PING_INTERVAL + PING_TIMEOUT, "closed for the bad ping, not by the ping timeout");
});

test(
  "an upgrade that never completes (2probe/3probe, no 5) is closed after upgradeTimeout",
  { timeout: UPGRADE_TIMEOUT + 10000 },
  async () => {
    const { sid } = await pollingHandshake(url);
    const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    try {
      await within(3000, new Promise((r) => raw.ws.once("open", r)), "the websocket to open");
      raw.send("2probe");
      assert.equal(await raw.next(), "3probe");
      const t0 = Date.now();
      // keep the polling session alive (answer pings) so only the upgrade timer can end the WebSocket
      let polls = 0;
      while (!raw.closeInfo && Date.now() - t0 < UPGRADE_TIMEOUT + 5000 && polls < 2000) {
        polls += 1;
        const res = await request("GET", pollUrl(EIO, sid), { timeoutMs: 2000 }).catch((e) => ({ error: e }));
        if (res.status !== 200) break;
        if (res.body.split("\x1e").includes("2")) {
          await request("POST", pollUrl(EIO, sid), { body: "3" }).catch(() => {});
        }
        await sleep(50);
      }
      const closed = await raw.waitClose(UPGRADE_TIMEOUT + 5000 - (Date.now() - t0));
      const elapsed = closed.at - t0;
      assert.ok(elapsed >= UPGRADE_TIMEOUT - 1000, `websocket closed after ${elapsed} ms, before upgradeTimeout`);
      assert.ok(elapsed <= UPGRADE_TIMEOUT + 3000, `websocket closed after ${elapsed} ms`);
    } finally {
      raw.terminate();
      await closeRaw(EIO, sid);
    }
  },
);

// ---------------------------------------------------------------------------
// raw polling wire behaviour (the official suite's checks, run in CI too)

test("polling headers: GET text/plain; charset=UTF-8 + cache-control no-store, POST 200 ok", async () => {
  const { sid } = await pollingHandshake(url);
  try {
    const post = await request("POST", pollUrl(EIO, sid), { body: "4hello" });
    assert.equal(post.status, 200);
    assert.equal(post.body, "ok");
    assert.match(post.headers["content-type"] ?? "", /^text\/html/);
    const get = await request("GET", pollUrl(EIO, sid));
    assert.equal(get.status, 200);
    assert.equal(get.body, "4hello");
    assert.match(get.headers["content-type"] ?? "", /^text\/plain; charset=utf-8$/i);
    assert.equal(get.headers["cache-control"], "no-store");
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("polling: POST with Content-Type application/octet-stream -> 400", async () => {
  const { sid } = await pollingHandshake(url);
  try {
    const res = await request("POST", pollUrl(EIO, sid), {
      headers: { "Content-Type": "application/octet-stream" },
      body: "4hello",
    });
    assert.equal(res.status, 400);
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("polling: queued packets (text and binary) come back batched in one GET", async () => {
  const { sid } = await pollingHandshake(url);
  try {
    const body = "4one\x1e4two\x1ebAQIDBA==\x1e4three";
    const post = await request("POST", pollUrl(EIO, sid), { body });
    assert.equal(post.status, 200);
    const get = await request("GET", pollUrl(EIO, sid));
    assert.equal(get.body, body);
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("polling: large responses honour Accept-Encoding (compressed correctly, or not at all)", async () => {
  const zlib = await import("node:zlib");
  const { sid } = await pollingHandshake(url);
  try {
    const text = "4" + "compress me ".repeat(500);
    for (const enc of ["gzip", "deflate", undefined]) {
      assert.equal((await request("POST", pollUrl(EIO, sid), { body: text })).status, 200);
      const res = await new Promise((resolve, reject) => {
        const headers = enc ? { "Accept-Encoding": enc } : {};
        const req = http.get(pollUrl(EIO, sid), { headers, agent: false }, (r) => {
          const chunks = [];
          r.on("data", (c) => chunks.push(c));
          r.on("end", () => resolve({ status: r.statusCode, headers: r.headers, raw: Buffer.concat(chunks) }));
          r.on("error", reject);
        });
        req.setTimeout(5000, () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
      assert.equal(res.status, 200);
      const ce = res.headers["content-encoding"];
      let body = res.raw;
      if (!enc) assert.equal(ce, undefined, "no Content-Encoding without Accept-Encoding");
      if (ce) {
        assert.equal(ce, enc, "the encoding the client asked for");
        body = ce === "gzip" ? zlib.gunzipSync(body) : zlib.inflateSync(body);
      }
      assert.equal(body.toString("utf8"), text);
    }
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("polling heartbeat: the GET blocks until the server's ping (exactly 2); pongs keep the session", { timeout: 10000 }, async () => {
  const { sid } = await pollingHandshake(url);
  try {
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const get = await request("GET", pollUrl(EIO, sid));
      assert.equal(get.status, 200);
      assert.equal(get.body, "2");
      assert.ok(Date.now() - t0 >= PING_INTERVAL - 150, `ping ${i} came after ${Date.now() - t0} ms`);
      const pong = await request("POST", pollUrl(EIO, sid), { body: "3" });
      assert.equal(pong.status, 200);
    }
  } finally {
    await closeRaw(EIO, sid);
  }
});

test("polling ping timeout: no pong -> session gone at pingInterval + pingTimeout after the handshake", async () => {
  const { sid } = await pollingHandshake(url);
  await sleep(PING_INTERVAL + PING_TIMEOUT);
  await assertSessionGone(EIO, sid);
});

test("polling: a GET aborted by the client kills the session", async () => {
  const { sid } = await pollingHandshake(url);
  const controller = new AbortController();
  const pending = request("GET", pollUrl(EIO, sid), { signal: controller.signal }).catch(() => null);
  await sleep(30);
  controller.abort();
  await pending;
  await sleep(20);
  await assertSessionGone(EIO, sid);
});

test("polling: a client close (1) answers the pending GET with 6 (noop) and ends the session", async () => {
  const { sid } = await pollingHandshake(url);
  const pending = request("GET", pollUrl(EIO, sid));
  await sleep(30);
  const post = await request("POST", pollUrl(EIO, sid), { body: "1" });
  assert.equal(post.status, 200);
  const get = await pending;
  assert.equal(get.status, 200);
  assert.equal(get.body, "6");
  await assertSessionGone(EIO, sid);
});

test("polling: GET and POST 1 sent at the same moment (as the official suite does): the GET gets 6, 40 times", { timeout: 20000 }, async () => {
  const tally = {};
  for (let i = 0; i < 40; i++) {
    const { sid } = await pollingHandshake(url);
    const [get, post] = await Promise.all([
      request("GET", pollUrl(EIO, sid)),
      request("POST", pollUrl(EIO, sid), { body: "1" }),
    ]);
    const key = `GET ${get.status} ${get.body} / POST ${post.status} ${post.body}`;
    tally[key] = (tally[key] ?? 0) + 1;
    await closeRaw(EIO, sid);
  }
  assert.deepEqual(tally, { "GET 200 6 / POST 200 ok": 40 });
});

// ---------------------------------------------------------------------------
// raw WebSocket wire behaviour

test("websocket handshake: 0{...} with upgrades [] as the first frame", async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  try {
    const open = await raw.next();
    assert.equal(typeof open, "string");
    assert.ok(open.startsWith("0{"), open);
    const hs = JSON.parse(open.slice(1));
    assert.deepEqual(Object.keys(hs).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.deepEqual(hs.upgrades, []);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, MAX_PAYLOAD);
    raw.send("4hi");
    assert.equal(await raw.nextData(), "4hi");
    raw.send(Buffer.from([1, 2, 3]));
    const bin = await raw.nextData();
    assert.ok(Buffer.isBuffer(bin) && bin.equals(Buffer.from([1, 2, 3])), "raw binary frame, no prefix");
  } finally {
    raw.ws.close();
    await raw.waitClose().catch(() => raw.terminate());
  }
});

test("websocket with a bad EIO or transport, or an invalid packet, ends up closed", async () => {
  for (const q of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4&transport=abc"]) {
    const raw = new RawWs(`${wsUrl}/engine.io/?${q}`);
    await raw.waitClose(3000);
    assert.ok(!raw.messages.some((m) => typeof m === "string" && m.startsWith("0")), `${q}: no open packet`);
  }
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  await raw.next();
  raw.send("abc");
  await raw.waitClose(2000);
});

test("websocket: a client close (1) closes the connection at once", async () => {
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket`);
  await raw.next();
  const t0 = Date.now();
  raw.send("1");
  const closed = await raw.waitClose(2000);
  assert.ok(closed.at - t0 < PING_INTERVAL, `closed ${closed.at - t0} ms after the close packet`);
});

test("raw upgrade: 3probe, the pending GET gets 6, 5 switches; then polling -> 400 code 3 and a 2nd websocket is closed", async () => {
  const { sid } = await pollingHandshake(url);
  const raw = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
  try {
    await within(3000, new Promise((r) => raw.ws.once("open", r)), "the websocket to open");
    // a GET already pending when the probe arrives
    const pending = request("GET", pollUrl(EIO, sid));
    await sleep(30);
    raw.send("2probe");
    assert.equal(await raw.next(), "3probe");
    const flushed = await pending;
    assert.equal(flushed.status, 200);
    assert.equal(flushed.body, "6");
    raw.send("5");
    raw.send("4after upgrade");
    assert.equal(await raw.nextData(), "4after upgrade");
    const poll = await request("GET", pollUrl(EIO, sid));
    await assertEngineError(poll, 3, "Bad request");
    const second = new RawWs(`${wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await second.waitClose(3000);
    assert.ok(!second.messages.includes("3probe"));
    raw.send("4still here");
    assert.equal(await raw.nextData(), "4still here");
    // the upgraded session gets its server pings on the websocket
    const ping = await raw.next(1000);
    assert.equal(ping, "2");
    raw.send("3");
    raw.send("4after pong");
    assert.equal(await raw.nextData(), "4after pong");
  } finally {
    raw.ws.close();
    await raw.waitClose().catch(() => raw.terminate());
  }
});
