// Conversations: direct and group creation, listing, details, unread counts,
// and bad input that must change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, expectProblem, validateEvent } from './lib.mjs';
import { direct, group, send, events, count } from './chatlib.mjs';

test('direct conversation: created once per pair, 200 with the same one after', async () => {
  const a = await registerUser('da'), b = await registerUser('db');
  const r1 = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } });
  assert.equal(r1.status, 201);
  assert.equal(r1.body.type, 'direct');
  assert.equal(r1.body.title, null);
  assert.equal(r1.body.peer.id, b.id);
  assert.equal(r1.body.member_count, 2);
  assert.deepEqual(r1.body.members.map((m) => m.user.id).sort(), [a.id, b.id].sort());
  // Either side asking again gets the same conversation.
  const r2 = await api('POST', '/conversations', { token: b.token, body: { type: 'direct', member_ids: [a.id] } });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.id, r1.body.id);
  assert.equal(r2.body.peer.id, a.id);
  const r3 = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id, a.id] } });
  assert.equal(r3.status, 200);
  assert.equal(r3.body.id, r1.body.id);
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE direct_key = '${Math.min(a.id, b.id)}:${Math.max(a.id, b.id)}'`), 1);
  // Both got conversation.created, each seeing the other as the peer.
  const ea = events(a.id, 'conversation.created'), eb = events(b.id, 'conversation.created');
  assert.equal(ea.length, 1);
  assert.equal(eb.length, 1);
  assert.equal(ea[0].payload.conversation.peer.id, b.id);
  assert.equal(eb[0].payload.conversation.peer.id, a.id);
  validateEvent({ seq: ea[0].seq, type: 'conversation.created', created_at: '2026-01-01T00:00:00.000Z', conversation_id: ea[0].conversation_id, ...ea[0].payload });
});

test('concurrent direct creation by both sides gives one conversation', async () => {
  const a = await registerUser('ca'), b = await registerUser('cb');
  const rs = await Promise.all([
    api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } }),
    api('POST', '/conversations', { token: b.token, body: { type: 'direct', member_ids: [a.id] } }),
    api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } }),
  ]);
  assert.deepEqual(rs.map((r) => r.status).sort(), [200, 200, 201]);
  assert.equal(new Set(rs.map((r) => r.body.id)).size, 1);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${rs[0].body.id}`), 2);
});

test('group: creator is owner, members join, everyone gets conversation.created', async () => {
  const o = await registerUser('go'), m1 = await registerUser('gm'), m2 = await registerUser('gm');
  const g = await group(o, [m1, m2, m1], 'Weekend plans');
  assert.equal(g.type, 'group');
  assert.equal(g.title, 'Weekend plans');
  assert.equal(g.my_role, 'owner');
  assert.equal(g.member_count, 3);
  assert.equal(g.peer, null);
  const roles = Object.fromEntries(g.members.map((m) => [m.user.id, m.role]));
  assert.deepEqual(roles, { [o.id]: 'owner', [m1.id]: 'member', [m2.id]: 'member' });
  for (const u of [o, m1, m2]) {
    const ev = events(u.id, 'conversation.created', `AND conversation_id = ${g.id}`);
    assert.equal(ev.length, 1, `user ${u.id} got one conversation.created`);
    assert.equal(ev[0].payload.conversation.my_role, u === o ? 'owner' : 'member');
  }
  const seen = await api('GET', `/conversations/${g.id}`, { token: m1.token });
  assert.equal(seen.status, 200);
  assert.equal(seen.body.my_role, 'member');
  assert.equal(seen.body.members.length, 3);
});

test('conversation list: newest activity first, cursor pages, unread counts and last message', async () => {
  const me = await registerUser('list');
  const others = await Promise.all([1, 2, 3].map(() => registerUser('lo')));
  const convs = [];
  for (const o of others) convs.push(await direct(me, o));
  // Activity order: conv 1, then conv 0, then conv 2 (newest).
  await send(others[1], convs[1], 'first');
  await send(me, convs[0], 'mine');
  await send(others[0], convs[0], 'second');
  await send(others[0], convs[0], 'third');
  await send(others[2], convs[2], 'newest');
  const all = await api('GET', '/conversations', { token: me.token });
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.conversations.map((c) => c.id), [convs[2].id, convs[0].id, convs[1].id]);
  const c0 = all.body.conversations[1];
  assert.equal(c0.unread_count, 2, 'my own message is not unread');
  assert.equal(c0.last_read_seq, 1, 'sending marked it read');
  assert.equal(c0.last_message.body, 'third');
  assert.equal(c0.last_seq, 3);
  assert.equal(c0.members, undefined);
  assert.equal(all.body.next_cursor, null);
  // Pages of one.
  const ids = [];
  let cursor = null;
  for (let i = 0; i < 5; i++) {
    const p = await api('GET', '/conversations?limit=1' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''), { token: me.token });
    assert.equal(p.status, 200);
    ids.push(...p.body.conversations.map((c) => c.id));
    cursor = p.body.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(ids, [convs[2].id, convs[0].id, convs[1].id]);
});

test('non-members get 404 for a conversation; unknown and malformed ids too', async () => {
  const a = await registerUser('nm'), b = await registerUser('nm'), x = await registerUser('nx');
  const c = await direct(a, b);
  expectProblem(assert, await api('GET', `/conversations/${c.id}`, { token: x.token }), 404, 'not_found');
  expectProblem(assert, await api('GET', '/conversations/999999999', { token: a.token }), 404);
  expectProblem(assert, await api('GET', '/conversations/abc', { token: a.token }), 404);
  expectProblem(assert, await api('GET', '/conversations/0', { token: a.token }), 404);
  expectProblem(assert, await api('GET', '/conversations', {}), 401);
  const list = await api('GET', '/conversations', { token: x.token });
  assert.deepEqual(list.body.conversations, []);
});

test('creating conversations: bad input answers 400 and creates nothing', async () => {
  const a = await registerUser('bad'), b = await registerUser('bad');
  const mine = () => count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`) + count(`SELECT COUNT(*) FROM members WHERE user_id IN (${a.id}, ${b.id})`);
  const before = mine();
  const cases = [
    [{ type: 'direct' }, 'invalid_field'],
    [{ type: 'direct', member_ids: [] }, 'invalid_field'],
    [{ type: 'direct', member_ids: [a.id] }, 'invalid_field'],
    [{ type: 'direct', member_ids: [b.id, 999999999] }, 'invalid_field'],
    [{ type: 'direct', member_ids: [999999999] }, 'unknown_user'],
    [{ type: 'direct', member_ids: [b.id], title: 'no' }, 'invalid_field'],
    [{ type: 'direct', member_ids: [String(b.id)] }, 'invalid_field'],
    [{ type: 'direct', member_ids: [-1] }, 'invalid_field'],
    [{ type: 'direct', member_ids: [1.5] }, 'invalid_field'],
    [{ type: 'direct', member_ids: b.id }, 'invalid_field'],
    [{ type: 'channel', member_ids: [b.id] }, 'invalid_field'],
    [{ type: 5, member_ids: [b.id] }, 'invalid_field'],
    [{ member_ids: [b.id] }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id] }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: '' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: '   ' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x'.repeat(129) }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'a\u0000b' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'tab\there' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: '\u3000\u00a0' }, 'invalid_field'],
    // Nothing to see: a zero-width space, a Hangul filler, a word joiner.
    [{ type: 'group', member_ids: [b.id], title: '\u200b' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: ' \u3164\u2060' }, 'invalid_field'],
    // A direction override in a one-line title turns what follows around.
    [{ type: 'group', member_ids: [b.id], title: 'plans \u202etxt.exe' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'csi\u009b' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id, 999999999], title: 'ghost' }, 'unknown_user'],
    [{ type: 'group', member_ids: Array.from({ length: 1001 }, (_, i) => i + 1), title: 'big' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x', extra: 1 }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x', client_id: '' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x', client_id: 'has space' }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x', client_id: 'x'.repeat(65) }, 'invalid_field'],
    [{ type: 'group', member_ids: [b.id], title: 'x', client_id: 7 }, 'invalid_field'],
  ];
  for (const [body, code] of cases) {
    const r = await api('POST', '/conversations', { token: a.token, body });
    expectProblem(assert, r, 400, code);
  }
  expectProblem(assert, await api('POST', '/conversations', { token: a.token, body: '{"type":"direct",' }), 400, 'invalid_json');
  expectProblem(assert, await api('POST', '/conversations', { token: a.token, body: '[1]' }), 400, 'invalid_json');
  expectProblem(assert, await api('POST', '/conversations', { token: a.token, body: 'type=direct', contentType: 'application/x-www-form-urlencoded' }), 415);
  expectProblem(assert, await api('GET', '/conversations?limit=0', { token: a.token }), 400);
  expectProblem(assert, await api('GET', '/conversations?limit=abc', { token: a.token }), 400);
  expectProblem(assert, await api('GET', '/conversations?cursor=zzz', { token: a.token }), 400, 'invalid_cursor');
  expectProblem(assert, await api('GET', "/conversations?cursor=1'%20OR%201=1", { token: a.token }), 400, 'invalid_cursor');
  assert.equal(mine(), before);
  // A SQL-looking title is stored as text.
  const g = await group(a, [b], "x'); DROP TABLE conversations; --");
  assert.equal(g.title, "x'); DROP TABLE conversations; --");
  // 128 characters of multi-byte text are fine.
  const long = await group(a, [b], 'é'.repeat(128));
  assert.equal(long.title, 'é'.repeat(128));
});

test('conversation list: each row shows what the conversation itself shows (last message with reactions, tombstone, peer)', async () => {
  const me = await registerUser('row');
  const b = await registerUser('rowb'), c = await registerUser('rowc');
  const d1 = await direct(me, b), d2 = await direct(me, c);
  const g = await group(me, [b, c], 'Rows');
  const empty = await group(me, [b], 'Quiet');
  const m1 = await send(b, d1, 'react to me');
  const url = (conv, m, tail) => `/conversations/${conv.id}/messages/${m.id}${tail}`;
  assert.equal((await api('PUT', url(d1, m1, '/reactions/' + encodeURIComponent('👍')), { token: me.token })).status < 300, true);
  assert.equal((await api('PUT', url(d1, m1, '/reactions/' + encodeURIComponent('🎉')), { token: b.token })).status < 300, true);
  const m2 = await send(me, d2, 'soon gone');
  assert.equal((await api('DELETE', url(d2, m2, ''), { token: me.token })).status < 300, true);
  await send(c, g, 'group news');
  const list = await api('GET', '/conversations', { token: me.token });
  assert.equal(list.status, 200);
  assert.equal(list.body.conversations.length, 4);
  for (const row of list.body.conversations) {
    const one = await api('GET', `/conversations/${row.id}`, { token: me.token });
    assert.equal(one.status, 200);
    delete one.body.members;
    assert.deepEqual(row, one.body, `row ${row.id} matches GET /conversations/${row.id}`);
  }
  const byId = Object.fromEntries(list.body.conversations.map((r) => [r.id, r]));
  assert.deepEqual(byId[d1.id].last_message.reactions.map((r) => r.emoji).sort(), ['👍', '🎉'].sort());
  assert.equal(byId[d1.id].peer.id, b.id);
  assert.equal(byId[d2.id].last_message.id, m2.id);
  assert.equal(byId[d2.id].last_message.body, null);
  assert.ok(byId[d2.id].last_message.deleted_at, 'a deleted last message shows as a tombstone');
  assert.equal(byId[d2.id].peer.id, c.id);
  assert.equal(byId[g.id].peer, null);
  assert.equal(byId[g.id].last_message.body, 'group news');
  assert.equal(byId[empty.id].last_message, null);
});

test('group creation is idempotent by client_id: a retry answers the first group, never a second', async () => {
  const a = await registerUser('gcid'), b = await registerUser('gcid'), c = await registerUser('gcid');
  const body = { type: 'group', title: 'Book club', member_ids: [b.id], client_id: 'group-create-1' };
  const first = await api('POST', '/conversations', { token: a.token, body });
  assert.equal(first.status, 201);
  // The same request again (a lost answer, a second click): the same group.
  const again = await api('POST', '/conversations', { token: a.token, body });
  assert.equal(again.status, 200);
  assert.equal(again.body.id, first.body.id);
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`), 1);
  assert.equal(events(b.id, 'conversation.created').length, 1);
  // Concurrent tries: still one.
  const body2 = { type: 'group', title: 'Chess', member_ids: [b.id, c.id], client_id: 'group-create-2' };
  const many = await Promise.all(Array.from({ length: 6 }, () => api('POST', '/conversations', { token: a.token, body: body2 })));
  assert.deepEqual(many.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 201]);
  assert.equal(new Set(many.map((r) => r.body.id)).size, 1);
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`), 2);
  // The same client_id for another group is refused and creates nothing.
  expectProblem(assert, await api('POST', '/conversations', { token: a.token, body: { ...body, title: 'Film club' } }), 409, 'client_id_conflict');
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`), 2);
  // Another creator may use the same client_id; no client_id never collides.
  const other = await api('POST', '/conversations', { token: c.token, body: { ...body, member_ids: [a.id] } });
  assert.equal(other.status, 201);
  assert.notEqual(other.body.id, first.body.id);
  const plain = { type: 'group', title: 'Book club', member_ids: [b.id] };
  assert.equal((await api('POST', '/conversations', { token: a.token, body: plain })).status, 201);
  assert.equal((await api('POST', '/conversations', { token: a.token, body: plain })).status, 201);
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`), 4);
  // A direct conversation ignores client_id (it is one per pair anyway).
  const d1 = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [c.id], client_id: 'dm-1' } });
  const d2 = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [c.id], client_id: 'dm-2' } });
  assert.deepEqual([d1.status, d2.status], [201, 200]);
  assert.equal(d2.body.id, d1.body.id);
  // The creator has left the group since: a retry of its creation is 404,
  // and creates nothing.
  const leave = await api('DELETE', `/conversations/${first.body.id}/members/${a.id}`, { token: a.token });
  assert.equal(leave.status, 204, leave.text);
  expectProblem(assert, await api('POST', '/conversations', { token: a.token, body }), 404, 'not_found');
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${a.id}`), 5);
});
