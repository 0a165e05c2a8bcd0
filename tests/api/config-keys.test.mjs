// The configuration keys an operator can set: those the programs read, the
// list config.c warns against (a key not in it is logged as unknown: a
// typo), and the README's table are the same keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib.mjs';

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.[ch]$/.test(e.name) ? [p] : [];
  });
}

test('every key the programs read is known to config.c and documented in the README, and nothing more', () => {
  const read = new Set();
  for (const f of ['lib', 'cgi-bin', 'cron'].flatMap((d) => sourceFiles(path.join(ROOT, d)))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/config_(?:str|int|int_range|read_secret)\("([a-z0-9_]+)"/g)) read.add(m[1]);
  }
  assert.ok(read.size >= 40, `${read.size} keys read`);

  const conf = fs.readFileSync(path.join(ROOT, 'lib/util/config.c'), 'utf8');
  const list = conf.match(/known\[\] = \{([^}]*)\}/);
  assert.ok(list, 'config.c has its list of known keys');
  const known = new Set([...list[1].matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1]));

  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| key | default | meaning |'));
  const documented = new Set();
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    for (const m of line.split('|')[1].matchAll(/[a-z0-9]+(?:_[a-z0-9]+)*/g)) documented.add(m[0]);
  }

  const sorted = (s) => [...s].sort();
  assert.deepEqual(sorted(known), sorted(read), 'config.c knows exactly the keys the programs read');
  assert.deepEqual(sorted(documented), sorted(read), 'the README documents exactly the keys the programs read');
});
