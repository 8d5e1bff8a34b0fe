// Processes of the rolling-deploy harness on 127.0.0.1: redis-server, HAProxy and two nodes
// (sockgate `cluster-node` or Node socket.io), each on a free port and stopped by its PID.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const binDir = process.env.SOCKGATE_BIN_DIR ?? path.join(root, "target/debug");

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function waitForPort(port, ms = 15_000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port} after ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Whether `command --version` (or `-v`) runs: the test command installs what is missing. */
export function have(command, flag = "--version") {
  return spawnSync(command, [flag]).status === 0;
}

const children = new Set();
process.on("exit", () => {
  for (const child of children) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {}
  }
});

/** Starts `command`; resolves once `port` accepts connections. */
export function start(command, args, port, env = process.env) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  const keep = (d) => {
    output += d;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  children.add(child);
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const handle = {
    child,
    port,
    exited,
    output: () => output,
    /** Every line of its output so far (the logs of a process that exited). */
    lines: () => output.split("\n").filter(Boolean),
    running: () => child.exitCode === null && child.signalCode === null,
    /** Sends `signal` and resolves with how the process exited. */
    signal: (signal) => {
      if (handle.running()) process.kill(child.pid, signal);
      return exited;
    },
    kill: () => handle.signal("SIGKILL"),
  };
  return waitForPort(port).then(
    () => handle,
    (error) => {
      child.kill("SIGKILL");
      throw new Error(`${command} did not start: ${error.message}\n${output}`);
    },
  );
}

export async function startRedis() {
  const port = await freePort();
  const redis = await start(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    port,
  );
  redis.url = `redis://127.0.0.1:${port}`;
  return redis;
}

/**
 * HAProxy in front of `ports` (config: haproxy.cfg beside this file, its placeholders filled
 * in), in the foreground (`-db`) so that its PID is the one to stop.
 */
export async function startHaproxy(ports) {
  const front = await freePort();
  const template = fs.readFileSync(path.join(here, "haproxy.cfg"), "utf8");
  const config = template
    .replaceAll("${FRONT_PORT}", String(front))
    .replaceAll("${NODE_A_PORT}", String(ports[0]))
    .replaceAll("${NODE_B_PORT}", String(ports[1]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sockgate-haproxy-"));
  const file = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(file, config);
  const haproxy = await start("haproxy", ["-db", "-f", file], front);
  haproxy.url = `http://127.0.0.1:${front}`;
  haproxy.exited.then(() => fs.rmSync(dir, { recursive: true, force: true }));
  return haproxy;
}

/** Drain settings shared by both kinds of node (milliseconds). */
export const DRAIN = {
  // Longer than HAProxy's `inter 300ms fall 1`: the node is out before a transport closes.
  delay: 800,
  window: Number(process.env.DRAIN_WINDOW_MS ?? 3000),
};

/**
 * A node of `kind` (`sockgate`: e2e/cluster-node with the streams adapter and recovery on;
 * `node`: node-node.mjs, socket.io 4.8.4 + @socket.io/redis-streams-adapter 0.3.1, CSR on) on
 * `port`, joined to Redis at `redisUrl`.
 */
export function startNode(kind, name, port, redisUrl) {
  if (kind === "node") {
    return start(
      process.execPath,
      [path.join(here, "node-node.mjs"), "--port", String(port), "--redis", redisUrl,
        "--name", name, "--drain-delay-ms", String(DRAIN.delay)],
      port,
    );
  }
  return start(
    path.join(binDir, "cluster-node"),
    ["--port", String(port), "--redis", redisUrl, "--name", name, "--adapter",
      process.env.DEPLOY_SOCKGATE_ADAPTER ?? "streams",
      "--csr", "--health-path", "/health", "--drain-delay-ms", String(DRAIN.delay),
      "--drain-window-ms", String(DRAIN.window), "--close-timeout-ms", "5000"],
    port,
  );
}

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}
