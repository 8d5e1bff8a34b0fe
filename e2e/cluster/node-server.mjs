// A Node socket.io 4.8.4 node on @socket.io/redis-adapter 8.3.0 (`--adapter classic`:
// createAdapter, defaults but a 2 s requestsTimeout; `--adapter sharded`: createShardedAdapter
// with defaults; `--adapter streams`: @socket.io/redis-streams-adapter 0.3.1 createAdapter with
// defaults, `--csr` for connection state recovery, `--csr-ttl-ms` its maxDisconnectionDuration,
// `--stream-count` its streamCount),
// answering the same control events as e2e/cluster-node (see its src/main.rs):
// `node node-server.mjs --port N --redis redis://127.0.0.1:P --name A`.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg("--port", "3001"));
const url = arg("--redis", "redis://127.0.0.1:6379");
const name = arg("--name", "node");
const mode = arg("--adapter", "classic");
const csr = process.argv.includes("--csr");
const csrTtl = Number(arg("--csr-ttl-ms", "120000"));
const streamCount = Number(arg("--stream-count", "1"));

const pub = createClient({ url });
const sub = pub.duplicate();
pub.on("error", () => {});
sub.on("error", () => {});
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter:
    mode === "sharded"
      ? createShardedAdapter(pub, sub)
      : mode === "streams"
        ? createStreamsAdapter(pub, { streamCount })
        : createAdapter(pub, sub, { requestsTimeout: 2000 }),
  ...(csr
    ? { connectionStateRecovery: { maxDisconnectionDuration: csrTtl, skipMiddlewares: true } }
    : {}),
});

const serverSideLog = [];
io.of("/").on("sse-ping", (...args) => {
  const cb = typeof args.at(-1) === "function" ? args.pop() : null;
  serverSideLog.push(["sse-ping", ...args]);
  if (cb) cb(`${name} got sse-ping`);
});

const operators = (spec) => {
  let op = io;
  for (const [kind, value] of spec?.ops ?? []) {
    if (kind === "to") op = op.to(value);
    else if (kind === "except") op = op.except(value);
    else if (kind === "local") op = op.local;
    else if (kind === "volatile") op = op.volatile;
  }
  return op;
};
const sortValues = (values) =>
  values.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

io.on("connection", (socket) => {
  socket.on("whoami", (ack) => {
    ack({ id: socket.id, recovered: socket.recovered, rooms: [...socket.rooms].sort(),
      data: socket.data ?? null });
  });
  socket.on("emit-self", (spec, ...rest) => {
    const ack = rest.pop();
    socket.emit(spec.event ?? "self", ...rest);
    ack("done");
  });
  socket.on("join", (rooms, ack) => {
    socket.join(rooms);
    ack([...socket.rooms].sort());
  });
  socket.on("set-data", (data, ack) => {
    socket.data = data;
    ack("done");
  });
  socket.on("emit-op", (spec, ...rest) => {
    const ack = rest.pop();
    operators(spec).emit(spec.event, ...rest);
    ack("done");
  });
  socket.on("fetch-sockets", async (spec, ack) => {
    const sockets = await operators(spec).fetchSockets();
    ack(
      sockets
        .map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data ?? null }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
  });
  socket.on("sockets-join", (spec, ack) => {
    operators(spec).socketsJoin(spec.rooms);
    ack("done");
  });
  socket.on("sockets-leave", (spec, ack) => {
    operators(spec).socketsLeave(spec.rooms);
    ack("done");
  });
  socket.on("disconnect-sockets", (spec, ack) => {
    ack("done");
    operators(spec).disconnectSockets(Boolean(spec.close));
  });
  socket.on("broadcast-ack", (spec, ...rest) => {
    const ack = rest.pop();
    operators(spec)
      .timeout(spec.timeout ?? 2000)
      .emit(spec.event, ...rest, (err, responses) => {
        ack({ error: err ? err.message : null, responses: sortValues(responses ?? []) });
      });
  });
  socket.on("server-count", async (ack) => ack(await io.of("/").adapter.serverCount()));
  socket.on("all-rooms", async (ack) => {
    const adapter = io.of("/").adapter;
    // Only the classic adapter has allRooms(); the Cluster model has no such request.
    ack(adapter.allRooms ? [...(await adapter.allRooms())].sort() : { error: "unsupported" });
  });
  socket.on("server-side-emit", (spec, ...rest) => {
    const ack = rest.pop();
    if (spec.ack) {
      io.serverSideEmit(spec.event, ...rest, (err, responses) => {
        ack({ error: err ? err.message : null, responses: sortValues(responses ?? []) });
      });
    } else {
      io.serverSideEmit(spec.event, ...rest);
      ack({ error: null });
    }
  });
  socket.on("server-side-log", (ack) => ack(serverSideLog));
  socket.on("remote-socket", async (spec, ...rest) => {
    const ack = rest.pop();
    const sockets = await operators(spec).fetchSockets();
    const remote = sockets.find((s) => s.id === spec.id);
    if (!remote) return ack({ error: "not found" });
    if (spec.op === "emit") remote.emit(spec.event ?? "direct", ...rest);
    else if (spec.op === "join") remote.join(spec.rooms);
    else if (spec.op === "leave") remote.leave(spec.rooms);
    else if (spec.op === "disconnect") remote.disconnect(Boolean(spec.close));
    else return ack({ error: `unknown op ${spec.op}` });
    ack({ error: null });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`node-server ${name} listening on http://127.0.0.1:${port} (redis ${url})`);
});

const stop = async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
