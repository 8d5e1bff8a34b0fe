// Starts one of the workspace's Rust server binaries on a free loopback port
// for a test file, waits until it accepts connections, and stops it again.
//
// Where the binary is looked up, first match wins:
//   SOCKGATE_BIN          full path of the binary (only for the `conformance` binary
//                         unless SOCKGATE_BIN_NAME names another one)
//   SOCKGATE_BIN_DIR      directory holding the binaries (e.g. target/release)
//   CARGO_TARGET_DIR/debug
//   <repo>/target/debug   the default when run from a checkout
//
// The server is always started with `--port N` and must bind 127.0.0.1.
// Its stdout/stderr are kept in memory (last 256 KiB) and printed to stderr when
// it exits on its own or SOCKGATE_E2E_SERVER_LOG=1.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "..", "..", "..");

const LOG_LIMIT = 256 * 1024;
const live = new Set();

// Never leave a server behind, even when a test throws or the runner is interrupted.
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    process.exit(130);
  });
}

/** Resolves the path of a workspace binary (see the header comment). */
export function binaryPath(name = "conformance") {
  if (process.env.SOCKGATE_BIN && (process.env.SOCKGATE_BIN_NAME ?? "conformance") === name) {
    return path.resolve(process.env.SOCKGATE_BIN);
  }
  const dirs = [];
  if (process.env.SOCKGATE_BIN_DIR) dirs.push(path.resolve(repoRoot, process.env.SOCKGATE_BIN_DIR));
  if (process.env.CARGO_TARGET_DIR) dirs.push(path.resolve(repoRoot, process.env.CARGO_TARGET_DIR, "debug"));
  dirs.push(path.join(repoRoot, "target", "debug"));
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    `binary '${name}' not found in ${dirs.join(", ")}; build it (cargo build -p ${name}) or set SOCKGATE_BIN_DIR`,
  );
}

/** A free TCP port on 127.0.0.1, found by binding port 0 and releasing it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/**
 * Starts `name` (a workspace binary) with `--port <free port>` and resolves once
 * 127.0.0.1:<port> accepts TCP connections.
 *
 * @param {object} [opts]
 * @param {string} [opts.name="conformance"] binary name
 * @param {string[]} [opts.args=[]] extra arguments
 * @param {object} [opts.env] extra environment variables
 * @param {number} [opts.readyTimeoutMs=20000]
 * @returns {Promise<{port:number,url:string,wsUrl:string,child:import("node:child_process").ChildProcess,logs:()=>string,exited:()=>boolean,stop:()=>Promise<void>}>}
 */
export async function startServer(opts = {}) {
  const { name = "conformance", args = [], env = {}, readyTimeoutMs = 20000 } = opts;
  const bin = binaryPath(name);
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(bin, port, args, env, readyTimeoutMs);
    } catch (err) {
      lastError = err;
      // the port may have been taken between freePort() and the bind: try another one
    }
  }
  throw lastError;
}

async function launch(bin, port, args, env, readyTimeoutMs) {
  let log = "";
  const append = (chunk) => {
    log += chunk.toString();
    if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
  };
  const child = spawn(bin, ["--port", String(port), ...args], {
    cwd: repoRoot,
    env: { RUST_BACKTRACE: "1", ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let exitInfo = null;
  let stopping = false;
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      exitInfo = { code, signal };
      if (!stopping || process.env.SOCKGATE_E2E_SERVER_LOG === "1") {
        process.stderr.write(
          `[server ${path.basename(bin)}:${port}] exited (code ${code}, signal ${signal})${stopping ? "" : " unexpectedly"}\n${log}\n`,
        );
      }
      resolve();
    });
  });
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  child.once("error", (err) => append(`spawn error: ${err.message}\n`));

  const stop = async () => {
    if (exitInfo) return;
    stopping = true;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exitPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exitInfo) {
      throw new Error(`${bin} exited before listening on ${port} (code ${exitInfo.code}):\n${log}`);
    }
    if (await canConnect(port)) {
      return {
        port,
        url: `http://127.0.0.1:${port}`,
        wsUrl: `ws://127.0.0.1:${port}`,
        child,
        logs: () => log,
        exited: () => exitInfo !== null,
        stop,
      };
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`${bin} did not listen on 127.0.0.1:${port} within ${readyTimeoutMs} ms:\n${log}`);
}
