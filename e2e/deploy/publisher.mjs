// The publisher of the harness, in its own process so that the clients' load cannot slow it
// down: every `--interval-ms` (100) it XADDs to the stream `socket.io` the entry that
// @socket.io/redis-streams-emitter writes (uid "emitter", type 3): a broadcast of
// `["tick", seq]` to `/`. On SIGTERM it stops and prints `last <seq> errors <n>`.
//   node publisher.mjs --redis redis://127.0.0.1:P [--interval-ms 100]
import { createClient } from "redis";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const redis = createClient({ url: arg("--redis", "redis://127.0.0.1:6379") });
redis.on("error", () => {});
await redis.connect();
const interval = Number(arg("--interval-ms", "100"));
let seq = 0;
let errors = 0;
let inFlight = Promise.resolve();
const started = Date.now();

function publish() {
  const next = ++seq;
  const data = JSON.stringify({
    packet: { type: 2, data: ["tick", next], nsp: "/" },
    opts: { rooms: [], except: [], flags: {} },
  });
  inFlight = redis
    .xAdd("socket.io", "*", { uid: "emitter", nsp: "/", type: "3", data }, {
      TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 10_000 },
    })
    .catch(() => errors++);
  // Scheduled against the start, so a late tick does not shift the ones after it.
  timer = setTimeout(publish, Math.max(0, started + (next + 1) * interval - Date.now()));
}
let timer = setTimeout(publish, 0);
process.on("SIGTERM", async () => {
  clearTimeout(timer);
  await inFlight;
  console.log(`last ${seq} errors ${errors}`);
  await redis.quit().catch(() => {});
  process.exit(0);
});
console.log("publishing");
