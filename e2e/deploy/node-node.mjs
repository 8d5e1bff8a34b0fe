// A Node socket.io 4.8.4 node on @socket.io/redis-streams-adapter 0.3.1 with connection
// state recovery on, drained the way Node allows: on SIGTERM the health check answers 503,
// after `--drain-delay-ms` `io.close()` closes every transport at once, the Redis client
// quits (flushing the session writes in flight), and the process exits.
// `node node-node.mjs --port N --redis redis://127.0.0.1:P --name A [--drain-delay-ms 800]`
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg("--port", "3001"));
const url = arg("--redis", "redis://127.0.0.1:6379");
const name = arg("--name", "node");
const drainDelay = Number(arg("--drain-delay-ms", "0"));

const redis = createClient({ url });
redis.on("error", () => {});
await redis.connect();

let draining = false;
const httpServer = createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(draining ? 503 : 200, { "cache-control": "no-store" });
    res.end(draining ? "draining" : "ok");
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  adapter: createAdapter(redis),
  connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
});
io.on("connection", (socket) => {
  socket.emit("node", name);
});

process.on("SIGTERM", async () => {
  if (draining) return;
  draining = true;
  await new Promise((resolve) => setTimeout(resolve, drainDelay));
  await io.close();
  await redis.quit().catch(() => {});
  process.exit(0);
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`node ${name} listening on ${port}`);
});
