// The generated contract under `tsc --strict`: the client (which uses every event) compiles,
// and each negative case fails to compile, alone, with the error it is about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const flags = ['--strict', '--noEmit', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];

test('the generated .d.ts and the client compile with tsc --strict', () => {
  // Throws (with tsc's output) on any error.
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
});

const negatives = readdirSync(join(root, 'negative')).filter((f) => f.endsWith('.ts')).sort();

test('there are negative cases', () => {
  for (const name of ['wrong-payload-type.ts', 'wrong-event-name.ts', 'missing-ack.ts']) {
    assert.ok(negatives.includes(name), `${name} is missing`);
  }
});

for (const file of negatives) {
  test(`negative case ${file} does not compile, for its own reason`, () => {
    const path = join(root, 'negative', file);
    const source = readFileSync(path, 'utf8');
    const code = /expect-error: (TS\d+)/.exec(source)?.[1];
    const message = /expect-message: (.+)/.exec(source)?.[1];
    assert.ok(code && message, `${file} must say which error it expects`);
    const run = spawnSync(process.execPath, [tsc, ...flags, path], { cwd: root, encoding: 'utf8' });
    assert.notEqual(run.status, 0, `${file} compiled, but must not:\n${run.stdout}`);
    const errors = run.stdout.split('\n').filter((line) => line.includes('error TS'));
    assert.equal(errors.length, 1, `exactly one error expected:\n${run.stdout}`);
    assert.ok(errors[0].includes(`error ${code}:`), `expected ${code}, got:\n${errors[0]}`);
    assert.ok(errors[0].includes(message), `expected "${message}", got:\n${errors[0]}`);
  });
}
