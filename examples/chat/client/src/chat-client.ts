// A client of the chat's namespace `/example`, typed by the generated contract: every event
// the server emits is listened to with its declared payload, every event the client emits is
// sent with its declared payload and ack.
import { io, type Socket } from "socket.io-client";
import type {
  ChatText,
  ClientToServerEvents,
  MemberList,
  MembersQuery,
  NAMESPACE,
  Presence,
  ServerToClientEvents,
  WsExceptionPayload,
} from "../../contract/example.js";

/** A socket of `/example`: what it listens to, what it emits. */
export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The namespace, checked against the contract's. */
export const namespace: typeof NAMESPACE = "/example";

/** What a chat client saw, in order. */
export type Seen =
  | { event: "message"; payload: ChatText }
  | { event: "joined"; payload: Presence }
  | { event: "left"; payload: Presence }
  | { event: "exception"; payload: WsExceptionPayload };

/** Connects to the chat at `url` as `name` (none: a nameless client), over WebSocket. */
export function connectChat(url: string, name: string | undefined, seen: Seen[]): ChatSocket {
  const socket: ChatSocket = io(`${url}${namespace}`, {
    transports: ["websocket"],
    query: name === undefined ? {} : { name },
    forceNew: true,
    reconnection: false,
  });
  socket.on("message", (payload) => seen.push({ event: "message", payload }));
  socket.on("joined", (payload) => seen.push({ event: "joined", payload }));
  socket.on("left", (payload) => seen.push({ event: "left", payload }));
  socket.on("exception", (payload) => seen.push({ event: "exception", payload }));
  return socket;
}

/** Sends a chat line (no ack: the server broadcasts it as `message`). */
export function send(socket: ChatSocket, text: string): void {
  socket.emit("message", text);
}

/** Asks who is here; resolves with the server's ack. */
export function members(socket: ChatSocket, query: MembersQuery, timeoutMs: number): Promise<MemberList> {
  return socket.timeout(timeoutMs).emitWithAck("members", query);
}

/** The same with a callback, as the event map declares it. */
export function membersWithCallback(socket: ChatSocket, done: (list: MemberList) => void): void {
  socket.emit("members", {}, (list) => done(list));
}

/** The names of a `MemberList` ack, with the total (checks the declared fields exist). */
export function describe(list: MemberList): string {
  return `${list.names.join(", ")} (${list.totalCount})`;
}
