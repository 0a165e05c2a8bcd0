// The README's "Try it with curl" commands, run with curl as a new user
// would paste them: in order, against the test stack. Only what a reader
// fills in is replaced: the base URL, the account name (unique per run), the
// tokens and ids taken from earlier answers. Every command must answer 2xx
// with a JSON body (or none), never lighttpd's HTML error pages (a POST
// without a body gets 411 Length Required there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ROOT, BASE, API, registerUser } from './lib.mjs';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

// The shell blocks of the section, as commands (continued lines joined,
// comments dropped).
function commands() {
  const start = README.indexOf('## Try it with curl');
  assert.ok(start >= 0, 'README has a "Try it with curl" section');
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, 'the section has its shell blocks');
  const out = [];
  for (const block of blocks) {
    let cur = '';
    for (const line of block.split('\n')) {
      const t = line.replace(/\s+$/, '');
      if (cur === '' && (t.trim() === '' || t.trim().startsWith('#'))) continue;
      if (t.endsWith('\\')) { cur += t.slice(0, -1) + ' '; continue; }
      out.push((cur + t).trim());
      cur = '';
    }
  }
  return out;
}

function curl(cmd, env) {
  const r = spawnSync('bash', ['-c', `${cmd} -o "$OUT" -w '%{http_code} %{content_type}'`], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000,
  });
  assert.equal(r.status, 0, `${cmd}: curl exited ${r.status} ${r.stderr}`);
  const [code, ctype = ''] = r.stdout.trim().split(' ');
  const body = fs.readFileSync(env.OUT, 'utf8');
  return { status: Number(code), ctype, body, json: body && ctype.startsWith('application/json') ? JSON.parse(body) : null };
}

test('every curl command in the README works as written', async () => {
  const name = 'rdm' + randomBytes(4).toString('hex');
  const peer = await registerUser("rdp");	// the "user 2" a reader would pick
  const out = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), `readme-${process.pid}.out`);
  const env = { B: BASE + API, OUT: out, TOKEN: '' };
  let refresh = '', conv = '';
  let ran = 0;
  try {
    for (let cmd of commands()) {
      if (/^B=/.test(cmd)) continue;	// the base URL: the test stack's
      if (/^TOKEN=/.test(cmd)) { assert.ok(env.TOKEN, 'a token came before TOKEN=...'); continue; }
      assert.match(cmd, /^curl /, `only curl commands and the two assignments: ${cmd}`);
      cmd = cmd.replaceAll('alice', name)
        .replace('"refresh_token":"..."', `"refresh_token":"${refresh}"`)
        .replace('"member_ids":[2]', `"member_ids":[${peer.id}]`)
        .replace('/conversations/1/', `/conversations/${conv}/`);
      const r = curl(cmd, env);
      ran++;
      assert.ok(r.status >= 200 && r.status < 300, `${cmd}\n answered ${r.status}: ${r.body.slice(0, 300)}`);
      assert.ok(r.body === '' || r.ctype.startsWith('application/json'), `${cmd}\n answered ${r.ctype}`);
      if (r.json?.access_token) env.TOKEN = r.json.access_token;
      if (r.json?.refresh_token) refresh = r.json.refresh_token;
      if (/\/conversations -/.test(cmd + ' ') && r.json?.id) conv = String(r.json.id);
    }
  } finally {
    fs.rmSync(out, { force: true });
  }
  assert.ok(ran >= 10, `ran ${ran} commands`);
  assert.ok(conv, 'a conversation was created');
});
