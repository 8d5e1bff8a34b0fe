// Processes of a mixed cluster on 127.0.0.1: a redis-server on a free port, Node nodes and
// sockgate nodes; each is stopped by its PID when the test ends.
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";

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

function waitForPort(port, ms = 10_000) {
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

/** Whether redis-server can be run (the test command installs Debian's when missing). */
export function haveRedis() {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

const children = new Set();

function start(command, args, port, env = process.env) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  children.add(child);
  child.once("exit", () => children.delete(child));
  const handle = {
    child,
    port,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", resolve);
        process.kill(child.pid, "SIGKILL");
      }),
  };
  return waitForPort(port).then(
    () => handle,
    (error) => {
      child.kill("SIGKILL");
      throw new Error(`${command} did not start: ${error.message}\n${output}`);
    },
  );
}

/** A redis-server on a free port, or on `port` (to restart one). */
export async function startRedis(port) {
  port ??= await freePort();
  const redis = await start(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    port,
  );
  redis.url = `redis://127.0.0.1:${port}`;
  return redis;
}

/** Runs `redis-cli` against `redis` and resolves with its trimmed output. */
export function redisCli(redis, ...args) {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", ["-p", String(redis.port), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(output.trim()) : reject(new Error(`redis-cli ${args.join(" ")} exited with ${code}`)));
  });
}

/**
 * Waits until `n` nodes subscribe the sharded channel of `room` (the dynamic subscription mode
 * of the sharded adapters). A join is acked before its node's SSUBSCRIBE reaches Redis, on Node
 * and on sockgate alike, so a room broadcast right after a join may miss the new member's node.
 */
export async function roomSubscribed(redis, room, n, nsp = "/") {
  const channel = `socket.io#${nsp}#${room}#`;
  await until(async () => {
    const [, count] = (await redisCli(redis, "PUBSUB", "SHARDNUMSUB", channel)).split("\n");
    return Number(count) === n;
  }, 5000, `${n} subscribers of ${channel}`);
}

/**
 * A Node node; `adapter` is `classic` (createAdapter), `sharded` (createShardedAdapter) or
 * `streams` (@socket.io/redis-streams-adapter); `extra` are more flags (`--csr`, ...). A
 * `port` restarts a node on the same port.
 */
export async function startNodeNode(redisUrl, name, adapter = "classic", extra = [], port) {
  port ??= await freePort();
  return start(
    process.execPath,
    [path.join(here, "node-server.mjs"), "--port", String(port), "--redis", redisUrl,
      "--name", name, "--adapter", adapter, ...extra],
    port,
  );
}

/**
 * A sockgate node (e2e/cluster-node) on the `classic`, `sharded` or `streams` adapter; `extra`
 * are more flags (`--csr`, `--csr-ttl-ms N`, `--stream-count N`, `--max-len N`).
 */
export async function startSockgateNode(redisUrl, name, adapter = "classic", extra = [], port) {
  port ??= await freePort();
  return start(
    path.join(binDir, "cluster-node"),
    ["--port", String(port), "--redis", redisUrl, "--name", name, "--adapter", adapter, ...extra],
    port,
  );
}

/**
 * A node of the chat example (examples/chat) in cluster mode: `REDIS_URL=redisUrl`,
 * `SOCKGATE_ADAPTER=adapter` (unset when `undefined`), on a free port.
 */
export async function startChatNode(redisUrl, adapter) {
  const port = await freePort();
  const env = { ...process.env, REDIS_URL: redisUrl, HOST: "127.0.0.1", PORT: String(port) };
  delete env.SOCKGATE_ADAPTER;
  if (adapter) env.SOCKGATE_ADAPTER = adapter;
  const node = await start(path.join(binDir, "chat"), [], port, env);
  node.url = `http://127.0.0.1:${port}`;
  return node;
}

export async function stopAll() {
  await Promise.all([...children].map((child) =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", resolve);
      process.kill(child.pid, "SIGKILL");
    })));
}

/**
 * A connected client of `node`, which answers `ask` acks with `ack from <name>` and `ask-list`
 * acks with one array argument, `["list", <name>]`.
 */
export function client(node, name) {
  const socket = connect(`http://127.0.0.1:${node.port}`, {
    transports: ["websocket"],
    reconnection: false,
  });
  socket.label = name;
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push([event, ...args]));
  socket.on("ask", (...args) => {
    const cb = args.pop();
    cb(`ack from ${name}`);
  });
  socket.on("ask-list", (...args) => {
    const cb = args.pop();
    cb(["list", name]);
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Sends a control event and waits for its ack. */
export function call(socket, event, ...args) {
  return socket.timeout(8000).emitWithAck(event, ...args);
}

/** Waits until `f()` is true, at most `ms`. */
export async function until(f, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs sockgate's Rust emitter (`target/debug/emit`) with these operations (`extra`:
 * `["--streams"]` for its streams mode).
 */
export function rustEmit(redisUrl, ops, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(binDir, "emit"), ["--redis", redisUrl, ...extra, JSON.stringify(ops)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`emit exited with ${code}: ${output}`));
    });
  });
}
