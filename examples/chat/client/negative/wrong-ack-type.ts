// expect-error: TS2339
// expect-message: Property 'total' does not exist on type 'MemberList'
// The ack is a `MemberList` ({ names, totalCount }), which has no `total`.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../contract/example.js";
declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;
socket.emit("members", {}, (list) => console.log(list.total));
