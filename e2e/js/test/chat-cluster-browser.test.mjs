// The chat as a cluster in a real browser: a redis-server on a free port, two chat nodes with
// REDIS_URL set (the classic adapter, as scripts/chat-cluster.sh runs them), and headless
// Chromium (Debian's `chromium`, driven by playwright-core) with one page on each node. A
// message typed on the page of node A appears on the page of node B, and back.
//
// Without /usr/bin/chromium or redis-server the test fails in CI (CI set) and is skipped
// elsewhere (scripts/browser-deps.sh and `scripts/cluster-e2e.sh deps` install them).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { binaryPath, freePort, repoRoot } from "../lib/server.mjs";
import { sleep, within } from "../lib/eio.mjs";

const CHROMIUM = "/usr/bin/chromium";
const missing = [
  !existsSync(CHROMIUM) && `${CHROMIUM} is missing: run scripts/browser-deps.sh`,
  spawnSync("redis-server", ["--version"]).status !== 0 &&
    "redis-server is missing: run scripts/cluster-e2e.sh deps",
].filter(Boolean);
const skip = missing.length && !process.env.CI ? missing.join("; ") : false;

const children = [];
let browser;

/** Starts `command` and waits until its output matches `ready`. */
async function launch(command, args, env, ready) {
  let out = "";
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  await within(
    20000,
    (async () => {
      while (!ready.test(out)) {
        if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}):\n${out}`);
        await sleep(20);
      }
    })(),
    `${command} to start`,
  );
  return { child, logs: () => out };
}

/** `PUBSUB NUMSUB channel` on the Redis at `port` (how many nodes listen on `channel`). */
function numsub(port, channel) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    socket.once("error", reject);
    socket.on("data", (d) => {
      reply += d;
      const m = /:(\d+)\r\n/.exec(reply);
      if (m) {
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.write(`PUBSUB NUMSUB ${channel}\r\n`);
  });
}

async function startChat(redisUrl) {
  const port = await freePort();
  const node = await launch(
    binaryPath("chat"),
    [],
    { PORT: String(port), HOST: "127.0.0.1", REDIS_URL: redisUrl, SOCKGATE_ADAPTER: "" },
    new RegExp(`chat listening on http://127.0.0.1:${port}/`),
  );
  return { ...node, url: `http://127.0.0.1:${port}` };
}

let A, B;

before(async () => {
  if (skip) return;
  assert.deepEqual(missing, [], "CI installs chromium and redis-server");
  const redisPort = await freePort();
  await launch(
    "redis-server",
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {},
    /Ready to accept connections/,
  );
  [A, B] = await Promise.all([startChat(`redis://127.0.0.1:${redisPort}`), startChat(`redis://127.0.0.1:${redisPort}`)]);
  // Both nodes subscribed to /example (the classic adapter's request channel counts them).
  await within(
    10000,
    (async () => {
      while ((await numsub(redisPort, "socket.io-request#/example#")) < 2) await sleep(50);
    })(),
    "both chat nodes on Redis",
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  // Stopped by PID, every one of them, whatever happened.
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGKILL");
  })));
});

/** Opens the chat page of `url` in its own browser context and joins as `name`. */
async function join(url, name) {
  const context = await browser.newContext({ viewport: { width: 720, height: 540 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(`${url}/`);
  await page.fill("#name", name);
  await page.click("#join-button");
  await page.waitForFunction(
    (expected) => document.getElementById("status").textContent === expected,
    `Connected as ${name}`,
    { timeout: 5000 },
  );
  return { page, problems };
}

async function waitForLine(page, text) {
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll("#log li")].some((li) => li.textContent === expected),
    text,
    { timeout: 5000 },
  );
}

test("two pages on two chat nodes see each other's messages (headless Chromium)", { skip, timeout: 60000 }, async () => {
  const alice = await join(A.url, "alice");
  const bob = await join(B.url, "bob");
  await waitForLine(alice.page, "bob joined"); // B's broadcast, through Redis

  await alice.page.fill("#message", "hello from node A");
  await alice.page.press("#message", "Enter");
  await waitForLine(bob.page, "alice : hello from node A");
  await waitForLine(alice.page, "alice : hello from node A");

  await bob.page.fill("#message", "hi from node B");
  await bob.page.click("#send-button");
  await waitForLine(alice.page, "bob : hi from node B");

  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
  assert.match(A.logs(), /client connected: \S+, name: alice/);
  assert.match(B.logs(), /client connected: \S+, name: bob/);
  // Each page is on its own node: the messages crossed Redis.
  assert.doesNotMatch(A.logs(), /name: bob/);
  assert.doesNotMatch(B.logs(), /name: alice/);
});
