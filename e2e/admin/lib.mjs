// Processes for the admin tests, on 127.0.0.1 and free ports, each stopped by its PID when
// the test ends: the chat example (the sockgate server under test), a redis-server and a
// Node socket.io node with @socket.io/admin-ui for the mixed cluster.
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
const binDir = process.env.SOCKGATE_BIN_DIR ?? path.join(repoRoot, "target/debug");

/** The admin password every test server uses (user `admin`). */
export const PASSWORD = "s3cret-admin";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with `what` if `promise` takes longer than `ms`. */
export function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

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

const children = new Set();
process.once("exit", () => {
  for (const child of children) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {}
  }
});

function spawnLogged(command, args, env, cwd) {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  children.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  exited.then(() => children.delete(child));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {}
      }, 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitFor(handle, text, ms, what) {
  await within(
    ms,
    (async () => {
      while (!handle.output().includes(text)) {
        if (handle.child.exitCode !== null) throw new Error(`${what} exited (${handle.child.exitCode}):\n${handle.output()}`);
        await sleep(20);
      }
    })(),
    `${what}: ${handle.output()}`,
  );
}

/**
 * The chat example with the admin namespace on (`ADMIN_PASSWORD`), plus `env`. Resolves to
 * `{url, port, pid, output, stop}` once it listens.
 */
export async function startChat(env = {}) {
  const port = await freePort();
  const handle = spawnLogged(
    path.join(binDir, "chat"),
    [],
    {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      NO_COLOR: "1",
      ADMIN_PASSWORD: PASSWORD,
      ADMIN_SERVER_ID: "sockgate-chat",
      ...env,
    },
    repoRoot,
  );
  await waitFor(handle, `chat listening on http://127.0.0.1:${port}/`, 20_000, "chat");
  return { ...handle, port, pid: handle.child.pid, url: `http://127.0.0.1:${port}` };
}

/** Whether redis-server can be run (scripts/admin-e2e.sh installs Debian's when missing). */
export function haveRedis() {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

export async function startRedis() {
  const port = await freePort();
  const handle = spawnLogged(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    process.env,
  );
  await waitFor(handle, "Ready to accept connections", 10_000, "redis-server");
  return { ...handle, port, url: `redis://127.0.0.1:${port}` };
}

/** A Node socket.io 4.8.4 node with @socket.io/admin-ui 0.5.1 on the Redis adapter. */
export async function startNodeAdmin(redisUrl, serverId) {
  const port = await freePort();
  const handle = spawnLogged(
    process.execPath,
    [path.join(here, "node-admin-server.mjs"), "--port", String(port), "--redis", redisUrl, "--server-id", serverId],
    process.env,
  );
  await waitFor(handle, "node admin listening", 10_000, "node admin server");
  return { ...handle, port, url: `http://127.0.0.1:${port}` };
}

const sockets = new Set();

/** A socket.io-client socket, closed by `closeAll`. */
export function client(url, opts = {}) {
  const socket = connect(url, { forceNew: true, reconnection: false, transports: ["websocket"], ...opts });
  sockets.add(socket);
  return socket;
}

export function closeAll() {
  for (const socket of sockets) socket.close();
  sockets.clear();
}

/** Resolves once `socket` connects; rejects with the connect_error. */
export function connected(socket, ms = 5000) {
  return within(
    ms,
    new Promise((resolve, reject) => {
      if (socket.connected) return resolve(socket);
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    "connect",
  );
}

/** The next `event` on `socket` (its arguments), optionally the first matching `pick`. */
export function next(socket, event, { ms = 5000, pick = () => true } = {}) {
  return within(
    ms,
    new Promise((resolve) => {
      const listener = (...args) => {
        if (!pick(...args)) return;
        socket.off(event, listener);
        resolve(args);
      };
      socket.on(event, listener);
    }),
    `event ${event}`,
  );
}

/** Every `event` on `socket`, recorded with the time it arrived. */
export function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push({ at: Date.now(), args }));
  return seen;
}

/** An admin client of `url` logged in as `admin` (or with `auth`). */
export function admin(url, auth = { username: "admin", password: PASSWORD }, opts = {}) {
  return client(`${url}/admin`, { auth, ...opts });
}
