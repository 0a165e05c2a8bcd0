// The web app when requests fail or the user changes course: a list or a
// history that could not load, a read mark lost on the way, an edit begun
// over a half-typed message, and the phone's Back button.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, makeUser, signedIn, send, messageByText, openConversation, conversationItem, api, until, failFirst, failUntil,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function pairWithMessage(prefix, names, text) {
  const ua = await makeUser(prefix + 'a', names[0]);
  const ub = await makeUser(prefix + 'b', names[1]);
  const conv = await api('POST', '/conversations', { token: ub.token, body: { type: 'direct', member_ids: [ua.id] } });
  const msg = await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: prefix + ub.id, body: text } });
  return { ua, ub, conv, msg };
}

test('a conversation list that failed to load at start is loaded again without a reload', async () => {
  const { ua } = await pairWithMessage('rl', ['Rue List', 'Ray Lane'], 'Are you there?');
  let failed;
  const A = await signedIn(browser, ua, { beforeLoad: async (p) => { failed = await failFirst(p, /\/api\/v1\/conversations(\?|$)/); } });
  const a = A.page;
  await conversationItem(a, 'Ray Lane').waitFor();
  assert.equal(failed(), 1, 'the first load failed');
  await openConversation(a, 'Ray Lane');
  await messageByText(a, 'Are you there?').waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('older conversations that fail to load say so, and load when asked again', async () => {
  const me = await makeUser('olc', 'Ola Lists');
  const pal = await makeUser('olp', 'Pal Lists');
  // 55 groups: one more page after the first 50. The oldest activity first.
  for (let i = 1; i <= 55; i++) {
    const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: `Club ${String(i).padStart(2, '0')}`, member_ids: [pal.id] } });
    await api('POST', `/conversations/${g.id}/messages`, { token: me.token, body: { client_id: `ol${i}x${me.id}`, body: `club ${i}` } });
  }
  let more;
  const A = await signedIn(browser, me, { beforeLoad: async (p) => { more = await failUntil(p, /\/api\/v1\/conversations\?.*cursor=/); } });
  const a = A.page;
  await conversationItem(a, 'Club 55').waitFor();
  // Connected first: coming back from an outage, the app asks again by
  // itself, and that is not what is tested here.
  await a.locator('.conn-banner[data-status="live"]').waitFor({ state: 'attached' });
  await a.locator('.conv-scroll').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await a.getByText('Could not load more conversations.').waitFor();
  assert.equal(await a.locator('.conv-item').count(), 50, 'the first page');
  more.stop();
  await a.getByRole('button', { name: 'Try again' }).click();
  await until(async () => (await a.locator('.conv-item').count()) === 55, 'all 55 conversations');
  assert.equal(await a.getByText('Could not load more conversations.').isVisible(), false);
  await A.context.close();
});

test('group details whose member list failed to load say so, and load it when asked again', async () => {
  const me = await makeUser('gdm', 'Gia Details');
  const pal = await makeUser('gdp', 'Pio Member');
  await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Quiet club', member_ids: [pal.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  // The conversation itself (with its members) cannot be read for now.
  const one = await failUntil(a, /\/api\/v1\/conversations\/\d+$/);
  await openConversation(a, 'Quiet club');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  const dlg = a.getByRole('dialog', { name: 'Group details' });
  await dlg.getByText('Could not load the members.').waitFor();
  one.stop();
  await dlg.getByRole('button', { name: 'Try again' }).click();
  await dlg.getByRole('list', { name: 'Members' }).getByText('Pio Member').waitFor();
  assert.equal(await dlg.getByText('Could not load the members.').count(), 0);
  await A.context.close();
});

test('a history that failed to load says so, offers to try again, and shows what was sent meanwhile', async () => {
  const { ua, ub, conv } = await pairWithMessage('rh', ['Hal History', 'Hugo Host'], 'An older message');
  const A = await signedIn(browser, ua);
  const a = A.page;
  // The history fails to load (and so do the app's own retries, when its
  // stream reconnects) until the reader asks again.
  const history = await failUntil(a, new RegExp(`/api/v1/conversations/${conv.id}/messages(\\?|$)`));
  await openConversation(a, 'Hugo Host');
  await a.getByText('Could not load messages').waitFor();
  assert.ok(history.count() >= 1);
  // Sent before the history is there: shown, and delivered.
  await send(a, 'Typed before the history came');
  await messageByText(a, 'Typed before the history came').waitFor();
  await until(async () => {
    const r = await api('GET', `/conversations/${conv.id}/messages?limit=5`, { token: ub.token });
    return r.messages.some((m) => m.body === 'Typed before the history came');
  }, 'the message to arrive');
  // Once sent it stays shown, with its tick, though the history is not there yet.
  await until(() => messageByText(a, 'Typed before the history came').evaluate((el) => el.dataset.status === 'sent' || el.dataset.status === 'delivered'), 'the sent tick');
  await a.getByText('Could not load messages').waitFor();
  history.stop();
  await a.getByRole('button', { name: 'Try again' }).click();
  await messageByText(a, 'An older message').waitFor();
  await a.getByText('Could not load messages').waitFor({ state: 'detached' });
  // Each message once.
  assert.equal(await messageByText(a, 'Typed before the history came').count(), 1);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a read mark that failed on the way is sent again', async () => {
  const { ua, ub, conv, msg } = await pairWithMessage('rr', ['Rita Read', 'Rob Sender'], 'Please read me');
  const A = await signedIn(browser, ua);
  const a = A.page;
  const failed = await failFirst(a, new RegExp(`/api/v1/conversations/${conv.id}/read$`), 'POST');
  await openConversation(a, 'Rob Sender');
  await messageByText(a, 'Please read me').waitFor();
  await until(() => failed() === 1, 'the first read mark to fail');
  // The sender sees it read after all.
  await until(async () => {
    const c = await api('GET', `/conversations/${conv.id}`, { token: ub.token });
    const me = c.members.find((m) => m.user.id === ua.id);
    return me && me.last_read_seq >= msg.seq;
  }, 'the read mark to reach the server', 20000);
  await A.context.close();
});

test('editing a message keeps the half-typed draft, and switching chats does not turn the edit into a draft', async () => {
  const ua = await makeUser('rea', 'Eda Edit');
  const ub = await makeUser('reb', 'Eli Other');
  const uc = await makeUser('rec', 'Ena Third');
  const c1 = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [uc.id] } });
  await api('POST', `/conversations/${c1.id}/messages`, { token: ua.token, body: { client_id: 'e1' + ua.id, body: 'Original words' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Eli Other');
  const box = a.getByLabel('Message', { exact: true });
  const mine = messageByText(a, 'Original words');
  await mine.waitFor();

  // Cancelling the edit brings the draft back.
  await box.fill('half typed');
  await mine.hover();
  await mine.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Edit' }).click();
  assert.equal(await box.inputValue(), 'Original words');
  await box.press('Escape');
  assert.equal(await box.inputValue(), 'half typed');

  // Saving the edit brings it back too.
  await mine.hover();
  await mine.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Edit' }).click();
  await box.fill('Better words');
  await box.press('Enter');
  await messageByText(a, 'Better words').waitFor();
  assert.equal(await box.inputValue(), 'half typed');

  // Replying to a message mid-edit ends the edit and brings the draft back:
  // the edit's text is not sent as the reply.
  const better = messageByText(a, 'Better words');
  await better.hover();
  await better.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Edit' }).click();
  assert.equal(await box.inputValue(), 'Better words');
  await better.hover();
  await better.getByRole('button', { name: 'Reply' }).click();
  await a.locator('.composer-ctx', { hasText: 'Replying to yourself' }).waitFor();
  assert.equal(await box.inputValue(), 'half typed');
  await a.locator('.composer-ctx').getByRole('button', { name: 'Cancel reply' }).click();

  // Leaving mid-edit keeps the draft, not the edit's text, for this chat.
  const edited = messageByText(a, 'Better words');
  await edited.hover();
  await edited.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Edit' }).click();
  await openConversation(a, 'Ena Third');
  await openConversation(a, 'Eli Other');
  assert.equal(await box.inputValue(), 'half typed');
  assert.equal(await a.getByText('Editing message').count(), 0);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a chat whose history could not load is not marked read, however the window is used meanwhile', async () => {
  const { ua, ub, conv } = await pairWithMessage('hf', ['Hal Fail', 'Hugo Wrote'], 'unread words');
  const A = await signedIn(browser, ua);
  const a = A.page;
  const history = await failUntil(a, /\/api\/v1\/conversations\/\d+\/messages(\?|$)/);
  await openConversation(a, 'Hugo Wrote');
  await a.getByText('Could not load messages.').waitFor();
  // The window looks away and back, and another message comes.
  await a.evaluate(() => { window.dispatchEvent(new Event('blur')); window.dispatchEvent(new Event('focus')); document.dispatchEvent(new Event('visibilitychange')); });
  await api('POST', `/conversations/${conv.id}/messages`, { token: ub.token, body: { client_id: 'hf2' + ub.id, body: 'more words' } });
  await conversationItem(a, 'Hugo Wrote').getByText('more words').waitFor();
  await a.waitForTimeout(600);
  assert.equal((await api('GET', `/conversations/${conv.id}`, { token: ua.token })).unread_count, 2, 'nothing marked read');
  // Loaded at last, it is read.
  history.stop();
  await a.getByRole('button', { name: 'Try again' }).click();
  await messageByText(a, 'more words').waitFor();
  await until(async () => (await api('GET', `/conversations/${conv.id}`, { token: ua.token })).unread_count === 0, 'the chat to be read once shown');
  await A.context.close();
});

test('phone width: Back leaves no dead history entries, and a link to a chat goes back to the list', async () => {
  const { ua, conv } = await pairWithMessage('rb', ['Bea Back', 'Bo Button'], 'Hi on the phone');
  const A = await signedIn(browser, ua, { width: 375, height: 740 });
  const a = A.page;
  const cycle = async () => {
    await openConversation(a, 'Bo Button');
    await a.getByRole('button', { name: 'Back to conversations' }).click();
    await conversationItem(a, 'Bo Button').waitFor();
    await until(() => a.locator('main.main').isHidden(), 'the chat to close');
  };
  await cycle();
  const length = await a.evaluate(() => history.length);
  await cycle();
  await cycle();
  assert.equal(await a.evaluate(() => history.length), length, 'in-app Back adds no history entries');
  // The browser's Back from a chat returns to the list.
  await openConversation(a, 'Bo Button');
  await a.goBack();
  await until(() => a.locator('main.main').isHidden(), 'Back to close the chat');

  // Opened from a link: Back shows the list, not the same chat again.
  await a.goto(`/#/c/${conv.id}`);
  await messageByText(a, 'Hi on the phone').waitFor();
  await a.goBack();
  await until(() => a.locator('main.main').isHidden(), 'Back from a linked chat to show the list');
  await conversationItem(a, 'Bo Button').waitFor();
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('keyboard focus stays put while receipts, reactions and renames redraw what has it', async () => {
  const ua = await makeUser('rfa', 'Fay Focus');
  const ub = await makeUser('rfb', 'Finn Reader');
  const conv = await api('POST', '/conversations', { token: ua.token, body: { type: 'direct', member_ids: [ub.id] } });
  const msg = await api('POST', `/conversations/${conv.id}/messages`, { token: ua.token, body: { client_id: 'f1' + ua.id, body: 'Focus on me' } });
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Finn Reader');
  const row = messageByText(a, 'Focus on me');
  await row.waitFor();
  await row.getByRole('button', { name: 'Reply' }).focus();
  const focusedIs = (sel) => a.evaluate((s) => !!document.activeElement?.matches(s), sel);
  // Finn reads it: the row is drawn again with its new tick.
  await api('POST', `/conversations/${conv.id}/read`, { token: ub.token, body: { seq: msg.seq } });
  await until(() => row.evaluate((el) => el.dataset.status === 'read'), 'the read tick');
  assert.ok(await focusedIs(`[data-id="${msg.id}"] button[data-control="reply"]`), 'focus is on the same Reply button');
  // A reaction redraws it too.
  await api('PUT', `/conversations/${conv.id}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}`, { token: ub.token });
  await row.locator('.reaction').waitFor();
  assert.ok(await focusedIs(`[data-id="${msg.id}"] button[data-control="reply"]`), 'still there after a reaction');

  // In the list: Finn renames himself, every entry is drawn again.
  await conversationItem(a, 'Finn Reader').focus();
  await api('PATCH', '/me', { token: ub.token, body: { display_name: 'Finn Renamed' } });
  await conversationItem(a, 'Finn Renamed').waitFor();
  assert.ok(await focusedIs(`.conv-item[data-conv-id="${conv.id}"]`), 'focus is on the same conversation');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});
