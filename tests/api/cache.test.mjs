// memcached: cached history never answers stale (edits, deletes, reactions,
// sends, membership and profile changes show in the very next request), the
// typing throttle, and everything working from MySQL alone when memcached is
// down. The tests here run one after another; other files may stop memcached
// too, so assertions that need it up first check that the same memcached
// process (by pid, up for a while) answered before and after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { exclusive, api, registerUser, expectProblem, sleep, ROOT, sql, mcStats, mcCommand, until } from './lib.mjs';
import { direct, group, send, events } from './chatlib.mjs';

const stack = (cmd) => execFileSync(path.join(ROOT, 'scripts/stack.sh'), [cmd], { stdio: 'ignore' });

// The pid of a memcached that has been up for at least 3 s (the servers skip
// a restarted one for 2 s), waiting for that if needed; null when it is down.
async function steadyMemcached() {
  const st = await mcStats();
  if (!st || +st.uptime >= 3) return st ? st.pid : null;
  await sleep(3000);
  const again = await mcStats();
  return again && again.pid === st.pid ? st.pid : null;
}

const history = async (u, c, q = '') => api('GET', `/conversations/${c.id}/messages${q}`, { token: u.token });

// u's latest page of c once it is served from memcached (its process
// pid): shown by a change of message msg's body written to the database
// alone, which a page from memcached does not show (then the body is put
// back, and the cached page is true again). A process that lost memcached
// lately reads the database for up to a minute: then the view is dropped,
// as the server drops it, and tried again.
async function warmRead(u, c, msg, pid) {
  let page;
  await until(async () => {
    await history(u, c);
    sql(`UPDATE messages SET body = 'not from the cache' WHERE id = ${msg.id}`);
    page = await history(u, c);
    sql(`UPDATE messages SET body = '${msg.body.replace(/'/g, "''")}' WHERE id = ${msg.id}`);
    assert.equal((await mcStats()).pid, pid, 'memcached was not restarted meanwhile');
    if (page.body.messages.find((x) => x.id === msg.id).body === msg.body) return true;
    await mcCommand(`md m:cgen:${c.id}`);
    return false;
  }, 'a read served from memcached', 70000);
  return page;
}

test('the latest page comes from memcached, yet every change shows at once', async () => {
  const a = await registerUser('ka'), b = await registerUser('kb');
  const c = await direct(a, b);
  const m1 = await send(a, c, 'original');
  await history(b, c);
  // With memcached held steady throughout: every check below would see a
  // view the change failed to drop.
  await exclusive('memcached', async () => {
    const pid = await steadyMemcached();
    assert.ok(pid, 'memcached is up, and the same process throughout');
    const warm = await warmRead(b, c, m1, pid);
    assert.equal(warm.body.messages[0].body, 'original');
    // Edit.
    await api('PATCH', `/conversations/${c.id}/messages/${m1.id}`, { token: a.token, body: { body: 'edited' } });
    assert.equal((await history(b, c)).body.messages[0].body, 'edited');
    // Reaction.
    await api('PUT', `/conversations/${c.id}/messages/${m1.id}/reactions/${encodeURIComponent('🎉')}`, { token: b.token });
    assert.equal((await history(a, c)).body.messages[0].reactions[0].emoji, '🎉');
    // Send.
    const m2 = await send(b, c, 'second');
    let h = await history(a, c);
    assert.deepEqual(h.body.messages.map((m) => m.id), [m1.id, m2.id]);
    // Any limit is served from the same cached page.
    h = await history(a, c, '?limit=1');
    assert.deepEqual(h.body.messages.map((m) => m.id), [m2.id]);
    assert.equal(h.body.has_more, true);
    // Delete.
    await api('DELETE', `/conversations/${c.id}/messages/${m2.id}`, { token: b.token });
    h = await history(a, c);
    assert.equal(h.body.messages[1].body, null);
    assert.ok(h.body.messages[1].deleted_at);
    assert.equal((await mcStats()).pid, pid, 'the same memcached throughout');
  });
});

test('membership and profile changes show at once', async () => {
  const o = await registerUser('ko'), m = await registerUser('km'), n = await registerUser('kn');
  const g = await group(o, [m], 'Cache group');
  const hello = await send(o, g, 'hello group');
  await exclusive('memcached', async () => {
    const pid = await steadyMemcached();
    assert.ok(pid, 'memcached is up');
    assert.equal((await warmRead(m, g, hello, pid)).status, 200);
    // Removed: the cached page is not served to a former member.
    assert.equal((await api('DELETE', `/conversations/${g.id}/members/${m.id}`, { token: o.token })).status, 204);
    assert.equal((await history(m, g)).status, 404);
    assert.equal((await api('GET', `/conversations/${g.id}`, { token: m.token })).status, 404);
    assert.ok(!(await api('GET', '/conversations', { token: m.token })).body.conversations.some((k) => k.id === g.id));
    // Added: sees the conversation and its history at once.
    assert.equal((await api('POST', `/conversations/${g.id}/members`, { token: o.token, body: { user_ids: [n.id] } })).status, 200);
    assert.equal((await history(n, g)).body.messages[0].body, 'hello group');
    const conv = await api('GET', `/conversations/${g.id}`, { token: o.token });
    assert.deepEqual(conv.body.members.map((k) => k.user.id).sort(), [o.id, n.id].sort());
    // Role change.
    await api('PATCH', `/conversations/${g.id}/members/${n.id}`, { token: o.token, body: { role: 'admin' } });
    assert.equal((await api('GET', `/conversations/${g.id}`, { token: n.token })).body.my_role, 'admin');
    // Profile: the peer and member entries carry the new name at once.
    const d = await direct(o, n);
    await api('GET', '/conversations', { token: o.token });
    const name = 'Renamed ' + n.id;
    assert.equal((await api('PATCH', '/me', { token: n.token, body: { display_name: name } })).status, 200);
    const list = await api('GET', '/conversations', { token: o.token });
    assert.equal(list.body.conversations.find((k) => k.id === d.id).peer.display_name, name);
    const members = (await api('GET', `/conversations/${g.id}`, { token: o.token })).body.members;
    assert.equal(members.find((k) => k.user.id === n.id).user.display_name, name);
    assert.equal((await mcStats()).pid, pid, 'the same memcached throughout');
  });
});

test('without memcached everything still works from MySQL, and nothing stale comes back after', async () => {
  await exclusive('memcached', async () => {
    const a = await registerUser('kd'), b = await registerUser('kd');
    const c = await direct(a, b);
    const m = await send(a, c, 'before the outage');
    await history(b, c);
    await history(b, c);
    stack('mc-stop');
    try {
      const m2 = await send(b, c, 'during the outage');
      await api('PATCH', `/conversations/${c.id}/messages/${m.id}`, { token: a.token, body: { body: 'edited in the outage' } });
      const h = await history(a, c);
      assert.equal(h.status, 200);
      assert.deepEqual(h.body.messages.map((k) => k.body), ['edited in the outage', 'during the outage']);
      assert.equal(h.body.messages[1].id, m2.id);
      assert.equal((await api('GET', '/conversations', { token: a.token })).body.conversations[0].last_message.id, m2.id);
    } finally {
      stack('mc-start');
    }
    // memcached came back empty: still the truth.
    const after = await history(b, c);
    assert.deepEqual(after.body.messages.map((k) => k.body), ['edited in the outage', 'during the outage']);
  });
});

test('typing: to the others only, at most once per 3 s, with memcached up or down', async () => {
  await exclusive('memcached', async () => {
    const a = await registerUser('ta'), b = await registerUser('tb'), x = await registerUser('tx');
    const c = await direct(a, b);
    const t1 = await api('POST', `/conversations/${c.id}/typing`, { token: a.token, body: {} });
    assert.equal(t1.status, 204);
    const t2 = await api('POST', `/conversations/${c.id}/typing`, { token: a.token, body: {} });
    assert.equal(t2.status, 204);
    const ev = events(b.id, 'typing', `AND conversation_id = ${c.id}`);
    // One API process here: its own memory of the window holds whatever
    // memcached does meanwhile.
    assert.equal(ev.length, 1, 'the second typing within 3 s emitted nothing');
    assert.deepEqual(ev[0].payload, { user_id: a.id, expires_in: 5 });
    assert.equal(events(a.id, 'typing').length, 0, 'not to the typist');
    expectProblem(assert, await api('POST', `/conversations/${c.id}/typing`, { token: x.token, body: {} }), 404);
    // A bad body is refused before the window is looked at: sent by b, who
    // has not typed yet (a fresh window, where a body taken as valid would
    // emit), it answers 400 and tells a nothing.
    const bad = await api('POST', `/conversations/${c.id}/typing`, { token: b.token, body: { typing: true } });
    expectProblem(assert, bad, 400, 'invalid_field');
    assert.equal(bad.body.field, 'typing');
    assert.equal(events(a.id, 'typing', `AND conversation_id = ${c.id}`).length, 0, 'a refused typing emits nothing');
    // After the window a new event goes out.
    await sleep(3200);
    await api('POST', `/conversations/${c.id}/typing`, { token: a.token, body: {} });
    assert.equal(events(b.id, 'typing', `AND conversation_id = ${c.id}`).length, ev.length + 1);
    // Without memcached the first call still emits, a repeat within 3 s to
    // the same process still does not, and after the window one goes out
    // again; sending and reading still work.
    stack('mc-stop');
    try {
      await api('POST', `/conversations/${c.id}/typing`, { token: b.token, body: {} });
      await api('POST', `/conversations/${c.id}/typing`, { token: b.token, body: {} });
      assert.equal(events(a.id, 'typing', `AND conversation_id = ${c.id}`).length, 1,
        'one event for two calls within 3 s, memcached down');
      await sleep(3200);
      await api('POST', `/conversations/${c.id}/typing`, { token: b.token, body: {} });
      assert.equal(events(a.id, 'typing', `AND conversation_id = ${c.id}`).length, 2,
        'a new event after the window, memcached down');
      const m = await send(b, c, 'still works');
      const h = await api('GET', `/conversations/${c.id}/messages`, { token: a.token });
      assert.equal(h.body.messages.at(-1).id, m.id);
    } finally {
      stack('mc-start');
    }
  });
});

test('pages asked for conversations that do not exist leave no lasting cache entries', async () => {
  const u = await registerUser('kghost');
  const ghost = 900000000 + Math.floor(Math.random() * 1000000);
  await exclusive('memcached', async () => {
    assert.ok(await steadyMemcached(), 'memcached is up');
    // The conversation's cache generation is started before MySQL is asked
    // (what comes from the cache must be at least as new as it), so an
    // unknown id gets one too: it must run out, not stay until memcached
    // needs the room (a loop over ids would fill it). A process that lost
    // memcached lately starts none for up to a minute (see the first test).
    let ttl;
    await until(async () => {
      expectProblem(assert, await history(u, { id: ghost }), 404, 'not_found');
      ttl = /^HD t(-?\d+)/.exec((await mcCommand(`mg m:cgen:${ghost} t`)) || '');
      return ttl;
    }, 'a generation for the unknown id', 70000);
    assert.ok(+ttl[1] > 0 && +ttl[1] <= 86400, `it runs out within a day (ttl ${ttl[1]})`);
  });
});
