// Checks that the API tests reached every operation of www/openapi.yaml with
// at least one success (2xx) and every client error (4xx) it documents: an
// endpoint without a test of each documented refusal fails `make test`.
// (A few refusals no test can bring about on purpose are listed in EXEMPT,
// each with why.)
// Usage: node tests/api/coverage.mjs DIR  (DIR holds the seen-*.txt files
// that tests/api/lib.mjs leaves when MESSENGER_OPS_DIR is set)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const spec = YAML.parse(fs.readFileSync(path.join(here, '../../www/openapi.yaml'), 'utf8'));
const dir = process.argv[2];
const seen = new Set();
for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('seen-'))) {
  for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) if (line) seen.add(line);
}
const methods = ['get', 'put', 'post', 'patch', 'delete'];
const EXEMPT = {
  // Refused only while as many of the account's displaced requests are
  // still ending as it may have open: a race a test cannot hold (the
  // long-poll's 429, when its place is taken, is tested).
  'GET /events/stream 429': true,
};
let ops = 0;
const missing = [];
for (const [tpl, item] of Object.entries(spec.paths)) {
  for (const m of methods) {
    if (!item[m]) continue;
    ops++;
    const statuses = [...seen].filter((s) => s.startsWith(`${m.toUpperCase()} ${tpl} `)).map((s) => s.split(' ')[2]);
    const lack = [];
    if (!statuses.some((s) => s[0] === '2')) lack.push('2xx');
    for (const code of Object.keys(item[m].responses || {})) {
      if (code[0] === '4' && !statuses.includes(code) && !EXEMPT[`${m.toUpperCase()} ${tpl} ${code}`]) lack.push(code);
    }
    if (lack.length) missing.push(`${m.toUpperCase()} ${tpl}: no ${lack.join(' and no ')} seen`);
  }
}
for (const line of missing) console.log(line);
console.log(`coverage: ${ops - missing.length} of ${ops} operations seen with a 2xx and each documented 4xx`);
process.exit(missing.length ? 1 : 0);
