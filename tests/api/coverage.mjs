// Checks that the API tests reached every operation of www/openapi.yaml with
// at least one success (2xx) and one client error (4xx): an endpoint
// without a bad-input test fails `make test`.
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
let ops = 0;
const missing = [];
for (const [tpl, item] of Object.entries(spec.paths)) {
  for (const m of methods) {
    if (!item[m]) continue;
    ops++;
    const statuses = [...seen].filter((s) => s.startsWith(`${m.toUpperCase()} ${tpl} `)).map((s) => s.split(' ')[2]);
    const lack = [];
    if (!statuses.some((s) => s[0] === '2')) lack.push('2xx');
    if (!statuses.some((s) => s[0] === '4')) lack.push('4xx');
    if (lack.length) missing.push(`${m.toUpperCase()} ${tpl}: no ${lack.join(' and no ')} seen`);
  }
}
for (const line of missing) console.log(line);
console.log(`coverage: ${ops - missing.length} of ${ops} operations seen with a 2xx and a 4xx`);
process.exit(missing.length ? 1 : 0);
