// The rolling-deploy harness from the command line (the full-size run of bench/RELIABILITY.md):
//   node run.mjs [--kind sockgate|node|both] [--clients 1000] [--mode deploy|jitter|all]
// prints one JSON line per scenario, then a Markdown table.
import { runScenario } from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const kinds = arg("--kind", "both") === "both" ? ["sockgate", "node"] : [arg("--kind")];
const modes = arg("--mode", "all") === "all" ? ["deploy", "jitter"] : [arg("--mode")];
const clients = Number(arg("--clients", "1000"));

const results = [];
for (const mode of modes) {
  for (const kind of kinds) {
    const result = await runScenario({ kind, mode, clients, log: (line) => console.error(line) });
    console.log(JSON.stringify(result));
    results.push(result);
  }
}
console.log("\n| scenario | server | clients | published | lost | duplicated | reconnects | recovered (same id) | back after SIGTERM A / B (ms) | replay p99 from reconnect (ms) | reconnect p99 (ms) |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  const back = r.restarts.map((x) => x.backAfterMs).join(" / ") || "n/a";
  console.log(`| ${r.mode} | ${r.kind} | ${r.clients} | ${r.published} | ${r.lost} | ${r.duplicated} | ${r.reconnects} | ${r.recovered} | ${back} | ${r.replayP99Ms ?? "n/a"} | ${r.reconnectP99Ms ?? "n/a"} |`);
}
process.exit(0);
