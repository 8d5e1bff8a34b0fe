// expect-error: TS2554
// expect-message: Expected 3 arguments, but got 2
// `members` is declared with an ack: the callback is required.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("members", {});
