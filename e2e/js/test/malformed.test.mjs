// Reliability: malformed, oversized and incomplete input on both transports, and abandoned
// polling handshakes, against the `testserver` binary (e2e/testserver). Issue 8 items 4, 17, 19,
// "a string packet while attachments are awaited", and the reliability-suite bullets "malformed
// and oversized packets of every kind" and "5,000 abandoned polling handshakes".
//
// Every hostile connection must be closed by the server (the close is the assertion), the server
// must not crash and must still serve an official socket.io-client afterwards (the positive
// control of every case), and its peak RSS (VmHWM from /proc/<pid>/status) stays under 64 MB.
// Each case is bounded in count and time; loopback only.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { io as ioc } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { readFileSync } from "node:fs";
import { startServer } from "../lib/server.mjs";
import { RawWs, request, sleep, waitFor, within } from "../lib/eio.mjs";

const MB = 1024 * 1024;
const RSS_LIMIT_KB = 64 * 1024;

/** VmRSS and VmHWM (peak) of `pid`, in kB. */
function memory(pid) {
  const status = readStatus(pid);
  const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

function readStatus(pid) {
  return readFileSync(`/proc/${pid}/status`, "utf8");
}

const fmt = (kb) => `${(kb / 1024).toFixed(1)} MB`;

function mkHelpers(server) {
  const url = server.url;
  const getJson = async (path) => {
    const res = await request("GET", `${url}${path}`);
    assert.equal(res.status, 200, `${path}: ${res.body}`);
    return JSON.parse(res.body);
  };
  const stats = () => getJson("/stats");
  const reasons = (sid) => getJson(`/reasons?sid=${encodeURIComponent(sid)}`);
  const reasonOf = async (sid) => {
    const list = await waitFor(`the disconnect reason of ${sid}`, async () => {
      const l = await reasons(sid);
      return l.length ? l : null;
    }, 5000);
    return list.at(-1).reason;
  };

  /** An official client on `path` that connects and answers an echo: the positive control. */
  const healthyEcho = async (path = "/socket.io/", opts = {}) => {
    const socket = ioc(url, { path, forceNew: true, reconnection: false, timeout: 3000, ...opts });
    try {
      await within(
        4000,
        new Promise((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("connect_error", reject);
        }),
        `an official client connecting on ${path}`,
      );
      const got = await within(
        3000,
        new Promise((resolve) => {
          socket.once("echo", (...args) => resolve(args));
          socket.emit("echo", "still-served", Buffer.from([1, 2, 3]));
        }),
        "the echo of a healthy client",
      );
      assert.equal(got[0], "still-served");
      assert.deepEqual([...got[1]], [1, 2, 3]);
    } finally {
      socket.disconnect();
    }
  };

  /**
   * A raw WebSocket that completed the Engine.IO handshake and joined `/` with the given
   * parser; resolves `{ ws, sid }` (the Socket.IO id, for /reasons).
   */
  const joinedWs = async (path = "/socket.io/", parser = "json") => {
    const ws = new RawWs(`${server.wsUrl}${path}?EIO=4&transport=websocket`);
    const open = await ws.next();
    assert.ok(String(open).startsWith("0{"), `open packet: ${open}`);
    if (parser === "json") {
      ws.send("40");
      const reply = await ws.nextData();
      assert.ok(reply.startsWith("40{"), `connect reply: ${reply}`);
      return { ws, sid: JSON.parse(reply.slice(2)).sid };
    }
    ws.send(encodeMsgpack({ type: 0, nsp: "/" }));
    const reply = decodeMsgpack(await ws.nextData());
    assert.equal(reply.type, 0, `connect reply: ${JSON.stringify(reply)}`);
    return { ws, sid: reply.data.sid };
  };

  /** A raw polling session that joined `/`; returns `{ sid, post, get, sioSid }`. */
  const joinedPolling = async (path = "/socket.io/") => {
    const hs = await request("GET", `${url}${path}?EIO=4&transport=polling`);
    assert.equal(hs.status, 200, hs.body);
    const sid = JSON.parse(hs.body.slice(1)).sid;
    const at = `${url}${path}?EIO=4&transport=polling&sid=${sid}`;
    const post = (body) => request("POST", at, { body, headers: { "content-type": "text/plain;charset=UTF-8" } });
    const get = () => request("GET", at, { timeoutMs: 8000 });
    assert.equal((await post("40")).status, 200);
    const reply = await get();
    assert.ok(reply.body.startsWith("40{"), `connect reply: ${reply.body}`);
    return { sid, post, get, sioSid: JSON.parse(reply.body.slice(2)).sid };
  };

  return { stats, reasonOf, waitFor, healthyEcho, joinedWs, joinedPolling };
}

function encodeMsgpack(packet) {
  return Buffer.from(new msgpackParser.Encoder().encode(packet)[0]);
}

function decodeMsgpack(frame) {
  let out;
  const decoder = new msgpackParser.Decoder();
  decoder.on("decoded", (p) => (out = p));
  decoder.add(Buffer.isBuffer(frame) ? frame : Buffer.from(frame));
  return out;
}

/** A deterministic pseudo-random buffer (xorshift), so a failing case can be replayed. */
function randomBytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const placeholders = (n) => Array.from({ length: n }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",");
const nested = (depth) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

/** msgpack `{type: 2, nsp: "/", data: ["x", <raw>]}` with `raw` spliced in as already-encoded msgpack. */
function msgpackEventWithRaw(raw) {
  const head = Buffer.from([0x83, 0xa4, ...Buffer.from("type"), 0x02, 0xa4, ...Buffer.from("data"), 0x92, 0xa1, 0x78]);
  const tail = Buffer.from([0xa3, ...Buffer.from("nsp"), 0xa1, 0x2f]);
  return Buffer.concat([head, raw, tail]);
}

/** msgpack array of `count` 4-byte maps `{"a":1}`: ~240 bytes decoded for 4 on the wire. */
function msgpackSmallMaps(count) {
  return msgpackArray32(count, Buffer.from([0x81, 0xa1, 0x61, 0x01]));
}

/** `42["x",[{"a":1},...]]` with `count` objects. */
const jsonSmallObjects = (count) => `42["x",[${Array(count).fill('{"a":1}').join(",")}]]`;

function msgpackArray32(count, element) {
  const h = Buffer.alloc(5);
  h[0] = 0xdd;
  h.writeUInt32BE(count, 1);
  return Buffer.concat([h, Buffer.alloc(count * element.length, element)]);
}

// ------------------------------------------------------------------ malformed input

describe("malformed and oversized input on both transports", () => {
  let server;
  let h;
  const peaks = [];

  before(async () => {
    server = await startServer({ name: "testserver", args: ["--attachments-timeout", "1500"] });
    h = mkHelpers(server);
    await h.healthyEcho();
  });

  after(async () => {
    await server?.stop();
  });

  // WebSocket (JSON parser), text messages, after joining `/`; each must close the connection
  // with "parse error" on the server side.
  const jsonWsCases = [
    ["random text", ["random:" + randomBytes(64, 7).toString("latin1")]],
    ["truncated event", ['42["x"']],
    ["truncated binary header", ['451-["x",{"_placeholder":true']],
    ["451000000-[\"x\"]", ['451000000-["x"]']],
    ["binary event with 0 attachments (socket.io-parser 4.2.7)", ['450-["x"]']],
    ["placeholder beyond the attachment count", [`451-["x",{"_placeholder":true,"num":1}]`]],
    ["11 attachments announced", [`4511-["x",${placeholders(11)}]`]],
    ["nesting 65 deep", [`42["x",${nested(64)}]`]],
    ["nesting 200,000 deep", [`42${"[".repeat(200_000)}`]],
    ["unknown packet type", ["49[]"]],
    ["binary with no packet waiting", [Buffer.from([1, 2, 3])]],
    ["one attachment too many", [`451-["x",{"_placeholder":true,"num":0}]`, Buffer.from([1]), Buffer.from([2])]],
    [
      "a text packet while attachments are awaited",
      [`452-["echo",${placeholders(2)}]`, Buffer.from([1]), '42["echo","too early"]'],
    ],
    ["random binary frame", [randomBytes(4096, 11)]],
    ["124,000 small objects (~1 MB, ~70 MB once decoded)", [jsonSmallObjects(124_000)]],
  ];

  for (const [name, frames] of jsonWsCases) {
    test(`websocket, JSON: ${name} closes the connection with parse error`, async () => {
      const { ws, sid } = await h.joinedWs();
      for (const f of frames) ws.send(f);
      const closed = await within(3000, ws.closed, "the server closing the hostile WebSocket");
      assert.ok(closed.code >= 1000, `close code ${closed.code}`);
      assert.equal(await h.reasonOf(sid), "parse error");
      if (name.startsWith("a text packet")) {
        // Node's behaviour: the connection is dropped, the early text packet is not handled.
        assert.ok(!ws.messages.some((m) => String(m).includes("too early")), "the early text packet was dispatched");
      }
      await h.healthyEcho();
    });
  }

  test("websocket: a packet of 10,000 small objects is still served on both parsers (positive control)", async () => {
    const { ws } = await h.joinedWs();
    ws.send(`42["echo",[${Array(10_000).fill('{"a":1}').join(",")}]]`);
    const echo = await ws.nextData();
    assert.ok(echo.startsWith('42["echo",[{"a":1}'), `echo: ${String(echo).slice(0, 40)}`);
    ws.ws.close();
    const mp = await h.joinedWs("/msgpack/", "msgpack");
    mp.ws.send(encodeMsgpack({ type: 2, nsp: "/", data: ["echo", Array.from({ length: 10_000 }, () => ({ a: 1 }))] }));
    const back = decodeMsgpack(await mp.ws.nextData());
    assert.equal(back.data[1].length, 10_000);
    mp.ws.ws.close();
  });

  test("websocket, JSON: a well-formed 10-attachment packet is still accepted (positive control)", async () => {
    const { ws } = await h.joinedWs();
    ws.send(`4510-["echo",${placeholders(10)}]`);
    for (let i = 0; i < 10; i++) ws.send(Buffer.from([i]));
    const head = await ws.nextData();
    assert.ok(head.startsWith("4510-"), `echo: ${head}`);
    ws.ws.close();
  });

  // Polling bodies are Engine.IO payloads: `4` (message) + the Socket.IO packet, records
  // separated by \x1e, `b` + base64 for binary.
  const pollingCases = [
    ["random text", "4r" + randomBytes(64, 3).toString("base64")],
    ["truncated event", '42["x"'],
    ["451000000-[\"x\"]", '451000000-["x"]'],
    ["binary event with 0 attachments", '450-["x"]'],
    ["11 attachments announced", `4511-["x",${placeholders(11)}]`],
    ["nesting 65 deep", `42["x",${nested(64)}]`],
    ["binary with no packet waiting", "bAQID"],
    ["attachment count mismatch (text where the attachment belongs)", `451-["x",${placeholders(1)}]\x1e42["y"]`],
    ["one attachment too many", `451-["x",${placeholders(1)}]\x1ebAQ==\x1ebAg==`],
  ];

  for (const [name, body] of pollingCases) {
    test(`polling, JSON: ${name} closes the session with parse error`, async () => {
      const s = await h.joinedPolling();
      const res = await s.post(body);
      assert.equal(res.status, 200, res.body);
      // The next GETs deliver the close packet (or 400 once the session is gone).
      let closed = false;
      for (let i = 0; i < 3 && !closed; i++) {
        const g = await s.get();
        closed = g.status === 400 || g.body.split("\x1e").includes("1");
      }
      assert.ok(closed, "the session was not closed");
      assert.equal(await h.reasonOf(s.sioSid), "parse error");
      await h.healthyEcho("/socket.io/", { transports: ["polling"] });
    });
  }

  // Engine.IO-level garbage in a polling body: refused with 400 and the session is gone.
  const enginePollingCases = [
    ["random bytes", randomBytes(256, 9)],
    ["an invalid base64 binary record", "b!!!not-base64"],
    ["a truncated base64 binary record", "bAQ"],
    ["an unknown Engine.IO packet type", "9xyz"],
    ["empty records", "\x1e\x1e"],
  ];
  for (const [name, body] of enginePollingCases) {
    test(`polling, Engine.IO: ${name} is refused and ends the session`, async () => {
      const s = await h.joinedPolling();
      const res = await s.post(body);
      assert.equal(res.status, 400, res.body);
      const g = await s.get();
      assert.ok(g.status === 400 || g.body.split("\x1e").includes("1"), `GET after the refused POST: ${g.status} ${g.body}`);
      await h.healthyEcho("/socket.io/", { transports: ["polling"] });
    });
  }

  test("polling, JSON: a well-formed binary event in one payload is still served (positive control)", async () => {
    const s = await h.joinedPolling();
    assert.equal((await s.post(`451-["echo",${placeholders(1)}]\x1ebAQID`)).status, 200);
    const g = await s.get();
    assert.ok(g.body.startsWith("451-"), `echo: ${g.body}`);
    assert.ok(g.body.includes("\x1ebAQID"), `echo: ${g.body}`);
    await s.post("1");
  });

  test("official client: an 11-attachment packet is refused with parse error, the client sees a disconnect", async () => {
    const socket = ioc(server.url, { path: "/socket.io/", forceNew: true, reconnection: false, transports: ["websocket"] });
    try {
      await within(3000, new Promise((r) => socket.once("connect", r)), "connect");
      const sid = socket.id;
      // Positive control on the same client: 10 attachments echo back.
      const ten = Array.from({ length: 10 }, (_, i) => Buffer.from([i]));
      const echoed = await within(3000, new Promise((r) => {
        socket.once("echo", (...args) => r(args));
        socket.emit("echo", ...ten);
      }), "the 10-attachment echo");
      assert.equal(echoed.length, 10);
      const disconnected = new Promise((r) => socket.once("disconnect", r));
      socket.emit("echo", ...Array.from({ length: 11 }, (_, i) => Buffer.from([i])));
      const reason = await within(3000, disconnected, "the disconnect");
      assert.equal(reason, "transport close");
      assert.equal(await h.reasonOf(sid), "parse error");
    } finally {
      socket.disconnect();
    }
    await h.healthyEcho();
  });

  // msgpack parser: every packet is one binary message.
  const msgpackCases = [
    ["random bytes", [randomBytes(2048, 5)]],
    ["a text message", ['42["x"]']],
    ["truncated map", [encodeMsgpack({ type: 2, nsp: "/", data: ["x", "y"] }).subarray(0, 10)]],
    ["reserved byte 0xc1", [Buffer.from([0xc1])]],
    ["trailing bytes", [Buffer.concat([encodeMsgpack({ type: 2, nsp: "/", data: ["x"] }), Buffer.from([0])])]],
    ["invalid type", [encodeMsgpack({ type: 9, nsp: "/", data: ["x"] })]],
    ["11 inline binaries", [encodeMsgpack({ type: 2, nsp: "/", data: ["echo", ...Array.from({ length: 11 }, () => Buffer.from([1]))] })]],
    ["nesting 65 deep", [msgpackEventWithRaw(Buffer.concat([Buffer.alloc(64, 0x91), Buffer.from([1])]))]],
    ["nesting 100,000 deep", [msgpackEventWithRaw(Buffer.alloc(100_000, 0x91))]],
    ["240,000 small maps (960 KB, ~65 MB once decoded)", [msgpackEventWithRaw(msgpackSmallMaps(240_000))]],
    ["array headers announcing 2^32-1 elements", [msgpackEventWithRaw(Buffer.concat(Array.from({ length: 60 }, () => Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))))]],
  ];

  for (const [name, frames] of msgpackCases) {
    test(`websocket, msgpack: ${name} closes the connection with parse error`, async () => {
      const { ws, sid } = await h.joinedWs("/msgpack/", "msgpack");
      for (const f of frames) ws.send(f);
      await within(3000, ws.closed, "the server closing the hostile WebSocket");
      assert.equal(await h.reasonOf(sid), "parse error");
      await h.healthyEcho("/msgpack/", { parser: msgpackParser, transports: ["websocket"] });
    });
  }

  test("websocket, msgpack: the issue's 998 KB packet of 499,000 binaries is refused and costs at most twice its size", async (t) => {
    const packet = msgpackEventWithRaw(msgpackArray32(499_000, Buffer.from([0xc4, 0x00])));
    assert.ok(packet.length > 990_000 && packet.length < 1_000_000, `${packet.length} bytes`);
    const { ws, sid } = await h.joinedWs("/msgpack/", "msgpack");
    await sleep(200);
    const before = memory(server.child.pid);
    ws.send(packet);
    await within(5000, ws.closed, "the server closing the hostile WebSocket");
    assert.equal(await h.reasonOf(sid), "parse error");
    const afterMem = memory(server.child.pid);
    const grewKb = afterMem.peak - before.peak;
    t.diagnostic(`998 KB msgpack packet: RSS ${fmt(before.rss)} -> ${fmt(afterMem.rss)}, peak ${fmt(before.peak)} -> ${fmt(afterMem.peak)}`);
    assert.ok(grewKb * 1024 <= 2 * packet.length, `peak RSS grew by ${grewKb} kB for a ${packet.length}-byte packet`);
    await h.healthyEcho("/msgpack/", { parser: msgpackParser, transports: ["websocket"] });
  });

  test("websocket, msgpack: 960 KB of small maps is refused before it costs more than max_decoded_bytes", async (t) => {
    const packet = msgpackEventWithRaw(msgpackSmallMaps(240_000));
    const { ws, sid } = await h.joinedWs("/msgpack/", "msgpack");
    await sleep(200);
    const before = memory(server.child.pid);
    ws.send(packet);
    await within(5000, ws.closed, "the server closing the hostile WebSocket");
    assert.equal(await h.reasonOf(sid), "parse error");
    const afterMem = memory(server.child.pid);
    t.diagnostic(`960 KB of small maps: RSS ${fmt(before.rss)} -> ${fmt(afterMem.rss)}, peak ${fmt(before.peak)} -> ${fmt(afterMem.peak)}`);
    // The default bound is 16 MiB of decoded values (the message itself and its read buffer
    // come on top); unbounded it reached 190 MB.
    assert.ok(afterMem.peak - before.peak < 20 * 1024, `peak RSS grew by ${fmt(afterMem.peak - before.peak)}`);
    await h.healthyEcho("/msgpack/", { parser: msgpackParser, transports: ["websocket"] });
  });

  test("an incomplete binary packet times out: the connection is closed with parse error", async (t) => {
    // /tunable/ waits 1.5 s for the last attachment (--attachments-timeout 1500).
    const { ws, sid } = await h.joinedWs("/tunable/");
    const started = Date.now();
    ws.send(`452-["echo",${placeholders(2)}]`);
    ws.send(Buffer.alloc(100_000, 1));
    // Stay alive meanwhile (answer pings), so only the missing attachment can close us.
    const closed = within(4000, ws.closed, "the server closing the incomplete packet");
    const pong = setInterval(() => {
      for (const m of ws.messages.splice(0)) if (m === "2") ws.send("3");
    }, 50);
    try {
      await closed;
    } finally {
      clearInterval(pong);
    }
    const waited = Date.now() - started;
    t.diagnostic(`incomplete packet closed after ${waited} ms`);
    assert.ok(waited >= 1400, `closed after ${waited} ms, before the timeout`);
    assert.equal(await h.reasonOf(sid), "parse error");
    // Positive control: a complete packet on the same instance is served.
    await h.healthyEcho("/tunable/");
  });

  test("an incomplete binary packet may hold at most maxHttpBufferSize of attachments", async () => {
    const { ws, sid } = await h.joinedWs();
    ws.send(`453-["echo",${placeholders(3)}]`);
    ws.send(Buffer.alloc(600_000, 1));
    ws.send(Buffer.alloc(600_000, 2));
    await within(3000, ws.closed, "the server closing the oversized incomplete packet");
    assert.equal(await h.reasonOf(sid), "parse error");
    await h.healthyEcho();
  });

  test("20 hostile connections at once: no crash, still serving, peak RSS under 64 MB", async (t) => {
    const start = memory(server.child.pid);
    // Each would hold 9 x 900 KB in an incomplete packet without the byte bound (the issue
    // measured 20 such connections at 177 MB), or sends garbage of another kind.
    const hostile = [];
    for (let i = 0; i < 20; i++) {
      const kind = i % 5;
      if (kind >= 3) {
        hostile.push(
          h.joinedWs("/msgpack/", "msgpack").then(({ ws }) => {
            const raw = kind === 3 ? msgpackArray32(499_000, Buffer.from([0xc4, 0x00])) : msgpackSmallMaps(240_000);
            ws.send(msgpackEventWithRaw(raw));
            return ws;
          }),
        );
        continue;
      }
      hostile.push(
        h.joinedWs().then(({ ws }) => {
          if (kind === 0) {
            ws.send(`4510-["echo",${placeholders(10)}]`);
            for (let a = 0; a < 9; a++) ws.send(Buffer.alloc(900_000, a));
          } else if (kind === 1) {
            ws.send(i % 2 ? `42["x",${nested(64)}]` : jsonSmallObjects(124_000));
          } else {
            ws.send(randomBytes(900_000, i + 1));
          }
          return ws;
        }),
      );
    }
    const sockets = await within(10_000, Promise.all(hostile), "20 hostile connections");
    // Served while they are being handled.
    await h.healthyEcho();
    const during = memory(server.child.pid);
    await within(10_000, Promise.all(sockets.map((ws) => ws.closed)), "every hostile connection closed by the server");
    await h.healthyEcho();
    await h.healthyEcho("/msgpack/", { parser: msgpackParser, transports: ["websocket"] });
    const end = memory(server.child.pid);
    t.diagnostic(`20 hostile: RSS before ${fmt(start.rss)}, during ${fmt(during.rss)}, after ${fmt(end.rss)}, peak ${fmt(end.peak)}`);
    peaks.push(end.peak);
    assert.ok(!server.exited(), "the server crashed");
    assert.ok(end.peak < RSS_LIMIT_KB, `peak RSS ${fmt(end.peak)} >= 64 MB`);
  });

  test("after everything: the server is alive, peak RSS under 64 MB, no session left behind", async (t) => {
    await h.healthyEcho();
    const m = memory(server.child.pid);
    t.diagnostic(`malformed suite: RSS ${fmt(m.rss)}, peak ${fmt(m.peak)}`);
    assert.ok(m.peak < RSS_LIMIT_KB, `peak RSS ${fmt(m.peak)} >= 64 MB`);
    await h.waitFor("every session released", async () => (await h.stats()).totalSessions === 0, 8000);
  });
});

// ------------------------------------------------------------------ abandoned handshakes

describe("abandoned polling handshakes (issue 8 #17)", () => {
  // /tunable/ defaults: pingInterval 5 s, pingTimeout 3 s, connectTimeout 6 s. The connect
  // timeout closes the never-joined sessions at 6 s, between the ping (5 s) and its deadline
  // (8 s): before the fix they then waited another ping cycle (released at 14 s, past the 13 s
  // bound); now they are gone when their pong is due, at 8 s.
  const PING_INTERVAL = 5000;
  const PING_TIMEOUT = 3000;
  const N = Number(process.env.SOCKGATE_ABANDONED_N ?? 5000);
  let server;
  let h;

  before(async () => {
    server = await startServer({
      name: "testserver",
      args: ["--ping-interval", String(PING_INTERVAL), "--ping-timeout", String(PING_TIMEOUT), "--connect-timeout", "6000"],
    });
    h = mkHelpers(server);
  });

  after(async () => {
    await server?.stop();
  });

  test(`${N} handshakes never polled again are all released by pingInterval + pingTimeout + 5 s`, async (t) => {
    const sessions = async () => (await h.stats()).instances.tunable.sessions;
    assert.equal(await sessions(), 0);
    const before = memory(server.child.pid);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const handshake = () =>
      new Promise((resolve, reject) => {
        const req = http.get(`${server.url}/tunable/?EIO=4&transport=polling`, { agent }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (body += c));
          res.on("end", () => (res.statusCode === 200 && body.startsWith("0{") ? resolve() : reject(new Error(`${res.statusCode} ${body}`))));
        });
        req.setTimeout(5000, () => req.destroy(new Error("handshake timed out")));
        req.on("error", reject);
      });
    const first = Date.now();
    let done = 0;
    const workers = Array.from({ length: 32 }, async () => {
      while (done < N) {
        done++;
        await handshake();
      }
    });
    await within(20_000, Promise.all(workers), `${N} handshakes`);
    const last = Date.now();
    agent.destroy();
    const open = await sessions();
    const during = memory(server.child.pid);
    assert.ok(open >= N * 0.9, `only ${open} of ${N} sessions open after the handshakes`);
    const bound = PING_INTERVAL + PING_TIMEOUT + 5000;
    let releasedAt = null;
    while (Date.now() - last < bound + 1000) {
      if ((await sessions()) === 0) {
        releasedAt = Date.now();
        break;
      }
      await sleep(100);
    }
    const afterMem = memory(server.child.pid);
    t.diagnostic(
      `${N} abandoned handshakes in ${last - first} ms; all released ${releasedAt ? releasedAt - last : "never"} ms after the last ` +
        `(${releasedAt ? releasedAt - first : "-"} ms after the first); RSS before ${fmt(before.rss)}, during ${fmt(during.rss)}, ` +
        `after ${fmt(afterMem.rss)}, peak ${fmt(afterMem.peak)}`,
    );
    assert.ok(releasedAt !== null, `sessions still open ${bound + 1000} ms after the last handshake: ${await sessions()}`);
    assert.ok(releasedAt - last <= bound, `released ${releasedAt - last} ms after the last handshake (bound ${bound})`);
    // Each session is released at most pingInterval + pingTimeout (+ scheduling slack) after
    // its own handshake, not one more cycle later.
    assert.ok(
      releasedAt - first <= last - first + PING_INTERVAL + PING_TIMEOUT + 2500,
      `released ${releasedAt - first} ms after the first handshake`,
    );
    await h.healthyEcho("/tunable/", { transports: ["polling"] });
  });
});
