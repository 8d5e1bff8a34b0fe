// expect-error: TS2345
// expect-message: Argument of type 'number' is not assignable to parameter of type 'string'
// `message` takes a string, not a number.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("message", 42);
