// The tsc-compiled client against the typed chat gateway (the `chat` binary): every event and
// the ack arrive, and each payload matches its declared JSON Schema (from asyncapi.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const repo = resolve(root, '..', '..', '..');
const compiled = join(root, 'dist', 'client', 'src', 'chat-client.js');
const binDir = process.env.SOCKGATE_BIN_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, 'target'), 'debug');
const document = JSON.parse(readFileSync(join(root, '..', 'contract', 'asyncapi.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(document, 'asyncapi');

function assertShape(messageId, value) {
  const pointer = `asyncapi#/components/messages/${messageId}/payload`;
  const validate = ajv.compile({ $ref: pointer });
  assert.ok(validate(value), `${messageId}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
}

async function startChat() {
  const bin = join(binDir, 'chat');
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p chat`);
  const child = spawn(bin, [], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the chat did not start in 20 s')), 20_000);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /chat listening on (http:\/\/[^/\s]+)\//.exec(out);
      if (match) { clearTimeout(timer); ok(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`the chat exited: ${code}`)); });
  });
  return { url, stop: () => child.kill('SIGKILL') };
}

async function until(check, what) {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the typed client and the typed chat: every event and ack with its declared shape', async () => {
  assert.ok(existsSync(compiled), `${compiled} is missing: run tsc first`);
  const { connectChat, send, members, membersWithCallback } = await import(compiled);
  const chat = await startChat();
  const aliceSeen = [];
  const bobSeen = [];
  const nobodySeen = [];
  const sockets = [];
  try {
    const alice = connectChat(chat.url, 'alice', aliceSeen);
    sockets.push(alice);
    await until(() => aliceSeen.some((e) => e.event === 'joined'), 'alice joined');
    const bob = connectChat(chat.url, 'bob', bobSeen);
    sockets.push(bob);
    await until(() => aliceSeen.some((e) => e.event === 'joined' && e.payload.name === 'bob'), 'bob joined');

    send(alice, 'hi');
    send(bob, 'yo');
    await until(() => aliceSeen.filter((e) => e.event === 'message').length === 2, 'two messages');

    const everyone = await members(alice, {}, 3_000);
    assertShape('members.clientToServer.ack', everyone);
    assert.deepEqual(everyone, { names: ['alice', 'bob'], totalCount: 2 });
    const first = await new Promise((ok) => membersWithCallback(bob, ok));
    assertShape('members.clientToServer.ack', first);
    const limited = await members(bob, { limit: 1 }, 3_000);
    assert.deepEqual(limited, { names: ['alice'], totalCount: 2 });

    const nobody = connectChat(chat.url, undefined, nobodySeen);
    sockets.push(nobody);
    await until(() => nobody.connected, 'the nameless client');
    nobody.emit('message', 'anyone?');
    await until(() => nobodySeen.some((e) => e.event === 'exception'), 'the exception');

    bob.disconnect();
    await until(() => aliceSeen.some((e) => e.event === 'left'), 'bob left');

    const byEvent = (seen, event) => seen.filter((e) => e.event === event).map((e) => e.payload);
    assert.deepEqual(byEvent(aliceSeen, 'message').sort(), ['alice : hi', 'bob : yo']);
    assert.deepEqual(byEvent(aliceSeen, 'left'), [{ name: 'bob' }]);
    assert.deepEqual(byEvent(aliceSeen, 'joined').slice(0, 2), [{ name: 'alice' }, { name: 'bob' }]);
    const [exception] = byEvent(nobodySeen, 'exception');
    assert.equal(exception.status, 'error');
    assert.deepEqual(exception.cause, { pattern: 'message', data: 'anyone?' });
    for (const { event, payload } of [...aliceSeen, ...bobSeen, ...nobodySeen]) {
      assertShape(`${event}.serverToClient`, payload);
    }
    // The check can fail: a payload of another shape is refused.
    assert.throws(() => assertShape('joined.serverToClient', { name: 7 }));
  } finally {
    for (const socket of sockets) socket.disconnect();
    chat.stop();
  }
});
