// Finding people and chats from the sidebar, deleting an account (and what
// the people one chatted with then see), and telling read from delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, makeUser, signedIn, send, messageByText, openConversation, conversationItem, api, until, shot,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function direct(token, otherId) {
  return api('POST', '/conversations', { token, body: { type: 'direct', member_ids: [otherId] } });
}

// Sends text through the page's composer and waits until it is stored (the
// tick of a sent message); returns its row and the message as the API has it.
async function sendStored(page, token, convId, text) {
  await send(page, text);
  const row = messageByText(page, text);
  await row.locator('.tick.sent').waitFor();
  const msg = (await api('GET', `/conversations/${convId}/messages`, { token })).messages.at(-1);
  assert.equal(msg.body, text);
  return { row, msg };
}

test('the sidebar search finds my chats and people; picking a person starts a chat with them', async () => {
  const tag = Math.random().toString(36).slice(2, 7);
  const me = await makeUser('finder', `Fiona Finder ${tag}`);
  const known = await makeUser('known', `Quill${tag} Known`);
  const stranger = await makeUser('strange', `Quill${tag} Stranger`);
  await direct(me.token, known.id);
  await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: `Quill${tag} club`, member_ids: [known.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await conversationItem(a, `Quill${tag} club`).waitFor();
  // People are found by the start of their name (the tag keeps other runs' people out).
  await a.getByLabel('Search', { exact: true }).fill(`Quill${tag}`);
  const chats = a.getByRole('list', { name: 'Chats' });
  const people = a.getByRole('list', { name: 'People' });
  await people.getByRole('button', { name: new RegExp(`@${stranger.username}`) }).waitFor();
  // My chats by name: the group and the direct chat with Quill Known.
  await chats.getByRole('button', { name: `Quill${tag} club` }).waitFor();
  await chats.getByRole('button', { name: `Quill${tag} Known` }).waitFor();
  // People: only the one I have no chat with yet (the other is under Chats).
  assert.equal(await people.getByRole('button', { name: new RegExp(`@${known.username}`) }).count(), 0);
  await shot(a, 'search-chats-people');
  await people.getByRole('button', { name: new RegExp(`@${stranger.username}`) }).click();
  await a.locator('.chat-title', { hasText: `Quill${tag} Stranger` }).waitFor();
  await send(a, 'hello from the search');
  await messageByText(a, 'hello from the search').locator('.tick.delivered, .tick.sent, .tick.read').waitFor();
  // It is a real direct chat, with one message, that the stranger has too.
  const list = await api('GET', '/conversations', { token: stranger.token });
  const d = list.conversations.find((c) => c.type === 'direct' && c.peer && c.peer.id === me.id);
  assert.ok(d, 'the stranger has the chat');
  const hist = await api('GET', `/conversations/${d.id}/messages`, { token: stranger.token });
  assert.deepEqual(hist.messages.map((m) => m.body), ['hello from the search']);
  // Picking a chat opens it.
  await a.getByLabel('Search', { exact: true }).fill('club');
  await a.getByRole('list', { name: 'Chats' }).getByRole('button', { name: `Quill${tag} club` }).click();
  await a.locator('.chat-title', { hasText: `Quill${tag} club` }).waitFor();
  await A.context.close();
});

test('deleting my account asks for the password, signs me out, and my contact can no longer write to me', async () => {
  const gone = await makeUser('leaver', 'Lena Leaver');
  const stays = await makeUser('stayer', 'Sam Stayer');
  const d = await direct(stays.token, gone.id);
  await api('POST', `/conversations/${d.id}/messages`, { token: gone.token, body: { client_id: 'bye-1', body: 'see you around' } });
  const G = await signedIn(browser, gone);
  const S = await signedIn(browser, stays);
  const g = G.page, s = S.page;
  await openConversation(s, 'Lena Leaver');
  await messageByText(s, 'see you around').waitFor();
  await s.getByLabel('Message', { exact: true }).waitFor();

  await g.getByRole('button', { name: 'Account menu' }).click();
  await g.getByRole('menuitem', { name: 'Edit profile' }).click();
  const form = g.getByRole('form', { name: 'Delete account' });
  // A wrong password is refused and deletes nothing.
  await form.getByLabel('Password').fill('not-my-password');
  await form.getByRole('button', { name: 'Delete account' }).click();
  await g.getByRole('button', { name: 'Delete', exact: true }).click();
  await form.getByText('Your password is not right.').waitFor();
  const still = await api('GET', '/me', { token: gone.token });
  assert.equal(still.username, gone.username);
  assert.notEqual(still.deleted, true);
  // The right one, confirmed: signed out, back at the login form.
  await form.getByLabel('Password').fill(gone.password);
  await form.getByRole('button', { name: 'Delete account' }).click();
  await g.getByRole('button', { name: 'Delete', exact: true }).click();
  await g.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  await g.getByText('Your account was deleted.').waitFor();
  // The account is gone: its login fails.
  await g.getByLabel('Username').fill(gone.username);
  await g.getByLabel('Password').fill(gone.password);
  await g.getByRole('button', { name: 'Log in', exact: true }).click();
  await g.getByText('Wrong username or password.').waitFor();

  // The contact sees it live: the account is deleted, the chat stays, and
  // there is nothing to write with.
  await s.locator('.chat-title', { hasText: 'Deleted account' }).waitFor();
  await s.getByRole('note').filter({ hasText: 'This account was deleted.' }).waitFor();
  assert.equal(await s.getByLabel('Message', { exact: true }).isVisible(), false);
  await messageByText(s, 'see you around').waitFor();
  await shot(s, 'deleted-contact');
  // Opened afresh, the chat has no composer from the start, and nothing
  // offers to reply.
  await s.reload();
  await s.locator('.conv-item', { hasText: 'Deleted account' }).click();
  await s.getByRole('note').filter({ hasText: 'This account was deleted.' }).waitFor();
  assert.equal(await s.getByLabel('Message', { exact: true }).isVisible(), false);
  assert.notEqual(await s.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Message');
  const row = messageByText(s, 'see you around');
  await row.hover();
  assert.equal(await row.getByRole('button', { name: 'Reply' }).count(), 0);
  await row.getByRole('button', { name: 'Message actions' }).click();
  await s.getByRole('menuitem', { name: 'Copy text' }).waitFor();
  assert.equal(await s.getByRole('menuitem', { name: 'Reply' }).count(), 0);
  await G.context.close();
  await S.context.close();
});

test('read marks look different from delivered ones', async () => {
  const ua = await makeUser('tick', 'Tia Tick');
  const ub = await makeUser('tock', 'Tom Tock');
  const d = await direct(ua.token, ub.id);
  const A = await signedIn(browser, ua);
  const a = A.page;
  await openConversation(a, 'Tom Tock');
  // Stored first, then delivered once Tom's device has it (his stream is
  // not open: he reads his events by the API).
  const { row, msg: sent } = await sendStored(a, ua.token, d.id, 'will you read this');
  await api('GET', `/events?since=0&timeout=0`, { token: ub.token });
  await row.locator('.tick.delivered').waitFor();
  const style = (loc) => loc.evaluate((el) => { const cs = getComputedStyle(el); return `${cs.backgroundColor} ${cs.color}`; });
  const delivered = await style(row.locator('.tick.delivered'));
  await api('POST', `/conversations/${d.id}/read`, { token: ub.token, body: { seq: sent.seq } });
  await row.locator('.tick.read').waitFor();
  const read = await style(row.locator('.tick.read'));
  assert.notEqual(read, delivered, 'read and delivered differ in colour, not only in their labels');
  assert.equal(await row.locator('.tick.read').getAttribute('aria-label'), 'Read');
  await A.context.close();
});

test('online dots show for every direct chat in the list, down to the last, as the list is scrolled', async () => {
  const me = await makeUser('dot', 'Dot Lister');
  const peers = [];
  for (let i = 0; i < 24; i++) peers.push(await makeUser('dp' + i, `Peer ${String(i).padStart(2, '0')} Online`));
  for (const p of peers) {
    await direct(p.token, me.id);
    // Each of them is online (an events request marks it).
    await api('GET', '/events?timeout=0', { token: p.token });
  }
  const A = await signedIn(browser, me, { height: 600 });
  const a = A.page;
  const last = conversationItem(a, 'Peer 00 Online');
  await last.scrollIntoViewIfNeeded();
  await until(async () => /, online/.test(await last.getAttribute('aria-label')), 'the last chat of the list shown online');
  const first = conversationItem(a, 'Peer 23 Online');
  assert.match(await first.getAttribute('aria-label'), /, online/);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('group roles: leaving as owner says who becomes owner; an admin can step down', async () => {
  const owner = await makeUser('gro', 'Olive Owner');
  const adm = await makeUser('gra', 'Adam Admin');
  const mem = await makeUser('grm', 'Mia Member');
  const g = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Roles club', member_ids: [mem.id, adm.id] } });
  await api('PATCH', `/conversations/${g.id}/members/${adm.id}`, { token: owner.token, body: { role: 'admin' } });
  const O = await signedIn(browser, owner);
  const o = O.page;
  await openConversation(o, 'Roles club');
  await o.getByRole('button', { name: 'Conversation details' }).first().click();
  let dlg = o.getByRole('dialog', { name: 'Group details' });
  await dlg.getByRole('list', { name: 'Members' }).locator('li', { hasText: 'Adam Admin' }).waitFor();
  await dlg.getByRole('button', { name: 'Leave group' }).click();
  const confirm = o.getByRole('dialog', { name: 'Leave group?' });
  await confirm.getByText('Adam Admin will become its owner.').waitFor();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await O.context.close();

  const A = await signedIn(browser, adm);
  const a = A.page;
  await openConversation(a, 'Roles club');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  dlg = a.getByRole('dialog', { name: 'Group details' });
  const mine = dlg.getByRole('list', { name: 'Members' }).locator('li', { hasText: 'Adam Admin (you)' });
  await mine.getByRole('button', { name: 'Step down' }).click();
  await a.getByRole('dialog', { name: 'Step down as admin?' }).getByRole('button', { name: 'Step down' }).click();
  await until(async () => (await api('GET', `/conversations/${g.id}`, { token: owner.token })).members.find((m) => m.user.id === adm.id).role === 'member', 'Adam a member again');
  await mine.locator('.role-tag', { hasText: 'Member' }).waitFor();
  assert.equal(await mine.getByRole('button', { name: 'Step down' }).count(), 0);
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a group\'s member list shows who is online and when the others were last seen, and follows who comes online', async () => {
  const me = await makeUser('pres', 'Pia Present');
  const on = await makeUser('onl', 'Otto Online');
  const off = await makeUser('offl', 'Olga Offline');
  await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Who is here', member_ids: [on.id, off.id] } });
  // Otto has a client waiting for events: online.
  const waiting = api('GET', '/events?timeout=25', { token: on.token }).catch(() => {});
  await until(async () => (await api('GET', `/users/${on.id}/presence`, { token: me.token })).online, 'Otto to be online');
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Who is here');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  const members = a.getByRole('list', { name: 'Members' });
  const sub = (name) => members.locator('li', { hasText: name }).locator('.person-sub');
  await sub('Otto Online').filter({ hasText: /· Active now$/ }).waitFor();
  await sub('Olga Offline').filter({ hasText: /· (Offline|Active .* ago|Last seen .*)$/ }).waitFor();
  assert.doesNotMatch(await sub('Olga Offline').textContent(), /Active now/);
  // Olga comes online while the list is open: her row changes as it comes,
  // Otto's stays as it was.
  const olga = api('GET', '/events?timeout=3', { token: off.token }).catch(() => {});
  await sub('Olga Offline').filter({ hasText: /· Active now$/ }).waitFor();
  assert.match(await sub('Otto Online').textContent(), /· Active now$/);
  await A.context.close();
  await Promise.all([waiting, olga]);
});

test('the group details keep what is being typed while the group and its members change', async () => {
  const me = await makeUser('typ', 'Tess Typing');
  const mo = await makeUser('tym', 'Moe Member');
  const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Name me', member_ids: [mo.id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Name me');
  await a.getByRole('button', { name: 'Conversation details' }).first().click();
  const dlg = a.getByRole('dialog', { name: 'Group details' });
  const field = dlg.getByLabel('Group name');
  await field.click();
  await field.fill('A new na');
  // Moe renames himself meanwhile: his row changes, the typing stays.
  await api('PATCH', '/me', { token: mo.token, body: { display_name: 'Moe Renamed' } });
  await dlg.getByRole('list', { name: 'Members' }).locator('li', { hasText: 'Moe Renamed' }).waitFor();
  assert.equal(await field.inputValue(), 'A new na');
  assert.equal(await a.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Group name');
  await a.keyboard.type('me');
  await a.keyboard.press('Enter');
  await until(async () => (await api('GET', `/conversations/${g.id}`, { token: me.token })).title === 'A new name', 'the rename');
  assert.deepEqual(a.errors, []);
  await A.context.close();
});

test('a group whose creation answer was lost is created once when the user tries again', async () => {
  const me = await makeUser('grp', 'Gus Group');
  const pal = await makeUser('pal', 'Pam Pal');
  const A = await signedIn(browser, me);
  const a = A.page;
  // The server creates the group; its answer never reaches the page.
  let lost = 0;
  await a.route(/\/api\/v1\/conversations$/, async (route) => {
    if (route.request().method() === 'POST' && lost === 0) {
      lost++;
      await route.fetch();
      return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  await a.getByRole('button', { name: 'New group' }).click();
  await a.getByLabel('Group name').fill('Only once');
  await a.getByLabel('Add people').fill(pal.username);
  await a.getByRole('button', { name: new RegExp(`@${pal.username}`) }).click();
  await a.getByRole('button', { name: 'Create group' }).click();
  await a.getByRole('alert').filter({ hasText: /offline|connection/i }).waitFor();
  assert.equal(lost, 1);
  await a.getByRole('button', { name: 'Create group' }).click();
  await a.locator('.chat-title', { hasText: 'Only once' }).waitFor();
  const list = await api('GET', '/conversations', { token: me.token });
  assert.equal(list.conversations.filter((c) => c.title === 'Only once').length, 1);
  await A.context.close();
});

test('in a group too big for receipt events, my message shows as read once everyone read it', async () => {
  const me = await makeUser('big', 'Bea Big');
  const others = [];
  for (let i = 0; i < 33; i++) others.push(await makeUser('bigm', `Member ${i}`));
  const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Thirty-four', member_ids: others.map((u) => u.id) } });
  await api('POST', '/conversations', { token: me.token, body: { type: 'direct', member_ids: [others[0].id] } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Thirty-four');
  const { msg } = await sendStored(a, me.token, g.id, 'everyone read this');
  await Promise.all(others.map((u) => api('POST', `/conversations/${g.id}/read`, { token: u.token, body: { seq: msg.seq } })));
  // No receipt events in a group this size: coming back to it shows the marks.
  await openConversation(a, 'Member 0');
  await openConversation(a, 'Thirty-four');
  await messageByText(a, 'everyone read this').locator('.tick.read').waitFor();
  await A.context.close();
});

test('blocking from the contact details closes the chat for both at once; unblocking from the chat or from the blocked list opens it again', async () => {
  const a = await makeUser('blocker', 'Bea Blocker');
  const x = await makeUser('blocked', 'Xan Blocked');
  const d = await direct(a.token, x.id);
  await api('POST', `/conversations/${d.id}/messages`, { token: x.token, body: { client_id: 'blk-1', body: 'hi there' } });
  const A = await signedIn(browser, a);
  const X = await signedIn(browser, x);
  const pa = A.page, px = X.page;
  await openConversation(pa, 'Xan Blocked');
  await openConversation(px, 'Bea Blocker');
  await messageByText(px, 'hi there').waitFor();
  // Each sees the other online (both have the app open).
  await px.locator('.chat-sub', { hasText: 'Active now' }).waitFor();

  // Blocked from the contact details, after a question.
  await pa.getByRole('button', { name: 'Conversation details' }).first().click();
  const dlg = pa.getByRole('dialog', { name: 'Contact' });
  await dlg.getByRole('button', { name: 'Block Xan Blocked' }).click();
  await pa.getByRole('dialog', { name: 'Block Xan Blocked?' }).getByRole('button', { name: 'Block', exact: true }).click();
  await dlg.getByRole('button', { name: 'Unblock Xan Blocked' }).waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();
  const mine = pa.getByRole('note').filter({ hasText: 'You blocked Xan Blocked.' });
  await mine.waitFor();
  assert.equal(await pa.getByLabel('Message', { exact: true }).isVisible(), false);
  // The other side sees it at once: nothing to write with, no reactions to give.
  await px.getByRole('note').filter({ hasText: 'You can\'t reply to this conversation.' }).waitFor();
  assert.equal(await px.getByLabel('Message', { exact: true }).isVisible(), false);
  const row = messageByText(px, 'hi there');
  await row.hover();
  assert.equal(await row.getByRole('button', { name: /^Reply to/ }).count(), 0, 'the rows drawn before have no Reply any more');
  // Nor is the blocker's presence shown any more.
  await px.locator('.chat-sub', { hasText: `@${a.username}` }).waitFor();
  assert.equal(await px.locator('.chat-head .dot').count(), 0, 'no online dot');
  await row.getByRole('button', { name: 'Message actions' }).click();
  await px.getByRole('menuitem', { name: 'Delete' }).waitFor();
  assert.equal(await px.getByRole('button', { name: 'React with 👍' }).count(), 0);
  assert.equal(await px.getByRole('menuitem', { name: 'Edit' }).count(), 0);
  await px.keyboard.press('Escape');
  await shot(pa, 'blocked-contact');
  // It holds over a reload.
  await pa.reload();
  await pa.locator('.conv-item', { hasText: 'Xan Blocked' }).click();
  await mine.waitFor();

  // Unblocked from the chat: both can write again, and do.
  await mine.getByRole('button', { name: 'Unblock' }).click();
  await pa.getByLabel('Message', { exact: true }).waitFor();
  await px.getByLabel('Message', { exact: true }).waitFor();
  await send(px, 'thanks for that');
  await messageByText(pa, 'thanks for that').waitFor();

  // Blocked again, then unblocked from the list of blocked people.
  await pa.getByRole('button', { name: 'Conversation details' }).first().click();
  await dlg.getByRole('button', { name: 'Block Xan Blocked' }).click();
  await pa.getByRole('dialog', { name: 'Block Xan Blocked?' }).getByRole('button', { name: 'Block', exact: true }).click();
  await dlg.getByRole('button', { name: 'Unblock Xan Blocked' }).waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();
  await px.getByRole('note').filter({ hasText: 'You can\'t reply to this conversation.' }).waitFor();
  await pa.getByRole('button', { name: 'Account menu' }).click();
  await pa.getByRole('menuitem', { name: 'Blocked people' }).click();
  const list = pa.getByRole('dialog', { name: 'Blocked people' });
  await list.getByText(`@${x.username}`).waitFor();
  await list.getByRole('button', { name: 'Unblock Xan Blocked' }).click();
  await list.getByText('You are not blocking anyone.').waitFor();
  await px.getByLabel('Message', { exact: true }).waitFor();
  assert.deepEqual((await api('GET', '/me/blocks', { token: a.token })).blocks, []);
  await A.context.close();
  await X.context.close();
});

test('forwarding a message sends it once to each chat picked, and lists only chats one can write to', async () => {
  const me = await makeUser('fwdme', 'Fay Forwarder');
  const pal = await makeUser('fwdpal', 'Pip Source');
  const shut = await makeUser('fwdshut', 'Sid Shut');
  const d = await direct(me.token, pal.id);
  const g = await api('POST', '/conversations', { token: me.token, body: { type: 'group', title: 'Forward club', member_ids: [pal.id] } });
  const closed = await direct(me.token, shut.id);
  await api('PUT', `/me/blocks/${shut.id}`, { token: me.token });
  const text = 'meet at noon\nby the old bridge';
  await api('POST', `/conversations/${d.id}/messages`, { token: pal.token, body: { client_id: 'fwd-1', body: text } });
  const A = await signedIn(browser, me);
  const a = A.page;
  await openConversation(a, 'Pip Source');
  const row = messageByText(a, 'meet at noon');
  await row.hover();
  await row.getByRole('button', { name: 'Message actions' }).click();
  await a.getByRole('menuitem', { name: 'Forward…' }).click();
  const dlg = a.getByRole('dialog', { name: 'Forward' });
  const chats = dlg.getByRole('list', { name: 'Chats to forward to' });
  await chats.getByRole('button', { name: 'Send to Forward club' }).waitFor();
  await chats.getByRole('button', { name: 'Send to Pip Source' }).waitFor();
  assert.equal(await chats.getByRole('button', { name: 'Send to Sid Shut' }).count(), 0, 'a closed chat is not offered');
  // Narrowed by name; sent once however often it is pressed.
  await dlg.getByLabel('Search chats').fill('club');
  assert.equal(await chats.getByRole('button', { name: 'Send to Pip Source' }).count(), 0);
  await chats.getByRole('button', { name: 'Send to Forward club' }).click();
  const sent = chats.getByRole('button', { name: 'Sent to Forward club' });
  await sent.waitFor();
  assert.equal(await sent.evaluate((b) => b === document.activeElement), true, 'the focus stays on it');
  await a.keyboard.press('Enter');
  await a.keyboard.press('Enter');
  await until(async () => (await api('GET', `/conversations/${g.id}/messages`, { token: pal.token })).messages.length === 1, 'the forwarded message stored');
  await dlg.getByRole('button', { name: 'Close' }).click();
  await a.waitForTimeout(300);
  const got = (await api('GET', `/conversations/${g.id}/messages`, { token: pal.token })).messages;
  assert.deepEqual(got.map((m) => [m.sender_id, m.body]), [[me.id, text]], 'once, from me, with its lines');
  assert.equal((await api('GET', `/conversations/${closed.id}/messages`, { token: me.token })).messages.length, 0);
  await A.context.close();
});

test('Alt+Down and Alt+Up move to the next and previous chat in the list', async () => {
  const me = await makeUser('kbme', 'Kit Keys');
  const names = ['Ann Oldest', 'Ben Middle', 'Cy Newest'];
  for (const n of names) {
    const u = await makeUser('kb', n);
    const d = await direct(u.token, me.id);
    await api('POST', `/conversations/${d.id}/messages`, { token: u.token, body: { client_id: 'kb' + u.id, body: 'hi from ' + n } });
    // A message of mine in the middle one: Up in its empty box would edit it.
    if (n === 'Ben Middle') await api('POST', `/conversations/${d.id}/messages`, { token: me.token, body: { client_id: 'kbme' + u.id, body: 'mine here' } });
  }
  const A = await signedIn(browser, me);
  const a = A.page;
  await conversationItem(a, 'Ann Oldest').waitFor();
  const title = a.locator('.chat-title');
  await a.keyboard.press('Alt+ArrowDown');
  await title.filter({ hasText: 'Cy Newest' }).waitFor();
  // From the message box too.
  await a.getByLabel('Message', { exact: true }).focus();
  await a.keyboard.press('Alt+ArrowDown');
  await title.filter({ hasText: 'Ben Middle' }).waitFor();
  await a.keyboard.press('Alt+ArrowDown');
  await title.filter({ hasText: 'Ann Oldest' }).waitFor();
  // The end of the list is the end.
  await messageByText(a, 'hi from Ann Oldest').waitFor();
  await a.keyboard.press('Alt+ArrowDown');
  await a.keyboard.press('Alt+ArrowUp');
  await title.filter({ hasText: 'Ben Middle' }).waitFor();
  assert.equal(await conversationItem(a, 'Ben Middle').getAttribute('aria-current'), 'true');
  // Alt+Up from its empty box moves on; it does not start editing my message there.
  await messageByText(a, 'mine here').waitFor();
  await a.getByLabel('Message', { exact: true }).focus();
  await a.keyboard.press('Alt+ArrowUp');
  await title.filter({ hasText: 'Cy Newest' }).waitFor();
  await a.keyboard.press('Alt+ArrowDown');
  await title.filter({ hasText: 'Ben Middle' }).waitFor();
  assert.equal(await a.getByLabel('Message', { exact: true }).inputValue(), '', 'no edit begun');
  assert.equal(await a.getByText('Editing').count(), 0);
  await A.context.close();
});

test('a chat pinned from its actions stays at the top (after a reload too); one marked unread shows so until opened', async () => {
  const me = await makeUser('pnme', 'Pia Pinner');
  const convs = {};
  for (const n of ['Ola Oldest', 'Mo Middle', 'Nia Newest']) {
    const u = await makeUser('pn', n);
    const d = await direct(u.token, me.id);
    await api('POST', `/conversations/${d.id}/messages`, { token: u.token, body: { client_id: 'pn' + u.id, body: 'hi from ' + n } });
    convs[n] = d;
  }
  for (const d of Object.values(convs)) {
    const last = (await api('GET', `/conversations/${d.id}`, { token: me.token })).last_seq;
    await api('POST', `/conversations/${d.id}/read`, { token: me.token, body: { seq: last } });
  }
  const A = await signedIn(browser, me);
  const a = A.page;
  const order = () => a.locator('.conv-list .conv-title').allTextContents();
  await until(async () => (await order()).join() === 'Nia Newest,Mo Middle,Ola Oldest', 'the list by activity');
  const actions = async (name) => {
    await conversationItem(a, name).hover();
    await a.getByRole('button', { name: `Chat actions: ${name}` }).click();
  };
  await actions('Ola Oldest');
  await a.getByRole('menuitem', { name: 'Pin to the top' }).click();
  await until(async () => (await order()).join() === 'Ola Oldest,Nia Newest,Mo Middle', 'the pinned chat on top');
  assert.match(await conversationItem(a, 'Ola Oldest').getAttribute('aria-label'), /, pinned/);
  // Marked unread: bold, with a dot, counted in the tab's title.
  await actions('Mo Middle');
  await a.getByRole('menuitem', { name: 'Mark as unread' }).click();
  await until(async () => /marked unread/.test(await conversationItem(a, 'Mo Middle').getAttribute('aria-label')), 'the mark shown');
  assert.equal(await conversationItem(a, 'Mo Middle').evaluate((b) => b.classList.contains('unread')), true);
  await until(async () => (await a.title()) === '(1) Messenger', 'the title counting it');
  // The server has both, and a reload shows them.
  await a.reload();
  await until(async () => (await order()).join() === 'Ola Oldest,Nia Newest,Mo Middle', 'the order after a reload');
  assert.match(await conversationItem(a, 'Mo Middle').getAttribute('aria-label'), /marked unread/);
  // Opening it reads it: the mark goes, here and on the server.
  await openConversation(a, 'Mo Middle');
  await until(async () => !/marked unread/.test(await conversationItem(a, 'Mo Middle').getAttribute('aria-label')), 'the mark gone');
  await until(async () => (await api('GET', `/conversations/${convs['Mo Middle'].id}`, { token: me.token })).marked_unread === false, 'the server to drop it');
  await until(async () => (await a.title()) === 'Messenger', 'the title without it');
  // Unpinned, it goes back to its place.
  await actions('Ola Oldest');
  await a.getByRole('menuitem', { name: 'Unpin' }).click();
  await until(async () => (await order()).join() === 'Nia Newest,Mo Middle,Ola Oldest', 'back by activity');
  await A.context.close();
});

test('an archived chat leaves the list, is found under Archived chats, and comes back when unarchived or when a message arrives', async () => {
  const me = await makeUser('arme', 'Abe Archiver');
  const pal = await makeUser('arpal', 'Quin Quiet');
  const d = await direct(pal.token, me.id);
  await api('POST', `/conversations/${d.id}/messages`, { token: pal.token, body: { client_id: 'ar1' + pal.id, body: 'old news' } });
  const A = await signedIn(browser, me);
  const a = A.page;
  const row = conversationItem(a, 'Quin Quiet');
  await row.hover();
  await a.getByRole('button', { name: 'Chat actions: Quin Quiet' }).click();
  await a.getByRole('menuitem', { name: 'Archive' }).click();
  await row.waitFor({ state: 'detached' });
  assert.notEqual((await api('GET', `/conversations/${d.id}`, { token: me.token })).archived_seq, null, 'archived on the server');
  // Found in the archive, and taken out from there.
  await a.getByRole('button', { name: 'Account menu' }).click();
  await a.getByRole('menuitem', { name: 'Archived chats' }).click();
  const dlg = a.getByRole('dialog', { name: 'Archived chats' });
  await dlg.getByRole('button', { name: 'Unarchive Quin Quiet' }).click();
  await dlg.getByText('No archived chats.').waitFor();
  await row.waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();
  // Archived again, a new message brings it back by itself.
  await row.hover();
  await a.getByRole('button', { name: 'Chat actions: Quin Quiet' }).click();
  await a.getByRole('menuitem', { name: 'Archive' }).click();
  await row.waitFor({ state: 'detached' });
  await api('POST', `/conversations/${d.id}/messages`, { token: pal.token, body: { client_id: 'ar2' + pal.id, body: 'news again' } });
  await row.waitFor();
  assert.match(await row.getAttribute('aria-label'), /news again/);
  await A.context.close();
});
