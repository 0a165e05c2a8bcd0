// Changing messages: edits, deletes, reactions and read receipts, each with
// its events, permissions and bad input. (Typing is in cache.test.mjs, with
// the other tests that need memcached up or stop it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql, expectProblem, until, exclusive, mcStats, mcCommand } from './lib.mjs';
import { cid, direct, group, send, events, count } from './chatlib.mjs';
import { poll } from './evlib.mjs';

const url = (c, m, rest = '') => `/conversations/${c.id}/messages/${m.id}${rest}`;

test('edit: sender only, emits message.edited to everyone, history shows it', async () => {
  const a = await registerUser('ea'), b = await registerUser('eb'), x = await registerUser('ex');
  const c = await direct(a, b);
  const m = await send(a, c, 'typo hre');
  const r = await api('PATCH', url(c, m), { token: a.token, body: { body: 'typo here' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.body, 'typo here');
  assert.ok(r.body.edited_at);
  assert.equal(r.body.seq, m.seq);
  for (const u of [a, b]) assert.deepEqual(events(u.id, 'message.edited').map((e) => e.ref_id), [m.id]);
  const h = await api('GET', `/conversations/${c.id}/messages`, { token: b.token });
  assert.equal(h.body.messages[0].body, 'typo here');
  // The same body again changes nothing and emits nothing.
  assert.equal((await api('PATCH', url(c, m), { token: a.token, body: { body: 'typo here' } })).status, 200);
  assert.equal(events(b.id, 'message.edited').length, 1);
  // Someone else's message: 403; a non-member: 404; nothing changes.
  expectProblem(assert, await api('PATCH', url(c, m), { token: b.token, body: { body: 'hijack' } }), 403, 'not_your_message');
  expectProblem(assert, await api('PATCH', url(c, m), { token: x.token, body: { body: 'hijack' } }), 404);
  expectProblem(assert, await api('PATCH', `/conversations/${c.id}/messages/999999999`, { token: a.token, body: { body: 'x' } }), 404);
  // A message id from another conversation is unknown here.
  const other = await direct(a, x);
  const om = await send(a, other, 'other');
  expectProblem(assert, await api('PATCH', `/conversations/${c.id}/messages/${om.id}`, { token: a.token, body: { body: 'x' } }), 404);
  for (const body of [{}, { body: '' }, { body: 'x'.repeat(4001) }, { body: 5 }, { body: 'a\u0000' }, { body: 'x', kind: 'text' }]) {
    expectProblem(assert, await api('PATCH', url(c, m), { token: a.token, body }), 400, 'invalid_field');
  }
  assert.equal(sql(`SELECT body FROM messages WHERE id = ${m.id}`)[0][0], 'typo here');
  assert.equal(sql(`SELECT body FROM messages WHERE id = ${om.id}`)[0][0], 'other');
});

test('get one message: members see it as the history does; others, other conversations and bad ids 404', async () => {
  const a = await registerUser('gma'), b = await registerUser('gmb'), x = await registerUser('gmx');
  const c = await direct(a, b);
  const m = await send(a, c, 'the one to find');
  const later = await send(b, c, 'a reply', cid(), { reply_to: m.id });
  const r = await api('GET', url(c, m), { token: b.token });
  assert.equal(r.status, 200, r.text);
  const h = await api('GET', `/conversations/${c.id}/messages`, { token: b.token });
  assert.deepEqual(r.body, h.body.messages.find((y) => y.id === m.id));
  assert.equal(r.body.seq, m.seq);
  assert.equal(r.body.body, 'the one to find');
  assert.equal((await api('GET', url(c, later), { token: a.token })).body.reply_to, m.id);
  // Reactions and edits show; a deleted message is its tombstone.
  await api('PUT', url(c, m, '/reactions/' + encodeURIComponent('👍')), { token: b.token });
  await api('PATCH', url(c, m), { token: a.token, body: { body: 'the one, edited' } });
  const e = (await api('GET', url(c, m), { token: a.token })).body;
  assert.equal(e.body, 'the one, edited');
  assert.deepEqual(e.reactions.map((y) => [y.emoji, y.user_ids]), [['👍', [b.id]]]);
  await api('DELETE', url(c, m), { token: a.token });
  const d = (await api('GET', url(c, m), { token: b.token })).body;
  assert.equal(d.body, null);
  assert.ok(d.deleted_at);
  // Not a member, an unknown id, another conversation's message, ids that
  // are not ids: 404, and the answer says nothing of the message.
  const other = await direct(a, x);
  const om = await send(a, other, 'elsewhere');
  for (const [tok, path] of [
    [x.token, url(c, later)],
    [a.token, `/conversations/${c.id}/messages/999999999`],
    [a.token, `/conversations/${c.id}/messages/${om.id}`],
    [b.token, `/conversations/${other.id}/messages/${om.id}`],
    [a.token, `/conversations/${c.id}/messages/abc`],
    [a.token, `/conversations/${c.id}/messages/0`],
    [a.token, `/conversations/${c.id}/messages/-1`],
    [a.token, `/conversations/${c.id}/messages/${'9'.repeat(30)}`],
    [a.token, `/conversations/zz/messages/${later.id}`],
  ]) {
    const nf = await api('GET', path, { token: tok });
    expectProblem(assert, nf, 404);
    assert.doesNotMatch(nf.text, /a reply|elsewhere/);
  }
});

test('delete: tombstone, idempotent, sender only, no edits or reactions after', async () => {
  const a = await registerUser('dla'), b = await registerUser('dlb'), x = await registerUser('dlx');
  const c = await direct(a, b);
  const m = await send(a, c, 'regret');
  const re = await api('PUT', url(c, m, '/reactions/' + encodeURIComponent('👍')), { token: b.token });
  assert.equal(re.status, 200, re.text);
  assert.equal(re.body.reactions.length, 1);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 1);
  expectProblem(assert, await api('DELETE', url(c, m), { token: b.token }), 403, 'not_your_message');
  expectProblem(assert, await api('DELETE', url(c, m), { token: x.token }), 404);
  // The refused deletes changed nothing: the body, no tombstone, the
  // reaction, and no message.deleted event for anyone.
  assert.deepEqual(sql(`SELECT COALESCE(body, '<null>'), deleted_at IS NULL FROM messages WHERE id = ${m.id}`), [['regret', '1']]);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 1);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'message.deleted' AND ref_id = ${m.id}`), 0);
  const d = await api('DELETE', url(c, m), { token: a.token });
  assert.equal(d.status, 200);
  assert.equal(d.body.body, null);
  assert.ok(d.body.deleted_at);
  assert.deepEqual(d.body.reactions, []);
  assert.equal(sql(`SELECT body IS NULL, deleted_at IS NOT NULL FROM messages WHERE id = ${m.id}`)[0].join(), '1,1');
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 0, 'the deleted message\'s reactions are gone');
  const again = await api('DELETE', url(c, m), { token: a.token });
  assert.equal(again.status, 200);
  assert.equal(again.body.deleted_at, d.body.deleted_at);
  for (const u of [a, b]) assert.equal(events(u.id, 'message.deleted', `AND ref_id = ${m.id}`).length, 1);
  expectProblem(assert, await api('PATCH', url(c, m), { token: a.token, body: { body: 'back' } }), 409, 'message_deleted');
  expectProblem(assert, await api('PUT', url(c, m, '/reactions/' + encodeURIComponent('❤️')), { token: b.token }), 409, 'message_deleted');
  // The tombstone stays in history, keeping its seq.
  const h = await api('GET', `/conversations/${c.id}/messages`, { token: b.token });
  assert.equal(h.body.messages[0].id, m.id);
  assert.equal(h.body.messages[0].body, null);
  // A deleted message no longer counts as unread.
  const list = await api('GET', '/conversations', { token: b.token });
  assert.equal(list.body.conversations.find((k) => k.id === c.id).unread_count, 0);
});

test('reactions: idempotent put and delete, one event per real change', async () => {
  const a = await registerUser('rxa'), b = await registerUser('rxb'), x = await registerUser('rxx');
  const c = await direct(a, b);
  const m = await send(a, c, 'react to me');
  const thumbs = encodeURIComponent('👍'), heart = encodeURIComponent('❤️');
  const r1 = await api('PUT', url(c, m, '/reactions/' + thumbs), { token: b.token });
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.body.reactions, [{ emoji: '👍', count: 1, user_ids: [b.id] }]);
  const r2 = await api('PUT', url(c, m, '/reactions/' + thumbs), { token: b.token });
  assert.deepEqual(r2.body.reactions, r1.body.reactions);
  await api('PUT', url(c, m, '/reactions/' + thumbs), { token: a.token });
  const r3 = await api('PUT', url(c, m, '/reactions/' + heart), { token: a.token });
  const byEmoji = Object.fromEntries(r3.body.reactions.map((r) => [r.emoji, r]));
  assert.equal(byEmoji['👍'].count, 2);
  assert.deepEqual(byEmoji['👍'].user_ids.sort(), [a.id, b.id].sort());
  assert.equal(byEmoji['❤️'].count, 1);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 3);
  const added = events(a.id, 'reaction.added', `AND conversation_id = ${c.id}`);
  assert.equal(added.length, 3, 'the repeated PUT emitted nothing');
  assert.deepEqual(added[0].payload, { message_id: m.id, user_id: b.id, emoji: '👍' });
  const d1 = await api('DELETE', url(c, m, '/reactions/' + thumbs), { token: b.token });
  assert.equal(d1.status, 200);
  const d2 = await api('DELETE', url(c, m, '/reactions/' + thumbs), { token: b.token });
  assert.equal(d2.status, 200);
  assert.equal(events(a.id, 'reaction.removed').length, 1);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 2);
  // History carries the reactions.
  const h = await api('GET', `/conversations/${c.id}/messages`, { token: b.token });
  assert.equal(h.body.messages[0].reactions.length, 2);
  // Non-members: 404. Bad emoji: 400. Nothing changes.
  expectProblem(assert, await api('PUT', url(c, m, '/reactions/' + thumbs), { token: x.token }), 404);
  for (const e of ['abc', '%20', 'x%F0%9F%91%8D', encodeURIComponent('😀'.repeat(11)), '%C3%28', encodeURIComponent("';--"),
    '%C2%A0', '%C2%AD', '%E2%81%A0', encodeURIComponent('привет'), '%C3%A9', '1%C3%A9', encodeURIComponent('\u200d')]) {
    expectProblem(assert, await api('PUT', url(c, m, '/reactions/' + e), { token: b.token }), 400, 'invalid_emoji');
  }
  // A NUL byte in the path never reaches a handler (lighttpd or the router refuse it).
  const nul = await api('PUT', url(c, m, '/reactions/%00'), { token: b.token, validate: false });
  assert.ok(nul.status === 400 || nul.status === 404, `NUL in path: ${nul.status}`);
  expectProblem(assert, await api('PUT', `/conversations/${c.id}/messages/999999999/reactions/${thumbs}`, { token: b.token }), 404);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id}`), 2);
  // Keycaps are emoji too.
  assert.equal((await api('PUT', url(c, m, '/reactions/' + encodeURIComponent('1️⃣')), { token: b.token })).status, 200);
});

test('reactions are limited: 20 per member on a message, 50 different emoji on one', async () => {
  const a = await registerUser('rla'), b = await registerUser('rlb');
  const c = await direct(a, b);
  const m = await send(a, c, 'popular');
  // Emoji from the pictographic planes, one per code point.
  const emoji = Array.from({ length: 60 }, (_, i) => String.fromCodePoint(0x1F600 + i));
  const put = (u, e) => api('PUT', url(c, m, '/reactions/' + encodeURIComponent(e)), { token: u.token });
  for (let i = 0; i < 20; i++) assert.equal((await put(b, emoji[i])).status, 200);
  expectProblem(assert, await put(b, emoji[20]), 409, 'too_many_reactions');
  // One already given may be given again (nothing changes), and one taken
  // back makes room.
  assert.equal((await put(b, emoji[0])).status, 200);
  assert.equal((await api('DELETE', url(c, m, '/reactions/' + encodeURIComponent(emoji[0])), { token: b.token })).status, 200);
  assert.equal((await put(b, emoji[20])).status, 200);
  assert.equal(count(`SELECT COUNT(*) FROM reactions WHERE message_id = ${m.id} AND user_id = ${b.id}`), 20);
  // Different emoji on one message: at most 50, whoever gives them (z has
  // given only 10 when the 51st is refused).
  const z = await registerUser('rlz');
  const g = await api('POST', '/conversations', { token: a.token, body: { type: 'group', title: 'react', member_ids: [b.id, z.id] } });
  assert.equal(g.status, 201);
  const gm = await send(a, g.body, 'group popular');
  const gput = (u, e) => api('PUT', url(g.body, gm, '/reactions/' + encodeURIComponent(e)), { token: u.token });
  for (let i = 0; i < 50; i++) assert.equal((await gput([a, b, z][Math.floor(i / 20)], emoji[i])).status, 200);
  expectProblem(assert, await gput(z, emoji[50]), 409, 'too_many_reactions');
  // Adding to an emoji already there is fine.
  assert.equal((await gput(z, emoji[0])).status, 200);
  assert.equal(count(`SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = ${gm.id}`), 50);
});

test('read receipts: never move backwards, receipt events only when they advance, unread counts', async () => {
  const a = await registerUser('rda'), b = await registerUser('rdb'), x = await registerUser('rdx');
  const c = await direct(a, b);
  await send(b, c, 'my own');
  assert.equal((await api('GET', `/conversations/${c.id}`, { token: b.token })).body.last_read_seq, 1, 'sending marks read');
  for (let i = 0; i < 5; i++) await send(a, c, 'm' + i);
  let conv = await api('GET', `/conversations/${c.id}`, { token: b.token });
  assert.equal(conv.body.unread_count, 5);
  assert.equal(conv.body.last_read_seq, 1);
  const r1 = await api('POST', `/conversations/${c.id}/read`, { token: b.token, body: { seq: 4 } });
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.body, { last_read_seq: 4, unread_count: 2 });
  const back = await api('POST', `/conversations/${c.id}/read`, { token: b.token, body: { seq: 2 } });
  assert.deepEqual(back.body, { last_read_seq: 4, unread_count: 2 });
  const same = await api('POST', `/conversations/${c.id}/read`, { token: b.token, body: { seq: 4 } });
  assert.equal(same.body.last_read_seq, 4);
  // Beyond the end counts as the end.
  const end = await api('POST', `/conversations/${c.id}/read`, { token: b.token, body: { seq: 1000 } });
  assert.deepEqual(end.body, { last_read_seq: 6, unread_count: 0 });
  const receipts = events(a.id, 'receipt', `AND conversation_id = ${c.id}`);
  assert.deepEqual(receipts.map((e) => e.payload.read_seq), [4, 6]);
  assert.equal(receipts[0].payload.user_id, b.id);
  assert.ok(receipts[0].payload.delivered_seq >= 4, 'read implies delivered');
  assert.equal(events(b.id, 'receipt', `AND conversation_id = ${c.id}`).length, 2);
  conv = await api('GET', `/conversations/${c.id}`, { token: b.token });
  assert.equal(conv.body.unread_count, 0);
  assert.equal(conv.body.last_read_seq, 6);
  const mine = conv.body.members.find((m) => m.user.id === b.id);
  assert.equal(mine.last_read_seq, 6);
  assert.equal(mine.delivered_seq, 6);
  expectProblem(assert, await api('POST', `/conversations/${c.id}/read`, { token: x.token, body: { seq: 1 } }), 404);
  for (const body of [{}, { seq: -1 }, { seq: '3' }, { seq: 1.5 }, { seq: null }, { seq: 1, extra: true }]) {
    expectProblem(assert, await api('POST', `/conversations/${c.id}/read`, { token: b.token, body }), 400, 'invalid_field');
  }
  assert.equal(count(`SELECT last_read_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`), 6);
});

test('read receipts in a group go to every member', async () => {
  const o = await registerUser('rgo');
  const ms = await Promise.all([1, 2, 3].map(() => registerUser('rgm')));
  const g = await group(o, ms);
  await send(o, g, 'hello all');
  await api('POST', `/conversations/${g.id}/read`, { token: ms[0].token, body: { seq: 1 } });
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'receipt' AND conversation_id = ${g.id}`), 4);
});

test('delivery receipts: fetching message events advances delivered_seq once and tells the sender', async () => {
  const a = await registerUser('dva'), b = await registerUser('dvb');
  const c = await direct(a, b);
  const start = (await poll(b)).body.next;
  const m1 = await send(a, c, 'one');
  const m2 = await send(a, c, 'two');
  const got = await poll(b, start, { timeout: 5 });
  assert.equal(got.status, 200);
  const msgs = got.body.events.filter((e) => e.type === 'message.new');
  assert.deepEqual(msgs.map((e) => e.message.id), [m1.id, m2.id]);
  // The reader records delivery as it answers: allow it a moment.
  await until(() => count(`SELECT delivered_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`) >= 2, 'delivered_seq to reach 2');
  assert.equal(count(`SELECT delivered_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`), 2);
  assert.equal(count(`SELECT last_read_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`), 0);
  const rc = events(a.id, 'receipt', `AND conversation_id = ${c.id}`);
  assert.equal(rc.length, 1);
  assert.deepEqual(rc[0].payload, { user_id: b.id, delivered_seq: 2, read_seq: 0 });
  // Fetching the same events again (another device) moves nothing.
  const again = await poll(b, start, { timeout: 0 });
  assert.deepEqual(again.body.events.filter((e) => e.type === 'message.new').map((e) => e.message.id), [m1.id, m2.id]);
  let conv = await api('GET', `/conversations/${c.id}`, { token: a.token });
  assert.equal(conv.body.members.find((x) => x.user.id === b.id).delivered_seq, 2);
  // A barrier instead of a pause: receipts are written after the answer, in
  // order, by one writer. A third message fetched by the same reader is
  // written after anything the repeated fetch could have queued; once it is
  // there, the log holds exactly the first receipt and this one.
  const m3 = await send(a, c, 'three');
  const got3 = await poll(b, got.body.next, { timeout: 5 });
  assert.deepEqual(got3.body.events.filter((e) => e.type === 'message.new').map((e) => e.message.id), [m3.id]);
  await until(() => count(`SELECT delivered_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`) === m3.seq,
    'delivered_seq to reach m3');
  assert.deepEqual(events(a.id, 'receipt', `AND conversation_id = ${c.id}`).map((e) => e.payload), [
    { user_id: b.id, delivered_seq: 2, read_seq: 0 },
    { user_id: b.id, delivered_seq: m3.seq, read_seq: 0 },
  ]);
  // The member list shows it.
  conv = await api('GET', `/conversations/${c.id}`, { token: a.token });
  assert.equal(conv.body.members.find((x) => x.user.id === b.id).delivered_seq, m3.seq);
});

test('an edit or delete tried again after its answer was lost shows everywhere: the retry drops the cached pages', async () => {
  const a = await registerUser('lostans'), b = await registerUser('lostansb');
  const d = await direct(a, b);
  const m = await send(a, d, 'first words');
  const page = async () => (await api('GET', `/conversations/${d.id}/messages`, { token: b.token })).body.messages;
  const latest = async () => (await page()).find((x) => x.id === m.id);
  await exclusive('memcached', async () => {
    const pid = (await mcStats())?.pid;
    assert.ok(pid, 'memcached is up');
    // The edit commits but its answer (and what followed the commit) is
    // lost: as if the connection dropped right after the COMMIT. The
    // cached page still shows the message as it was. (A process that lost
    // memcached lately reads the database for up to a minute: then the
    // change is undone, the view dropped as the server drops it, and
    // tried again.)
    await until(async () => {
      await latest();
      sql(`UPDATE messages SET body = 'second words', edited_at = NOW(3) WHERE id = ${m.id}`);
      if ((await latest()).body === 'first words') return true;
      sql(`UPDATE messages SET body = 'first words', edited_at = NULL WHERE id = ${m.id}`);
      await mcCommand(`md m:cgen:${d.id}`);
      return false;
    }, 'the page served from memcached', 70000);
    // The client tries again; the message is already so.
    const r = await api('PATCH', `/conversations/${d.id}/messages/${m.id}`, { token: a.token, body: { body: 'second words' } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await latest()).body, 'second words');
    // The same for a delete (of another message).
    const m2 = await send(a, d, 'to be deleted');
    const second = async () => (await page()).find((x) => x.id === m2.id);
    await until(async () => {
      assert.equal((await second()).body, 'to be deleted');
      sql(`UPDATE messages SET body = NULL, deleted_at = NOW(3) WHERE id = ${m2.id}`);
      if ((await second()).body === 'to be deleted') return true;
      sql(`UPDATE messages SET body = 'to be deleted', deleted_at = NULL WHERE id = ${m2.id}`);
      await mcCommand(`md m:cgen:${d.id}`);
      return false;
    }, 'the page served from memcached', 70000);
    assert.equal((await api('DELETE', `/conversations/${d.id}/messages/${m2.id}`, { token: a.token })).status, 200);
    const gone = await second();
    assert.ok(gone.deleted_at, 'shown deleted');
    assert.equal(gone.body, null);
    assert.equal((await mcStats()).pid, pid, 'the same memcached throughout');
  });
});
