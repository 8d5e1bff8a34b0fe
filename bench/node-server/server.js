// Node socket.io 4.8 comparison server for sockgate-bench.
// Handlers on "/": `echo` answers its ack with the arguments it received; `broadcast` re-emits
// `broadcast` with the same data to every socket of "/". For the `rooms` scenario only: a client whose
// handshake auth carries `room` joins that room, and `room` re-emits `room` to `data.room`.
// Default settings; binds 127.0.0.1 on --port N (or PORT, default 3001).
// With --redis URL (the cluster scenarios) the server is one node of a cluster on
// @socket.io/redis-adapter (its defaults, key "socket.io") over the `redis` client: a broadcast
// issued on one node reaches the clients of every node.
// With --msgpack the server uses socket.io-msgpack-parser (one binary WebSocket frame per packet).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

let port = Number(process.env.PORT || 3001);
let redisUrl = null;
let msgpack = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--port") port = Number(args[++i]);
  else if (args[i].startsWith("--port=")) port = Number(args[i].slice(7));
  else if (args[i] === "--redis") redisUrl = args[++i];
  else if (args[i].startsWith("--redis=")) redisUrl = args[i].slice(8);
  else if (args[i] === "--msgpack") msgpack = true;
}

const httpServer = http.createServer();
const io = new Server(httpServer, msgpack ? { parser: require("socket.io-msgpack-parser") } : {});

io.on("connection", (socket) => {
  const room = socket.handshake.auth && socket.handshake.auth.room;
  if (typeof room === "string") socket.join(room);
  socket.on("echo", (...args) => {
    const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("broadcast", (...args) => {
    io.emit("broadcast", ...args);
  });
  socket.on("room", (data) => {
    if (data && typeof data.room === "string") io.to(data.room).emit("room", data);
  });
});

async function main() {
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    pubClient.on("error", (e) => console.error("redis pub:", e.message));
    subClient.on("error", (e) => console.error("redis sub:", e.message));
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  // Listen only once the adapter is in place, so that the runner's "listening" means "in the cluster".
  httpServer.listen(port, "127.0.0.1", () => {
    console.log(`node socket.io listening on http://127.0.0.1:${port}${redisUrl ? ` (redis ${redisUrl})` : ""}${msgpack ? " (msgpack)" : ""}`);
  });
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
process.on("SIGTERM", () => process.exit(0));
