// expect-error: TS2345
// expect-message: Argument of type '"mesage"' is not assignable
// The client emits no `mesage` (a typo): only declared events.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("mesage", "hi");
