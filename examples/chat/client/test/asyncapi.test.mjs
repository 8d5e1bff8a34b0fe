// The generated AsyncAPI document, validated by the official parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const documentPath = new URL('../../contract/asyncapi.json', import.meta.url);

test('asyncapi.json is a valid AsyncAPI 3.0 document with the chat contract', async () => {
  const text = readFileSync(documentPath, 'utf8');
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  assert.deepEqual(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`), []);
  assert.ok(document, 'the parser returned no document');
  assert.equal(document.version(), '3.0.0');
  const channel = document.channels().get('example');
  assert.equal(channel.address(), '/example');
  const operations = document.operations().all().map((op) => [op.id(), op.action()]).sort();
  assert.deepEqual(operations, [
    ['example.exception.serverToClient.send', 'send'],
    ['example.joined.serverToClient.send', 'send'],
    ['example.left.serverToClient.send', 'send'],
    ['example.members.clientToServer.receive', 'receive'],
    ['example.message.clientToServer.receive', 'receive'],
    ['example.message.serverToClient.send', 'send'],
  ]);
  const message = document.operations().get('example.message.clientToServer.receive');
  assert.equal(message.reply(), undefined, 'message has no ack');
  const members = document.operations().get('example.members.clientToServer.receive');
  assert.ok(members.reply(), 'the ack of members is a reply');
  const ack = members.reply().messages().all()[0];
  assert.deepEqual(ack.payload().required(), ['names', 'totalCount']);
  const joined = document.messages().all().find((m) => m.name() === 'joined');
  assert.equal(joined.payload().properties().name.type(), 'string');
});

test('the parser rejects a broken copy (the check can fail)', async () => {
  const broken = JSON.parse(readFileSync(documentPath, 'utf8'));
  broken.operations['example.joined.serverToClient.send'].action = 'publish';
  const { diagnostics } = await new Parser().parse(JSON.stringify(broken));
  assert.ok(diagnostics.some((d) => d.severity === DiagnosticSeverity.Error));
});
