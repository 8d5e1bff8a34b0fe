// Binary as a first-class argument value and typed acks with several arguments (issue 9),
// with the official socket.io-client (JSON and msgpack parsers) against `testserver`:
// - `forward-binary`: the server takes arguments with `Payload::arg(i)` (binary as bytes),
//   tests them (`is_binary`, `has_binary`), reads one as `Bytes`, and sends both on, binary
//   included, to an emit and to the ack;
// - `data-value` / `data-bytes`: `Data<Value>` refuses a Buffer clearly (never the
//   placeholder object), `Data<Bytes>` and `Data<Vec<u8>>` read it;
// - `binary-struct`: a struct with a `Bytes` field serialized with `Arg::from_serialize`
//   reaches the client with that field as a Buffer;
// - `server-ack-args` / `broadcast-ack-args`: the client answers an ack with several
//   arguments (one a Buffer), decoded on the server as `Args<(String, u32, Bytes)>`, for a
//   socket's `emit_with_ack` and for a broadcast with acks.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { io as ioc } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { startServer } from "../lib/server.mjs";
import { toBuffer, within } from "../lib/eio.mjs";

let server;
const opened = new Set();

const PARSERS = {
  json: { path: "/socket.io/" },
  msgpack: { path: "/msgpack/", parser: msgpackParser },
};
const TRANSPORTS = ["polling", "websocket"];

function bytes(...b) {
  return Buffer.from(b);
}

async function connect(parser, transport) {
  const socket = ioc(server.url, {
    ...PARSERS[parser],
    transports: [transport],
    forceNew: true,
    reconnection: false,
    timeout: 3000,
  });
  opened.add(socket);
  await within(
    3000,
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    "connect",
  );
  return socket;
}

function ack(socket, event, ...args) {
  return within(
    3000,
    new Promise((resolve) => socket.emit(event, ...args, (...res) => resolve(res))),
    `ack of '${event}'`,
  );
}

function next(socket, event) {
  return within(3000, new Promise((resolve) => socket.once(event, (...args) => resolve(args))), `event '${event}'`);
}

before(async () => {
  server = await startServer({ name: "testserver" });
});

afterEach(() => {
  for (const socket of opened) socket.disconnect();
  opened.clear();
  assert.equal(server.exited(), false, "the server is still running");
});

after(async () => {
  for (const socket of opened) socket.disconnect();
  await server?.stop();
});

for (const parser of Object.keys(PARSERS)) {
  for (const transport of TRANSPORTS) {
    describe(`${parser} over ${transport}`, () => {
      test("an argument with its binary is forwarded to an emit and to the ack", async () => {
        const socket = await connect(parser, transport);
        const forwarded = next(socket, "forwarded");
        const file = { name: "a.bin", data: bytes(1, 2, 3), parts: [bytes(4), "x"] };
        const res = await ack(socket, "forward-binary", file, bytes(9, 8, 7, 6));

        const [info, first, second] = res;
        assert.deepEqual(info, {
          firstIsBinary: false,
          firstHasBinary: true,
          secondIsBinary: true,
          secondLen: 4,
        });
        assert.equal(first.name, "a.bin");
        assert.deepEqual(toBuffer(first.data), bytes(1, 2, 3));
        assert.deepEqual(toBuffer(first.parts[0]), bytes(4));
        assert.equal(first.parts[1], "x");
        assert.deepEqual(toBuffer(second), bytes(9, 8, 7, 6));

        const [emitted, emittedBytes] = await forwarded;
        assert.equal(emitted.name, "a.bin");
        assert.deepEqual(toBuffer(emitted.data), bytes(1, 2, 3));
        assert.deepEqual(toBuffer(emitted.parts[0]), bytes(4));
        assert.deepEqual(toBuffer(emittedBytes), bytes(9, 8, 7, 6));
      });

      test("a struct with a Bytes field is sent with the field as binary", async () => {
        const socket = await connect(parser, transport);
        const [file] = await ack(socket, "binary-struct");
        assert.equal(file.name, "f.bin");
        assert.deepEqual(toBuffer(file.data), bytes(3, 2, 1));
      });

      test("Data<Value> refuses a Buffer clearly; Data<Bytes> and Data<Vec<u8>> read it", async () => {
        const socket = await connect(parser, transport);
        const [refused] = await ack(socket, "data-value", bytes(1, 2));
        assert.equal(refused.ok, false);
        assert.match(refused.error, /byte array/);
        const [json] = await ack(socket, "data-value", { a: [1, null] });
        assert.deepEqual(json, { ok: true, value: { a: [1, null] } });
        const [read] = await ack(socket, "data-bytes", bytes(1, 2, 250));
        assert.deepEqual(read, { len: 3, vecLen: 3, sum: 253 });
      });

      test("an ack answered with several arguments decodes as a tuple (socket)", async () => {
        const socket = await connect(parser, transport);
        socket.on("ask-many", (cb) => cb("ok", 42, bytes(5, 6)));
        const result = next(socket, "server-ack-args-result");
        socket.emit("server-ack-args");
        const [status, blob] = await result;
        assert.deepEqual(status, { status: "ok", count: 42 });
        assert.deepEqual(toBuffer(blob), bytes(5, 6));
      });

      test("an ack answered with several arguments decodes as a tuple (broadcast)", async () => {
        const socket = await connect(parser, transport);
        socket.on("ask-many", (cb) => cb("fine", 7, bytes(1)));
        const result = next(socket, "broadcast-ack-args-result");
        socket.emit("broadcast-ack-args");
        const [status, blob] = await result;
        assert.deepEqual(status, { status: "fine", count: 7, answers: 1 });
        assert.deepEqual(toBuffer(blob), bytes(1));
      });
    });
  }
}
