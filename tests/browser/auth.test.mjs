// Browser tests of the account screens: sign up, stay logged in across a
// reload, log out, profile, devices; and the API reference page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, makeUser, loginUI, shot, uniqName, api, BASE, signedIn, until, rotatedLongAgo, openConversation, send, failUntil, messageByText, holdFirstAnswer, conversationItem } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('sign up, reload stays logged in, log out', async () => {
  const { context, page } = await newPage(browser);
  const res = await page.goto('/');
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(res.headers()['x-frame-options'], 'DENY');
  // Checked again on every load, so an upgrade never mixes old and new modules.
  assert.equal(res.headers()['cache-control'], 'no-cache');
  await page.getByRole('tab', { name: 'Log in' }).waitFor();
  await shot(page, 'login');

  await page.getByRole('tab', { name: 'Sign up' }).click();
  const username = uniqName('signup');
  await page.getByLabel('Your name').fill('Sam Sign-Up');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  await page.getByText('No conversations yet.').waitFor();

  // No token where a script could read it: the refresh token is in an
  // HttpOnly cookie for the auth routes only; the access token in memory
  // and this tab's sessionStorage; localStorage notes only that there is
  // a session.
  const cookies = await context.cookies();
  const rc = cookies.find((c) => c.name === 'messenger_refresh');
  assert.ok(rc && rc.value.length >= 40, 'the refresh cookie is set');
  assert.equal(rc.httpOnly, true);
  assert.equal(rc.sameSite, 'Strict');
  assert.equal(rc.path, '/api/v1/auth');
  assert.equal(await page.evaluate(() => document.cookie), '');
  const values = await page.evaluate(() => Object.values(localStorage).join(' '));
  assert.doesNotMatch(values, /eyJ/, 'no JWT in localStorage');
  assert.ok(!values.includes(rc.value), 'no refresh token in localStorage');
  assert.equal(await page.evaluate(() => localStorage.getItem('messenger.refresh_token')), null);

  await page.reload();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  // A new tab is signed in too (through the cookie).
  const tab = await context.newPage();
  await tab.goto('/');
  await tab.getByRole('heading', { name: 'Chats' }).waitFor();
  await tab.close();
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.getByRole('tab', { name: 'Log in' }).waitFor();
  // The login form shows at once; the cookie goes when the server answers.
  await until(async () => (await context.cookies()).find((c) => c.name === 'messenger_refresh') === undefined, 'logout to clear the cookie', 5000);
  assert.equal(await page.evaluate(() => localStorage.getItem('messenger.session')), null);
  await page.reload();
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a refresh token kept in localStorage by an earlier version moves into the cookie', async () => {
  const u = await makeUser('legacy');
  const { context, page } = await newPage(browser);
  await page.goto('/favicon.svg');
  await page.evaluate((t) => localStorage.setItem('messenger.refresh_token', t), u.refresh);
  await page.goto('/');
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('messenger.refresh_token')), null);
  assert.ok((await context.cookies()).some((c) => c.name === 'messenger_refresh' && c.httpOnly));
  // The stored token was used once: it is no longer valid.
  rotatedLongAgo(u.refresh);
  const again = await fetch(BASE + '/api/v1/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: u.refresh }) });
  assert.equal(again.status, 401);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a logout while offline is finished when the network is back; meanwhile the cookie signs nobody in', async () => {
  const u = await makeUser('offout', 'Otto Offline');
  const { context, page } = await signedIn(browser, u);
  await page.route('**/api/v1/auth/logout', (route) => route.abort('internetdisconnected'));
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.getByRole('tab', { name: 'Log in' }).waitFor();
  // The session lives on at the server for now, but the app does not use it.
  assert.equal((await api('GET', '/me', { token: u.token })).id, u.id);
  await page.reload();
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('messenger.logout_pending')), '1');
  // Back online: the next start ends the session.
  await page.unroute('**/api/v1/auth/logout');
  await page.reload();
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  await until(async () => await page.evaluate(() => localStorage.getItem('messenger.logout_pending')) === null, 'the pending logout to end');
  await assert.rejects(api('GET', '/me', { token: u.token }), /401/);
  assert.equal((await context.cookies()).find((c) => c.name === 'messenger_refresh'), undefined);
  await context.close();
});

// A second tab of the same browser logs the account out and logs in as user.
async function otherTabSwitchesTo(context, user) {
  const two = await context.newPage();
  await two.goto('/');
  await two.getByRole('heading', { name: 'Chats' }).waitFor();
  await two.getByRole('button', { name: 'Account menu' }).click();
  await two.getByRole('menuitem', { name: 'Log out' }).click();
  await two.getByRole('tab', { name: 'Log in' }).waitFor();
  await two.getByLabel('Username').fill(user.username);
  await two.getByLabel('Password').fill(user.password);
  await two.getByRole('button', { name: 'Log in', exact: true }).click();
  await two.getByRole('heading', { name: 'Chats' }).waitFor();
}

test('a tab whose account was logged out in another tab, which then logged in as someone else, shows the new account', async () => {
  const x = await makeUser('tabx', 'Xena Tab');
  const y = await makeUser('taby', 'Yuri Tab');
  const { context, page: one } = await signedIn(browser, x);
  const me = (p) => p.getByRole('button', { name: 'Account menu' }).getAttribute('title');
  assert.match(await me(one), /Xena Tab/);
  await otherTabSwitchesTo(context, y);
  // The first tab still shows Xena until it next asks the server: then
  // its token is refused, the refresh comes back as Yuri, and it reloads.
  await one.getByRole('button', { name: 'New message' }).click();
  await one.getByLabel('Search people').fill('tab');
  await until(async () => /Yuri Tab/.test(await me(one).catch(() => '')), 'the first tab to show Yuri');
  await context.close();
});

test('a message written in a tab whose account another tab replaced is not sent as the new account', async () => {
  const x = await makeUser('frx', 'Xavi Frozen');
  const y = await makeUser('fry', 'Yara Frozen');
  const conv = await api('POST', '/conversations', { token: x.token, body: { type: 'direct', member_ids: [y.id] } });
  const { context, page: one } = await signedIn(browser, x);
  await openConversation(one, 'Yara Frozen');
  // The first tab hears nothing from the server meanwhile, as a tab the
  // browser froze in the background.
  const quiet = [await failUntil(one, /\/api\/v1\/events/, 'GET'), await failUntil(one, /\/api\/v1\/events/, 'POST')];
  await otherTabSwitchesTo(context, y);
  // Written in Xavi's chat in the first tab: its token is refused, the
  // refresh comes back as Yara, and the tab starts over as her.
  await send(one, 'typed in the old tab');
  const me = (p) => p.getByRole('button', { name: 'Account menu' }).getAttribute('title');
  await until(async () => /Yara Frozen/.test(await me(one).catch(() => '')), 'the first tab to show Yara');
  for (const q of quiet) q.stop();
  await one.waitForTimeout(500);
  const hist = await api('GET', `/conversations/${conv.id}/messages`, { token: y.token });
  assert.equal(hist.messages.filter((m) => m.body === 'typed in the old tab').length, 0, 'not sent as Yara');
  await context.close();
});

test('logging out forgets the open chat: the next person to log in here starts at the list', async () => {
  const a = await makeUser('lga', 'Lou Gone');
  const b = await makeUser('lgb', 'Bo Next');
  await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } });
  const { context, page } = await signedIn(browser, a);
  await openConversation(page, 'Bo Next');
  assert.match(page.url(), /#\/c\/\d+$/);
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.getByRole('tab', { name: 'Log in' }).waitFor();
  assert.doesNotMatch(page.url(), /#/, 'the chat\'s address is gone');
  await page.getByLabel('Username').fill(b.username);
  await page.getByLabel('Password').fill(b.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  await page.getByRole('heading', { name: 'Your messages' }).waitFor();
  assert.equal(await page.getByText('This conversation is not available.').count(), 0);
  await context.close();
});

test('an answer to the account before, still on its way at a sign-out, shows nothing of it to the next account', async () => {
  const a = await makeUser('ifa', 'Ann Early');
  const c = await makeUser('ifc', 'Secret Sam');
  const b = await makeUser('ifb', 'Bea Later');
  const o = await makeUser('ifo', 'Other Olga');
  await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [c.id] } });
  await api('POST', '/conversations', { token: b.token, body: { type: 'direct', member_ids: [o.id] } });
  // Ann's list is read by the server at once and reaches the page only
  // once released (a stalled network).
  let held;
  const { context, page } = await signedIn(browser, a, {
    beforeLoad: async (p) => { held = await holdFirstAnswer(p, /\/api\/v1\/conversations\?/); },
  });
  await until(() => held.reads() === 1, "Ann's list asked for");
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  // In the same page (a reload would end Ann's request).
  await page.getByLabel('Username').fill(b.username);
  await page.getByLabel('Password').fill(b.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await conversationItem(page, 'Other Olga').waitFor();
  let lists = 0;
  page.on('requestfinished', (r) => { if (/\/api\/v1\/conversations\?/.test(r.url())) lists++; });
  held.release();
  await until(() => lists >= 1, "Ann's list answered");
  await page.waitForTimeout(500);
  assert.equal(await conversationItem(page, 'Secret Sam').count(), 0, "Ann's conversation is not in Bea's list");
  assert.equal(await conversationItem(page, 'Other Olga').count(), 1);
  await context.close();
});

test('dialogs: focus goes back to the account button; a drag that ends outside does not close one', async () => {
  const u = await makeUser('dlgk', 'Dee Keys');
  const { context, page } = await signedIn(browser, u);
  const account = page.getByRole('button', { name: 'Account menu' });
  await account.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('menuitem', { name: 'Edit profile' }).focus();
  await page.keyboard.press('Enter');
  const dlg = page.getByRole('dialog', { name: 'Edit profile' });
  await dlg.waitFor();
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });
  await until(async () => (await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))) === 'Account menu', 'the focus back on the account button', 2000);
  // Selecting the name by dragging past the dialog's edge keeps it open
  // with what was typed.
  await page.keyboard.press('Enter');
  await page.getByRole('menuitem', { name: 'Edit profile' }).click();
  await dlg.waitFor();
  const name = dlg.getByLabel('Display name');
  await name.fill('Dee Keys Typed');
  const box = await name.boundingBox();
  await page.mouse.move(box.x + box.width - 4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(4, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForTimeout(200);
  assert.ok(await dlg.isVisible(), 'the dialog is still open');
  assert.equal(await name.inputValue(), 'Dee Keys Typed');
  // A click on the backdrop still closes it.
  await page.mouse.click(4, 4);
  await dlg.waitFor({ state: 'detached' });
  await context.close();
});

test('a browser signed out from another device keeps nothing of the account: its drafts go', async () => {
  const u = await makeUser('sod', 'Sid Outed');
  const pal = await makeUser('sop', 'Pam Outed');
  await api('POST', '/conversations', { token: u.token, body: { type: 'direct', member_ids: [pal.id] } });
  const { context, page } = await signedIn(browser, u);
  await openConversation(page, 'Pam Outed');
  await page.getByLabel('Message', { exact: true }).fill('half a thought');
  const key = 'messenger.drafts.' + u.id;
  const stored = () => page.evaluate((k) => localStorage.getItem(k), key);
  await until(async () => ((await stored()) || '').includes('half a thought'), 'the draft to be kept');
  // From a phone: every other device is signed out, this browser too.
  const phone = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: 'phone' } });
  const others = (await api('GET', '/sessions', { token: phone.access_token })).sessions.filter((s) => !s.current);
  assert.equal(others.length, 1);
  await api('DELETE', `/sessions/${others[0].id}`, { token: phone.access_token });
  await page.getByText('You were signed out of this device.').waitFor();
  await page.getByRole('tab', { name: 'Log in' }).waitFor();
  assert.equal(await stored(), null, 'no draft left behind');
  await context.close();
});

test('wrong password shows an error; the right one logs in', async () => {
  const u = await makeUser('pw');
  const { context, page } = await newPage(browser);
  await page.goto('/');
  await page.getByLabel('Username').fill(u.username);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
  await page.getByLabel('Password').fill(u.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  await context.close();
});

test('names and messages count characters as the server does: emoji are one each, not two', async () => {
  const u = await makeUser('emo', 'Emo Jones');
  const pal = await makeUser('emp', 'Emma Pal');
  await api('POST', '/conversations', { token: u.token, body: { type: 'direct', member_ids: [pal.id] } });
  const A = await signedIn(browser, u);
  const page = A.page;
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Edit profile' }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit profile' });
  const name = dlg.getByLabel('Display name');
  // 60 emoji are 60 of the 64 characters a name may have (120 UTF-16 units).
  const sixty = '😀'.repeat(60);
  await name.fill(sixty);
  assert.equal(await name.inputValue(), sixty);
  // Typing on at the end stops at 64.
  await name.press('End');
  await page.keyboard.type('🎉🎉🎉🎉🎉🎉');
  assert.equal(await name.inputValue(), sixty + '🎉🎉🎉🎉');
  const about = dlg.getByLabel('About');
  await about.fill('🚂'.repeat(250));
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  const me = await api('GET', '/me', { token: u.token });
  assert.equal(me.display_name, sixty + '🎉🎉🎉🎉');
  assert.equal(me.about, '🚂'.repeat(250));
  // A message of 3,000 emoji (6,000 UTF-16 units) is written and sent whole.
  await openConversation(page, 'Emma Pal');
  const long = '🌊'.repeat(3000);
  await page.getByLabel('Message', { exact: true }).fill(long);
  assert.equal(await page.getByLabel('Message', { exact: true }).inputValue(), long);
  await page.keyboard.press('Enter');
  await until(async () => {
    const convs = await api('GET', '/conversations', { token: pal.token });
    const page1 = await api('GET', `/conversations/${convs.conversations[0].id}/messages`, { token: pal.token });
    return page1.messages.some((m) => m.body === long);
  }, 'the long message stored whole');
  assert.deepEqual(page.errors, []);
  await A.context.close();
});

test('edit profile: display name and about', async () => {
  const u = await makeUser('prof', 'Before Name');
  const { context, page } = await newPage(browser);
  await loginUI(page, u);
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Edit profile' }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit profile' });
  await dlg.getByLabel('Display name').fill('After Name');
  await dlg.getByLabel('About').fill('Loves tea and trains');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  await page.getByText('Profile saved').waitFor();
  const me = await api('GET', '/me', { token: u.token });
  assert.equal(me.display_name, 'After Name');
  assert.equal(me.about, 'Loves tea and trains');
  // The account button now carries the new initials.
  await page.getByRole('button', { name: 'Account menu' }).filter({ hasText: 'AN' }).waitFor();

  // Change the password: a wrong current one is refused, the right one works.
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Edit profile' }).click();
  const pw = page.getByRole('form', { name: 'Change password' });
  await pw.getByLabel('Current password').fill('not-my-password');
  await pw.getByLabel('New password').fill('a-brand-new-password');
  await pw.getByRole('button', { name: 'Change password' }).click();
  await pw.getByRole('alert').filter({ hasText: 'not right' }).waitFor();
  await pw.getByLabel('Current password').fill(u.password);
  await pw.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed').waitFor();
  await api('POST', '/auth/login', { body: { username: u.username, password: 'a-brand-new-password' } });
  // This device stays signed in.
  await page.reload();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  await context.close();
});

test('devices: every other device signed out at once; this one stays', async () => {
  const u = await makeUser('dva');
  const phones = [];
  for (const name of ['old phone', 'work laptop']) {
    phones.push(await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: name } }));
  }
  const A = await signedIn(browser, u);
  const page = A.page;
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Devices' }).click();
  const dlg = page.getByRole('dialog', { name: 'Devices' });
  await dlg.getByText('work laptop').waitFor();
  const others = await dlg.locator('.session').count() - 1;
  assert.ok(others >= 2, `${others} other devices`);
  await dlg.getByRole('button', { name: `Sign out all ${others} other devices` }).click();
  await dlg.getByText(`${others} devices signed out`).waitFor();
  await until(async () => (await dlg.locator('.session').count()) === 1, 'only this device listed');
  await dlg.getByText('This device').waitFor();
  for (const p of phones) {
    const r = await fetch(BASE + '/api/v1/me', { headers: { Authorization: 'Bearer ' + p.access_token } });
    assert.equal(r.status, 401, 'the other device is signed out');
  }
  await page.keyboard.press('Escape');
  await page.reload();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  assert.deepEqual(page.errors, []);
  await A.context.close();
});

test('devices: list sessions and sign another device out', async () => {
  const u = await makeUser('dev');
  const a = await newPage(browser);
  const b = await newPage(browser);
  await loginUI(a.page, u);
  await loginUI(b.page, u);
  await a.page.getByRole('button', { name: 'Account menu' }).click();
  await a.page.getByRole('menuitem', { name: 'Devices' }).click();
  const dlg = a.page.getByRole('dialog', { name: 'Devices' });
  await dlg.getByText('This device').waitFor();
  // One of the two registered/login sessions per context plus the API registration.
  const signOut = dlg.getByRole('button', { name: /^Sign out/ });
  await signOut.first().waitFor();
  const before = await dlg.locator('.session').count();
  assert.ok(before >= 2, 'at least two sessions listed');
  // Offline: the failure is said inside the dialog (over its backdrop),
  // and the button can be pressed again.
  await a.context.setOffline(true);
  await signOut.first().click();
  await dlg.locator('.toast').first().waitFor();
  assert.match(await dlg.locator('.toast').first().textContent(), /offline|network|connect/i);
  await until(() => signOut.first().isEnabled(), 'the Sign out button to work again');
  assert.equal(await dlg.locator('.session').count(), before, 'nobody signed out');
  await a.context.setOffline(false);
  // Sign out every other device; the second browser is logged out.
  while (await signOut.count()) {
    const n = await dlg.locator('.session').count();
    await signOut.first().click();
    await assert.doesNotReject(dlg.locator('.session').nth(n - 1).waitFor({ state: 'detached' }));
  }
  await a.page.keyboard.press('Escape');
  await b.page.reload();
  await b.page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  // This device still works.
  await a.page.reload();
  await a.page.getByRole('heading', { name: 'Chats' }).waitFor();
  await a.context.close();
  await b.context.close();
});

test('the API reference renders from openapi.json without external resources', async () => {
  const { context, page } = await newPage(browser);
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  await page.goto('/docs/');
  await page.getByRole('heading', { name: 'Messenger API', level: 1 }).waitFor();
  const op = page.locator('#op-register');
  await op.getByText('/auth/register').waitFor();
  await op.getByRole('heading', { name: 'Request body' }).waitFor();
  await op.getByText('username', { exact: true }).waitFor();
  await page.getByRole('navigation', { name: 'Operations' }).getByRole('link', { name: /\/auth\/login/ }).waitFor();
  await page.locator('#schema-User').waitFor();
  assert.deepEqual(external, []);
  assert.deepEqual(page.errors, []);
  await shot(page, 'docs');
  await context.close();
});

test('the web app keeps to its Content Security Policy: no inline scripts, styles or handlers', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { ROOT } = await import('./lib.mjs');
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else if (/\.(html|js|css)$/.test(e.name)) files.push(p);
    }
  };
  walk(path.join(ROOT, 'www'));
  assert.ok(files.length > 5);
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const rel = path.relative(ROOT, f);
    if (f.endsWith('.html')) {
      assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/i, `${rel}: inline <script>`);
      assert.doesNotMatch(text, /<style/i, `${rel}: <style> element`);
      assert.doesNotMatch(text, /\sstyle=/i, `${rel}: style attribute`);
      assert.doesNotMatch(text, /\son[a-z]+=/i, `${rel}: inline event handler`);
      assert.doesNotMatch(text, /(src|href)=["']?(https?:)?\/\//i, `${rel}: external resource`);
    } else if (f.endsWith('.js')) {
      assert.doesNotMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|setAttribute\(['"]style|\beval\(|new Function/, `${rel}: unsafe DOM or code API`);
      // (A bare scheme, 'https://' before a link's own host, names no place.)
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org\/2000\/svg)(?!['"`])/, `${rel}: external URL`);
    } else {
      assert.doesNotMatch(text, /@import|url\(\s*['"]?(https?:)?\/\//i, `${rel}: external stylesheet or font`);
    }
  }
});

test('logging out with a message not sent asks first, and on a stalled network signs out here at once', async () => {
  const a = await makeUser('lgu', 'Una Unsent');
  const b = await makeUser('lgv', 'Vic Waiting');
  await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } });
  const { context, page } = await signedIn(browser, a);
  await openConversation(page, 'Vic Waiting');
  await context.setOffline(true);
  await send(page, 'written offline');
  await messageByText(page, 'written offline').waitFor();
  // Asked, starting on Cancel: Enter keeps the account and its message.
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  const ask = page.getByRole('dialog', { name: 'Log out?' });
  await ask.getByText('A message not sent yet will be lost.').waitFor();
  await page.keyboard.press('Enter');
  await ask.waitFor({ state: 'detached' });
  await messageByText(page, 'written offline').waitFor();
  assert.equal(await page.getByRole('tab', { name: 'Log in' }).count(), 0);
  // Online again, the message goes. The server then does not answer the
  // logout: the app signs out here all the same (the server is told when
  // it can be), and asks nothing with nothing unsent.
  await page.route('**/api/v1/auth/logout', () => { /* never answered */ });
  await context.setOffline(false);
  await until(async () => (await api('GET', '/conversations', { token: b.token })).conversations[0]?.last_message?.body === 'written offline', 'the message sent once online');
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.getByRole('tab', { name: 'Log in' }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByRole('dialog', { name: 'Log out?' }).count(), 0);
  await context.close();
});
