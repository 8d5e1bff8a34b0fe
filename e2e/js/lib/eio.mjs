// Small helpers around the official engine.io-client, raw `ws` sockets and raw
// HTTP requests, for the end-to-end tests. Every wait here is bounded.

import http from "node:http";
import { Socket } from "engine.io-client";
import WebSocket from "ws";

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` every 25 ms until it returns something truthy (returned), or throws after `ms`. */
export async function waitFor(what, fn, ms = 4000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(25);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function within(ms, promise, what = "operation") {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Copies text/Buffer/ArrayBuffer/typed arrays into a Buffer (for byte comparisons). */
export function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`not binary: ${typeof data}`);
}

export function isBinary(data) {
  return Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

/**
 * An official engine.io-client Socket with a message queue, so tests can
 * `await client.next()` without losing messages that arrived earlier.
 */
export class EioClient {
  /**
   * @param {string} baseUrl e.g. http://127.0.0.1:3000
   * @param {object} [opts] engine.io-client options; `path` defaults to /engine.io
   */
  constructor(baseUrl, opts = {}) {
    this.socket = new Socket(baseUrl, { path: "/engine.io", ...opts });
    this.queue = [];
    this.waiters = [];
    this.pings = 0;
    this.errors = [];
    this.closeInfo = null;
    this.upgraded = null;
    this.closed = new Promise((resolve) => {
      this.socket.on("close", (reason, description) => {
        this.closeInfo = { reason, description };
        for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${reason}) while waiting for a message`));
        resolve(this.closeInfo);
      });
    });
    this.socket.on("message", (data) => {
      const w = this.waiters.shift();
      if (w) w.resolve(data);
      else this.queue.push(data);
    });
    this.socket.on("ping", () => {
      this.pings += 1;
    });
    this.socket.on("error", (err) => {
      this.errors.push(err);
    });
    this.upgradeEvent = new Promise((resolve) => {
      this.socket.on("upgrade", (transport) => {
        this.upgraded = transport.name;
        resolve(transport.name);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve(this));
      this.socket.once("close", (reason, desc) =>
        reject(new Error(`closed before open: ${reason} ${desc?.message ?? desc?.description ?? ""}`)),
      );
    });
    // an unhandled rejection must not crash the file when nobody awaits `opened`
    this.opened.catch(() => {});
  }

  static async open(baseUrl, opts = {}, timeoutMs = 5000) {
    const client = new EioClient(baseUrl, opts);
    try {
      return await within(timeoutMs, client.opened, `engine.io-client open (${JSON.stringify(opts)})`);
    } catch (err) {
      client.socket.close();
      throw err;
    }
  }

  get transport() {
    return this.socket.transport?.name;
  }

  send(data) {
    this.socket.send(data);
  }

  /** The next message from the server (in arrival order). */
  next(timeoutMs = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`socket already closed (${this.closeInfo.reason})`));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiters.push(waiter);
    });
    return within(timeoutMs, p, "a message").catch((err) => {
      const i = this.waiters.indexOf(waiter);
      if (i !== -1) this.waiters.splice(i, 1);
      throw err;
    });
  }

  async echo(data, timeoutMs = 3000) {
    this.send(data);
    return this.next(timeoutMs);
  }

  waitUpgrade(timeoutMs = 5000) {
    return within(timeoutMs, this.upgradeEvent, "the upgrade to websocket");
  }

  waitClose(timeoutMs = 3000) {
    return within(timeoutMs, this.closed, "the close event");
  }

  /** Closes from the client side and waits (bounded) for the close event. */
  async close(timeoutMs = 3000) {
    if (this.closeInfo) return this.closeInfo;
    this.socket.close();
    return this.waitClose(timeoutMs);
  }
}

/**
 * A raw `ws` WebSocket whose events are buffered per type (like the official
 * suite's helper), so none is lost between awaits.
 */
export class RawWs {
  constructor(url, opts = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
    this.messages = [];
    this.msgWaiters = [];
    this.errors = [];
    this.unexpectedResponse = null;
    this.opened = false;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        for (const w of this.msgWaiters.splice(0)) w.reject(new Error(`websocket closed (code ${code}) while waiting for a message`));
        resolve(this.closeInfo);
      });
    });
    this.ws.on("open", () => {
      this.opened = true;
    });
    this.ws.on("error", (err) => {
      this.errors.push(err);
    });
    this.ws.on("unexpected-response", (req, res) => {
      this.unexpectedResponse = { status: res.statusCode, headers: res.headers };
      res.resume();
      // with this listener installed, ws leaves the aborted handshake to us
      this.ws.terminate();
    });
    this.ws.on("message", (data, isBinary) => {
      const msg = isBinary ? Buffer.from(data) : data.toString();
      const w = this.msgWaiters.shift();
      if (w) w.resolve(msg);
      else this.messages.push(msg);
    });
  }

  next(timeoutMs = 3000) {
    if (this.messages.length) return Promise.resolve(this.messages.shift());
    if (this.closeInfo) return Promise.reject(new Error(`websocket already closed (code ${this.closeInfo.code})`));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      this.msgWaiters.push(waiter);
    });
    return within(timeoutMs, p, "a websocket message").catch((err) => {
      const i = this.msgWaiters.indexOf(waiter);
      if (i !== -1) this.msgWaiters.splice(i, 1);
      throw err;
    });
  }

  /** The next message that is not a server ping; pings are answered with a pong. */
  async nextData(timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100; i++) {
      const msg = await this.next(Math.max(1, deadline - Date.now()));
      if (msg !== "2") return msg;
      this.send("3");
    }
    throw new Error("only pings received");
  }

  send(data) {
    this.ws.send(data);
  }

  waitClose(timeoutMs = 3000) {
    return within(timeoutMs, this.closed, "the websocket to close");
  }

  terminate() {
    try {
      this.ws.terminate();
    } catch {
      // already closed
    }
  }
}

/**
 * One raw HTTP request on a fresh connection (no keep-alive pooling), bounded in time.
 * Resolves {status, headers, body} or rejects on a connection error.
 */
export function request(method, url, { headers = {}, body, timeoutMs = 5000, signal } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, signal }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Opens a raw polling session: returns the parsed handshake (sid, upgrades, ...). */
export async function pollingHandshake(baseUrl, path = "/engine.io/") {
  const res = await request("GET", `${baseUrl}${path}?EIO=4&transport=polling`);
  if (res.status !== 200 || !res.body.startsWith("0")) {
    throw new Error(`handshake failed: ${res.status} ${res.body.slice(0, 200)}`);
  }
  return JSON.parse(res.body.slice(1));
}
