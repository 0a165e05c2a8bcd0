// Migrations (scripts/migrate.sh) on a scratch database of the test server:
// a fresh install, a run that stopped halfway through a file (a killed
// client, a full disk), and every file applied a second time all end with
// the same schema.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { ROOT } from './lib.mjs';

const SOCK = process.env.MESSENGER_DB_SOCKET;
const DB = `messenger_migrate_${process.pid}`;
const FILES = fs.readdirSync(path.join(ROOT, 'sql')).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();

function mariadb(query, db) {
  return execFileSync('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', '--batch', '--skip-column-names',
    ...(db ? [db] : []), '-e', query], { encoding: 'utf8' });
}
// Runs the migrations; returns what they reported (one line per file applied).
function migrate() {
  const r = spawnSync(path.join(ROOT, 'scripts/migrate.sh'), [SOCK, DB], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`migrate.sh exited ${r.status}: ${r.stderr}`);
  return r.stdout + r.stderr;
}
function fresh() {
  mariadb(`DROP DATABASE IF EXISTS \`${DB}\``);
  mariadb(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
}
// Tables (without their AUTO_INCREMENT counters), procedures and functions.
function schema() {
  const lines = (q) => mariadb(q, DB).split('\n').filter(Boolean);
  const out = [];
  for (const t of lines('SHOW TABLES').sort()) {
    out.push(mariadb(`SHOW CREATE TABLE \`${t}\``, DB).replace(/ AUTO_INCREMENT=\d+/, ''));
  }
  for (const kind of ['PROCEDURE', 'FUNCTION']) {
    for (const r of lines(`SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${DB}' AND ROUTINE_TYPE = '${kind}' ORDER BY ROUTINE_NAME`)) {
      out.push(mariadb(`SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${DB}' AND ROUTINE_NAME = '${r}'`, DB));
    }
  }
  return out.join('\n');
}
const recorded = () => mariadb('SELECT version FROM schema_migrations ORDER BY version', DB).split('\n').filter(Boolean);

after(() => { if (SOCK) mariadb(`DROP DATABASE IF EXISTS \`${DB}\``); });

let installed;

test('a fresh install applies every migration once and records it', () => {
  fresh();
  const said = migrate();
  assert.equal(said.match(/applying/g).length, FILES.length, said);
  assert.deepEqual(recorded(), FILES.map((f) => f.replace(/\.sql$/, '')));
  installed = schema();
  assert.match(installed, /CREATE TABLE `messages`/);
  assert.match(installed, /INSERT INTO messages/);
  // A second run finds nothing to do.
  assert.equal(migrate(), '');
});

test('a first migration that stopped halfway is completed by the next run', () => {
  assert.ok(installed, 'the fresh install ran');
  fresh();
  // The first half of 0001's tables exist, nothing is recorded.
  const init = fs.readFileSync(path.join(ROOT, 'sql', FILES[0]), 'utf8');
  const creates = init.split(/;\s*\n/).filter((s) => /CREATE TABLE/.test(s));
  assert.ok(creates.length >= 4);
  mariadb(creates.slice(0, Math.floor(creates.length / 2)).join(';\n') + ';', DB);
  migrate();
  assert.deepEqual(recorded(), FILES.map((f) => f.replace(/\.sql$/, '')));
  assert.equal(schema(), installed);
});

test('every migration can be applied again over its own result', () => {
  assert.ok(installed, 'the fresh install ran');
  mariadb('DELETE FROM schema_migrations', DB);
  migrate();
  assert.equal(recorded().length, FILES.length);
  assert.equal(schema(), installed);
});

test('without a database argument the config names the database', () => {
  const other = `${DB}_conf`;
  const conf = path.join(process.env.MESSENGER_VAR, `migrate-${process.pid}.conf`);
  fs.writeFileSync(conf, `# an operator's config\ndb_host = 127.0.0.1\n db_name = ${other}\n`);
  try {
    mariadb(`DROP DATABASE IF EXISTS \`${other}\``);
    const r = spawnSync(path.join(ROOT, 'scripts/migrate.sh'), [SOCK], {
      encoding: 'utf8', env: { ...process.env, MESSENGER_CONF: conf },
    });
    assert.equal(r.status, 0, r.stderr);
    const versions = mariadb('SELECT version FROM schema_migrations ORDER BY version', other).split('\n').filter(Boolean);
    assert.deepEqual(versions, FILES.map((f) => f.replace(/\.sql$/, '')));
  } finally {
    fs.rmSync(conf, { force: true });
    mariadb(`DROP DATABASE IF EXISTS \`${other}\``);
  }
});

test('procedures are replaced under a running server without a failed send', async () => {
  // An upgrade applies new definitions of the send procedures while
  // api.fcgi calls them; no CALL may find one missing. Their latest
  // definitions (0017's) are applied again to the live database.
  const { registerUser, api } = await import('./lib.mjs');
  const { direct, cid } = await import('./chatlib.mjs');
  const senders = [];
  for (let i = 0; i < 4; i++) {
    const a = await registerUser('live'), b = await registerUser('liveb');
    senders.push({ a, c: await direct(a, b) });
  }
  const latest = fs.readFileSync(path.join(ROOT, 'sql/0017_closed_direct.sql'), 'utf8');
  const live = latest.slice(latest.indexOf('DELIMITER //'));
  for (const name of ['PROCEDURE msg_send(', 'PROCEDURE msg_send_batch(', 'FUNCTION msg_batch_misfits(']) {
    assert.ok(live.includes(`CREATE OR REPLACE ${name}`), name);
  }
  let running = true;
  const failures = [];
  const ids = [];
  const loops = senders.map(async ({ a, c }) => {
    while (running) {
      const id = cid();
      const r = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'during the upgrade' }, validate: false });
      // 200 is the answer to a retry: the server's own, when another test
      // file kills idle database connections meanwhile and a batch's
      // commit lost its answer (the message is then found, stored once).
      if (r.status !== 201 && r.status !== 200) failures.push(`${r.status} ${r.text.slice(0, 200)}`);
      else ids.push(id);
    }
  });
  try {
    // (Asynchronously: the sends go on meanwhile.)
    const { spawn } = await import('node:child_process');
    for (let i = 0; i < 40; i++) {
      const code = await new Promise((resolve, reject) => {
        const p = spawn('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', 'messenger'], { stdio: ['pipe', 'ignore', 'inherit'] });
        p.on('error', reject).on('exit', resolve);
        p.stdin.end(live);
      });
      assert.equal(code, 0);
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
  assert.ok(ids.length > 40, `${ids.length} sends during the replacements`);
  assert.deepEqual(failures, []);
  // Every answered send is stored exactly once.
  const stored = execFileSync('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', '--batch', '--skip-column-names', 'messenger', '-e',
    `SELECT COUNT(*), COUNT(DISTINCT client_id) FROM messages WHERE client_id IN (${ids.map((x) => `'${x}'`).join(',')})`], { encoding: 'utf8' });
  assert.deepEqual(stored.trim().split('\t').map(Number), [ids.length, ids.length]);
});
