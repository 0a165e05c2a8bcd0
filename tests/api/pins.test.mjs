// Personal marks on a conversation: pinned to the top of my list (at most 5)
// and marked unread by hand until I read it. Both are mine alone, told to my
// own devices, and refused with the documented problems when malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, expectProblem } from './lib.mjs';
import { direct, send, events, count } from './chatlib.mjs';

const patch = (u, conv, body) => api('PATCH', `/conversations/${conv.id}`, { token: u.token, body });
// All of u's conversation ids, page by page.
async function listAll(u, limit) {
  const ids = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const r = await api('GET', `/conversations?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: u.token });
    assert.equal(r.status, 200, r.text);
    ids.push(...r.body.conversations.map((c) => [c.id, c.pinned]));
    cursor = r.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error('the list does not end');
}

test('pinned conversations come first in my list, page after page, and only in mine', async () => {
  const me = await registerUser('pinme');
  const others = [];
  for (let i = 0; i < 6; i++) others.push(await registerUser('pino'));
  const convs = [];
  // Oldest activity first: convs[5] is the most recently active.
  for (const o of others) {
    const d = await direct(o, me);
    await send(o, d, 'hello');
    convs.push(d);
  }
  const byActivity = [...convs].reverse().map((c) => c.id);
  assert.deepEqual((await listAll(me, 4)).map(([id]) => id), byActivity);

  const r = await patch(me, convs[1], { pinned: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.pinned, true);
  assert.equal((await patch(me, convs[0], { pinned: true })).status, 200);
  // Pinned first (most recently active first among them), then the rest,
  // each once, across pages of every size.
  const want = [[convs[1].id, true], [convs[0].id, true],
    ...byActivity.filter((id) => id !== convs[0].id && id !== convs[1].id).map((id) => [id, false])];
  for (const limit of [1, 2, 3, 10]) assert.deepEqual(await listAll(me, limit), want, `pages of ${limit}`);
  // My devices are told; the other person sees nothing of it.
  assert.deepEqual(events(me.id, 'conversation.updated', `AND conversation_id = ${convs[1].id}`).map((e) => e.payload.conversation.pinned), [true]);
  assert.equal(events(others[1].id, 'conversation.updated', `AND conversation_id = ${convs[1].id}`).length, 0);
  assert.equal((await api('GET', `/conversations/${convs[1].id}`, { token: others[1].token })).body.pinned, false);
  // Pinning again changes nothing (its time among the pins included);
  // unpinning puts it back in its place.
  const pinnedAt = () => count(`SELECT UNIX_TIMESTAMP(pinned_at) * 1000 FROM members WHERE conversation_id = ${convs[1].id} AND user_id = ${me.id}`);
  const at = pinnedAt();
  assert.equal((await patch(me, convs[1], { pinned: true })).status, 200);
  assert.equal(pinnedAt(), at);
  assert.deepEqual(await listAll(me, 3), want);
  assert.equal((await patch(me, convs[1], { pinned: false })).status, 200);
  assert.equal((await patch(me, convs[0], { pinned: false })).status, 200);
  assert.deepEqual((await listAll(me, 4)).map(([id]) => id), byActivity);
});

test('at most 5 conversations are pinned: a sixth is refused and changes nothing', async () => {
  const me = await registerUser('pinmax');
  const convs = [];
  for (let i = 0; i < 6; i++) convs.push(await direct(me, await registerUser('pinx')));
  for (const c of convs.slice(0, 5)) assert.equal((await patch(me, c, { pinned: true })).status, 200);
  const before = events(me.id, 'conversation.updated').length;
  expectProblem(assert, await patch(me, convs[5], { pinned: true, muted_until: null }), 409, 'too_many_pinned');
  assert.equal((await api('GET', `/conversations/${convs[5].id}`, { token: me.token })).body.pinned, false);
  assert.equal(events(me.id, 'conversation.updated').length, before, 'nobody told');
  // One of the five again is no sixth.
  assert.equal((await patch(me, convs[4], { pinned: true })).status, 200);
  assert.equal((await patch(me, convs[0], { pinned: false })).status, 200);
  assert.equal((await patch(me, convs[5], { pinned: true })).status, 200);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE user_id = ${me.id} AND pinned_at IS NOT NULL`), 5);
  // Two pins at once for the last place: one is taken, the other refused.
  assert.equal((await patch(me, convs[5], { pinned: false })).status, 200);
  const extra = await direct(me, await registerUser('pinx'));
  const both = await Promise.all([patch(me, convs[5], { pinned: true }), patch(me, extra, { pinned: true })]);
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 409]);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE user_id = ${me.id} AND pinned_at IS NOT NULL`), 5);
});

test('marked unread by hand until I read it, even with nothing new to read; my devices are told', async () => {
  const me = await registerUser('mku');
  const pal = await registerUser('mkp');
  const d = await direct(pal, me);
  const m = await send(pal, d, 'read me');
  assert.equal((await api('POST', `/conversations/${d.id}/read`, { token: me.token, body: { seq: m.seq } })).status, 200);
  const r = await patch(me, d, { marked_unread: true });
  assert.equal(r.status, 200);
  assert.deepEqual([r.body.marked_unread, r.body.unread_count], [true, 0], 'a mark, not a count');
  const seen = () => events(me.id, 'conversation.updated', `AND conversation_id = ${d.id}`).map((e) => e.payload.conversation.marked_unread);
  assert.deepEqual(seen(), [true]);
  assert.equal((await api('GET', `/conversations/${d.id}`, { token: pal.token })).body.marked_unread, false, 'mine alone');
  // Listed so.
  const listed = (await api('GET', '/conversations', { token: me.token })).body.conversations.find((c) => c.id === d.id);
  assert.equal(listed.marked_unread, true);
  // Reading ends it, though the read mark is where it was.
  const read = await api('POST', `/conversations/${d.id}/read`, { token: me.token, body: { seq: m.seq } });
  assert.equal(read.status, 200);
  assert.equal((await api('GET', `/conversations/${d.id}`, { token: me.token })).body.marked_unread, false);
  assert.deepEqual(seen(), [true, false]);
  // Read again: nothing more to tell.
  assert.equal((await api('POST', `/conversations/${d.id}/read`, { token: me.token, body: { seq: m.seq } })).status, 200);
  assert.deepEqual(seen(), [true, false]);
  // Unmarked by hand too.
  assert.equal((await patch(me, d, { marked_unread: true })).status, 200);
  assert.equal((await patch(me, d, { marked_unread: false })).body.marked_unread, false);
});

test('archived chats leave my list until a new message comes in them; pinning or unarchiving brings them back', async () => {
  const me = await registerUser('arme');
  const pal = await registerUser('arpal');
  const other = await registerUser('aroth');
  const d = await direct(pal, me);
  const keep = await direct(other, me);
  const first = await send(pal, d, 'first');
  const ids = async (q = '', u = me) => (await api('GET', `/conversations${q}`, { token: u.token })).body.conversations.map((c) => c.id);
  assert.equal((await patch(me, d, { pinned: true })).status, 200);
  const r = await patch(me, d, { archived: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.archived_seq, first.seq, 'archived at its last seq');
  assert.equal(r.body.pinned, false, 'archiving unpins');
  assert.deepEqual(await ids(), [keep.id]);
  assert.deepEqual(await ids('?archived=true'), [d.id]);
  assert.deepEqual(await ids('?archived=false'), [keep.id]);
  // Mine alone (the other person still has it in their list); my devices are told.
  assert.deepEqual(await ids('', pal), [d.id]);
  assert.equal((await api('GET', `/conversations/${d.id}`, { token: pal.token })).body.archived_seq, null);
  assert.equal(events(me.id, 'conversation.updated', `AND conversation_id = ${d.id}`).at(-1).payload.conversation.archived_seq, first.seq);
  // A new message in it: back in my list, no longer archived.
  await send(pal, d, 'are you there?');
  assert.deepEqual(await ids(), [d.id, keep.id]);
  assert.deepEqual(await ids('?archived=true'), []);
  assert.equal((await api('GET', `/conversations/${d.id}`, { token: me.token })).body.archived_seq, null);
  // Archived again, then pinned: out of the archive. Both at once: refused.
  assert.equal((await patch(me, d, { archived: true })).status, 200);
  assert.deepEqual(await ids('?archived=true'), [d.id]);
  expectProblem(assert, await patch(me, d, { archived: true, pinned: true }), 400, 'invalid_field');
  const pinned = await patch(me, d, { pinned: true });
  assert.deepEqual([pinned.body.pinned, pinned.body.archived_seq], [true, null]);
  assert.deepEqual(await ids(), [d.id, keep.id]);
  // Taken out by hand.
  assert.equal((await patch(me, keep, { archived: true })).status, 200);
  assert.deepEqual(await ids(), [d.id]);
  assert.equal((await patch(me, keep, { archived: false })).body.archived_seq, null);
  assert.deepEqual(await ids(), [d.id, keep.id]);
  expectProblem(assert, await api('GET', '/conversations?archived=yes', { token: me.token }), 400, 'invalid_query');
  for (const body of [{ archived: 'true' }, { archived: null }, { archived: 1 }]) {
    expectProblem(assert, await patch(me, keep, body), 400, 'invalid_field');
  }
  expectProblem(assert, await patch(other, d, { archived: true }), 404, 'not_found');
  assert.deepEqual(await ids(), [d.id, keep.id]);
});

test('an archived group stays archived through lines of group activity, not through a message; the archive pages', async () => {
  const me = await registerUser('agme');
  const owner = await registerUser('agown');
  const g = (await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Loud', member_ids: [me.id] } })).body;
  const g2 = (await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Louder', member_ids: [me.id] } })).body;
  for (const c of [g, g2]) assert.equal((await patch(me, c, { archived: true })).status, 200);
  // Paged one at a time, each once.
  const p1 = await api('GET', '/conversations?archived=true&limit=1', { token: me.token });
  const p2 = await api('GET', `/conversations?archived=true&limit=1&cursor=${encodeURIComponent(p1.body.next_cursor)}`, { token: me.token });
  assert.deepEqual([...p1.body.conversations, ...p2.body.conversations].map((c) => c.id).sort(), [g.id, g2.id].sort());
  assert.equal(p2.body.next_cursor, null);
  // A rename and a new member are lines of group activity: still archived.
  assert.equal((await api('PATCH', `/conversations/${g.id}`, { token: owner.token, body: { title: 'Loud and clear' } })).status, 200);
  const extra = await registerUser('agx');
  assert.equal((await api('POST', `/conversations/${g.id}/members`, { token: owner.token, body: { user_ids: [extra.id] } })).status, 200);
  const view = (await api('GET', `/conversations/${g.id}`, { token: me.token })).body;
  assert.ok(view.last_seq > view.archived_seq, 'the group moved on');
  assert.notEqual(view.archived_seq, null, 'still archived');
  assert.equal((await api('GET', '/conversations', { token: me.token })).body.conversations.length, 0);
  // A message is news.
  await send(owner, g, 'hello all');
  assert.deepEqual((await api('GET', '/conversations', { token: me.token })).body.conversations.map((c) => c.id), [g.id]);
});

test('pins and marks: malformed values, other people\'s conversations and bad cursors change nothing', async () => {
  const me = await registerUser('pbad');
  const pal = await registerUser('pbap');
  const stranger = await registerUser('pbas');
  const d = await direct(me, pal);
  const state = () => JSON.stringify([count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${d.id} AND (pinned_at IS NOT NULL OR marked_unread)`),
    events(me.id, 'conversation.updated').length]);
  const before = state();
  for (const body of [{ pinned: 'yes' }, { pinned: 1 }, { pinned: null }, { marked_unread: 'true' }, { marked_unread: 0 }, { marked_unread: [] }]) {
    expectProblem(assert, await patch(me, d, body), 400, 'invalid_field');
  }
  expectProblem(assert, await patch(stranger, d, { pinned: true }), 404, 'not_found');
  expectProblem(assert, await patch(stranger, d, { marked_unread: true }), 404, 'not_found');
  expectProblem(assert, await api('PATCH', '/conversations/999999999', { token: me.token, body: { pinned: true } }), 404, 'not_found');
  assert.equal(state(), before);
  for (const c of ['p', 'pabc', 'p1.0', 'pp1.1', 'x1.1']) {
    expectProblem(assert, await api('GET', `/conversations?cursor=${c}`, { token: me.token }), 400, 'invalid_cursor');
  }
  assert.equal((await patch(me, d, { pinned: true })).status, 200);
  assert.notEqual(state(), before);
});
