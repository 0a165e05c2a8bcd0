// Group membership: adding, removing, leaving, roles and ownership hand-over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql, expectProblem } from './lib.mjs';
import { direct, group, send, events, count, cid } from './chatlib.mjs';
import { poll, runSweeper } from './evlib.mjs';

const roleOf = (conv, u) => conv.members.find((m) => m.user.id === u.id)?.role;

// n accounts named tag-1..tag-n made with SQL (no password: they never log
// in), each with its event log head; their ids in order.
function seedUsers(tag, n) {
  sql(`INSERT INTO users (username, display_name, password_hash) SELECT CONCAT('${tag}-', seq), CONCAT('Seeded ', seq), '!' FROM seq_1_to_${n}`);
  sql(`INSERT INTO user_heads (user_id) SELECT id FROM users WHERE username LIKE '${tag}-%'`);
  const ids = sql(`SELECT id FROM users WHERE username LIKE '${tag}-%' ORDER BY id`).map(([id]) => +id);
  assert.equal(ids.length, n);
  return ids;
}

test('owner and admins add members; plain members cannot; events for old and new members', async () => {
  const o = await registerUser('mo'), m = await registerUser('mm'), n1 = await registerUser('mn'), n2 = await registerUser('mn');
  const g = await group(o, [m]);
  expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: m.token, body: { user_ids: [n1.id] } }), 403);
  // Whoever may not add is not told which ids are no users either.
  expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: m.token, body: { user_ids: [999999999] } }), 403);
  const r = await api('POST', `/conversations/${g.id}/members`, { token: o.token, body: { user_ids: [n1.id, m.id, n1.id] } });
  assert.equal(r.status, 200);
  assert.equal(r.body.member_count, 3);
  assert.equal(roleOf(r.body, n1), 'member');
  const added = events(m.id, 'member.added', `AND conversation_id = ${g.id}`);
  assert.deepEqual(added.map((e) => e.payload), [{ user_id: n1.id, role: 'member', by: o.id }]);
  const hello = events(n1.id, 'conversation.created', `AND conversation_id = ${g.id}`);
  assert.equal(hello.length, 1);
  assert.equal(hello[0].payload.conversation.my_role, 'member');
  // The new member reads history and sends.
  await send(o, g, 'welcome');
  assert.equal((await api('GET', `/conversations/${g.id}/messages`, { token: n1.token })).status, 200);
  // An admin may add too. Someone added later starts with the history read
  // (not three unread messages they never missed), and counts what follows.
  await send(o, g, 'before n2');
  await send(m, g, 'also before n2');
  await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: o.token, body: { role: 'admin' } });
  const r2 = await api('POST', `/conversations/${g.id}/members`, { token: m.token, body: { user_ids: [n2.id] } });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.member_count, 4);
  const joined = await api('GET', `/conversations/${g.id}`, { token: n2.token });
  assert.equal(joined.body.unread_count, 0);
  assert.equal(joined.body.last_read_seq, joined.body.last_seq);
  // The history holds the lines of who added whom (kind system, from the
  // one who did, with the names as they were), read by the new member too.
  const hist = (await api('GET', `/conversations/${g.id}/messages`, { token: n2.token })).body.messages;
  assert.deepEqual(hist.map((x) => [x.kind, x.sender_id, x.body]), [
    ['system', o.id, `${o.username} added ${n1.username}`],
    ['text', o.id, 'welcome'], ['text', o.id, 'before n2'], ['text', m.id, 'also before n2'],
    ['system', o.id, `${o.username} made ${m.username} an admin`],
    ['system', m.id, `${m.username} added ${n2.username}`]]);
  await send(o, g, 'after n2');
  assert.equal((await api('GET', `/conversations/${g.id}`, { token: n2.token })).body.unread_count, 1);
  // Bad input and other people's conversations.
  const x = await registerUser('mx');
  expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: x.token, body: { user_ids: [x.id] } }), 404);
  for (const body of [{}, { user_ids: [] }, { user_ids: ['1'] }, { user_ids: [0] }, { user_ids: 5 }, { user_ids: [x.id], role: 'admin' },
    { user_ids: Array.from({ length: 101 }, (_, i) => i + 1) },
    // The limit is on the list as sent (maxItems), repeats included.
    { user_ids: [...Array.from({ length: 100 }, (_, i) => i + 1), 1] }]) {
    expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: o.token, body }), 400, 'invalid_field');
  }
  expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: o.token, body: { user_ids: [x.id, 999999999] } }), 400, 'unknown_user');
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${g.id}`), 4);
  // Direct conversations do not grow.
  const d = await direct(o, m);
  expectProblem(assert, await api('POST', `/conversations/${d.id}/members`, { token: o.token, body: { user_ids: [x.id] } }), 409, 'direct_conversation');
  // Nor has anyone there a role to change.
  expectProblem(assert, await api('PATCH', `/conversations/${d.id}/members/${m.id}`, { token: o.token, body: { role: 'admin' } }), 409, 'direct_conversation');
  assert.deepEqual((await api('GET', `/conversations/${d.id}`, { token: o.token })).body.members.map((x) => x.role), ['member', 'member']);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${d.id}`), 2);
});

test('group activity: adding, removing, leaving, roles, renaming and a hand-over each write a line; lines are not unread, not searched, not changed', async () => {
  const o = await registerUser('ga'), m = await registerUser('gb'), k = await registerUser('gc');
  const g = await group(o, [m, k], 'Plans');
  const lines = async () => (await api('GET', `/conversations/${g.id}/messages`, { token: o.token })).body.messages
    .filter((x) => x.kind === 'system').map((x) => [x.sender_id, x.body]);
  // Making the group writes none (the top of its history says how it began).
  assert.deepEqual(await lines(), []);
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: o.token, body: { title: 'Trip planning' } })).status, 200);
  // The same name again is no change and no line.
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: o.token, body: { title: 'Trip planning' } })).status, 200);
  // Another case is another name.
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: o.token, body: { title: 'Trip Planning' } })).status, 200);
  const role = async (u, role) => assert.equal((await api('PATCH', `/conversations/${g.id}/members/${u.id}`, { token: o.token, body: { role } })).status, 200);
  await role(m, 'admin');
  await role(m, 'admin');	// no change, no line
  await role(m, 'member');
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${k.id}`, { token: o.token })).status, 204);
  await role(m, 'owner');
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${m.id}`, { token: m.token })).status, 204);
  assert.deepEqual(await lines(), [
    [o.id, `${o.username} named the group \u201cTrip planning\u201d`],
    [o.id, `${o.username} named the group \u201cTrip Planning\u201d`],
    [o.id, `${o.username} made ${m.username} an admin`],
    [o.id, `${o.username} removed ${m.username} as an admin`],
    [o.id, `${o.username} removed ${k.username}`],
    [o.id, `${o.username} made ${m.username} the group's owner`],
    [m.id, `${m.username} left the group`],
    // The owner's leaving handed the group on, to its admin.
    [m.id, `${o.username} is now the group's owner`],
  ]);
  // Each line reached the members of the moment as message.new; the removed
  // member got none of the lines after their removal.
  const ids = sql(`SELECT id FROM messages WHERE conversation_id = ${g.id} AND kind = 'system' ORDER BY seq`).map(([id]) => +id);
  assert.deepEqual(events(o.id, 'message.new', `AND conversation_id = ${g.id}`).map((e) => e.ref_id), ids);
  assert.deepEqual(events(m.id, 'message.new', `AND conversation_id = ${g.id}`).map((e) => e.ref_id), ids.slice(0, 6));
  assert.deepEqual(events(k.id, 'message.new', `AND conversation_id = ${g.id}`).map((e) => e.ref_id), ids.slice(0, 4));
  // Not unread (m's line is someone else's), not found by search.
  const conv = (await api('GET', `/conversations/${g.id}`, { token: o.token })).body;
  assert.equal(conv.unread_count, 0);
  assert.equal(conv.last_message.kind, 'system');
  assert.equal((await api('GET', '/search?q=planning', { token: o.token })).body.results.length, 0);
  // Nobody edits, deletes or reacts to a line, not even who did it.
  const u = `/conversations/${g.id}/messages/${ids[0]}`;
  expectProblem(assert, await api('PATCH', u, { token: o.token, body: { body: 'rewritten' } }), 409, 'system_message');
  expectProblem(assert, await api('DELETE', u, { token: o.token }), 409, 'system_message');
  expectProblem(assert, await api('PUT', `${u}/reactions/${encodeURIComponent('👍')}`, { token: o.token }), 409, 'system_message');
  expectProblem(assert, await api('DELETE', `${u}/reactions/${encodeURIComponent('👍')}`, { token: o.token }), 409, 'system_message');
  assert.deepEqual(sql(`SELECT body, deleted_at IS NULL, edited_at IS NULL FROM messages WHERE id = ${ids[0]}`),
    [[`${o.username} named the group \u201cTrip planning\u201d`, '1', '1']]);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${ids[0]}`), 0);
});

test('removing: owner removes anyone, admin only plain members, anyone leaves; removed members lose access', async () => {
  const o = await registerUser('ro'), ad = await registerUser('ra'), ad2 = await registerUser('ra'), m1 = await registerUser('rm'), m2 = await registerUser('rm');
  const g = await group(o, [ad, ad2, m1, m2]);
  await api('PATCH', `/conversations/${g.id}/members/${ad.id}`, { token: o.token, body: { role: 'admin' } });
  await api('PATCH', `/conversations/${g.id}/members/${ad2.id}`, { token: o.token, body: { role: 'admin' } });
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/${m2.id}`, { token: m1.token }), 403);
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/${ad2.id}`, { token: ad.token }), 403);
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/${o.id}`, { token: ad.token }), 403);
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${m1.id}`, { token: ad.token })).status, 204);
  // The removed member heard about it, then lost access.
  assert.deepEqual(events(m1.id, 'member.removed', `AND conversation_id = ${g.id}`).map((e) => e.payload), [{ user_id: m1.id, role: 'member', by: ad.id }]);
  assert.equal(events(o.id, 'member.removed', `AND conversation_id = ${g.id}`).length, 1);
  expectProblem(assert, await api('GET', `/conversations/${g.id}`, { token: m1.token }), 404);
  expectProblem(assert, await api('GET', `/conversations/${g.id}/messages`, { token: m1.token }), 404);
  expectProblem(assert, await api('POST', `/conversations/${g.id}/messages`, { token: m1.token, body: { client_id: 'after-removal', body: 'hi' } }), 404);
  // A removed member is not a member: 404 to remove again.
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/${m1.id}`, { token: o.token }), 404);
  // Leaving. A retry of a send that happened before leaving still answers
  // with that message; a new send does not get through.
  const sent = await send(m2, g, 'last words', 'm2-last-' + m2.id);
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${m2.id}`, { token: m2.token })).status, 204);
  // Reacted to after they left: not theirs to see any more.
  assert.equal((await api('PUT', `/conversations/${g.id}/messages/${sent.id}/reactions/${encodeURIComponent('👋')}`, { token: o.token })).status, 200);
  const rung = count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${o.id}`);
  const retry = await api('POST', `/conversations/${g.id}/messages`, { token: m2.token, body: { client_id: 'm2-last-' + m2.id, body: 'last words' } });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.id, sent.id);
  assert.deepEqual(retry.body.reactions, [], 'the message as it was sent, without what came after the sender left');
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${o.id}`), rung);
  expectProblem(assert, await api('POST', `/conversations/${g.id}/messages`, { token: m2.token, body: { client_id: 'm2-new-' + m2.id, body: 'more' } }), 404);
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${ad2.id}`, { token: o.token })).status, 204);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${g.id}`), 2);
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/abc`, { token: o.token }), 404);
  const d = await direct(o, ad);
  expectProblem(assert, await api('DELETE', `/conversations/${d.id}/members/${o.id}`, { token: o.token }), 409, 'direct_conversation');
});

test('a removed member replaying an old cursor does not see the messages as they are now', async () => {
  const o = await registerUser('rpo'), m = await registerUser('rpm');
  const g = await group(o, [m]);
  const before = await poll(m, null, { timeout: 0 });
  const cursor = before.body.next;
  const msg = await send(o, g, 'original text');
  // While a member, replaying shows the message.
  const seen = await poll(m, cursor, { timeout: 0 });
  assert.deepEqual(seen.body.events.filter((e) => e.type === 'message.new').map((e) => e.message.body), ['original text']);
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${m.id}`, { token: o.token })).status, 204);
  assert.equal((await api('PATCH', `/conversations/${g.id}/messages/${msg.id}`, { token: o.token, body: { body: 'edited after the removal' } })).status, 200);
  assert.equal((await api('PUT', `/conversations/${g.id}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}`, { token: o.token })).status < 300, true);
  // Replaying the same cursor after the removal: the removal is there,
  // the message (which would now show the edit and the reaction) is not.
  const after = await poll(m, cursor, { timeout: 0 });
  assert.equal(after.status, 200);
  assert.deepEqual(after.body.events.filter((e) => e.type === 'message.new'), []);
  assert.ok(!JSON.stringify(after.body).includes('edited after the removal'));
  assert.equal(after.body.events.filter((e) => e.type === 'member.removed').length, 1);
  assert.equal(after.body.next, (await poll(m, null, { timeout: 0 })).body.next);
});

test('deleting an account leaves its groups: an owned group gets a new owner; direct chats keep it, closed', async () => {
  const o = await registerUser('dlo'), ad = await registerUser('dla'), m = await registerUser('dlm');
  const g = await group(o, [ad, m]);
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${ad.id}`, { token: o.token, body: { role: 'admin' } })).status, 200);
  const d = await direct(o, m);
  const before = await send(m, d, 'before the deletion');
  assert.equal((await api('DELETE', '/me', { token: o.token, body: { password: o.password } })).status, 204);
  const seen = await api('GET', `/conversations/${g.id}`, { token: ad.token });
  assert.equal(seen.status, 200);
  assert.deepEqual(seen.body.members.map((x) => [x.user.id, x.role]).sort(), [[ad.id, 'owner'], [m.id, 'member']].sort());
  assert.equal(events(m.id, 'member.removed', `AND conversation_id = ${g.id}`).length, 1);
  // The new owner can run the group.
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: ad.token, body: { title: 'Still going' } })).status, 200);
  // The direct conversation stays, with the deleted account in it.
  const dd = await api('GET', `/conversations/${d.id}`, { token: m.token });
  assert.equal(dd.status, 200);
  assert.equal(dd.body.peer.display_name, 'Deleted account');
  const hist = async () => (await api('GET', `/conversations/${d.id}/messages`, { token: m.token })).body.messages.map((x) => x.body);
  assert.deepEqual(await hist(), ['before the deletion']);
  // Nobody would read it: a send there is refused and stores nothing.
  const logBefore = count(`SELECT COUNT(*) FROM user_events WHERE user_id IN (${o.id}, ${m.id})`);
  const refused = await api('POST', `/conversations/${d.id}/messages`, { token: m.token, body: { client_id: cid(), body: 'anyone there?' } });
  expectProblem(assert, refused, 403, 'conversation_closed');
  assert.deepEqual(await hist(), ['before the deletion']);
  assert.equal(count(`SELECT last_seq FROM conversations WHERE id = ${d.id}`), 1);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE user_id IN (${o.id}, ${m.id})`), logBefore);
  // A retry of the message sent before is still answered with it.
  const again = await api('POST', `/conversations/${d.id}/messages`, { token: m.token, body: { client_id: before.client_id, body: 'before the deletion' } });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.id, before.id);
  // A direct conversation created while the deletion committed stays open
  // (the deletion's update could not see it): the sweeper closes it.
  sql(`UPDATE conversations SET closed_at = NULL WHERE id = ${d.id}`);
  runSweeper();
  assert.equal(count(`SELECT closed_at IS NOT NULL FROM conversations WHERE id = ${d.id}`), 1);
  expectProblem(assert, await api('POST', `/conversations/${d.id}/messages`, { token: m.token, body: { client_id: cid(), body: 'after the sweep' } }), 403, 'conversation_closed');
  // The deleted account's groups go on: m still sends to them.
  await send(m, g, 'the group goes on');
  // A group whose only other members are deleted accounts hands ownership to nobody deleted.
  const p = await registerUser('dlp'), q = await registerUser('dlq'), r = await registerUser('dlr');
  const g2 = await group(p, [q, r]);
  assert.equal((await api('DELETE', '/me', { token: q.token, body: { password: q.password } })).status, 204);
  assert.equal((await api('DELETE', `/conversations/${g2.id}/members/${p.id}`, { token: p.token })).status, 204);
  const left = await api('GET', `/conversations/${g2.id}`, { token: r.token });
  assert.deepEqual(left.body.members.map((x) => [x.user.id, x.role]), [[r.id, 'owner']]);
});

test('the last owner leaving hands ownership to the oldest admin, else the oldest member', async () => {
  const o = await registerUser('lo'), m1 = await registerUser('lm'), m2 = await registerUser('lm'), ad = await registerUser('la');
  // m2 (the newer account) joins first, m1 after.
  const g = await group(o, [m2]);
  assert.equal((await api('POST', `/conversations/${g.id}/members`, { token: o.token, body: { user_ids: [m1.id] } })).status, 200);
  await api('POST', `/conversations/${g.id}/members`, { token: o.token, body: { user_ids: [ad.id] } });
  await api('PATCH', `/conversations/${g.id}/members/${ad.id}`, { token: o.token, body: { role: 'admin' } });
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${o.id}`, { token: o.token })).status, 204);
  let conv = await api('GET', `/conversations/${g.id}`, { token: m1.token });
  assert.equal(roleOf(conv.body, ad), 'owner', 'the admin inherits, though newer than the members');
  assert.equal(conv.body.members.filter((m) => m.role === 'owner').length, 1);
  assert.ok(events(m1.id, 'member.updated', `AND conversation_id = ${g.id}`).some((e) => e.payload.user_id === ad.id && e.payload.role === 'owner'));
  // No admins left: the oldest member inherits.
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${ad.id}`, { token: ad.token })).status, 204);
  conv = await api('GET', `/conversations/${g.id}`, { token: m2.token });
  assert.equal(roleOf(conv.body, m2), 'owner', 'the member who joined first inherits');
  assert.equal(roleOf(conv.body, m1), 'member');
  assert.equal(conv.body.members.filter((m) => m.role === 'owner').length, 1);
});

test('roles: owner hands on ownership, admins promote and demote, members cannot', async () => {
  const o = await registerUser('po'), a = await registerUser('pa'), m = await registerUser('pm'), x = await registerUser('px');
  const g = await group(o, [a, m]);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: m.token, body: { role: 'admin' } }), 403);
  // Asking for a role someone already has is no way around the check.
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${o.id}`, { token: m.token, body: { role: 'owner' } }), 403);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: m.token, body: { role: 'member' } }), 403);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: m.token, body: { role: 'member' } }), 403);
  // The refused changes changed nothing.
  const roles = async () => Object.fromEntries((await api('GET', `/conversations/${g.id}`, { token: o.token })).body.members.map((k) => [k.user.id, k.role]));
  assert.deepEqual(await roles(), { [o.id]: 'owner', [a.id]: 'member', [m.id]: 'member' });
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'member.updated' AND conversation_id = ${g.id}`), 0);
  const r = await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: o.token, body: { role: 'admin' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.role, 'admin');
  assert.equal(r.body.user.id, a.id);
  assert.deepEqual(events(m.id, 'member.updated', `AND conversation_id = ${g.id}`).map((e) => e.payload), [{ user_id: a.id, role: 'admin', by: o.id }]);
  // Admins cannot touch the owner nor hand on ownership.
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${o.id}`, { token: a.token, body: { role: 'member' } }), 403);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: a.token, body: { role: 'owner' } }), 403);
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: a.token, body: { role: 'admin' } })).body.role, 'admin');
  // An admin takes no other admin's role away (demoted, they could then be
  // removed, until only that admin was left): the owner does, or the admin
  // steps down.
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: a.token, body: { role: 'member' } }), 403, 'forbidden');
  expectProblem(assert, await api('DELETE', `/conversations/${g.id}/members/${m.id}`, { token: a.token }), 403);
  assert.deepEqual(await roles(), { [o.id]: 'owner', [a.id]: 'admin', [m.id]: 'admin' });
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: m.token, body: { role: 'member' } })).body.role, 'member');
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: o.token, body: { role: 'member' } })).body.role, 'member');
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: o.token, body: { role: 'admin' } })).body.role, 'admin');
  // The owner cannot simply step down.
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${o.id}`, { token: o.token, body: { role: 'admin' } }), 403);
  assert.deepEqual(await roles(), { [o.id]: 'owner', [a.id]: 'admin', [m.id]: 'member' });
  // Hand-over: the old owner becomes an admin.
  const t = await api('PATCH', `/conversations/${g.id}/members/${m.id}`, { token: o.token, body: { role: 'owner' } });
  assert.equal(t.body.role, 'owner');
  const conv = await api('GET', `/conversations/${g.id}`, { token: o.token });
  assert.equal(conv.body.my_role, 'admin');
  assert.equal(roleOf(conv.body, m), 'owner');
  assert.equal(conv.body.members.filter((k) => k.role === 'owner').length, 1);
  // Same role again: 200, no event.
  const before = events(a.id, 'member.updated').length;
  assert.equal((await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: m.token, body: { role: 'admin' } })).status, 200);
  assert.equal(events(a.id, 'member.updated').length, before);
  for (const body of [{}, { role: 'god' }, { role: 1 }, { role: 'admin', x: 1 }]) {
    expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: m.token, body }), 400, 'invalid_field');
  }
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${x.id}`, { token: m.token, body: { role: 'admin' } }), 404);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}/members/${a.id}`, { token: x.token, body: { role: 'member' } }), 404);
  // Re-read: every role as it was, x still no member, no event from the refused ones.
  assert.deepEqual(await roles(), { [o.id]: 'admin', [a.id]: 'admin', [m.id]: 'owner' });
  assert.equal(events(a.id, 'member.updated').length, before);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${g.id} AND role = 'owner'`), 1);
  // Ownership does not go to an account deleted that has not left the
  // group yet (it leaves just after, or through the sweeper).
  const o2 = await registerUser('po2'), gone = await registerUser('pgone');
  const g2 = await group(o2, [gone]);
  sql(`UPDATE users SET deleted_at = NOW(3) WHERE id = ${gone.id}`);
  expectProblem(assert, await api('PATCH', `/conversations/${g2.id}/members/${gone.id}`, { token: o2.token, body: { role: 'owner' } }), 404);
  assert.equal(roleOf((await api('GET', `/conversations/${g2.id}`, { token: o2.token })).body, o2), 'owner');
});

test('rename: owner/admin only; conversation.updated to every member with their own view; mute is personal', async () => {
  const o = await registerUser('no'), m = await registerUser('nm'), x = await registerUser('nx');
  const g = await group(o, [m], 'Old name');
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}`, { token: m.token, body: { title: 'Mine now' } }), 403);
  expectProblem(assert, await api('PATCH', `/conversations/${g.id}`, { token: x.token, body: { title: 'Mine now' } }), 404);
  assert.equal((await api('GET', `/conversations/${g.id}`, { token: o.token })).body.title, 'Old name');
  assert.equal(events(o.id, 'conversation.updated', `AND conversation_id = ${g.id}`).length, 0);
  const r = await api('PATCH', `/conversations/${g.id}`, { token: o.token, body: { title: 'New name' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.title, 'New name');
  const seen = await api('GET', `/conversations/${g.id}`, { token: m.token });
  assert.equal(seen.body.title, 'New name');
  const ev = events(m.id, 'conversation.updated', `AND conversation_id = ${g.id}`);
  assert.equal(ev.length, 1);
  assert.equal(ev[0].payload.conversation.title, 'New name');
  assert.equal(ev[0].payload.conversation.my_role, 'member');
  assert.equal(events(o.id, 'conversation.updated', `AND conversation_id = ${g.id}`)[0].payload.conversation.my_role, 'owner');
  // The same name again (a retry) tells nobody.
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: o.token, body: { title: 'New name' } })).status, 200);
  assert.equal(events(m.id, 'conversation.updated', `AND conversation_id = ${g.id}`).length, 1);
  // Mute: personal.
  const mu = await api('PATCH', `/conversations/${g.id}`, { token: m.token, body: { muted_until: '2099-01-01T00:00:00Z' } });
  assert.equal(mu.status, 200);
  assert.equal(mu.body.muted_until, '2099-01-01T00:00:00.000Z');
  assert.equal((await api('GET', `/conversations/${g.id}`, { token: o.token })).body.muted_until, null);
  assert.equal(events(o.id, 'conversation.updated', `AND conversation_id = ${g.id}`).length, 1, 'the owner hears nothing of my mute');
  const un = await api('PATCH', `/conversations/${g.id}`, { token: m.token, body: { muted_until: null } });
  assert.equal(un.body.muted_until, null);
  for (const body of [{ title: '' }, { title: 'x'.repeat(129) }, { title: 7 }, { title: null }, { muted_until: 'tomorrow' }, { muted_until: '2099-02-30T00:00:00Z' }, { muted_until: 5 }, { colour: 'red' },
    { title: 'Half done', muted_until: 'tomorrow' }]) {
    expectProblem(assert, await api('PATCH', `/conversations/${g.id}`, { token: o.token, body }), 400, 'invalid_field');
  }
  const d = await direct(o, m);
  const us = await api('PATCH', `/conversations/${d.id}`, { token: o.token, body: { title: 'Us', muted_until: '2099-01-01T00:00:00Z' } });
  expectProblem(assert, us, 400, 'invalid_field');
  assert.equal(us.body.field, 'title');
  // Re-read: the refused changes changed nothing, and told nobody.
  const og = await api('GET', `/conversations/${g.id}`, { token: o.token });
  assert.equal(og.body.title, 'New name');
  assert.equal(og.body.muted_until, null);
  assert.equal((await api('GET', `/conversations/${g.id}`, { token: m.token })).body.muted_until, null);
  const od = await api('GET', `/conversations/${d.id}`, { token: o.token });
  assert.equal(od.body.title, null);
  assert.equal(od.body.muted_until, null);
  assert.equal(events(o.id, 'conversation.updated', `AND conversation_id = ${g.id}`).length, 1);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'conversation.updated' AND conversation_id = ${d.id}`), 0);
});

test('a group holds at most 1000 members; receipts in big groups stay with the reader', async () => {
  const o = await registerUser('big'), r = await registerUser('bigr'), extra = await registerUser('bigx');
  // Seed 998 accounts directly: registering them one by one would spend minutes hashing passwords.
  const ids = seedUsers('bk' + o.id, 998);
  assert.equal(ids.length, 998);
  expectProblem(assert, await api('POST', '/conversations', { token: o.token, body: { type: 'group', title: 'Too big', member_ids: [...ids, r.id, extra.id] } }), 400, 'invalid_field');
  const g = await api('POST', '/conversations', { token: o.token, body: { type: 'group', title: 'Full house', member_ids: [...ids, r.id] } });
  assert.equal(g.status, 201);
  assert.equal(g.body.member_count, 1000);
  assert.equal(g.body.receipt_events, false);
  assert.equal(g.body.members.length, 1000);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'conversation.created' AND conversation_id = ${g.body.id}`), 1000);
  expectProblem(assert, await api('POST', `/conversations/${g.body.id}/members`, { token: o.token, body: { user_ids: [extra.id] } }), 409, 'group_full');
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${g.body.id}`), 1000);
  // One send writes one message row and one event row per member.
  const m = await send(o, g.body, 'hello, everyone');
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'message.new' AND ref_id = ${m.id}`), 1000);
  // In a group this large a read receipt goes only to the reader's own devices.
  const rd = await api('POST', `/conversations/${g.body.id}/read`, { token: r.token, body: { seq: 1 } });
  assert.deepEqual(rd.body, { last_read_seq: 1, unread_count: 0 });
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'receipt' AND conversation_id = ${g.body.id}`), 1);
  assert.equal(events(r.id, 'receipt', `AND conversation_id = ${g.body.id}`).length, 1);
});

test('a conversation says whether its members get receipt events: up to 32 members (receipt_fanout_max) they do', async () => {
  const o = await registerUser('rfo'), r = await registerUser('rfr');
  // 31 seeded accounts; 30 of them make 32 members with o and r.
  const ids = seedUsers('rf' + o.id, 31);
  const d = await direct(o, r);
  assert.equal(d.receipt_events, true);
  const g = await api('POST', '/conversations', { token: o.token, body: { type: 'group', title: 'Thirty-two', member_ids: [r.id, ...ids.slice(0, 30)] } });
  assert.equal(g.status, 201);
  assert.deepEqual([g.body.member_count, g.body.receipt_events], [32, true]);
  const m1 = await send(o, g.body, 'one');
  const receipts = () => count(`SELECT COUNT(*) FROM user_events WHERE type = 'receipt' AND conversation_id = ${g.body.id}`);
  // At 32 members, r's read mark goes to everyone.
  assert.equal((await api('POST', `/conversations/${g.body.id}/read`, { token: r.token, body: { seq: m1.seq } })).status, 200);
  assert.equal(receipts(), 32);
  // One more member: the list, the conversation and the receipts all change.
  assert.equal((await api('POST', `/conversations/${g.body.id}/members`, { token: o.token, body: { user_ids: [ids[30]] } })).status, 200);
  const big = await api('GET', `/conversations/${g.body.id}`, { token: r.token });
  assert.deepEqual([big.body.member_count, big.body.receipt_events], [33, false]);
  const listed = (await api('GET', '/conversations', { token: r.token })).body.conversations.find((c) => c.id === g.body.id);
  assert.equal(listed.receipt_events, false);
  const m2 = await send(o, g.body, 'two');
  assert.equal((await api('POST', `/conversations/${g.body.id}/read`, { token: r.token, body: { seq: m2.seq } })).status, 200);
  assert.equal(receipts(), 33, "at 33 members r's read mark goes to r's own devices only");
});
