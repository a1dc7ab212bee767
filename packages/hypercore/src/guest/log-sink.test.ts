import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { GuestLogSink, secretRedactor } from './log-sink.ts';
import { tempDir } from '../testing/fixtures.ts';

test('redactor replaces every secret value, longest first; short values are left alone', () => {
  const r = secretRedactor({ A: 'abcd1234', B: 'abcd12345678', C: 'xy' });
  assert.equal(r('k=abcd12345678 j=abcd1234 z=xy'), 'k=[REDACTED] j=[REDACTED] z=xy');
  assert.equal(secretRedactor({})('same'), 'same');
});

test('guest log is bounded: rotated once past its limit, secrets never written', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'guest.log');
    const sink = new GuestLogSink(file, 4096, secretRedactor({ KEY: 'sk-very-secret' }));
    for (let i = 0; i < 200; i++) sink.write('stdout', `line ${i} key=sk-very-secret ${'x'.repeat(40)}`);
    assert.ok(statSync(file).size <= 4096);
    assert.ok(existsSync(`${file}.1`) && statSync(`${file}.1`).size <= 4096);
    for (const f of [file, `${file}.1`]) {
      const text = readFileSync(f, 'utf8');
      assert.ok(!text.includes('sk-very-secret'));
      assert.match(text, /key=\[REDACTED\]/);
    }
    assert.match(readFileSync(file, 'utf8'), /line 199 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
