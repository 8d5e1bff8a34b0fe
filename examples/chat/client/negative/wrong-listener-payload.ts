// expect-error: TS2339
// expect-message: Property 'id' does not exist on type 'Presence'
// `joined` carries a Presence ({ name }), which has no `id`.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.on("joined", (presence) => console.log(presence.id));
