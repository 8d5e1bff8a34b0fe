// The chat page in a real browser: headless Chromium (Debian's `chromium` package, installed by
// scripts/browser-deps.sh) driven by playwright-core. Two pages join as two names; a message
// typed in one appears in the other. A screenshot is kept in e2e/js/artifacts/chat.png.
//
// Without /usr/bin/chromium the test fails in CI (CI set) and is skipped elsewhere.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { binaryPath, freePort, repoRoot } from "../lib/server.mjs";
import { sleep, within } from "../lib/eio.mjs";

const CHROMIUM = "/usr/bin/chromium";
const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.resolve(here, "..", "artifacts");
const missing = !existsSync(CHROMIUM);
const skip = missing && !process.env.CI ? `${CHROMIUM} is missing: run scripts/browser-deps.sh` : false;

let chat;
let browser;

async function startChat() {
  const port = await freePort();
  let out = "";
  const child = spawn(binaryPath("chat"), [], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await within(
    20000,
    (async () => {
      while (!out.includes(`chat listening on http://127.0.0.1:${port}/`)) {
        if (child.exitCode !== null) throw new Error(`chat exited (${child.exitCode}):\n${out}`);
        await sleep(20);
      }
    })(),
    "chat to listen",
  );
  return {
    url: `http://127.0.0.1:${port}`,
    logs: () => out,
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
  if (skip) return;
  assert.ok(!missing, `${CHROMIUM} is missing: run scripts/browser-deps.sh (CI installs it)`);
  chat = await startChat();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await chat?.stop();
});

/** Opens the chat page in its own browser context and joins as `name`. */
async function join(name) {
  const context = await browser.newContext({ viewport: { width: 720, height: 540 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} ${new URL(res.url()).pathname}`);
  });
  page.on("console", (msg) => {
    // The browser's own /favicon.ico request (the page has none) is not a page resource and is
    // not reported as a response; every resource the page loads is checked above.
    if (msg.type() === "error" && !/^Failed to load resource: .* 404 \(Not Found\)$/.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  await page.goto(`${chat.url}/`);
  await page.fill("#name", name);
  await page.click("#join-button");
  await page.waitForFunction(
    (expected) => document.getElementById("status").textContent === expected,
    `Connected as ${name}`,
    { timeout: 5000 },
  );
  assert.equal(await page.isVisible("#send"), true);
  assert.equal(await page.isVisible("#join"), false);
  return { page, problems };
}

function logLines(page) {
  return page.$$eval("#log li", (items) => items.map((li) => ({ text: li.textContent, kind: li.className })));
}

async function waitForLine(page, text) {
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll("#log li")].some((li) => li.textContent === expected),
    text,
    { timeout: 5000 },
  );
}

test("two pages chat through the gateway in headless Chromium", { skip, timeout: 60000 }, async () => {
  const alice = await join("alice");
  await waitForLine(alice.page, "alice joined");
  const bob = await join("bob");
  // alice sees bob join; bob sees his own join notice
  await waitForLine(alice.page, "bob joined");
  await waitForLine(bob.page, "bob joined");

  await alice.page.fill("#message", "hello from alice");
  await alice.page.press("#message", "Enter");
  await waitForLine(bob.page, "alice : hello from alice");
  await waitForLine(alice.page, "alice : hello from alice"); // the sender gets the broadcast too
  assert.equal(await alice.page.inputValue("#message"), "");

  await bob.page.fill("#message", "hi alice, bob here");
  await bob.page.click("#send-button");
  await waitForLine(alice.page, "bob : hi alice, bob here");
  await waitForLine(bob.page, "bob : hi alice, bob here");

  const bobLines = await logLines(bob.page);
  assert.deepEqual(bobLines, [
    { text: "bob joined", kind: "system" },
    { text: "alice : hello from alice", kind: "" },
    { text: "bob : hi alice, bob here", kind: "" },
  ]);

  mkdirSync(artifacts, { recursive: true });
  await alice.page.screenshot({ path: path.join(artifacts, "chat.png") });
  await bob.page.screenshot({ path: path.join(artifacts, "chat-bob.png") });

  // bob leaves: alice sees it
  await bob.page.context().close();
  await waitForLine(alice.page, "bob left");

  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
  assert.match(chat.logs(), /client connected: \S+, name: alice/);
  await alice.page.context().close();
});
