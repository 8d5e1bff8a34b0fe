// expect-error: TS2339
// expect-message: Property 'count' does not exist on type 'Delivered'
// The ack is a `Delivered` ({ line }), which has no `count`.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("message", "hi", (delivered) => console.log(delivered.count));
