// Backups (scripts/backup.sh): one taken while the server runs, restored
// into an empty database, serves what was stored before it, to the same
// signed-in users, and takes new messages (the stored procedures came
// back); a restore never writes over a database that holds tables.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { api, registerUser, ROOT, BASE } from './lib.mjs';
import { directConv, send, stack } from './evlib.mjs';

const SOCK = process.env.MESSENGER_DB_SOCKET;
const VAR = process.env.MESSENGER_VAR;
const NAME = 'restored';
const PORT = Number(new URL(BASE).port) + 37;
const DB = `messenger_restore_${process.pid}`;
const DIR = path.join(VAR, `backups-${process.pid}`);
const SCRIPT = path.join(ROOT, 'scripts/backup.sh');

function mariadb(query) {
  return execFileSync('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', '--batch', '--skip-column-names', '-e', query],
    { encoding: 'utf8' }).trim();
}
function backup(...args) {
  return spawnSync(SCRIPT, args, { encoding: 'utf8', env: { ...process.env, MESSENGER_CONF: path.join(VAR, 'main.conf') } });
}

after(() => {
  try { stack('web-stop', NAME); } catch { /* not started */ }
  fs.rmSync(path.join(VAR, `${NAME}.local.conf`), { force: true });
  fs.rmSync(DIR, { recursive: true, force: true });
  mariadb(`DROP DATABASE IF EXISTS \`${DB}\``);
});

test('a backup taken while the server runs, restored into an empty database, serves what it held to the same sessions and takes new messages', async () => {
  const [a, b] = await Promise.all([registerUser('bka'), registerUser('bkb')]);
  const cid = await directConv(a, b);
  await send(a, cid, 'kept by the backup');

  const saved = backup('save', SOCK, DIR);
  assert.equal(saved.status, 0, saved.stderr);
  const folder = saved.stdout.trim();
  assert.equal(path.dirname(folder), DIR);
  assert.equal(fs.statSync(folder).mode & 0o777, 0o700, 'only its owner reads the backup');
  assert.deepEqual(fs.readdirSync(folder).sort(), ['database.sql.gz', 'jwt.key', 'messenger.conf']);
  assert.equal(fs.readFileSync(path.join(folder, 'jwt.key'), 'utf8'), fs.readFileSync(path.join(VAR, 'jwt.key'), 'utf8'));
  await send(a, cid, 'written after the backup');

  const restored = backup('restore', SOCK, folder, DB);
  assert.equal(restored.status, 0, restored.stderr);
  // Nothing of the backup's history runs again: every migration is recorded.
  assert.doesNotMatch(restored.stderr, /applying/);

  // A second instance of the stack on the restored database (no cache:
  // every page it serves comes from that database).
  fs.writeFileSync(path.join(VAR, `${NAME}.local.conf`), `db_name = ${DB}\nmemcached =\nwake_cross_host = 0\n`);
  stack('web-start', NAME, String(PORT));
  const base = `http://127.0.0.1:${PORT}`;
  const page = await api('GET', `/conversations/${cid}/messages`, { token: b.token, base });
  assert.equal(page.status, 200, page.text);
  assert.deepEqual(page.body.messages.map((m) => m.body), ['kept by the backup']);
  const sent = await send(b, cid, 'sent to the restored server', undefined, { base });
  assert.equal(sent.body, 'sent to the restored server');
  const after = await api('GET', `/conversations/${cid}/messages`, { token: a.token, base });
  assert.deepEqual(after.body.messages.map((m) => m.body), ['kept by the backup', 'sent to the restored server']);
  // The running server's own database was not touched.
  const live = await api('GET', `/conversations/${cid}/messages`, { token: a.token });
  assert.deepEqual(live.body.messages.map((m) => m.body), ['kept by the backup', 'written after the backup']);

  // Restoring again would write over what the restored server now holds.
  const again = backup('restore', SOCK, folder, DB);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /restore into an empty one/);
  assert.equal(mariadb(`SELECT COUNT(*) FROM \`${DB}\`.messages WHERE conversation_id = ${cid}`), '2');
});

test('backup.sh refuses what it cannot do: no arguments, a missing backup, a cut-off dump', () => {
  assert.equal(backup().status, 2);
  assert.equal(backup('restore', SOCK).status, 2);
  const missing = backup('restore', SOCK, path.join(DIR, 'nothing-here'), `${DB}_x`);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no backup/);
  fs.mkdirSync(path.join(DIR, 'cut'), { recursive: true });
  const whole = fs.readdirSync(DIR).find((f) => f.startsWith('messenger-'));
  const gz = fs.readFileSync(path.join(DIR, whole, 'database.sql.gz'));
  fs.writeFileSync(path.join(DIR, 'cut', 'database.sql.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
  const cut = backup('restore', SOCK, path.join(DIR, 'cut'), `${DB}_x`);
  assert.equal(cut.status, 1);
  assert.match(cut.stderr, /not a whole gzip file/);
  assert.equal(mariadb(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${DB}_x'`), '0', 'no database was made');
  // A dump whose SQL stops halfway: the half that loaded is not kept.
  fs.mkdirSync(path.join(DIR, 'bad'), { recursive: true });
  fs.writeFileSync(path.join(DIR, 'bad', 'database.sql.gz'), zlib.gzipSync('CREATE TABLE first_half (a INT);\nTHIS IS NOT SQL;\n'));
  const bad = backup('restore', SOCK, path.join(DIR, 'bad'), `${DB}_x`);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /stopped; nothing of it was kept/);
  assert.equal(mariadb(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${DB}_x'`), '0', 'no half-restored database');
  // A database name the scripts would have to quote is refused.
  const named = backup('restore', SOCK, path.join(DIR, whole), 'bad`name');
  assert.equal(named.status, 2);
  assert.match(named.stderr, /not 1-64 of A-Z a-z 0-9 _/);
});
