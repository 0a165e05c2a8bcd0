#!/bin/bash
# Writes www/openapi.json from www/openapi.yaml, for the API reference page
# (www/docs/), which must work without a build step or network access.
# Run it after every change to openapi.yaml; a test fails when they differ.
#   scripts/openapi-json.sh          write www/openapi.json
#   scripts/openapi-json.sh --check  exit 1 if www/openapi.json is out of date
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -d "$ROOT/tests/node_modules/yaml" ]; then
	(cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
cd "$ROOT/tests"
node --input-type=module - "$ROOT" "${1:-}" <<'JS'
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
const [root, mode] = process.argv.slice(2);
const src = path.join(root, 'www/openapi.yaml');
const dst = path.join(root, 'www/openapi.json');
const json = JSON.stringify(YAML.parse(fs.readFileSync(src, 'utf8')), null, 1) + '\n';
if (mode === '--check') {
  const cur = fs.existsSync(dst) ? fs.readFileSync(dst, 'utf8') : '';
  if (cur !== json) { console.error('www/openapi.json is out of date: run scripts/openapi-json.sh'); process.exit(1); }
} else {
  fs.writeFileSync(dst, json);
}
JS
