// A Node socket.io 4.8.4 node instrumented with @socket.io/admin-ui 0.5.1 on
// @socket.io/redis-adapter 8.3.0, for the mixed-cluster admin test:
// `node node-admin-server.mjs --port N --redis redis://127.0.0.1:P --server-id ID`.
// Its admin namespace has no authentication; its `/` sockets join the room given in their
// `room` query parameter and set `socket.data` to `{ node: "node" }`.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { instrument } from "@socket.io/admin-ui";
import { createClient } from "redis";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg("--port", "3001"));
const url = arg("--redis", "redis://127.0.0.1:6379");
const serverId = arg("--server-id", "node");

const pub = createClient({ url });
const sub = pub.duplicate();
pub.on("error", () => {});
sub.on("error", () => {});
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { requestsTimeout: 2000 }) });
io.of("/example"); // the chat's namespace, so that this node's admin lists its sockets too
io.on("connection", (socket) => {
  socket.data.node = "node";
  if (socket.handshake.query.room) socket.join(socket.handshake.query.room);
});
instrument(io, { auth: false, serverId, mode: "development" });
httpServer.listen(port, "127.0.0.1", () => console.log(`node admin listening on ${port}`));
process.on("SIGTERM", () => process.exit(0));
