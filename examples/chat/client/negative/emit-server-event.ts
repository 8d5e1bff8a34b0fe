// expect-error: TS2345
// expect-message: Argument of type '"joined"' is not assignable
// `joined` is emitted by the server only: the client cannot emit it.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("joined", { name: "mallory" });
