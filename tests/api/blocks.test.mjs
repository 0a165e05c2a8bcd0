// Blocking a person: the direct conversation closes for both and opens again
// when no block is left; no new conversation, no adding the blocker to a
// group, no presence either way; the list of blocks and its bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, expectProblem, until } from './lib.mjs';
import { direct, group, send, cid, events, count } from './chatlib.mjs';
import { poll } from './evlib.mjs';

const block = (u, other) => api('PUT', `/me/blocks/${other.id}`, { token: u.token });
const unblock = (u, other) => api('DELETE', `/me/blocks/${other.id}`, { token: u.token });
const view = async (u, conv) => {
  const r = await api('GET', `/conversations/${conv.id}`, { token: u.token });
  assert.equal(r.status, 200, r.text);
  return r.body;
};
// The conversation.updated events u got about conv: [closed, blocked] each.
const updates = (u, conv) => events(u.id, 'conversation.updated', `AND conversation_id = ${conv.id}`)
  .map((e) => [e.payload.conversation.closed, e.payload.conversation.blocked]);
const history = async (u, conv) => (await api('GET', `/conversations/${conv.id}/messages`, { token: u.token }))
  .body.messages.map((m) => [m.body, m.deleted_at === null]);

test('blocking closes the direct conversation for both, keeps its history, and unblocking opens it again', async () => {
  const [a, x] = await Promise.all(['bla', 'blx'].map((p) => registerUser(p)));
  const d = await direct(a, x);
  const fromX = await send(x, d, 'before the block');
  const fromA = await send(a, d, 'my answer');
  const heart = encodeURIComponent('❤️');
  assert.equal((await api('PUT', `/conversations/${d.id}/messages/${fromA.id}/reactions/${heart}`, { token: x.token })).status, 200);
  assert.deepEqual([(await view(a, d)).closed, (await view(a, d)).blocked], [false, false]);

  assert.equal((await block(a, x)).status, 204);
  const av = await view(a, d), xv = await view(x, d);
  assert.deepEqual([av.closed, av.blocked], [true, true], 'the blocker sees it closed, by their block');
  assert.deepEqual([xv.closed, xv.blocked], [true, false], 'the blocked person sees it closed');
  assert.deepEqual(updates(a, d), [[true, true]]);
  assert.deepEqual(updates(x, d), [[true, false]]);
  // The list shows it closed too.
  const listed = (await api('GET', '/conversations', { token: x.token })).body.conversations.find((c) => c.id === d.id);
  assert.equal(listed.closed, true);

  // Nothing new gets in, either way; the history stays.
  const seen = await history(x, d);
  assert.deepEqual(seen, [['before the block', true], ['my answer', true]]);
  const typingBefore = events(a.id, 'typing').length;
  for (const [u, what, method, path, body] of [
    [x, 'a send by the blocked person', 'POST', `/conversations/${d.id}/messages`, { client_id: cid(), body: 'let me in' }],
    [a, 'a send by the blocker', 'POST', `/conversations/${d.id}/messages`, { client_id: cid(), body: 'one last word' }],
    [x, 'an edit', 'PATCH', `/conversations/${d.id}/messages/${fromX.id}`, { body: 'changed into something else' }],
    [x, 'a reaction', 'PUT', `/conversations/${d.id}/messages/${fromA.id}/reactions/${encodeURIComponent('👎')}`, undefined],
  ]) {
    expectProblem(assert, await api(method, path, { token: u.token, body }), 403, 'conversation_closed');
    assert.deepEqual(await history(a, d), seen, `${what}: nothing changed`);
  }
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${fromA.id}`), 1, 'only the reaction given before');
  // Retries of what was done before the block are answered as they were.
  const again = await api('PUT', `/conversations/${d.id}/messages/${fromA.id}/reactions/${heart}`, { token: x.token });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.body.reactions.map((r) => r.user_ids), [[x.id]]);
  assert.equal((await api('PATCH', `/conversations/${d.id}/messages/${fromX.id}`, { token: x.token, body: { body: 'before the block' } })).status, 200);
  // The blocked person is not told by the refusal who closed it.
  const told = await api('POST', `/conversations/${d.id}/messages`, { token: x.token, body: { client_id: cid(), body: 'why?' } });
  assert.doesNotMatch(told.body.detail, /block/i);
  // Typing is answered, and nobody hears it.
  assert.equal((await api('POST', `/conversations/${d.id}/typing`, { token: x.token, body: {} })).status, 204);
  assert.equal(events(a.id, 'typing').length, typingBefore);
  // A message can still be taken back.
  assert.equal((await api('DELETE', `/conversations/${d.id}/messages/${fromX.id}`, { token: x.token })).status, 200);
  assert.deepEqual(await history(a, d), [[null, false], ['my answer', true]]);

  // Blocking again changes nothing and tells nobody again.
  assert.equal((await block(a, x)).status, 204);
  assert.deepEqual(updates(a, d), [[true, true]]);
  // The blocked person's unblock of someone they do not block changes nothing.
  assert.equal((await unblock(x, a)).status, 204);
  assert.deepEqual([(await view(x, d)).closed, count(`SELECT COUNT(*) FROM blocks WHERE user_id = ${a.id}`)], [true, 1]);

  // Both block: the conversation opens only when neither does. Neither
  // learns of the other's block or unblock while it stays closed.
  assert.equal((await block(x, a)).status, 204);
  assert.deepEqual([(await view(x, d)).blocked, (await view(x, d)).closed], [true, true]);
  assert.deepEqual(updates(x, d).at(-1), [true, true], 'x is told of x\'s own block');
  assert.deepEqual(updates(a, d), [[true, true]], 'a is not told of x\'s block');
  assert.equal((await unblock(a, x)).status, 204);
  assert.deepEqual([(await view(a, d)).closed, (await view(a, d)).blocked], [true, false], 'still closed: x blocks a');
  assert.deepEqual(updates(a, d).at(-1), [true, false]);
  assert.equal(updates(x, d).length, 2, 'x is not told of a\'s unblock');
  expectProblem(assert, await api('POST', `/conversations/${d.id}/messages`, { token: a.token, body: { client_id: cid(), body: 'hello again?' } }), 403, 'conversation_closed');
  assert.equal((await unblock(x, a)).status, 204);
  const open = await view(x, d);
  assert.deepEqual([open.closed, open.blocked], [false, false]);
  assert.deepEqual(updates(x, d).at(-1), [false, false], 'told it opened');
  assert.deepEqual(updates(a, d).at(-1), [false, false]);
  await send(a, d, 'talking again');
  await send(x, d, 'yes');
  assert.equal((await api('PUT', `/conversations/${d.id}/messages/${fromA.id}/reactions/${encodeURIComponent('👍')}`, { token: x.token })).status, 200);
  // Each change moved the conversation's updated_at (clients keep the newer view).
  assert.ok(open.updated_at > av.updated_at, `${open.updated_at} after ${av.updated_at}`);
});

test('a block keeps a new direct conversation from starting and the blocker out of the blocked person\'s groups', async () => {
  const [a, x, c] = await Promise.all(['bna', 'bnx', 'bnc'].map((p) => registerUser(p)));
  assert.equal((await block(a, x)).status, 204);
  const key = `${Math.min(a.id, x.id)}:${Math.max(a.id, x.id)}`;
  const r1 = await api('POST', '/conversations', { token: x.token, body: { type: 'direct', member_ids: [a.id] } });
  expectProblem(assert, r1, 403, 'blocked');
  const r2 = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [x.id] } });
  expectProblem(assert, r2, 403, 'blocked');
  assert.match(r2.body.detail, /unblock/, 'the blocker is told how to undo it');
  assert.equal(count(`SELECT COUNT(*) FROM conversations WHERE direct_key = '${key}'`), 0);
  assert.equal(events(a.id, 'conversation.created').length, 0, 'the blocker hears nothing of it');

  // x cannot put a in a group, neither at its start nor later.
  const groupsOfX = () => count(`SELECT COUNT(*) FROM conversations WHERE created_by = ${x.id}`);
  expectProblem(assert, await api('POST', '/conversations', { token: x.token, body: { type: 'group', title: 'Trap', member_ids: [c.id, a.id] } }), 403, 'blocked');
  assert.equal(groupsOfX(), 0);
  const g = await group(x, [c], 'Elsewhere');
  expectProblem(assert, await api('POST', `/conversations/${g.id}/members`, { token: x.token, body: { user_ids: [a.id, c.id] } }), 403, 'blocked');
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${g.id}`), 2);
  assert.equal(events(a.id, 'conversation.created').length, 0);
  // a, who blocks, may still put x in a group of a's.
  const g2 = await group(a, [c], 'Mine');
  assert.equal((await api('POST', `/conversations/${g2.id}/members`, { token: a.token, body: { user_ids: [x.id] } })).status, 200);

  // Unblocked, the two can start talking.
  assert.equal((await unblock(a, x)).status, 204);
  const d = await api('POST', '/conversations', { token: x.token, body: { type: 'direct', member_ids: [a.id] } });
  assert.equal(d.status, 201, d.text);
  assert.equal(d.body.closed, false);
  assert.equal((await api('POST', `/conversations/${g.id}/members`, { token: x.token, body: { user_ids: [a.id] } })).status, 200);
});

test('neither side of a block sees the other\'s presence', async () => {
  const [a, x, c] = await Promise.all(['bpa', 'bpx', 'bpc'].map((p) => registerUser(p)));
  await direct(a, x);
  await direct(c, x);
  assert.equal((await api('GET', `/users/${x.id}/presence`, { token: a.token })).status, 200);
  assert.equal((await block(a, x)).status, 204);
  for (const [viewer, about] of [[a, x], [x, a]]) {
    expectProblem(assert, await api('GET', `/users/${about.id}/presence`, { token: viewer.token }), 404, 'not_found');
  }
  // x comes online: c is told, a is not.
  assert.equal((await poll(x, undefined, { timeout: 0 })).status, 200);
  const about = (u) => count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${u.id} AND type = 'presence' ` +
    `AND JSON_VALUE(payload, '$.user_id') = ${x.id} AND JSON_VALUE(payload, '$.online') = 1`);
  await until(() => about(c) > 0, 'c told that x is online');
  assert.equal(about(a), 0, 'the blocker is not told');
  const r = await api('GET', `/users/${x.id}/presence`, { token: c.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.online, true);
  assert.equal((await unblock(a, x)).status, 204);
  assert.equal((await api('GET', `/users/${x.id}/presence`, { token: a.token })).body.online, true);
});

test('the list of blocks: mine only, by user id, a page at a time; its bad queries', async () => {
  const [a, b] = await Promise.all(['bla', 'blb'].map((p) => registerUser(p)));
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await registerUser('blo'));
  for (const o of others) assert.equal((await block(a, o)).status, 204);
  assert.equal((await block(b, a)).status, 204);
  const p1 = await api('GET', '/me/blocks?limit=2', { token: a.token });
  assert.equal(p1.status, 200);
  assert.deepEqual(p1.body.blocks.map((x) => x.user.id), others.slice(0, 2).map((o) => o.id));
  assert.ok(p1.body.blocks.every((x) => Date.now() - Date.parse(x.blocked_at) < 60000));
  assert.equal(p1.body.blocks[0].user.username, others[0].username);
  assert.ok(p1.body.next_cursor);
  const p2 = await api('GET', `/me/blocks?limit=2&cursor=${p1.body.next_cursor}`, { token: a.token });
  assert.deepEqual(p2.body.blocks.map((x) => x.user.id), [others[2].id]);
  assert.equal(p2.body.next_cursor, null);
  // b's block of a is b's, not a's.
  assert.deepEqual((await api('GET', '/me/blocks', { token: b.token })).body.blocks.map((x) => x.user.id), [a.id]);
  for (const q of ['limit=0', 'limit=101', 'limit=x', 'cursor=abc', 'cursor=-1']) {
    const r = await api('GET', `/me/blocks?${q}`, { token: a.token });
    assert.equal(r.status, 400, q);
  }
});
