// Rolling deploys and jitter behind HAProxy, at the reduced size of the test command
// (DEPLOY_CLIENTS, default 200; scripts/reliability.sh runs 1,000). sockgate must lose and
// duplicate nothing and recover every client; the Node cluster runs the same scenario in the
// same run for comparison (its numbers are printed, and written to DEPLOY_RESULTS if set).
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { runScenario } from "../harness.mjs";
import { have } from "../lib.mjs";

const clients = Number(process.env.DEPLOY_CLIENTS ?? 200);
const missing = ["redis-server", "haproxy"].filter((c) => !have(c, c === "haproxy" ? "-v" : "--version"));
const skip = missing.length ? `not installed: ${missing.join(", ")}` : false;
const results = [];

function report(result) {
  results.push(result);
  console.log(JSON.stringify(result));
  if (process.env.DEPLOY_RESULTS) fs.writeFileSync(process.env.DEPLOY_RESULTS, JSON.stringify(results, null, 2));
}

function assertZeroLoss(result) {
  assert.equal(result.publishErrors, 0, "the publisher wrote every entry");
  assert.ok(result.published >= 50, `${result.published} broadcasts published`);
  assert.deepEqual(
    { lost: result.lost, duplicated: result.duplicated, failures: result.failures },
    { lost: 0, duplicated: 0, failures: [] },
  );
  assert.ok(result.reconnects >= clients, `every client reconnected at least once (${result.reconnects})`);
  assert.equal(result.recovered, result.reconnects, "every reconnect recovered, same id");
}

test("sockgate: rolling deploy of both nodes behind HAProxy loses and duplicates nothing", { skip, timeout: 180_000 }, async () => {
  const result = await runScenario({ kind: "sockgate", mode: "deploy", clients, log: console.log });
  report(result);
  assertZeroLoss(result);
  assert.equal(result.restarts.length, 2);
  for (const restart of result.restarts) {
    assert.deepEqual(restart.exit, { code: 0, signal: null }, "a clean exit on SIGTERM");
    assert.ok(restart.moved > 0, `node ${restart.node}'s clients moved`);
  }
  // B had about everyone after A's restart (a few reconnected to the new A already).
  assert.ok(result.restarts[1].moved >= clients / 2, `${result.restarts[1].moved} moved off B`);
  assert.equal(result.stalled, 0, "no client stalled");
});

test("Node socket.io + redis-streams-adapter: the same rolling deploy (for comparison)", { skip, timeout: 180_000 }, async () => {
  const result = await runScenario({ kind: "node", mode: "deploy", clients, log: console.log });
  report(result);
  // Only the harness is checked here: the numbers are what the comparison reports.
  assert.equal(result.restarts.length, 2);
  assert.ok(result.published >= 50);
  assert.ok(result.reconnects >= clients);
});

test("sockgate: TCP sockets destroyed every few seconds, reconnecting to either node: 100% delivered", { skip, timeout: 180_000 }, async () => {
  const result = await runScenario({ kind: "sockgate", mode: "jitter", clients, log: console.log });
  report(result);
  assertZeroLoss(result);
  assert.equal(result.stalled, 0, "no client stalled");
});
