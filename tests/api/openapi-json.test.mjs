// www/openapi.json (read by the API reference page, www/docs/) must say
// exactly what www/openapi.yaml says. Fix: scripts/openapi-json.sh
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './lib.mjs';

test('www/openapi.json is in sync with www/openapi.yaml (run scripts/openapi-json.sh)', () => {
  const yaml = YAML.parse(fs.readFileSync(path.join(ROOT, 'www/openapi.yaml'), 'utf8'));
  const json = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/openapi.json'), 'utf8'));
  assert.deepEqual(json, yaml, 'www/openapi.json is out of date: run scripts/openapi-json.sh');
});
