// Two people (two browser contexts) chatting through the real stack: real-time
// delivery, receipts, typing, replies, reactions, edits, deletes, offline
// sends, reloads, history, search, groups and the phone layout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, makeUser, signedIn, shot, startDirect, send, messageByText, messages,
  openConversation, conversationItem, api, until, holdFirstAnswer, eventAfter, appReached, failUntil,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function directPair(prefixA = 'ann', prefixB = 'ben', names = ['Ann Archer', 'Ben Brooks']) {
  const ua = await makeUser(prefixA, names[0]);
  const ub = await makeUser(prefixB, names[1]);
  const A = await signedIn(browser, ua);
  const B = await signedIn(browser, ub);
  return { ua, ub, A, B };
}

test('two people chat in real time, with receipts, typing, replies, reactions, edits and deletes', async () => {
  const { ub, A, B } = await directPair();
  const a = A.page, b = B.page;

  await startDirect(a, ub);
  await send(a, 'Hello Ben, are you there?');
  const first = messageByText(a, 'Hello Ben, are you there?');
  await first.waitFor();

  // Ben sees the new conversation arrive, unread, with a preview.
  const item = conversationItem(b, 'Ann Archer');
  await item.waitFor();
  await item.getByText('Hello Ben, are you there?').waitFor();
  await item.locator('.badge', { hasText: '1' }).waitFor();
  assert.match(await item.getAttribute('aria-label'), /1 unread/);
  // Ben's app is connected, so the message is delivered (two ticks), not yet read.
  await a.locator('.msg.mine[data-status="delivered"]', { hasText: 'Hello Ben' }).waitFor();
  await first.getByRole('img', { name: 'Delivered' }).waitFor();
  await shot(b, 'conversation-list');

  // Ben opens it: the badge goes away and Ann sees it read.
  await openConversation(b, 'Ann Archer');
  await messageByText(b, 'Hello Ben, are you there?').waitFor();
  await item.locator('.badge').waitFor({ state: 'detached' });
  await a.locator('.msg.mine[data-status="read"]', { hasText: 'Hello Ben' }).waitFor();
  await first.getByRole('img', { name: 'Read' }).waitFor();
  await a.getByRole('img', { name: 'Seen by Ben Brooks' }).waitFor();
  // Presence in the header.
  await a.locator('.chat-sub', { hasText: 'Active now' }).waitFor();

  // Typing shows on the other side while Ben types, and goes when he sends.
  const box = b.getByLabel('Message', { exact: true });
  await box.click();
  await box.pressSequentially('Yes, I', { delay: 30 });
  await a.locator('.typing-row', { hasText: 'Ben is typing…' }).waitFor();
  // Shift+Enter makes a new line; Enter sends.
  await box.press('Shift+Enter');
  await box.pressSequentially('am here');
  await box.press('Enter');
  const multi = messageByText(a, 'am here');
  await multi.waitFor();
  assert.equal(await multi.locator('.text').textContent(), 'Yes, I\nam here');
  await a.locator('.typing-row', { hasText: 'typing' }).waitFor({ state: 'detached' });
  assert.equal(await box.inputValue(), '');

  // Reply with a quoted preview.
  await multi.hover();
  await multi.getByRole('button', { name: 'Reply' }).click();
  await a.locator('.composer-ctx', { hasText: 'Replying to Ben Brooks' }).waitFor();
  await send(a, 'Great, see you at noon');
  const reply = messageByText(b, 'see you at noon');
  await reply.waitFor();
  await reply.locator('.quote', { hasText: 'am here' }).waitFor();

  // Reactions from the message menu, seen live by the other side.
  const onB = messageByText(b, 'see you at noon');
  await onB.hover();
  await onB.getByRole('button', { name: 'Message actions' }).click();
  await b.getByRole('button', { name: 'React with 👍' }).click();
  const chip = messageByText(a, 'see you at noon').locator('.reaction', { hasText: '👍' });
  await chip.waitFor();
  assert.match(await chip.getAttribute('aria-label'), /Ben Brooks/);

  // Edit: the change reaches Ben with an "Edited" mark.
  const mine = messageByText(a, 'see you at noon');
  await mine.hover();
  await mine.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Edit' }).click();
  await a.locator('.composer-ctx', { hasText: 'Editing message' }).waitFor();
  await a.getByLabel('Message', { exact: true }).fill('Great, see you at one');
  await a.getByLabel('Message', { exact: true }).press('Enter');
  const edited = messageByText(b, 'see you at one');
  await edited.waitFor();
  await edited.getByText('Edited').waitFor();
  // An empty composer offers a one-click like.
  await a.getByRole('button', { name: 'Send a like' }).click();
  await b.locator('.msg .text').filter({ hasText: /^👍$/ }).waitFor();
  await shot(a, 'chat');

  // Delete leaves a tombstone on both sides.
  const toDelete = messageByText(a, 'Hello Ben, are you there?');
  await toDelete.hover();
  await toDelete.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Delete' }).click();
  await a.getByRole('dialog', { name: 'Delete message?' }).getByRole('button', { name: 'Delete' }).click();
  await b.locator('.msg.deleted', { hasText: 'This message was deleted' }).waitFor();
  await a.locator('.msg.deleted', { hasText: 'You unsent a message' }).waitFor();
  await shot(b, 'chat-other-side');

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await A.context.close();
  await B.context.close();
});

test('a message sent while offline shows as pending and is delivered exactly once after reconnecting', async () => {
  const { ub, A, B } = await directPair('off', 'rcv', ['Olive Offline', 'Rita Receiver']);
  const a = A.page, b = B.page;
  await startDirect(a, ub);
  await send(a, 'online first');
  await openConversation(b, 'Olive Offline');
  await messageByText(b, 'online first').waitFor();

  // The sends the page tries while offline (each fails before it leaves).
  let failedSends = 0;
  a.on('requestfailed', (r) => {
    if (r.method() === 'POST' && /\/api\/v1\/conversations\/\d+\/messages$/.test(r.url())) failedSends++;
  });
  await A.context.setOffline(true);
  await send(a, 'written while offline');
  const pending = messageByText(a, 'written while offline');
  await pending.waitFor();
  assert.equal(await pending.getAttribute('data-status'), 'pending');
  await pending.getByRole('img', { name: 'Sending' }).waitFor();
  await a.locator('.conn-banner', { hasText: 'offline' }).waitFor();
  await shot(a, 'offline-pending');
  // Still pending after the first send and a retry failed (nothing leaks out).
  await until(() => failedSends >= 2, 'the send and a retry to fail while offline');
  assert.equal(await pending.getAttribute('data-status'), 'pending');
  assert.equal(await messageByText(b, 'written while offline').count(), 0);

  await A.context.setOffline(false);
  await messageByText(b, 'written while offline').waitFor();
  await a.locator('.msg.mine:not([data-status="pending"])', { hasText: 'written while offline' }).waitFor();
  // A later message proves the stream is past it; the offline one is there once.
  await send(a, 'and after reconnecting');
  await messageByText(b, 'and after reconnecting').waitFor();
  assert.equal(await messageByText(b, 'written while offline').count(), 1);
  assert.equal(await messageByText(a, 'written while offline').count(), 1);
  await a.locator('.conn-banner').waitFor({ state: 'hidden' });
  // The server has exactly one such message.
  const convs = await api('GET', '/conversations', { token: ub.token });
  const hist = await api('GET', `/conversations/${convs.conversations[0].id}/messages`, { token: ub.token });
  assert.equal(hist.messages.filter((m) => m.body === 'written while offline').length, 1);
  await A.context.close();
  await B.context.close();
});

test('two tabs writing while offline: closing one loses nothing, each message arrives once', async () => {
  const { ub, A, B } = await directPair('tabs', 'tabr', ['Tia Tabs', 'Rob Reader']);
  const a1 = A.page, b = B.page;
  await startDirect(a1, ub);
  await send(a1, 'tabs: online first');
  await openConversation(b, 'Tia Tabs');
  await messageByText(b, 'tabs: online first').waitFor();
  // A second tab of the same browser (same storage), same conversation.
  const a2 = await A.context.newPage();
  await a2.goto('/');
  await openConversation(a2, 'Rob Reader');
  await messageByText(a2, 'tabs: online first').waitFor();
  await A.context.setOffline(true);
  await send(a1, 'tabs: from the first tab');
  await messageByText(a1, 'tabs: from the first tab').waitFor();
  await send(a2, 'tabs: from the second tab');
  await messageByText(a2, 'tabs: from the second tab').waitFor();
  // The first tab goes away with its message unsent; the second takes it up.
  await a1.close();
  await A.context.setOffline(false);
  await messageByText(b, 'tabs: from the first tab').waitFor();
  await messageByText(b, 'tabs: from the second tab').waitFor();
  await send(a2, 'tabs: after');
  await messageByText(b, 'tabs: after').waitFor();
  for (const t of ['tabs: from the first tab', 'tabs: from the second tab']) {
    assert.equal(await messageByText(b, t).count(), 1, t);
  }
  const convs = await api('GET', '/conversations', { token: ub.token });
  const hist = await api('GET', `/conversations/${convs.conversations[0].id}/messages`, { token: ub.token });
  assert.equal(hist.messages.filter((m) => m.body.startsWith('tabs: from')).length, 2);
  await A.context.close();
  await B.context.close();
});

test('a message that could not be sent, deleted in one tab, is gone from the other tab too and does not come back', async () => {
  const me = await makeUser('nsd', 'Nia Unsent');
  const pal = await makeUser('nsp', 'Pete Parted');
  const c = await api('POST', '/conversations', { token: me.token, body: { type: 'direct', member_ids: [pal.id] } });
  await api('POST', `/conversations/${c.id}/messages`, { token: pal.token, body: { client_id: `ns1x${pal.id}`, body: 'see you' } });
  const A = await signedIn(browser, me);
  const a1 = A.page;
  await openConversation(a1, 'Pete Parted');
  const a2 = await A.context.newPage();
  await a2.goto('/');
  await openConversation(a2, 'Pete Parted');
  await messageByText(a2, 'see you').waitFor();
  // Written offline; meanwhile the other person deletes their account,
  // which closes the chat: the send is refused for good once online.
  await A.context.setOffline(true);
  await send(a1, 'are you there');
  await messageByText(a2, 'are you there').waitFor();
  await api('DELETE', '/me', { token: pal.token, body: { password: pal.password } });
  await A.context.setOffline(false);
  for (const p of [a1, a2]) await p.locator('.fail-note', { hasText: 'Not sent' }).waitFor();
  await a1.locator('.fail-note').getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await messageByText(a1, 'are you there').count()) === 0, 'the message to go from the tab it was deleted in');
  await until(async () => (await messageByText(a2, 'are you there').count()) === 0, 'the message to go from the other tab');
  // (The chat is named for the account that went, and has no composer.)
  for (const p of [a1, a2]) {
    await p.reload();
    await conversationItem(p, 'Deleted account').click();
    await messageByText(p, 'see you').waitFor();
    assert.equal(await messageByText(p, 'are you there').count(), 0, 'not back after a reload');
  }
  assert.equal((await api('GET', `/conversations/${c.id}/messages`, { token: me.token })).messages.length, 1);
  await A.context.close();
});

test('an unread badge follows the server: read part way on another device, an unread message deleted, a message sent from another device', async () => {
  const me = await makeUser('bdg', 'Bea Badge');
  const pal = await makeUser('bdp', 'Pat Poster');
  const c = await api('POST', '/conversations', { token: pal.token, body: { type: 'direct', member_ids: [me.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  const item = conversationItem(a, 'Pat Poster');
  await item.waitFor();
  const sent = [];
  for (let n = 1; n <= 4; n++) {
    sent.push(await api('POST', `/conversations/${c.id}/messages`, { token: pal.token, body: { client_id: `bd${n}x${pal.id}`, body: `note ${n}` } }));
  }
  await item.getByText('note 4').waitFor();
  await item.locator('.badge', { hasText: /^4$/ }).waitFor();
  // Read up to the second on a phone: two left.
  await api('POST', `/conversations/${c.id}/read`, { token: me.token, body: { seq: sent[1].seq } });
  await item.locator('.badge', { hasText: /^2$/ }).waitFor();
  assert.equal(await a.title(), '(1) Messenger');
  // The third deleted by its sender: one left.
  await api('DELETE', `/conversations/${c.id}/messages/${sent[2].id}`, { token: pal.token });
  await item.locator('.badge', { hasText: /^1$/ }).waitFor();
  // A reply from the phone: what came before it is read.
  await api('POST', `/conversations/${c.id}/messages`, { token: me.token, body: { client_id: `bdme${me.id}`, body: 'on my way' } });
  await item.getByText('on my way').waitFor();
  await until(async () => (await item.locator('.badge').count()) === 0, 'the badge to go');
  assert.equal(await a.title(), 'Messenger');
  assert.equal((await api('GET', `/conversations/${c.id}`, { token: me.token })).unread_count, 0);
  await A.context.close();
});

test('links end where the sentence goes on; right-to-left text reads right to left; a quick second click on a reaction undoes it', async () => {
  const ua = await makeUser('lnk', 'Lia Links');
  const ub = await makeUser('lnb', 'Lev Links');
  const c = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const say = (n, body) => api('POST', `/conversations/${c.id}/messages`, { token: ub.token, body: { client_id: `ln${n}x${ub.id}`, body } });
  await say(1, 'See https://en.wikipedia.org/wiki/Mercury_(planet), then (https://example.com/a) and 请看https://example.org/x。谢谢 or https://example.net/y… ok, www.example.edu/z. Not www.nothing, awww.example.com, cdn.www.example.com or me@www.example.org.');
  await say(2, 'שלום עולם!');
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Lev Links');
  const row = messageByText(a, 'See https://');
  await row.waitFor();
  assert.deepEqual(await row.locator('a').evaluateAll((els) => els.map((e) => e.getAttribute('href'))), [
    'https://en.wikipedia.org/wiki/Mercury_(planet)', 'https://example.com/a', 'https://example.org/x', 'https://example.net/y',
    'https://www.example.edu/z',
  ]);
  assert.equal(await row.locator('a', { hasText: 'www.example.edu/z' }).count(), 1, 'shown as written');
  assert.equal(await messageByText(a, 'שלום').locator('.text').evaluate((el) => getComputedStyle(el).direction), 'rtl');
  await a.getByLabel('Message', { exact: true }).fill('مرحبا');
  assert.equal(await a.getByLabel('Message', { exact: true }).evaluate((el) => getComputedStyle(el).direction), 'rtl');
  await a.getByLabel('Message', { exact: true }).fill('');
  // A reaction, then two quick clicks on its chip: off, then on again (each
  // click toggles what the one before made).
  const hello = messageByText(a, 'שלום');
  const asked = [];
  a.on('requestfinished', (r) => { if (/\/reactions\//.test(r.url())) asked.push(r.method()); });
  await hello.hover();
  await hello.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('button', { name: 'React with 👍' }).click();
  const chip = hello.locator('.reaction', { hasText: '👍' });
  await chip.waitFor();
  await until(() => asked.length === 1, 'the reaction stored');
  await chip.dblclick();
  await until(() => asked.length === 3, 'both clicks answered');
  assert.deepEqual(asked, ['PUT', 'DELETE', 'PUT'], 'the first click took it back, the second gave it again');
  const [msg] = (await api('GET', `/conversations/${c.id}/messages`, { token: ua.token })).messages.filter((m) => m.body.startsWith('שלום'));
  const mineNow = (msg.reactions || []).some((r) => r.emoji === '👍' && r.user_ids.includes(ua.id));
  assert.equal(mineNow, true, 'two quick clicks on my reaction: off and on again, not off twice');
  await chip.waitFor();
  await A.context.close();
});

test('a reaction given while someone else reacts keeps both: the answer to mine does not take theirs away', async () => {
  const ua = await makeUser('rxa', 'Rae Rapid');
  const ub = await makeUser('rxb', 'Rob Rapid');
  const c = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const m = await api('POST', `/conversations/${c.id}/messages`, { token: ub.token, body: { client_id: `rx1x${ub.id}`, body: 'react to this' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Rob Rapid');
  // The answer to Rae's reaction is read by the server at once and reaches
  // the page late: Rob's reaction comes in between.
  let release;
  const held = new Promise((r) => { release = r; });
  await a.route(/\/reactions\//, async (route) => {
    const resp = await route.fetch();
    await held;
    await route.fulfill({ response: resp });
  });
  const row = messageByText(a, 'react to this');
  await row.hover();
  await row.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('button', { name: 'React with 👍' }).click();
  await until(async () => {
    const r = await api('GET', `/conversations/${c.id}/messages`, { token: ua.token });
    return r.messages.some((x) => x.id === m.id && (x.reactions || []).length === 1);
  }, "Rae's reaction stored");
  await api('PUT', `/conversations/${c.id}/messages/${m.id}/reactions/${encodeURIComponent('❤️')}`, { token: ub.token });
  await row.locator('.reaction', { hasText: '❤️' }).waitFor();
  let answered = false;
  a.on('requestfinished', (r) => { if (/\/reactions\//.test(r.url())) answered = true; });
  release();
  await until(() => answered, "the answer to Rae's reaction read");
  // Then something the page shows after it: Rob writes.
  await api('POST', `/conversations/${c.id}/messages`, { token: ub.token, body: { client_id: `rx2x${ub.id}`, body: 'after the answer' } });
  await messageByText(a, 'after the answer').waitFor();
  assert.equal(await row.locator('.reaction', { hasText: '❤️' }).count(), 1, "Rob's reaction is still shown");
  assert.equal(await row.locator('.reaction', { hasText: '👍' }).count(), 1);
  await A.context.close();
});

test('a keyboard user keeps their place after a message menu: the reaction chosen, Tab, Esc', async () => {
  const ua = await makeUser('kma', 'Kai Keys');
  const ub = await makeUser('kmb', 'Kim Keys');
  const c = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const m = await api('POST', `/conversations/${c.id}/messages`, { token: ub.token, body: { client_id: `km1x${ub.id}`, body: 'menu by keyboard' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Kim Keys');
  const row = messageByText(a, 'menu by keyboard');
  const focusedIsActions = () => a.evaluate((id) => {
    const el = document.activeElement;
    return !!el && el.dataset.control === 'actions' && el.closest('[data-id]')?.dataset.id === String(id);
  }, m.id);
  // A reaction chosen from the menu: the row is drawn anew with it, and
  // focus is on the new row's menu button.
  await row.getByRole('button', { name: 'Message actions' }).focus();
  await a.keyboard.press('Enter');
  await a.getByRole('button', { name: 'React with 👍' }).waitFor();
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'React with 👍');
  await a.keyboard.press('Enter');
  await row.locator('.reaction', { hasText: '👍' }).waitFor();
  await a.waitForTimeout(300);
  assert.ok(await focusedIsActions(), `focus after the reaction: ${await a.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`);
  // Tab out of the menu goes on from its button, not from the top of the page.
  await a.keyboard.press('Enter');
  await a.getByRole('menu').waitFor();
  await a.keyboard.press('Tab');
  assert.equal(await a.getByRole('menu').count(), 0);
  assert.notEqual(await a.evaluate(() => document.activeElement?.tagName), 'BODY', 'focus is somewhere after Tab');
  await a.keyboard.press('Shift+Tab');
  assert.ok(await focusedIsActions(), 'Shift+Tab comes back to the menu button');
  // Esc.
  await a.keyboard.press('Enter');
  await a.getByRole('menu').waitFor();
  await a.keyboard.press('Escape');
  assert.ok(await focusedIsActions(), 'Esc returns to the menu button');
  await A.context.close();
});

test('reload keeps you logged in and resumes the stream without losing or repeating messages', async () => {
  const { ub, A, B } = await directPair('rel', 'oth', ['Reload Ruth', 'Other Otto']);
  const a = A.page, b = B.page;
  await startDirect(a, ub);
  await send(a, 'before reload');
  await openConversation(b, 'Reload Ruth');
  await messageByText(b, 'before reload').waitFor();

  await a.reload();
  await a.getByRole('heading', { name: 'Chats' }).waitFor();
  // The open conversation comes back (it is in the URL).
  await messageByText(a, 'before reload').waitFor();
  await send(b, 'sent right after the reload');
  await messageByText(a, 'sent right after the reload').waitFor();
  await send(b, 'and one more');
  await messageByText(a, 'and one more').waitFor();
  assert.equal(await messageByText(a, 'sent right after the reload').count(), 1);
  assert.equal(await messageByText(a, 'before reload').count(), 1);

  // A position the server cannot resume from (here: beyond the head of the
  // log) makes the app reload its state and carry on live.
  await a.evaluate(() => {
    for (const k of Object.keys(sessionStorage)) {
      if (k.startsWith('messenger.cursor.')) sessionStorage.setItem(k, JSON.stringify({ cursor: '99999999', seq: 0 }));
    }
  });
  await a.reload();
  await messageByText(a, 'and one more').waitFor();
  await send(b, 'after a resync');
  await messageByText(a, 'after a resync').waitFor();
  assert.equal(await messageByText(a, 'after a resync').count(), 1);
  assert.equal(await messageByText(a, 'and one more').count(), 1);
  await A.context.close();
  await B.context.close();
});

test('the conversation list reorders and counts unread messages live', async () => {
  const me = await makeUser('ord', 'Oscar Order');
  const first = await makeUser('orf', 'Fay First');
  const second = await makeUser('ors', 'Sol Second');
  const c1 = await api('POST', '/conversations', { token: first.token, body: { type: 'direct', member_ids: [me.id] } });
  const c2 = await api('POST', '/conversations', { token: second.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${c1.id}/messages`, { token: first.token, body: { client_id: 'o1', body: 'older news' } });
  await api('POST', `/conversations/${c2.id}/messages`, { token: second.token, body: { client_id: 'o2', body: 'newer news' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  const titles = () => a.locator('.conv-item .conv-title').allTextContents();
  await conversationItem(a, 'Fay First').waitFor();
  assert.deepEqual(await titles(), ['Sol Second', 'Fay First']);
  await api('POST', `/conversations/${c1.id}/messages`, { token: first.token, body: { client_id: 'o3', body: 'breaking news' } });
  await conversationItem(a, 'Fay First').getByText('breaking news').waitFor();
  assert.deepEqual(await titles(), ['Fay First', 'Sol Second']);
  await conversationItem(a, 'Fay First').locator('.badge', { hasText: '2' }).waitFor();
  await shot(a, 'conversation-list-live');
  assert.equal(await a.title(), '(2) Messenger');
  await A.context.close();
});

test('events replayed after a reload do not undo newer counts or titles', async () => {
  const me = await makeUser('rpl', 'Rita Replay');
  const pal = await makeUser('rpp', 'Paul Pal');
  const g = await api('POST', '/conversations', { token: pal.token, body: { type: 'group', title: 'Book club', member_ids: [me.id] } });
  const say = (n) => api('POST', `/conversations/${g.id}/messages`, { token: pal.token, body: { client_id: `rp${n}x${pal.id}`, body: `chapter ${n}` } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await conversationItem(a, 'Book club').waitFor();
  // Away from the app in the same tab (the stream's position is kept):
  // messages and two renames, whose events carry the unread count of
  // their time (2, then 4).
  await a.goto('/favicon.svg');
  await say(1); await say(2);
  await api('PATCH', `/conversations/${g.id}`, { token: pal.token, body: { title: 'Book club II' } });
  await say(3); await say(4);
  await api('PATCH', `/conversations/${g.id}`, { token: pal.token, body: { title: 'Book club III' } });
  await say(5);
  // Back: the list is loaded fresh (5 unread), then the stream replays
  // what happened from its old position; one more message after it.
  await a.goto('/');
  const item = conversationItem(a, 'Book club III');
  await item.locator('.badge', { hasText: '5' }).waitFor();
  await say(6);
  await item.getByText('chapter 6').waitFor();
  await item.locator('.badge', { hasText: '6' }).waitFor();
  assert.deepEqual(await a.locator('.conv-item .conv-title').allTextContents(), ['Book club III']);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('new messages in a conversation beyond the first page of the list all count', async () => {
  const me = await makeUser('far', 'Fern Far');
  const pal = await makeUser('fap', 'Pia Pen');
  const old = await api('POST', '/conversations', { token: pal.token, body: { type: 'group', title: 'Old friends', member_ids: [me.id] } });
  // 50 newer conversations fill the first page of the list.
  for (let i = 0; i < 50; i++) {
    await api('POST', '/conversations', { token: pal.token, body: { type: 'group', title: `Newer ${i}`, member_ids: [me.id] } });
  }
  const A = await signedIn(browser, me);
  const a = A.page;
  await conversationItem(a, 'Newer 49').waitFor();
  assert.equal(await conversationItem(a, 'Old friends').count(), 0);
  // The snapshot the app asks for: the first request fails (as offline),
  // the app asks again, and that one is read at once but handed over only
  // after the second message's event has reached the app.
  const hold = await holdFirstAnswer(a, new RegExp(`/api/v1/conversations/${old.id}$`), { failFirst: true });
  const head = await api('GET', '/events?timeout=0', { token: me.token });
  const say = (n) => api('POST', `/conversations/${old.id}/messages`, { token: pal.token, body: { client_id: `fa${n}x${pal.id}`, body: `long time no see ${n}` } });
  await say(1);
  await until(async () => hold.reads() === 1, 'the snapshot read');
  await say(2);
  const second = await eventAfter(me, head.next, (e) => e.type === 'message.new' && e.message.body === 'long time no see 2');
  assert.ok(second, 'the second message has its event');
  await appReached(a, me, second.seq, 'the app to receive the second message');
  hold.release();
  const item = conversationItem(a, 'Old friends');
  await item.getByText('long time no see 2').waitFor();
  await item.locator('.badge', { hasText: '2' }).waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a member list asked for before someone was removed does not bring them back', async () => {
  const owner = await makeUser('mlo', 'Olga Owner');
  const mark = await makeUser('mlm', 'Mark Member');
  const nina = await makeUser('mln', 'Nina Leaving');
  const g = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Hold on', member_ids: [mark.id, nina.id] } });
  const O = await signedIn(browser, owner);
  const o = O.page;
  await conversationItem(o, 'Hold on').waitFor();
  // Opening the chat asks for its member list: read at once, handed over
  // only after Nina's removal has reached the app.
  const hold = await holdFirstAnswer(o, new RegExp(`/api/v1/conversations/${g.id}$`));
  const head = await api('GET', '/events?timeout=0', { token: owner.token });
  await conversationItem(o, 'Hold on').click();
  await until(async () => hold.reads() === 1, 'the member list read');
  await api('DELETE', `/conversations/${g.id}/members/${nina.id}`, { token: owner.token });
  const removed = await eventAfter(owner, head.next, (e) => e.type === 'member.removed' && e.user_id === nina.id);
  assert.ok(removed, 'the removal has its event');
  await appReached(o, owner, removed.seq, 'the app to receive the removal');
  hold.release();
  await o.locator('.chat-sub', { hasText: 'You and Mark' }).waitFor();
  assert.equal(await o.locator('.chat-sub', { hasText: 'Nina' }).count(), 0);
  assert.deepEqual(o.errors, []);
  await O.context.close();
});

test('messages not sent yet to a group the user is removed from are discarded, and the user is told', async () => {
  const owner = await makeUser('dso', 'Dora Owner');
  const me = await makeUser('dsm', 'Dan Unsent');
  const g = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Drafts lost', member_ids: [me.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Drafts lost');
  // Sends fail as if offline: the message waits in the outbox.
  const sends = await failUntil(a, /\/api\/v1\/conversations\/\d+\/messages$/, 'POST');
  await send(a, 'never to be sent');
  const outbox = () => a.evaluate((uid) => JSON.parse(localStorage.getItem('messenger.outbox.' + uid) || '[]').length, me.id);
  await until(async () => (await outbox()) === 1 && sends.count() >= 1, 'the message waiting in the outbox');
  await api('DELETE', `/conversations/${g.id}/members/${me.id}`, { token: owner.token });
  await a.getByText('You are no longer in that conversation. A message not sent there yet was discarded.').waitFor();
  await until(async () => (await outbox()) === 0, 'the outbox emptied');
  sends.stop();
  await a.evaluate(() => window.dispatchEvent(new Event('online')));
  await a.getByRole('button', { name: 'Account menu' }).click();
  await a.getByRole('menuitem', { name: 'Log out' }).click();
  // No "unsent messages" warning holds the sign-out.
  await a.getByRole('tab', { name: 'Log in' }).waitFor();
  const history = await api('GET', `/conversations/${g.id}/messages`, { token: owner.token });
  assert.equal(history.messages.filter((m) => m.body === 'never to be sent').length, 0);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a member added before the chat list was loaded is counted once when the event comes later', async () => {
  const owner = await makeUser('mco', 'Cora Counter');
  const [b, c, d] = [await makeUser('mcb', 'Ben Second'), await makeUser('mcc', 'Cal Third'), await makeUser('mcd', 'Dee Fourth')];
  const g = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Counted once', member_ids: [b.id, c.id] } });
  const O = await signedIn(browser, owner);
  const o = O.page;
  await conversationItem(o, 'Counted once').waitFor();
  await appReached(o, owner, 0, 'the app to keep its place in the event log');
  // The app is left with its place in the log before Dee joins, and comes
  // back after: its list already counts her, her member.added comes later.
  const events = await failUntil(o, /\/api\/v1\/events/);
  await o.goto('/favicon.svg');
  const head = await api('GET', '/events?timeout=0', { token: owner.token });
  await api('POST', `/conversations/${g.id}/members`, { token: owner.token, body: { user_ids: [d.id] } });
  const added = await eventAfter(owner, head.next, (e) => e.type === 'member.added' && e.user_id === d.id);
  assert.ok(added, 'the addition has its event');
  await o.goto('/');
  // The chat's own member list is held, so the header shows the list's count.
  const hold = await holdFirstAnswer(o, new RegExp(`/api/v1/conversations/${g.id}$`));
  await openConversation(o, 'Counted once');
  await o.locator('.chat-sub', { hasText: '4 members' }).waitFor();
  events.stop();
  await o.evaluate(() => window.dispatchEvent(new Event('online')));
  await appReached(o, owner, added.seq, 'the app to receive the addition');
  assert.equal(await o.locator('.chat-sub').textContent(), '4 members');
  hold.release();
  await o.locator('.chat-sub', { hasText: 'You, Ben, Cal and Dee' }).waitFor();
  assert.deepEqual(o.errors, []);
  await O.context.close();
});

test('when Server-Sent Events are blocked, long-poll still delivers in real time', async () => {
  const { ub, A, B } = await directPair('lp', 'lq', ['Polly Poll', 'Quinn Query']);
  const b = B.page;
  await b.route('**/api/v1/events/stream*', (route) => route.abort());
  await b.reload();
  await b.getByRole('heading', { name: 'Chats' }).waitFor();
  await startDirect(A.page, ub);
  await send(A.page, 'over long-poll');
  await conversationItem(b, 'Polly Poll').waitFor();
  await openConversation(b, 'Polly Poll');
  await messageByText(b, 'over long-poll').waitFor();
  await send(A.page, 'second over long-poll');
  await messageByText(b, 'second over long-poll').waitFor();
  await A.context.close();
  await B.context.close();
});

// A direct chat in which the second user has sent n messages ("TEXT 1" to
// "TEXT n"), read by the first already (unless unread), open for the first
// in a browser.
async function chatWithHistory(prefixes, names, n, text, { unread = false, beforeOpen = null } = {}) {
  const ua = await makeUser(prefixes[0], names[0]);
  const ub = await makeUser(prefixes[1], names[1]);
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const sent = [];
  for (let i = 1; i <= n; i++) {
    sent.push(await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: `h${i}x${ub.id}`, body: `${text} ${i}` } }));
  }
  if (!unread) await api('POST', `/conversations/${conv.id}/read`, { token: ua.token, body: { seq: sent[n - 1].seq } });
  const A = await signedIn(browser, ua);
  if (beforeOpen) await beforeOpen(A.page);
  await openConversation(A.page, names[1]);
  if (!unread) await messageByText(A.page, `${text} ${n}`).waitFor();
  return { ua, ub, conv, sent, A, a: A.page };
}

// The chat opened at its first unread message (text): "New messages" at
// the top of the view, the message under it in view.
async function openedAtFirstUnread(a, text) {
  const sep = a.locator('.new-sep', { hasText: 'New messages' });
  await sep.waitFor();
  const first = a.locator('.msg-list .msg', { has: a.locator('.text', { hasText: new RegExp(`^${text}$`) }) });
  await first.waitFor();
  const [sepBox, firstBox, view] = [await sep.boundingBox(), await first.boundingBox(), await a.locator('.msg-scroll').boundingBox()];
  assert.ok(sepBox.y >= view.y - 2 && sepBox.y < view.y + 60, 'the New messages line is at the top of the view');
  assert.ok(firstBox.y > sepBox.y && firstBox.y < view.y + view.height, 'the first unread message is in view');
}

// Not read while the reader is at the first of them (all unread still);
// read once the reader goes down to the newest.
async function readOnlyAtTheNewest(a, user, conv, unread) {
  await a.waitForTimeout(500);
  assert.equal((await api('GET', `/conversations/${conv.id}`, { token: user.token })).unread_count, unread);
  await a.getByRole('button', { name: 'Jump to the latest message' }).click();
  await until(async () => (await api('GET', `/conversations/${conv.id}`, { token: user.token })).unread_count === 0, 'the chat to be read');
}

test('a chat with more unread messages than a page opens at the first of them, and is not read while the earlier page comes slowly', async () => {
  // The earlier page takes a second on its way: meanwhile the newest page
  // is all that is drawn, and the reader has not seen it.
  const slowEarlier = (page) => page.route(/\/messages\?.*\b(after|before)=/, async (route) => {
    await new Promise((r) => setTimeout(r, 1000));
    return route.continue();
  });
  const { ua, conv, A, a } = await chatWithHistory(['unr', 'unrb'], ['Una Read', 'Ugo Wrote'], 300, 'unread message', { unread: true, beforeOpen: slowEarlier });
  await openedAtFirstUnread(a, 'unread message 1');
  assert.ok(await messages(a).count() <= 200, 'a page from the first unread and the newest page are loaded');
  await a.locator('.gap', { hasText: /Show \d+ more messages/ }).waitFor();
  await readOnlyAtTheNewest(a, ua, conv, 300);
  await A.context.close();
});

test('a chat with more unread messages than the screen shows, all in the first page, opens at the first of them', async () => {
  const { ua, conv, A, a } = await chatWithHistory(['uns', 'unsb'], ['Sue Screen', 'Sam Screenful'], 35, 'screenful message', { unread: true });
  await messageByText(a, 'screenful message 35').waitFor();
  await openedAtFirstUnread(a, 'screenful message 1');
  await readOnlyAtTheNewest(a, ua, conv, 35);
  await A.context.close();
});

test('history scrolls back page by page, with day separators', async () => {
  const { ub, conv, sent, A, a } = await chatWithHistory(['hist', 'hisb'], ['Hank History', 'Hilda Back'], 130, 'history message');
  await a.locator('.day-sep', { hasText: 'Today' }).first().waitFor();
  const shown = await messages(a).count();
  assert.ok(shown < 130, `only the latest page is loaded at first (${shown})`);
  // An old message, not loaded yet, is edited meanwhile: its event must not
  // leave it standing alone at the top, with paging back going on from it
  // and the messages between never loading.
  await api('PATCH', `/conversations/${conv.id}/messages/${sent[4].id}`, { token: ub.token, body: { body: 'history message 5 edited' } });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: `hz${ub.id}`, body: 'after the edit' } });
  await messageByText(a, 'after the edit').waitFor();
  // Scroll to the top until the first message is there.
  await until(async () => {
    await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
    return (await a.locator('.msg .text').filter({ hasText: /^history message 1$/ }).count()) > 0;
  }, 'the first message');
  assert.equal(await a.locator('.msg .text').filter({ hasText: /^history message \d+( edited)?$/ }).count(), 130);
  await a.locator('.msg .text').filter({ hasText: /^history message 5 edited$/ }).waitFor();
  assert.equal(await a.locator('.day-sep').count(), 1);
  await a.locator('.chat-intro', { hasText: 'Hilda Back' }).waitFor();
  await A.context.close();
});

test('a chat read far back and left holds no more than a few pages: coming back shows the newest', async () => {
  const { ua, A, a } = await chatWithHistory(['far', 'farb'], ['Fran Far', 'Finn Back'], 260, 'long message');
  const other = await makeUser('faro', 'Flo Other');
  await api('POST', '/conversations', { token: other.token, body: { type: 'direct', member_ids: [ua.id] } });
  await until(async () => {
    await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
    return (await a.locator('.msg .text').filter({ hasText: /^long message 1$/ }).count()) > 0;
  }, 'the first message');
  assert.equal(await messages(a).count(), 260);
  await openConversation(a, 'Flo Other');
  await openConversation(a, 'Finn Back');
  await messageByText(a, 'long message 260').waitFor();
  assert.ok(await messages(a).count() <= 100, 'the newest page, not all 260 held before');
  await A.context.close();
});

test('an earlier page that fails to load says so, and loads with "Try again"', async () => {
  const { ub, conv, A, a } = await chatWithHistory(['olf', 'olb'], ['Ola Fail', 'Oli Back'], 130, 'paged message');
  let failed = 0;
  await a.route(/\/messages\?.*before=/, (route) => {
    if (failed++ > 0) return route.continue();
    return route.fulfill({ status: 500, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'Something went wrong.' }) });
  });
  await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
  await a.locator('.history-state', { hasText: 'Could not load earlier messages' }).waitFor();
  // It stays said (a redraw for a new message does not wipe it).
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'olfx' + ub.id, body: 'a new one' } });
  await messageByText(a, 'a new one').waitFor();
  await a.locator('.history-state', { hasText: 'Could not load earlier messages' }).waitFor();
  await a.locator('.history-state').getByRole('button', { name: 'Try again' }).click();
  await until(async () => {
    await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
    return (await a.locator('.msg .text').filter({ hasText: /^paged message 1$/ }).count()) > 0;
  }, 'the first message');
  assert.equal(failed >= 2, true);
  await A.context.close();
});

test('a deletion and a reaction while an older page is on its way both show', async () => {
  const { ub, conv, sent, A, a } = await chatWithHistory(['late', 'latb'], ['Lara Late', 'Luke Late'], 80, 'older message');
  // The page before the latest is read by the server at once and handed
  // to the page only after the deletion's event has been applied.
  const held = await holdFirstAnswer(a, /\/messages\?before=/);
  await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
  await until(() => held.reads() > 0, 'the older page to be read');
  await api('DELETE', `/conversations/${conv.id}/messages/${sent[9].id}`, { token: ub.token });
  await api('PUT', `/conversations/${conv.id}/messages/${sent[19].id}/reactions/${encodeURIComponent('🎉')}`, { token: ub.token });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: `lz${ub.id}`, body: 'after the deletion' } });
  await messageByText(a, 'after the deletion').waitFor();
  held.release();
  await until(async () => {
    await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
    return (await a.locator('.msg .text').filter({ hasText: /^older message 1$/ }).count()) > 0;
  }, 'the first message');
  assert.equal(await a.locator('.msg .text').filter({ hasText: /^older message 10$/ }).count(), 0);
  assert.equal(await a.locator('.msg.deleted', { hasText: 'This message was deleted' }).count(), 1);
  await messageByText(a, 'older message 20').locator('.reaction', { hasText: '🎉' }).waitFor();
  assert.equal(await a.locator('.msg .text').filter({ hasText: /^older message \d+$/ }).count(), 79);
  await A.context.close();
});

test('message search finds a message and jumps to it', async () => {
  const { ub, A, B } = await directPair('srch', 'srcb', ['Sara Search', 'Sid Seek']);
  const a = A.page;
  await startDirect(a, ub);
  await send(a, 'the secret word is pineapple');
  await send(a, 'something else entirely');
  await messageByText(a, 'something else entirely').waitFor();
  await a.getByLabel('Search', { exact: true }).fill('pineapple');
  const result = a.locator('.result', { hasText: 'pineapple' });
  await result.waitFor();
  await result.locator('mark', { hasText: 'pineapple' }).waitFor();
  await result.click();
  await a.locator('.msg.flash', { hasText: 'pineapple' }).waitFor();
  await A.context.close();
  await B.context.close();
});

test('message search shows older matches a page at a time, and takes a query longer than the API would', async () => {
  const ua = await makeUser('smr', 'Milo More');
  const ub = await makeUser('smb', 'Mona More');
  const d = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  for (let i = 1; i <= 35; i++) await api('POST', `/conversations/${d.id}/messages`, { token: ub.token, body: { client_id: `sm${i}x${ub.id}`, body: `kiwifruit number ${i}` } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await a.getByLabel('Search', { exact: true }).fill('kiwifruit');
  const found = a.getByRole('list', { name: 'Messages' }).getByRole('listitem');
  await a.locator('.result', { hasText: 'kiwifruit number 35' }).waitFor();
  assert.equal(await found.count(), 30);
  await a.getByRole('button', { name: 'More messages' }).click();
  await a.locator('.result', { hasText: /kiwifruit number 1$/ }).waitFor();
  assert.equal(await found.count(), 35);
  assert.equal(await a.getByRole('button', { name: 'More messages' }).isVisible(), false, 'no more pages');
  // A query over the API's 256 characters is cut to them, not refused.
  await a.getByLabel('Search', { exact: true }).fill('kiwifruit ' + 'x'.repeat(300));
  await a.getByText(/^No messages match/).waitFor();
  assert.equal(await a.getByText(/^Messages: /).count(), 0, 'no error shown');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a search in one conversation finds its messages only, until the search is widened again', async () => {
  const me = await makeUser('sic', 'Ida Inchat');
  const p1 = await makeUser('sia', 'Abe Zoo');
  const p2 = await makeUser('sib', 'Bea Park');
  const c1 = await api('POST', '/conversations', { token: p1.token, body: { type: 'direct', member_ids: [me.id] } });
  const c2 = await api('POST', '/conversations', { token: p2.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${c1.id}/messages`, { token: p1.token, body: { client_id: 'si1' + p1.id, body: 'a zebra at the zoo' } });
  await api('POST', `/conversations/${c2.id}/messages`, { token: p2.token, body: { client_id: 'si2' + p2.id, body: 'a zebra in the park' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Abe Zoo');
  await a.getByRole('button', { name: 'Search in this conversation' }).click();
  await a.getByText('In Abe Zoo', { exact: true }).waitFor();
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Search');
  await a.keyboard.type('zebra');
  await a.locator('.result', { hasText: 'a zebra at the zoo' }).waitFor();
  await a.getByText('Messages in Abe Zoo').waitFor();
  assert.equal(await a.locator('.result', { hasText: 'a zebra in the park' }).count(), 0, 'the other chat\'s message is not found');
  // Widened: both chats' messages.
  await a.getByRole('button', { name: 'Search everywhere' }).click();
  await a.locator('.result', { hasText: 'a zebra in the park' }).waitFor();
  await a.locator('.result', { hasText: 'a zebra at the zoo' }).waitFor();
  assert.equal(await a.getByText('In Abe Zoo', { exact: true }).count(), 0);
  assert.deepEqual(a.errors, []);
  await A.context.close();
  // On a phone the list comes back in place of the chat, its search field
  // ready to type in.
  const P = await signedIn(browser, me, { width: 375, height: 700, touch: true });
  const p = P.page;
  await openConversation(p, 'Abe Zoo');
  await p.getByRole('button', { name: 'Search in this conversation' }).click();
  await p.getByText('In Abe Zoo', { exact: true }).waitFor();
  await until(async () => (await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))) === 'Search', 'the search field focused');
  await p.keyboard.type('zebra');
  await p.locator('.result', { hasText: 'a zebra at the zoo' }).waitFor();
  assert.deepEqual(p.errors, []);
  await P.context.close();
});

test('a search result far back in a long chat is brought into view', async () => {
  const ua = await makeUser('deep', 'Dana Deep');
  const ub = await makeUser('deepb', 'Dirk Deep');
  const d = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  const sendApi = (body) => api('POST', `/conversations/${d.id}/messages`, { token: ua.token, body: { client_id: Math.random().toString(36).slice(2), body } });
  await sendApi('the buried treasure map');
  // 1,150 messages after it: more than 20 pages of 50.
  for (let i = 0; i < 1150; i += 25) await Promise.all(Array.from({ length: 25 }, (_, k) => sendApi(`filler ${i + k}`)));
  // Dirk has read up to the middle.
  await api('POST', `/conversations/${d.id}/read`, { token: ub.token, body: { seq: 600 } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await a.getByLabel('Search', { exact: true }).fill('treasure');
  await a.locator('.result', { hasText: 'treasure' }).click();
  await a.locator('.msg.flash', { hasText: 'the buried treasure map' }).waitFor();
  assert.equal(await a.getByText('That message is no longer available.').count(), 0);
  // One page around it, not every page between: what lies between loads
  // as the reader scrolls down to it.
  const held = await messages(a).count();
  assert.ok(held <= 200, `a page around the message and the latest page are loaded (${held})`);
  // It says how many are between: 1,151 messages, less the page from the
  // first (100) and the newest 50.
  await a.locator('.gap', { hasText: 'Show 1001 more messages' }).waitFor();
  assert.equal(await a.locator('.msg .text').filter({ hasText: /^filler 600$/ }).count(), 0);
  // Where Dirk stopped is not loaded: his avatar is not under an older one.
  assert.equal(await a.locator('.seen-by').count(), 0);
  // Down to the newest, then up, three times until the gap's row comes
  // near: each time a page loads from that side, not the whole gap at once.
  await a.getByRole('button', { name: 'Jump to the latest message' }).click();
  let count = held;
  for (let round = 0; round < 3; round++) {
    // Up a screen at a time until a page has come.
    await until(async () => {
      await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = Math.max(0, el.scrollTop - 250); });
      return (await messages(a).count()) > count;
    }, 'the gap row, coming up from the newest messages');
    await a.waitForTimeout(1500);
    const now = await messages(a).count();
    assert.ok(now > count && now <= count + 200, `one page came in from below (${count} -> ${now})`);
    count = now;
  }
  await a.locator('.gap').waitFor();
  // Scrolling down from the jump's page fills the gap page by page until
  // it closes, with every message in between, once each.
  await until(async () => {
    await a.locator('.gap').evaluate((el) => el.scrollIntoView({ block: 'end' })).catch(() => {});
    return (await a.locator('.gap').count()) === 0;
  }, 'the gap to close', 60000);
  await a.locator('.msg[data-seq="600"] + .seen-by').waitFor();
  assert.equal(await a.locator('.seen-by').count(), 1);
  const texts = await a.locator('.msg .text').filter({ hasText: /^filler \d+$/ }).allTextContents();
  assert.equal(texts.length, 1150);
  assert.equal(new Set(texts).size, 1150);
  await A.context.close();
});

test('a quoted message far back is brought into view with one page around it', async () => {
  const ua = await makeUser('quot', 'Quinn Quote');
  const ub = await makeUser('quob', 'Quentin Back');
  const d = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  const sendApi = (body, extra = {}) => api('POST', `/conversations/${d.id}/messages`, { token: ub.token, body: { client_id: Math.random().toString(36).slice(2), body, ...extra } });
  const orig = await sendApi('where it all began');
  for (let i = 0; i < 400; i += 25) await Promise.all(Array.from({ length: 25 }, (_, k) => sendApi(`chatter ${i + k}`)));
  const last = await sendApi('about that first message', { reply_to: orig.id });
  await api('POST', `/conversations/${d.id}/read`, { token: ua.token, body: { seq: last.seq } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Quentin Back');
  const reply = a.locator('.msg', { hasText: 'about that first message' });
  await reply.waitFor();
  // The quote shows what it quotes, though that is not loaded.
  await reply.locator('button.quote', { hasText: 'where it all began' }).waitFor();
  await reply.locator('button.quote', { hasText: 'Quentin' }).waitFor();
  await reply.locator('button.quote').click();
  await a.locator('.msg.flash', { hasText: 'where it all began' }).waitFor();
  const held = await messages(a).count();
  assert.ok(held <= 200, `a page around the quoted message and the latest page are loaded (${held})`);
  await a.locator('.gap', { hasText: /Show \d+ more messages/ }).waitFor();
  await A.context.close();
});

test('groups: create, talk, rename, add and remove people, change roles, leave', async () => {
  const owner = await makeUser('gown', 'Gina Owner');
  const m1 = await makeUser('gmem', 'Mark Member');
  const m2 = await makeUser('gtwo', 'Nina Second');
  const late = await makeUser('glat', 'Leo Late');
  const O = await signedIn(browser, owner);
  const M = await signedIn(browser, m1);
  const N = await signedIn(browser, m2);
  const o = O.page, m = M.page, n = N.page;

  await o.getByRole('button', { name: 'New group' }).click();
  const dlg = o.getByRole('dialog', { name: 'New group' });
  await dlg.getByLabel('Group name').fill('Weekend trip');
  for (const u of [m1, m2]) {
    await dlg.getByLabel('Add people').fill(u.username);
    await dlg.getByRole('button', { name: new RegExp(`@${u.username}`) }).click();
    await dlg.getByRole('button', { name: `Remove ${u.display_name}` }).waitFor();
  }
  await dlg.getByRole('button', { name: 'Create group' }).click();
  await o.locator('.chat-title', { hasText: 'Weekend trip' }).waitFor();
  await o.locator('.chat-sub', { hasText: 'You, Mark and Nina' }).waitFor();
  await send(o, 'Who is in for Saturday?');

  await openConversation(m, 'Weekend trip');
  await messageByText(m, 'Who is in for Saturday?').waitFor();
  await send(m, 'Count me in!');
  await openConversation(n, 'Weekend trip');
  const fromMark = messageByText(n, 'Count me in!');
  await fromMark.waitFor();
  await fromMark.locator('.sender', { hasText: 'Mark Member' }).waitFor();
  await messageByText(o, 'Count me in!').waitFor();
  await o.locator('.msg.mine[data-status="read"]', { hasText: 'Who is in for Saturday?' }).waitFor();
  await shot(o, 'group');

  // Rename: everyone sees the new title.
  await o.getByRole('button', { name: 'Conversation details' }).first().click();
  const info = o.getByRole('dialog', { name: 'Group details' });
  await info.getByLabel('Group name').fill('Weekend trip 🏕️');
  await info.getByRole('button', { name: 'Rename' }).click();
  await m.locator('.chat-title', { hasText: 'Weekend trip 🏕️' }).waitFor();
  await conversationItem(n, 'Weekend trip 🏕️').waitFor();

  // Add someone: the group appears in their list.
  await info.getByLabel('Add people to the group').fill(late.username);
  await info.getByRole('button', { name: new RegExp(`@${late.username}`) }).click();
  await info.locator(`.person[data-user-id="${late.id}"]`).waitFor();
  const lateConvs = await api('GET', '/conversations', { token: late.token });
  assert.ok(lateConvs.conversations.some((c) => c.title === 'Weekend trip 🏕️'));

  // Make Mark an admin: he can now rename too.
  await info.getByLabel('Role of Mark Member').selectOption('admin');
  await m.getByRole('button', { name: 'Conversation details' }).first().click();
  const mInfo = m.getByRole('dialog', { name: 'Group details' });
  await mInfo.getByRole('button', { name: 'Rename' }).waitFor();
  await shot(m, 'group-details');
  await mInfo.getByRole('button', { name: 'Close' }).click();

  // Remove Nina: the group disappears from her list.
  await info.getByRole('button', { name: 'Remove Nina Second' }).click();
  await o.getByRole('dialog', { name: 'Remove from group?' }).getByRole('button', { name: 'Remove' }).click();
  await conversationItem(n, 'Weekend trip').waitFor({ state: 'detached' });
  await info.getByRole('button', { name: 'Close' }).click();

  // Mark leaves.
  await m.getByRole('button', { name: 'Conversation details' }).first().click();
  // The leaving's event comes before the answer to it (held here).
  await m.route(/\/members\/\d+$/, async (route) => {
    if (route.request().method() !== 'DELETE') return route.continue();
    const answer = await route.fetch();
    await new Promise((r) => setTimeout(r, 800));
    return route.fulfill({ response: answer });
  });
  await m.getByRole('dialog', { name: 'Group details' }).getByRole('button', { name: 'Leave group' }).click();
  await m.getByRole('dialog', { name: 'Leave group?' }).getByRole('button', { name: 'Leave' }).click();
  await conversationItem(m, 'Weekend trip').waitFor({ state: 'detached' });
  await o.locator('.chat-sub', { hasText: 'You and Leo' }).waitFor();
  // Mark is back at his list, once (not a step further back, out of the
  // app), and not told that he is no longer in the group he left.
  await m.getByRole('heading', { name: 'Chats' }).waitFor();
  await m.getByRole('dialog', { name: 'Group details' }).waitFor({ state: 'detached' });
  await m.waitForTimeout(400);
  assert.equal(new URL(m.url()).pathname, '/');
  // The focus did not go with the chat: it is on the list's heading (he
  // has no other chat), where a keyboard or screen reader goes on.
  assert.equal(await m.evaluate(() => document.activeElement?.textContent), 'Chats');
  assert.equal(await m.locator('.toast', { hasText: 'no longer in that conversation' }).count(), 0);
  // Each change is a line in the history, in order, as it happened.
  await o.locator('.sys-msg', { hasText: 'Mark Member left the group' }).waitFor();
  assert.deepEqual(await o.locator('.sys-msg').allTextContents(), [
    'Gina Owner named the group \u201cWeekend trip 🏕️\u201d',
    'Gina Owner added Leo Late',
    'Gina Owner made Mark Member an admin',
    'Gina Owner removed Nina Second',
    'Mark Member left the group',
  ]);
  for (const p of [o, m, n]) assert.deepEqual(p.errors, []);
  await O.context.close(); await M.context.close(); await N.context.close();
});

test('phone width: list and chat one at a time, with a back button', async () => {
  const ua = await makeUser('phn', 'Pia Phone');
  const ub = await makeUser('phb', 'Pat Desk');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'p1' + ub.id, body: 'Ping from the desk' } });
  const A = await signedIn(browser, ua, { width: 375, height: 740 });
  const a = A.page;
  await conversationItem(a, 'Pat Desk').waitFor();
  await shot(a, 'phone-list');
  assert.equal(await a.locator('main.main').isVisible(), false);
  await openConversation(a, 'Pat Desk');
  assert.equal(await a.locator('aside.sidebar').isVisible(), false);
  await send(a, 'Pong from my phone, with a longer line to see how it wraps on a narrow screen');
  await messageByText(a, 'Pong from my phone').waitFor();
  await shot(a, 'phone-chat');
  // Nothing is wider than the screen.
  const overflow = await a.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false);
  await a.getByRole('button', { name: 'Back to conversations' }).click();
  await conversationItem(a, 'Pat Desk').waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a reply being written waits with its draft while another chat is open', async () => {
  const me = await makeUser('rpa', 'Rita Replies');
  const b = await makeUser('rpb', 'Rob Asks');
  const c = await makeUser('rpc', 'Cleo Elsewhere');
  const conv = await api('POST', '/conversations', { token: b.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', '/conversations', { token: c.token, body: { type: 'direct', member_ids: [me.id] } });
  const q = await api('POST', `/conversations/${conv.id}/messages`, { token: b.token, body: { client_id: 'rq1' + b.id, body: 'lunch on Friday?' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Rob Asks');
  await messageByText(a, 'lunch on Friday?').getByRole('button', { name: 'Reply' }).click();
  await a.getByText('Replying to Rob Asks').waitFor();
  await a.getByLabel('Message', { exact: true }).fill('yes, at noon');
  await openConversation(a, 'Cleo Elsewhere');
  assert.equal(await a.getByText('Replying to Rob Asks').count(), 0);
  await openConversation(a, 'Rob Asks');
  await a.getByText('Replying to Rob Asks').waitFor();
  assert.equal(await a.getByLabel('Message', { exact: true }).inputValue(), 'yes, at noon');
  await a.keyboard.press('Enter');
  await until(async () => (await api('GET', `/conversations/${conv.id}/messages`, { token: b.token })).messages.some((m) => m.body === 'yes, at noon' && m.reply_to === q.id), 'the reply stored as a reply');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('an emoji picked from the message box goes where the caret is, and typing goes on after it', async () => {
  const ua = await makeUser('epk', 'Eve Picks');
  const ub = await makeUser('epb', 'Ezra Gets');
  const conv = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Ezra Gets');
  const box = a.getByLabel('Message', { exact: true });
  await box.pressSequentially('hi there');
  await box.press('Home');
  for (let i = 0; i < 3; i++) await box.press('ArrowRight');
  await a.getByRole('button', { name: 'Insert an emoji' }).click();
  const picker = a.getByRole('dialog', { name: 'Emoji' });
  // The grid is one tab stop; the arrow keys move within it.
  const grid = picker.getByRole('group', { name: 'Emoji' });
  assert.equal(await grid.locator('button[tabindex="0"]').count(), 1);
  await grid.getByRole('button', { name: '😀' }).focus();
  await a.keyboard.press('ArrowRight');
  await a.keyboard.press('ArrowDown');
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), '😊', 'one right, one row down');
  await a.keyboard.press('End');
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), '🙏');
  await picker.getByRole('button', { name: '🎉' }).click();
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Message');
  await a.keyboard.type('you ');
  assert.equal(await box.inputValue(), 'hi 🎉you there');
  await a.keyboard.press('Enter');
  await until(async () => (await api('GET', `/conversations/${conv.id}/messages`, { token: ub.token })).messages.some((m) => m.body === 'hi 🎉you there'), 'the message stored');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a long message shows its first lines, and the rest on Read more', async () => {
  const ua = await makeUser('lng', 'Lou Long');
  const ub = await makeUser('lnw', 'Wes Writes');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const text = Array.from({ length: 60 }, (_, i) => `Line ${i + 1} of a long story.`).join('\n') + '\nTHE END';
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'lg1' + ub.id, body: text } });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'lg2' + ub.id, body: 'a short one' } });
  // Long, but in a few lines on this screen: nothing to hide.
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'lg3' + ub.id, body: 'il '.repeat(250) + 'all shown' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Wes Writes');
  const row = messageByText(a, 'Line 1 of a long story.');
  await row.waitFor();
  const textBox = row.locator('.text');
  const clampedHeight = (await textBox.boundingBox()).height;
  assert.equal(await textBox.evaluate((el) => el.scrollHeight > el.clientHeight + 10), true, 'the rest is hidden');
  assert.equal(await messageByText(a, 'a short one').getByRole('button', { name: 'Read more' }).count(), 0);
  assert.equal(await messageByText(a, 'all shown').getByRole('button', { name: 'Read more' }).isVisible(), false);
  await row.getByRole('button', { name: 'Read more' }).click();
  await row.getByRole('button', { name: 'Show less' }).waitFor();
  assert.ok((await row.locator('.text').boundingBox()).height > clampedHeight * 3, 'shown whole');
  assert.equal(await row.locator('.text').evaluate((el) => el.scrollHeight <= el.clientHeight + 1), true);
  await row.getByRole('button', { name: 'Show less' }).click();
  await row.getByRole('button', { name: 'Read more' }).waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('message info tells who read my message, who has it, and who does not yet', async () => {
  const me = await makeUser('mia', 'Max Info');
  const r = await makeUser('mir', 'Rae Reader');
  const d = await makeUser('mid', 'Dev Delivered');
  const w = await makeUser('miw', 'Wes Waiting');
  const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Info group', member_ids: [r.id, d.id, w.id] } });
  const dh = await api('GET', '/events?timeout=0', { token: d.token });
  const msg = await api('POST', `/conversations/${g.id}/messages`, { token: me.token, body: { client_id: 'mi1' + me.id, body: 'who has this?' } });
  await api('POST', `/conversations/${g.id}/read`, { token: r.token, body: { seq: msg.seq } });
  // Lee joins after it was sent: his marks start past it, but he never had it.
  const late = await makeUser('mil', 'Lee Late');
  await api('POST', `/conversations/${g.id}/members`, { token: me.token, body: { user_ids: [late.id] } });
  // Dev's device fetches its events: the message is delivered to him.
  await api('GET', `/events?since=${encodeURIComponent(dh.next)}&timeout=0`, { token: d.token });
  await until(async () => (await api('GET', `/conversations/${g.id}`, { token: me.token })).members.find((m) => m.user.id === d.id).delivered_seq >= msg.seq, 'delivered to Dev');
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Info group');
  const row = messageByText(a, 'who has this?');
  await row.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Message info' }).click();
  const dlg = a.getByRole('dialog', { name: 'Message info' });
  await dlg.getByRole('list', { name: 'Read by' }).getByText('Rae Reader').waitFor();
  await dlg.getByRole('list', { name: 'Delivered to' }).getByText('Dev Delivered').waitFor();
  await dlg.getByRole('list', { name: 'Not delivered yet' }).getByText('Wes Waiting').waitFor();
  assert.equal(await dlg.getByRole('list', { name: 'Read by' }).getByRole('listitem').count(), 1);
  assert.equal(await dlg.getByText('Lee Late').count(), 0, 'a later member is not listed');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('any emoji can be a reaction: picked from the picker or typed in; a word is refused with the reason', async () => {
  const ua = await makeUser('emr', 'Ema Reacts');
  const ub = await makeUser('emb', 'Eli Sends');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const m = await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'em1' + ub.id, body: 'we won the cup' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Eli Sends');
  const row = messageByText(a, 'we won the cup');
  const picker = async () => {
    await row.getByRole('button', { name: 'Message actions' }).click();
    await a.getByRole('menuitem', { name: 'More reactions…' }).click();
    return a.getByRole('dialog', { name: 'React' });
  };
  let dlg = await picker();
  await dlg.getByRole('button', { name: 'React with 🥳' }).click();
  await dlg.waitFor({ state: 'detached' });
  await row.locator('.reaction', { hasText: '🥳' }).waitFor();
  dlg = await picker();
  await dlg.getByLabel('Or type an emoji').fill('🦘');
  await dlg.getByRole('button', { name: 'React', exact: true }).click();
  await dlg.waitFor({ state: 'detached' });
  await row.locator('.reaction', { hasText: '🦘' }).waitFor();
  dlg = await picker();
  await dlg.getByLabel('Or type an emoji').fill('hooray');
  await dlg.getByRole('button', { name: 'React', exact: true }).click();
  await dlg.getByRole('alert').filter({ hasText: /emoji/i }).waitFor();
  await a.keyboard.press('Escape');
  const stored = await api('GET', `/conversations/${conv.id}/messages/${m.id}`, { token: ub.token });
  assert.deepEqual(stored.reactions.map((r) => r.emoji).sort(), ['🥳', '🦘'].sort());
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a screen reader tells which message each button is for, and a quote says where it leads', async () => {
  const ua = await makeUser('srl', 'Sara Reader');
  const ub = await makeUser('srb', 'Seb Writer');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const first = await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'sr1' + ub.id, body: 'label me' } });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ua.token, body: { client_id: 'sr2' + ua.id, body: 'labelled', reply_to: first.id } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Seb Writer');
  const theirs = messageByText(a, 'label me');
  await theirs.waitFor();
  const labels = (row) => row.locator('.msg-tools button').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')));
  const [reply, more] = await labels(theirs);
  assert.match(reply, /^Reply to Seb Writer at \d{1,2}:\d{2}/);
  assert.match(more, /^Message actions: Seb Writer at \d{1,2}:\d{2}/);
  const mine = messageByText(a, 'labelled');
  assert.match((await labels(mine))[1], /^Message actions: your message at /);
  assert.equal(await mine.locator('button.quote').getAttribute('aria-label'), 'Quoted message from Seb Writer: label me. Go to it');
  // A control of a redrawn row keeps the focus (found by what it is, not its label).
  await theirs.getByRole('button', { name: 'Message actions' }).focus();
  await api('PUT', `/conversations/${conv.id}/messages/${first.id}/reactions/${encodeURIComponent('👍')}`, { token: ub.token });
  await theirs.locator('.reaction').waitFor();
  assert.match(await a.evaluate(() => document.activeElement?.getAttribute('aria-label') || ''), /^Message actions: Seb Writer/);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a tablet (touch, wide screen) shows the message actions it can tap, not invisible ones', async () => {
  const ua = await makeUser('tbl', 'Tab Let');
  const ub = await makeUser('tbb', 'Tom Bigscreen');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'tb1' + ub.id, body: 'tap my actions' } });
  const A = await signedIn(browser, ua, { width: 1024, height: 768, touch: true });
  const a = A.page;
  assert.ok(await a.evaluate(() => matchMedia('(hover: none)').matches), 'the tablet cannot hover');
  await openConversation(a, 'Tom Bigscreen');
  const row = messageByText(a, 'tap my actions');
  await row.waitFor();
  const tools = row.locator('.msg-tools');
  assert.equal(await tools.evaluate((el) => getComputedStyle(el).opacity), '1');
  await row.getByRole('button', { name: 'Message actions' }).tap();
  await a.getByRole('menu').waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('touch screen: a long press on a message opens its actions; a tap, a scroll or a short touch does not', async () => {
  const ua = await makeUser('tch', 'Tia Touch');
  const ub = await makeUser('tcb', 'Ted Talk');
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  // More than a screenful, read, the last one to press.
  for (let i = 1; i <= 20; i++) await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: `tf${i}x${ub.id}`, body: `filler ${i}` } });
  const last = await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'tc1' + ub.id, body: 'Press and hold me' } });
  await api('POST', `/conversations/${conv.id}/read`, { token: ua.token, body: { seq: last.seq } });
  const A = await signedIn(browser, ua, { width: 375, height: 740, touch: true });
  const a = A.page;
  await openConversation(a, 'Ted Talk');
  const row = messageByText(a, 'Press and hold me');
  await row.waitFor();
  // It opens at the newest message, and keeps it in view as the text box
  // grows by a few lines.
  const inView = async () => {
    const [sc, rb] = [await a.locator('.msg-scroll').boundingBox(), await row.boundingBox()];
    return rb.y >= sc.y - 1 && rb.y + rb.height <= sc.y + sc.height + 1;
  };
  await until(inView, 'the newest message in view');
  const box = a.getByLabel('Message', { exact: true });
  await box.pressSequentially('one');
  for (const w of ['two', 'three', 'four']) { await box.press('Enter'); await box.pressSequentially(w); }
  await a.waitForTimeout(200);
  assert.ok(await inView(), 'the newest message still in view above the grown text box');
  await box.fill('');
  // Real touch input, as a finger gives it, on the middle of a message.
  const cdp = await A.context.newCDPSession(a);
  const touch = async (target, hold, moveBy = 0) => {
    const box = await target.locator('.bubble').boundingBox();
    const x = box.x + box.width / 2, y = box.y + box.height / 2;
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
    if (moveBy) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: y + moveBy }] });
    await a.waitForTimeout(hold);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  };
  const quick = a.getByRole('group', { name: 'Quick reactions' });
  await touch(row, 60);		// a tap
  await a.waitForTimeout(600);
  assert.equal(await quick.count(), 0, 'no menu from a tap');
  await touch(row, 800);	// a long press
  await quick.waitFor();
  // A message coming meanwhile (the view kept at the newest) leaves the
  // menu open.
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'tc2' + ub.id, body: 'meanwhile' } });
  await messageByText(a, 'meanwhile').waitFor();
  await a.waitForTimeout(300);
  assert.equal(await quick.count(), 1, 'the menu stays open as a message comes');
  await a.getByRole('button', { name: 'React with ❤️' }).tap();
  await row.getByRole('button', { name: /^❤️ 1, reacted by/ }).waitFor();
  await until(async () => (await api('GET', `/conversations/${conv.id}/messages`, { token: ub.token })).messages
    .some((m) => m.body === 'Press and hold me' && (m.reactions || []).some((r) => r.emoji === '❤️' && r.count === 1)), 'the reaction to be stored');
  assert.equal(await quick.count(), 0);
  // A finger that moves is a scroll, not a press.
  await touch(messageByText(a, 'filler 19'), 800, 40);
  await a.waitForTimeout(600);
  assert.equal(await quick.count(), 0, 'no menu from a scroll');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('the composer: Send keeps the cursor in the box, a draft put back tells nobody of typing, and on a touch screen Enter is a new line', async () => {
  const me = await makeUser('cmp', 'Cora Composer');
  const bo = await makeUser('cmb', 'Bo Reader');
  const cy = await makeUser('cmc', 'Cy Other');
  const withBo = await api('POST', '/conversations', { token: bo.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${withBo.id}/messages`, { token: bo.token, body: { client_id: 'cm1' + bo.id, body: 'Hi Cora' } });
  const withCy = await api('POST', '/conversations', { token: cy.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${withCy.id}/messages`, { token: cy.token, body: { client_id: 'cm2' + cy.id, body: 'Hi from Cy' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  const typingPosts = [];
  a.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith(`/conversations/${withBo.id}/typing`)) typingPosts.push(Date.now()); });
  await openConversation(a, 'Bo Reader');
  const box = a.getByLabel('Message', { exact: true });
  await box.pressSequentially('a draft');
  await until(() => typingPosts.length === 1, 'the typing notice for what was typed');
  // Past the typing notices' 3 s spacing, away and back: the draft is put
  // back, and nobody is told of typing that did not happen.
  await a.waitForTimeout(3300);
  await openConversation(a, 'Cy Other');
  await openConversation(a, 'Bo Reader');
  assert.equal(await box.inputValue(), 'a draft');
  await a.waitForTimeout(700);
  assert.equal(typingPosts.length, 1, 'no typing notice for a draft put back');
  // The draft shows in the list while another chat is open, and outlives a
  // reload.
  await openConversation(a, 'Cy Other');
  await conversationItem(a, 'Bo Reader').filter({ hasText: 'Draft: a draft' }).waitFor();
  await a.reload();
  await conversationItem(a, 'Bo Reader').filter({ hasText: 'Draft: a draft' }).waitFor();
  await openConversation(a, 'Bo Reader');
  assert.equal(await box.inputValue(), 'a draft');
  await a.waitForTimeout(500);
  assert.equal(typingPosts.length, 1, 'no typing notice for a draft put back after a reload');
  // A click on Send leaves the cursor in the box for the next message.
  await box.fill('sent with a click');
  await a.getByRole('button', { name: 'Send', exact: true }).click();
  await messageByText(a, 'sent with a click').waitFor();
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Message');
  await a.keyboard.type('and typed on');
  assert.equal(await box.inputValue(), 'and typed on');
  await A.context.close();
  // On a phone, Enter starts a new line; Send sends both.
  const P = await signedIn(browser, me, { width: 375, height: 740, touch: true });
  const p = P.page;
  await openConversation(p, 'Bo Reader');
  const pbox = p.getByLabel('Message', { exact: true });
  await pbox.fill('');
  await pbox.pressSequentially('line one');
  await pbox.press('Enter');
  await pbox.pressSequentially('line two');
  assert.equal(await pbox.inputValue(), 'line one\nline two');
  await p.getByRole('button', { name: 'Send', exact: true }).tap();
  await until(async () => (await api('GET', `/conversations/${withBo.id}/messages`, { token: bo.token })).messages
    .some((m) => m.body === 'line one\nline two'), 'the two lines sent as one message');
  assert.deepEqual([...a.errors, ...p.errors], []);
  await P.context.close();
});

test('a chat shown in a window behind another is not read until the window is focused', async () => {
  const me = await makeUser('foc', 'Fay Focus');
  const pal = await makeUser('fop', 'Pip Pal');
  const conv = await api('POST', '/conversations', { token: pal.token, body: { type: 'direct', member_ids: [me.id] } });
  const first = await api('POST', `/conversations/${conv.id}/messages`, { token: pal.token, body: { client_id: 'fo1' + pal.id, body: 'first, read' } });
  await api('POST', `/conversations/${conv.id}/read`, { token: me.token, body: { seq: first.seq } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Pip Pal');
  await messageByText(a, 'first, read').waitFor();
  // The window loses the focus (the browser tells the page as it would).
  await a.evaluate(() => { window.unfocused = true; document.hasFocus = () => !window.unfocused; window.dispatchEvent(new Event('blur')); });
  await api('POST', `/conversations/${conv.id}/messages`, { token: pal.token, body: { client_id: 'fo2' + pal.id, body: 'while you were away' } });
  await messageByText(a, 'while you were away').waitFor();
  await a.waitForTimeout(700);
  assert.equal((await api('GET', `/conversations/${conv.id}`, { token: me.token })).unread_count, 1, 'not read behind another window');
  await a.evaluate(() => { window.unfocused = false; window.dispatchEvent(new Event('focus')); });
  await until(async () => (await api('GET', `/conversations/${conv.id}`, { token: me.token })).unread_count === 0, 'read once focused');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('desktop notifications: shown for a message while away, and closed at sign-out (a click on one then opens nothing)', async () => {
  const me = await makeUser('nta', 'Nia Notes');
  const pal = await makeUser('ntp', 'Ned Notes');
  const conv = await api('POST', '/conversations', { token: pal.token, body: { type: 'direct', member_ids: [me.id] } });
  const A = await signedIn(browser, me, {
    beforeLoad: async (p) => {
      await p.context().grantPermissions(['notifications']);
      // The browser's own notifications, each kept where the test can see it.
      await p.addInitScript(() => {
        const Real = window.Notification;
        window.__notes = [];
        window.Notification = class extends Real {
          constructor(title, opts) { super(title, opts); this.closedByPage = false; window.__notes.push(this); }
          close() { this.closedByPage = true; super.close(); }
        };
      });
    },
  });
  const a = A.page;
  await a.evaluate(() => { document.hasFocus = () => false; window.dispatchEvent(new Event('blur')); });
  await api('POST', `/conversations/${conv.id}/messages`, { token: pal.token, body: { client_id: 'nt1' + pal.id, body: 'are you there?' } });
  await until(() => a.evaluate(() => window.__notes.length === 1), 'a notification');
  assert.deepEqual(await a.evaluate(() => [window.__notes[0].title, window.__notes[0].body, window.__notes[0].closedByPage]), ['Ned Notes', 'are you there?', false]);
  await a.evaluate(() => { document.hasFocus = () => true; });
  await a.getByRole('button', { name: 'Account menu' }).click();
  await a.getByRole('menuitem', { name: 'Log out' }).click();
  await a.getByRole('tab', { name: 'Log in' }).waitFor();
  assert.equal(await a.evaluate(() => window.__notes[0].closedByPage), true, "the account's notification is closed at sign-out");
  assert.equal(await a.evaluate(() => typeof window.__notes[0].onclick), 'function', 'the notification opens its chat when clicked');
  await a.evaluate(() => window.__notes[0].dispatchEvent(new Event('click')));
  await a.waitForTimeout(300);
  assert.doesNotMatch(a.url(), /#\/c\//, 'a click on it opens no chat');
  await a.getByRole('tab', { name: 'Log in' }).waitFor();
  await A.context.close();
});

test('desktop notifications: a reaction to my message while away, not one to someone else\'s or my own', async () => {
  const me = await makeUser('nra', 'Rae Reacted');
  const pal = await makeUser('nrp', 'Per Reacting');
  const third = await makeUser('nrt', 'Tom Third');
  const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Reaction club', member_ids: [pal.id, third.id] } });
  const say = (u, text) => api('POST', `/conversations/${g.id}/messages`, { token: u.token, body: { client_id: 'nr' + Math.random().toString(36).slice(2), body: text } });
  const mine = await say(me, 'an old message of mine that is long enough to be cut short in the notification, as it goes on and on');
  const theirs = await say(third, 'not yours');
  const A = await signedIn(browser, me, {
    beforeLoad: async (p) => {
      await p.context().grantPermissions(['notifications']);
      await p.addInitScript(() => {
        const Real = window.Notification;
        window.__notes = [];
        window.Notification = class extends Real {
          constructor(title, opts) { super(title, opts); window.__notes.push([title, opts.body]); }
        };
      });
    },
  });
  const a = A.page;
  await a.evaluate(() => { document.hasFocus = () => false; window.dispatchEvent(new Event('blur')); });
  const react = (u, m, e) => api('PUT', `/conversations/${g.id}/messages/${m.id}/reactions/${encodeURIComponent(e)}`, { token: u.token });
  const head = await api('GET', '/events?timeout=0', { token: me.token });
  // Reactions that are no news to me: to someone else's message, and mine.
  await react(pal, theirs, '😮');
  const mineToo = await react(me, mine, '🎉');
  const quiet = await eventAfter(me, head.next, (e) => e.type === 'reaction.added' && e.user_id === me.id && e.message_id === mineToo.id);
  await appReached(a, me, quiet.seq, 'the app to get both reactions');
  assert.deepEqual(await a.evaluate(() => window.__notes), []);
  // Someone reacting to my message (not loaded in the page: the chat is not open).
  await react(pal, mine, '👍');
  await until(() => a.evaluate(() => window.__notes.length === 1), 'a notification');
  const [title, body] = await a.evaluate(() => window.__notes[0]);
  assert.equal(title, 'Reaction club');
  assert.equal(body, 'Per Reacting: Reacted 👍 to your message: “an old message of mine that is long enough to be cut short in the notification,…”');
  // A message from a member whose profile the page never needed yet is
  // told by their name too.
  await say(third, 'hello club');
  await until(() => a.evaluate(() => window.__notes.length === 2), 'a second notification');
  assert.deepEqual(await a.evaluate(() => window.__notes[1]), ['Reaction club', 'Tom Third: hello club']);
  await A.context.close();
});

test('desktop notifications: none while another tab of the app is in use, and one tab alerts when none is', async () => {
  const me = await makeUser('ntm', 'Tia Tabs');
  const pal = await makeUser('ntq', 'Pat Poster');
  const conv = await api('POST', '/conversations', { token: pal.token, body: { type: 'direct', member_ids: [me.id] } });
  const A = await signedIn(browser, me, {
    beforeLoad: async (p) => {
      await p.context().grantPermissions(['notifications']);
      await p.context().addInitScript(() => {
        const Real = window.Notification;
        window.__notes = [];
        window.Notification = class extends Real {
          constructor(title, opts) { super(title, opts); window.__notes.push(title); }
        };
      });
    },
  });
  const a = A.page;
  // A second tab of the same browser, signed in by the same cookie.
  const b = await A.context.newPage();
  b.errors = [];
  b.on('pageerror', (e) => b.errors.push(e.message));
  await b.goto('/');
  await b.getByRole('heading', { name: 'Chats' }).waitFor();
  await appReached(b, me, 0, 'the second tab to keep its place in the log');
  const focus = (page, on) => page.evaluate((f) => {
    document.hasFocus = () => f;
    window.dispatchEvent(new Event(f ? 'focus' : 'blur'));
  }, on);
  await focus(b, false);
  await focus(a, true);
  const say = (n) => api('POST', `/conversations/${conv.id}/messages`, { token: pal.token, body: { client_id: `nm${n}x${pal.id}`, body: `note ${n}` } });
  const notes = async () => (await a.evaluate(() => window.__notes.length)) + (await b.evaluate(() => window.__notes.length));
  // The first tab is in use: the second, in the background, stays quiet.
  const head = await api('GET', '/events?timeout=0', { token: me.token });
  const m1 = await say(1);
  const e1 = await eventAfter(me, head.next, (e) => e.type === 'message.new' && e.message.id === m1.id);
  await appReached(a, me, e1.seq, 'the first tab to get the message');
  await appReached(b, me, e1.seq, 'the second tab to get the message');
  assert.equal(await notes(), 0, 'no notification while a tab is in use');
  // Neither is in use: one of them alerts, not both.
  await focus(a, false);
  const m2 = await say(2);
  const e2 = await eventAfter(me, head.next, (e) => e.type === 'message.new' && e.message.id === m2.id);
  await appReached(a, me, e2.seq, 'the first tab to get the second message');
  await appReached(b, me, e2.seq, 'the second tab to get the second message');
  await until(async () => (await notes()) >= 1, 'a notification');
  assert.equal(await notes(), 1, 'one tab alerts');
  assert.deepEqual([...a.errors, ...b.errors], []);
  await A.context.close();
});

test('a chat opened while the one before was still loading its unread messages is read as it comes', async () => {
  const me = await makeUser('swm', 'Sol Switch');
  const p1 = await makeUser('swa', 'Ada Slow');
  const p2 = await makeUser('swb', 'Bob Quick');
  const ca = await api('POST', '/conversations', { token: p1.token, body: { type: 'direct', member_ids: [me.id] } });
  const cb = await api('POST', '/conversations', { token: p2.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${ca.id}/messages`, { token: p1.token, body: { client_id: 'sw1' + p1.id, body: 'unread in the slow chat' } });
  const old = await api('POST', `/conversations/${cb.id}/messages`, { token: p2.token, body: { client_id: 'sw2' + p2.id, body: 'read already' } });
  await api('POST', `/conversations/${cb.id}/read`, { token: me.token, body: { seq: old.seq } });
  let held;
  const A = await signedIn(browser, me, {
    beforeLoad: async (p) => { held = await holdFirstAnswer(p, new RegExp(`/api/v1/conversations/${ca.id}/messages`)); },
  });
  const a = A.page;
  await conversationItem(a, 'Ada Slow').click();
  await until(() => held.reads() === 1, "the slow chat's page asked for");
  await openConversation(a, 'Bob Quick');
  await messageByText(a, 'read already').waitFor();
  await api('POST', `/conversations/${cb.id}/messages`, { token: p2.token, body: { client_id: 'sw3' + p2.id, body: 'new while open' } });
  await messageByText(a, 'new while open').waitFor();
  await until(async () => (await api('GET', `/conversations/${cb.id}`, { token: me.token })).unread_count === 0, 'the open chat read');
  held.release();
  await A.context.close();
});

test('screen readers: each message says who wrote it, a new one is read out once, and a message from my other device leaves the view alone', async () => {
  const { ua, ub, conv, A, a } = await chatWithHistory(['srd', 'srb'], ['Sara Reader', 'Sven Writer'], 40, 'older line');
  // Who wrote what, in a direct chat too (where no name shows).
  assert.equal(await messageByText(a, 'older line 40').locator('.sr-only').textContent(), 'Sven Writer: ');
  // The list is not a live region (its rows are drawn anew as ticks and
  // reactions change); new messages are read out from their own region.
  assert.equal(await a.locator('.msg-scroll').getAttribute('aria-live'), 'off');
  const said = a.locator('[aria-label="New messages read out"] p');
  const m = await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'sr1' + ub.id, body: 'can you hear me' } });
  await said.filter({ hasText: 'Sven Writer: can you hear me' }).waitFor({ state: 'attached' });
  await api('PUT', `/conversations/${conv.id}/messages/${m.id}/reactions/${encodeURIComponent('👍')}`, { token: ub.token });
  await messageByText(a, 'can you hear me').getByRole('button', { name: /^👍 1/ }).waitFor();
  assert.equal(await said.count(), 1, 'read out once, not again as it changes');
  // A reply under way follows the message it quotes: edited, the bar shows
  // the new text; deleted, the reply ends and says so.
  const heard = messageByText(a, 'can you hear me');
  await heard.hover();
  await heard.getByRole('button', { name: 'Reply' }).click();
  const ctx = a.locator('.composer-ctx');
  await ctx.filter({ hasText: 'can you hear me' }).waitFor();
  await api('PATCH', `/conversations/${conv.id}/messages/${m.id}`, { token: ub.token, body: { body: 'can you hear me now' } });
  await ctx.filter({ hasText: 'can you hear me now' }).waitFor();
  await api('DELETE', `/conversations/${conv.id}/messages/${m.id}`, { token: ub.token });
  await a.locator('.toast', { hasText: 'The message you were replying to was deleted.' }).waitFor();
  assert.equal(await ctx.isHidden(), true);
  // Scrolled up, a message I send from my phone does not pull the view down.
  await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
  await a.waitForTimeout(300);
  await api('POST', `/conversations/${conv.id}/messages`, { token: ua.token, body: { client_id: 'sr2' + ua.id, body: 'from my phone' } });
  await messageByText(a, 'from my phone').waitFor({ state: 'attached' });
  await a.waitForTimeout(300);
  assert.ok(await a.locator('.msg-scroll').evaluate((el) => el.scrollTop < 400), 'the view stays where it was');
  assert.equal(await said.count(), 1, 'my own message is not read out to me');
  // What comes below the reader is counted on the jump button.
  for (const t of ['below one', 'below two']) await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: t.replace(' ', '') + ub.id, body: t } });
  const jump = a.getByRole('button', { name: 'Jump to the latest message, 2 new messages' });
  await jump.waitFor();
  assert.equal(await jump.locator('.jump-count').textContent(), '2');
  await jump.click();
  await a.getByRole('button', { name: /^Jump to the latest message/ }).waitFor({ state: 'hidden' });
  await a.locator('.msg-scroll').evaluate((el) => { el.scrollTop = 0; });
  await a.getByRole('button', { name: 'Jump to the latest message', exact: true }).waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('keyboard: the composer, conversation list and dialogs work without a mouse', async () => {
  const { ub, A, B } = await directPair('kbd', 'kbb', ['Kim Keys', 'Kai Board']);
  const a = A.page;
  await startDirect(a, ub);
  // Opening a chat puts the cursor in the composer.
  await until(() => a.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Message'), 'focus in the composer');
  await a.keyboard.type('typed with the keyboard');
  await a.keyboard.press('Enter');
  await messageByText(a, 'typed with the keyboard').waitFor();
  // Escape closes a dialog and returns focus.
  await a.getByRole('button', { name: 'New group' }).focus();
  await a.keyboard.press('Enter');
  await a.getByRole('dialog', { name: 'New group' }).waitFor();
  // Every form control on screen (the app and the dialog) has a label.
  const unlabelled = await a.evaluate(() => [...document.querySelectorAll('input, textarea, select')]
    .filter((el) => !(el.getAttribute('aria-label') || el.labels?.length || el.getAttribute('aria-labelledby')))
    .map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unlabelled, []);
  await a.keyboard.press('Escape');
  await a.getByRole('dialog', { name: 'New group' }).waitFor({ state: 'detached' });
  assert.equal(await a.evaluate(() => document.activeElement.getAttribute('aria-label')), 'New group');
  // Every button has an accessible name.
  const unnamed = await a.evaluate(() => [...document.querySelectorAll('button')].filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length);
  assert.equal(unnamed, 0);
  await A.context.close();
  await B.context.close();
});

test('a mute that runs out shows in the list without anything else happening', async () => {
  const me = await makeUser('mtx', 'Mia Timer');
  const other = await makeUser('mty', 'Quiet Quinn');
  const conv = await api('POST', '/conversations', { token: other.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('PATCH', `/conversations/${conv.id}`, { token: me.token, body: { muted_until: new Date(Date.now() + 5 * 60 * 1000).toISOString() } });
  const A = await signedIn(browser, me, { beforeLoad: (p) => p.clock.install() });
  const a = A.page;
  const item = conversationItem(a, 'Quiet Quinn');
  await item.waitFor();
  assert.match(await item.getAttribute('aria-label'), /, muted\./);
  // Six minutes on, with no message, no event and no click.
  await a.clock.fastForward('06:00');
  await until(async () => !/, muted\./.test(await item.getAttribute('aria-label')), 'the list to show the mute ended', 5000);
  await A.context.close();
});

test('muting a conversation quiets its badge and the tab title; unmuting restores them', async () => {
  const me = await makeUser('mut', 'Mia Mute');
  const other = await makeUser('mto', 'Noisy Ned');
  const conv = await api('POST', '/conversations', { token: other.token, body: { type: 'direct', member_ids: [me.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await conversationItem(a, 'Noisy Ned').waitFor();
  await openConversation(a, 'Noisy Ned');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  const dlg = a.getByRole('dialog', { name: 'Contact' });
  await dlg.getByRole('button', { name: 'Mute until I turn it back on' }).click();
  await dlg.getByText('Muted until you turn them back on.').waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();
  // Back to the app with no chat open.
  await a.goto('/');
  await a.getByRole('heading', { name: 'Chats' }).waitFor();
  const item = conversationItem(a, 'Noisy Ned');
  assert.match(await item.getAttribute('aria-label'), /, muted\./);
  await api('POST', `/conversations/${conv.id}/messages`, { token: other.token, body: { client_id: 'm1', body: 'ping while muted' } });
  await item.locator('.badge.muted', { hasText: '1' }).waitFor();
  assert.equal(await a.title(), 'Messenger');
  const after = await api('GET', `/conversations/${conv.id}`, { token: me.token });
  assert.ok(after.muted_until, 'the server keeps the mute');

  await openConversation(a, 'Noisy Ned');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  // By keyboard: the button pressed gives way to another, and the focus
  // goes to the one in its place, not to the page (Enter again works).
  const unmute = a.getByRole('dialog', { name: 'Contact' }).getByRole('button', { name: 'Unmute' });
  await unmute.focus();
  await a.keyboard.press('Enter');
  await a.getByRole('dialog', { name: 'Contact' }).getByRole('button', { name: 'Mute 1 hour' }).waitFor();
  await until(async () => (await a.evaluate(() => document.activeElement?.textContent.trim())) === 'Mute 1 hour', 'the focus on the button in Unmute\'s place');
  await a.keyboard.press('Enter');
  await a.getByRole('dialog', { name: 'Contact' }).getByRole('button', { name: 'Unmute' }).waitFor();
  await until(async () => (await a.evaluate(() => document.activeElement?.textContent.trim())) === 'Unmute', 'the focus on Unmute');
  await a.keyboard.press('Enter');
  await a.getByRole('dialog', { name: 'Contact' }).getByRole('button', { name: 'Mute 1 hour' }).waitFor();
  await a.keyboard.press('Escape');
  await until(async () => !/, muted\./.test(await item.getAttribute('aria-label')), 'the list to show it unmuted');
  await A.context.close();
});

test('the composer by keyboard: Send by Enter keeps focus in the box, an input method\'s Enter sends nothing, and deleting asks with Cancel first', async () => {
  const me = await makeUser('kbd', 'Kim Keys');
  const bo = await makeUser('kbb', 'Bo Keys');
  const c = await api('POST', '/conversations', { token: bo.token, body: { type: 'direct', member_ids: [me.id] } });
  await api('POST', `/conversations/${c.id}/messages`, { token: bo.token, body: { client_id: 'kb1' + bo.id, body: 'hello Kim' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Bo Keys');
  const box = a.getByLabel('Message', { exact: true });
  const focused = () => a.evaluate(() => document.activeElement?.getAttribute('aria-label') || document.activeElement?.tagName);
  // Tab to Send, Enter: sent, and the next keys go to the box (the Send
  // button, hidden once the box is empty, used to take the focus with it).
  await box.fill('sent from the button');
  await a.keyboard.press('Tab');
  assert.equal(await focused(), 'Send');
  await a.keyboard.press('Enter');
  await messageByText(a, 'sent from the button').waitFor();
  await until(async () => (await focused()) === 'Message', 'the focus back in the box');
  await a.keyboard.type('next words');
  assert.equal(await box.inputValue(), 'next words');
  // An input method (Japanese, Chinese, Korean) confirms a word with Enter;
  // Safari ends the composition first and sends that keydown with keyCode
  // 229. It must not send the half-typed text.
  await box.fill('にほん');
  await box.evaluate((el) => el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229, bubbles: true, cancelable: true })));
  await a.waitForTimeout(300);
  assert.equal(await box.inputValue(), 'にほん');
  assert.equal(await messageByText(a, 'にほん').count(), 0);
  const hist = await api('GET', `/conversations/${c.id}/messages`, { token: me.token });
  assert.equal(hist.messages.filter((m) => m.body === 'にほん').length, 0, 'nothing sent');
  await box.fill('');
  // Deleting for everyone cannot be undone: the dialog starts on Cancel,
  // so Enter (or a key held down) keeps the message.
  const mine = messageByText(a, 'sent from the button');
  await mine.hover();
  await mine.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Delete' }).click();
  const dlg = a.getByRole('dialog', { name: 'Delete message?' });
  await dlg.waitFor();
  assert.equal(await focused(), 'BUTTON');
  assert.equal(await a.evaluate(() => document.activeElement.textContent), 'Cancel');
  await a.keyboard.press('Enter');
  await dlg.waitFor({ state: 'detached' });
  await a.waitForTimeout(300);
  assert.equal(await a.locator('.msg.deleted').count(), 0, 'nothing deleted');
  assert.equal((await api('GET', `/conversations/${c.id}/messages`, { token: me.token })).messages.filter((m) => m.deleted_at).length, 0);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('drafts in two tabs: each keeps the other\'s, a sent draft does not come back, and one typed just before a reload is kept', async () => {
  const me = await makeUser('dft', 'Dee Drafts');
  const bo = await makeUser('dfb', 'Bo Drafts');
  const cy = await makeUser('dfc', 'Cy Drafts');
  for (const [u, n] of [[bo, 1], [cy, 2]]) {
    const c = await api('POST', '/conversations', { token: u.token, body: { type: 'direct', member_ids: [me.id] } });
    await api('POST', `/conversations/${c.id}/messages`, { token: u.token, body: { client_id: `df${n}x${u.id}`, body: 'hi Dee ' + n } });
  }
  const A = await signedIn(browser, me);
  const a1 = A.page;
  const a2 = await A.context.newPage();
  await a2.goto('/');
  await a2.getByRole('heading', { name: 'Chats' }).waitFor();
  const stored = (p) => p.evaluate((k) => JSON.parse(localStorage.getItem(k) || '{}'), 'messenger.drafts.' + me.id);
  const drafted = async (p, text) => Object.values(await stored(p)).includes(text);
  // Tab 1 drafts to Bo; tab 2, loaded before, drafts to Cy: both stay.
  await openConversation(a1, 'Bo Drafts');
  await a1.getByLabel('Message', { exact: true }).pressSequentially('for Bo, later');
  await until(() => drafted(a1, 'for Bo, later'), 'the draft to Bo kept');
  await openConversation(a2, 'Cy Drafts');
  await a2.getByLabel('Message', { exact: true }).pressSequentially('for Cy, later');
  await until(() => drafted(a2, 'for Cy, later'), 'the draft to Cy kept');
  assert.ok(await drafted(a2, 'for Bo, later'), 'the other tab\'s draft kept');
  // Tab 2's list shows the draft typed in tab 1.
  await conversationItem(a2, 'Bo Drafts').filter({ hasText: 'Draft: for Bo, later' }).waitFor();
  // Tab 2 (reloaded: it has read both drafts) is open on Cy when tab 1
  // sends its draft to Bo and tab 2 types on: the sent draft does not come
  // back, in storage or in either tab's list.
  await a2.reload();
  await openConversation(a2, 'Cy Drafts');
  assert.equal(await a2.getByLabel('Message', { exact: true }).inputValue(), 'for Cy, later');
  await a1.getByLabel('Message', { exact: true }).press('Enter');
  await messageByText(a1, 'for Bo, later').waitFor();
  await until(async () => !(await drafted(a1, 'for Bo, later')), 'the sent draft gone');
  await a2.getByLabel('Message', { exact: true }).pressSequentially(' and more');
  await until(() => drafted(a2, 'for Cy, later and more'), 'the draft to Cy kept again');
  assert.ok(!(await drafted(a2, 'for Bo, later')), 'the sent draft stays gone');
  await a2.reload();
  await openConversation(a2, 'Cy Drafts');
  assert.equal(await a2.getByLabel('Message', { exact: true }).inputValue(), 'for Cy, later and more');
  await conversationItem(a2, 'Bo Drafts').waitFor();
  assert.equal(await conversationItem(a2, 'Bo Drafts').filter({ hasText: 'Draft:' }).count(), 0);
  // Typed and reloaded at once (before the draft's usual keep, a moment
  // after typing stops): kept all the same.
  await openConversation(a1, 'Cy Drafts');
  const box = a1.getByLabel('Message', { exact: true });
  await box.fill('');
  await box.pressSequentially('quick');
  await a1.reload();
  await openConversation(a1, 'Cy Drafts');
  assert.equal(await a1.getByLabel('Message', { exact: true }).inputValue(), 'quick');
  await A.context.close();
});
