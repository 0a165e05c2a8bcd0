// Dialogs: new chat, new group, conversation details (rename, members,
// roles, leave, block), profile, devices, blocked people, archived chats.
import { h, icon, iconButton, clear } from '../dom.js';
import { fullTime, lastSeen, plural } from '../format.js';
import * as api from '../api.js';
import * as store from '../store.js';
import { state, convTitle } from '../store.js';
import { openDialog, confirmDialog, userAvatar, convAvatar, toast } from './common.js';

// A search box that lists users as you type. onPick(user).
function userPicker(onPick, { exclude = () => false, label = 'Search people' } = {}) {
  const input = h('input.input', { type: 'search', placeholder: 'Search by name or username', 'aria-label': label, autocomplete: 'off' });
  const list = h('ul.people', { 'aria-label': 'People', 'aria-live': 'polite' });
  let seq = 0, timer = null;
  async function run() {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) { suggest(); return; }
    let users;
    try { users = await store.searchUsers(q); } catch (e) { if (mine === seq) clear(list).append(h('li.hint', api.friendlyError(e))); return; }
    if (mine !== seq) return;
    clear(list);
    const shown = users.filter((u) => !exclude(u));
    if (!shown.length) list.append(h('li.hint', `No one found for “${q}”.`));
    show(shown);
  }
  // Before anything is typed: the people of my recent direct chats.
  function suggest() {
    clear(list);
    const recent = store.sortedConvs().filter((c) => c.type === 'direct' && c.peer)
      .map((c) => state.users.get(c.peer.id) || c.peer).filter((u) => !exclude(u)).slice(0, 8);
    if (recent.length) list.append(h('li.section-label', { 'aria-hidden': 'true' }, 'Recent'));
    show(recent);
  }
  function show(shown) {
    for (const u of shown) {
      list.append(h('li', h('button.person.person-btn', { type: 'button', 'aria-label': `${u.display_name} (@${u.username})`, on: { click: () => onPick(u) } },
        userAvatar(u, 'm'), h('span.person-main', h('span.person-name', u.display_name), h('span.person-sub', '@' + u.username)))));
    }
  }
  suggest();
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 200); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); run(); }
    if (e.key === 'ArrowDown') { const b = list.querySelector('button'); if (b) { e.preventDefault(); b.focus(); } }
  });
  return { input, list, refresh: run };
}

export function newChatDialog(onOpen) {
  const picker = userPicker(async (u) => {
    try {
      const id = await store.openDirect(u.id);
      dlg.close();
      onOpen(id);
    } catch (e) { toast(api.friendlyError(e)); }
  });
  const dlg = openDialog({ title: 'New message', body: [h('label.field', h('span', 'To'), picker.input), picker.list] });
  picker.input.focus();
}

export function newGroupDialog(onOpen) {
  const chosen = new Map();
  const title = h('input', { maxChars: 128, required: true, placeholder: 'e.g. Weekend trip', 'aria-label': 'Group name' });
  const chips = h('div.chips', { 'aria-label': 'Selected people', 'aria-live': 'polite' });
  const err = h('p.form-error', { role: 'alert' });
  const picker = userPicker((u) => { chosen.set(u.id, u); renderChips(); picker.input.value = ''; picker.refresh(); picker.input.focus(); },
    { exclude: (u) => chosen.has(u.id), label: 'Add people' });
  function renderChips() {
    clear(chips);
    for (const u of chosen.values()) {
      chips.append(h('button.chip', { type: 'button', 'aria-label': `Remove ${u.display_name}`, on: { click: () => { chosen.delete(u.id); renderChips(); } } },
        u.display_name, icon('close')));
    }
    create.disabled = busy || !chosen.size;
  }
  // One creation on its way at a time: changing the people meanwhile (a
  // new client_id) and clicking again made a second group.
  let busy = false;
  const create = h('button.btn.primary', { type: 'button', disabled: true, on: { click: submit } }, 'Create group');
  // Trying the same group again (after a lost answer) reuses its client_id,
  // so the server creates it once; another name or other people is another
  // group.
  let attempt = null;
  async function submit() {
    err.textContent = '';
    const t = title.value.trim();
    if (!t) { err.textContent = 'Give the group a name.'; title.focus(); return; }
    if (busy) return;
    busy = true;
    create.disabled = true;
    const what = JSON.stringify([t, [...chosen.keys()].sort((x, y) => x - y)]);
    if (!attempt || attempt.what !== what) attempt = { what, id: api.newClientId() };
    try {
      const c = await api.post('/conversations', { type: 'group', title: t, member_ids: [...chosen.keys()], client_id: attempt.id });
      store.upsertConv(c);
      store.emit('list');
      dlg.close();
      onOpen(c.id);
    } catch (e) { err.textContent = api.friendlyError(e); create.disabled = !chosen.size; }
    finally { busy = false; }
  }
  const dlg = openDialog({
    title: 'New group',
    body: [h('label.field', h('span', 'Group name'), title), h('div.field', h('span', 'People'), chips, picker.input), picker.list, err],
    foot: [h('button.btn', { type: 'button', on: { click: () => dlg.close() } }, 'Cancel'), create],
  });
  title.focus();
}

const ROLE_LABEL = { owner: 'Owner', admin: 'Admin', member: 'Member' };

export async function convInfoDialog(convId, { onLeft }) {
  let c = state.convs.get(convId);
  if (!c) return;
  const body = h('div');
  const dlg = openDialog({ title: c.type === 'group' ? 'Group details' : 'Contact', body });
  // What the dialog shows of the conversation: a refresh that changes none
  // of it (a big group's details are fetched again every 30 s for its read
  // marks) leaves the dialog, its fields and its focus alone.
  const shownOf = (cc) => cc && JSON.stringify([cc.title, cc.my_role, cc.muted_until, cc.member_count, cc.blocked, cc.closed,
    (cc.members || []).map((m) => [m.user.id, m.role, m.user.display_name, m.user.username])]);
  let shown = null;
  let membersFailed = null;  // why the member list could not be loaded
  const render = () => {
    c = state.convs.get(convId);
    if (!c) { dlg.close(); return; }
    shown = shownOf(c);
    // What the user is typing, and where the focus is, outlive a redraw (a
    // member's profile or the group changing while the dialog is open).
    const typed = [...body.querySelectorAll('input[aria-label]')].filter((i) => i.value !== i.defaultValue)
      .map((i) => ({ label: i.getAttribute('aria-label'), value: i.value, start: i.selectionStart, end: i.selectionEnd }));
    // The focused control is found again by its label, else by its kind
    // and text, else by its place (Mute becomes Unmute; a removed member's
    // row gives way to the next one).
    const focusables = () => [...body.querySelectorAll('button, input, select, textarea, a[href]')].filter((e) => !e.disabled);
    const fe = body.contains(document.activeElement) ? document.activeElement : null;
    const focused = fe && fe.getAttribute('aria-label');
    const focusedText = fe && !focused ? fe.tagName + ':' + fe.textContent.trim() : null;
    const focusedAt = fe ? focusables().indexOf(fe) : -1;
    clear(body);
    if (c.type === 'direct') renderDirect(); else renderGroup();
    body.insertBefore(notifications(), body.querySelector('.leave-sect'));
    const byLabel = (label) => body.querySelector(`[aria-label="${CSS.escape(label)}"]`);
    for (const t of typed) {
      const i = byLabel(t.label);
      if (!i || i.disabled) continue;
      i.value = t.value;
      i.setSelectionRange(t.start, t.end);
      i.dispatchEvent(new Event('input'));
    }
    if (fe) {
      let to = focused ? byLabel(focused) : focusables().find((e) => e.tagName + ':' + e.textContent.trim() === focusedText);
      if (!to && focusedAt >= 0) {
        const all = focusables();
        to = all[Math.min(focusedAt, all.length - 1)];
      }
      if (to) to.focus();
    }
  };
  function notifications() {
    const muted = store.isMuted(c);
    const setMute = async (until) => {
      try {
        store.upsertConv(await api.patch(`/conversations/${convId}`, { muted_until: until }));
        store.emit('list'); store.emit('conv', convId);
        toast(until ? 'Notifications muted' : 'Notifications on');
        render();
      } catch (e) { toast(api.friendlyError(e)); }
    };
    const inHours = (hrs) => new Date(Date.now() + hrs * 3600000).toISOString();
    return h('div.sect', h('h3', 'Notifications'),
      muted
        ? [h('p.hint', new Date(c.muted_until).getFullYear() > new Date().getFullYear() + 5 ? 'Muted until you turn them back on.' : `Muted until ${fullTime(c.muted_until)}.`),
          h('div.row-actions', h('button.btn.small', { type: 'button', on: { click: () => setMute(null) } }, icon('bell'), 'Unmute'))]
        : h('div.row-actions',
          h('button.btn.small', { type: 'button', on: { click: () => setMute(inHours(1)) } }, icon('mute'), 'Mute 1 hour'),
          h('button.btn.small', { type: 'button', on: { click: () => setMute(inHours(8)) } }, 'Mute 8 hours'),
          h('button.btn.small', { type: 'button', on: { click: () => setMute(inHours(24 * 365 * 10)) } }, 'Mute until I turn it back on')));
  }
  function renderDirect() {
    const u = state.users.get(c.peer.id) || c.peer;
    const p = state.presence.get(u.id);
    body.append(h('div.profile-card', userAvatar(u, 'l', p && p.online), h('h3', u.display_name), h('p', '@' + u.username),
      h('p', p && !c.closed ? (p.online ? 'Active now' : lastSeen(p.last_seen)) : '')),
    u.about ? h('div.sect', h('h3', 'About'), h('p', u.about)) : null);
    if (!u.deleted) body.append(blockSection(u));
  }
  // Block or unblock the other person of a direct chat (the chat closes for
  // both; they are not told, and see only that they cannot reply).
  function blockSection(u) {
    const set = async (btn, on) => {
      if (on && !(await confirmDialog(`Block ${u.display_name}?`, `You won't be able to message each other in this chat, neither of you will see when the other is online, and ${u.display_name} can't add you to groups. They won't be told. Groups you share stay as they are.`, 'Block', true))) return;
      btn.disabled = true;
      try {
        await store.setBlocked(u.id, on);
        toast(on ? `${u.display_name} is blocked` : `${u.display_name} is unblocked`);
      } catch (e) { toast(api.friendlyError(e)); }
      btn.disabled = false;
      render();
    };
    const btn = c.blocked
      ? h('button.btn.small', { type: 'button', on: { click: () => set(btn, false) } }, `Unblock ${u.display_name}`)
      : h('button.btn.small.danger', { type: 'button', on: { click: () => set(btn, true) } }, icon('block'), `Block ${u.display_name}`);
    return h('div.sect.block-sect', h('h3', 'Privacy'),
      c.blocked ? h('p.hint', `You blocked ${u.display_name}.`) : null, h('div.row-actions', btn));
  }
  function renderGroup() {
    const myRole = c.my_role;
    const canManage = myRole === 'owner' || myRole === 'admin';
    const titleInput = h('input', { value: c.title || '', maxChars: 128, 'aria-label': 'Group name', disabled: !canManage });
    const save = h('button.btn.small', { type: 'button', on: { click: rename } }, 'Rename');
    async function rename() {
      const t = titleInput.value.trim();
      if (!t || t === c.title) return;
      save.disabled = true;
      try { store.upsertConv(await api.patch(`/conversations/${convId}`, { title: t })); store.emit('list'); store.emit('conv', convId); toast('Group renamed'); }
      catch (e) { toast(api.friendlyError(e)); }
      save.disabled = false;
    }
    titleInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') rename(); });
    body.append(h('div.profile-card', convAvatar(c, 'l'), h('h3', convTitle(c)), h('p', plural(c.members ? c.members.length : c.member_count, 'member', 'members'))));
    if (canManage) body.append(h('div.field', h('span', 'Group name'), h('div.row-actions', titleInput, save)));
    const members = h('ul.people', { 'aria-label': 'Members' });
    const sorted = listOrder(c.members || []);
    for (const m of sorted) members.append(memberRow(m, myRole));
    body.append(h('div.sect', h('h3', 'Members'), c.members ? members : membersFailed
      ? h('p.form-error', { role: 'alert' }, membersFailed, ' ', h('button.btn.small', { type: 'button', on: { click: loadDetails } }, 'Try again'))
      : h('p.hint', 'Loading…')));
    if (canManage) {
      const picker = userPicker(async (u) => {
        try {
          store.upsertConv(await api.post(`/conversations/${convId}/members`, { user_ids: [u.id] }));
          store.emit('conv', convId); store.emit('list');
          toast(`${u.display_name} added`);
          render();
        } catch (e) { toast(api.friendlyError(e)); }
      }, { exclude: (u) => (c.members || []).some((m) => m.user.id === u.id), label: 'Add people to the group' });
      body.append(h('div.sect', h('h3', 'Add people'), picker.input, picker.list));
    }
    body.append(h('div.sect.leave-sect', h('button.btn.danger', { type: 'button', on: { click: leave } }, icon('logout'), 'Leave group')));
  }
  // A member's new role, then the list as the server has it.
  async function changeRole(userId, role) {
    await api.patch(`/conversations/${convId}/members/${userId}`, { role });
    await store.fetchConv(convId);
    render();
  }
  function memberRow(m, myRole) {
    const me = state.me.id;
    const isMe = m.user.id === me;
    const canEdit = !isMe && (myRole === 'owner' || (myRole === 'admin' && m.role === 'member'));
    const right = [];
    if (canEdit) {
      const sel = h('select', { 'aria-label': `Role of ${m.user.display_name}` },
        ['member', 'admin', ...(myRole === 'owner' ? ['owner'] : [])].map((r) => h('option', { value: r, selected: r === m.role }, ROLE_LABEL[r])));
      sel.addEventListener('change', async () => {
        const role = sel.value;
        if (role === 'owner' && !(await confirmDialog('Transfer ownership?', `${m.user.display_name} will become the owner and you will become an admin.`, 'Transfer'))) { sel.value = m.role; return; }
        try { await changeRole(m.user.id, role); } catch (e) { toast(api.friendlyError(e)); sel.value = m.role; }
      });
      right.push(sel, iconButton('close', `Remove ${m.user.display_name}`, async () => {
        if (!(await confirmDialog('Remove from group?', `${m.user.display_name} will no longer see new messages.`, 'Remove', true))) return;
        try {
          await api.del(`/conversations/${convId}/members/${m.user.id}`);
          c.members = c.members.filter((x) => x.user.id !== m.user.id);
          store.emit('conv', convId);
          render();
        } catch (e) { toast(api.friendlyError(e)); }
      }, 'plain'));
    } else if (isMe && m.role === 'admin') {
      // An admin may step down (only the owner takes it from another).
      right.push(h('span.role-tag', ROLE_LABEL.admin), h('button.btn.small', { type: 'button', on: { click: async () => {
        if (!(await confirmDialog('Step down as admin?', 'You will stay in the group as a member; only the owner can make you an admin again.', 'Step down'))) return;
        try { await changeRole(me, 'member'); } catch (e) { toast(api.friendlyError(e)); }
      } } }, 'Step down'));
    } else {
      right.push(h('span.role-tag', ROLE_LABEL[m.role] || m.role));
    }
    const u = state.users.get(m.user.id) || m.user;
    return h('li.person', { dataset: { userId: String(u.id) } }, memberAvatar(u, isMe),
      h('span.person-main', h('span.person-name', isMe ? `${u.display_name} (you)` : u.display_name),
        h('span.person-sub', memberSub(u, isMe))), right);
  }
  // Online state and last seen, for the others (asked for when the list opens).
  function memberAvatar(u, isMe) {
    const p = isMe ? null : state.presence.get(u.id);
    return userAvatar(u, 'm', !!(p && p.online));
  }
  function memberSub(u, isMe) {
    const p = isMe ? null : state.presence.get(u.id);
    return '@' + u.username + (p ? ' · ' + (p.online ? 'Active now' : lastSeen(p.last_seen)) : '');
  }
  // Presence answers (up to 50 as the list opens) change only the rows they
  // are about, once per frame: a whole redraw would take what is being typed
  // in the rename or add-people fields, and the focus. A change without a
  // user (presence dropped whole) touches every row.
  let presenceIds = null;   // changed since the last frame: a Set of user ids, or 'all'
  function presenceChanged(userId) {
    if (c.type !== 'group') { render(); return; }
    const queued = presenceIds !== null;
    if (userId === undefined || presenceIds === 'all') presenceIds = 'all';
    else (presenceIds ||= new Set()).add(String(userId));
    if (queued) return;
    requestAnimationFrame(() => {
      const ids = presenceIds;
      presenceIds = null;
      const rows = ids === 'all' ? body.querySelectorAll('li.person[data-user-id]')
        : [...ids].map((id) => body.querySelector(`li.person[data-user-id="${id}"]`)).filter(Boolean);
      if (rows.length === 0) return;
      const members = new Map((c.members || []).map((x) => [String(x.user.id), x]));
      for (const li of rows) {
        const m = members.get(li.dataset.userId);
        if (!m) continue;
        const u = state.users.get(m.user.id) || m.user;
        const isMe = u.id === state.me.id;
        const sub = li.querySelector('.person-sub');
        if (sub) sub.textContent = memberSub(u, isMe);
        const av = li.querySelector('.avatar');
        if (av) av.replaceWith(memberAvatar(u, isMe));
      }
    });
  }
  // Who the server makes owner when the owner leaves: an admin before a
  // member, the longest in the group first, among accounts not deleted.
  function heir() {
    const others = (c.members || []).filter((x) => x.user.id !== state.me.id && !x.user.deleted);
    others.sort((x, y) => rank(x.role) - rank(y.role) || (x.joined_at < y.joined_at ? -1 : x.joined_at > y.joined_at ? 1 : x.user.id - y.user.id));
    return others[0] || null;
  }
  async function leave() {
    let text = 'You will stop receiving messages from this group.';
    if (c.my_role === 'owner' && c.members) {
      const next = heir();
      text += next ? ` ${(state.users.get(next.user.id) || next.user).display_name} will become its owner.` : ' Nobody else is in it.';
    }
    if (!(await confirmDialog('Leave group?', text, 'Leave', true))) return;
    // Said before the request: the event of the leaving may come before
    // its answer.
    onLeft(convId, true);
    try {
      await api.del(`/conversations/${convId}/members/${state.me.id}`);
      dlg.close();
      store.removeConv(convId);
    } catch (e) { onLeft(convId, false); toast(api.friendlyError(e)); }
  }
  const offs = [store.on('conv', (id) => { if (id === convId && shownOf(state.convs.get(convId)) !== shown) render(); }), store.on('presence', presenceChanged), store.on('users', render)];
  dlg.addEventListener('close', () => offs.forEach((f) => f()));
  render();
  // The details with the member list; a failure is said where the list
  // goes, with a way to ask again.
  function loadDetails() {
    if (membersFailed) { membersFailed = null; render(); }
    store.fetchConv(convId).then(() => {
      // The members' presence: the first 50 as the list shows them (a big
      // group's list is scrolled, not read whole).
      const cc = state.convs.get(convId);
      if (cc && cc.type === 'group' && cc.members) {
        for (const m of listOrder(cc.members).filter((x) => x.user.id !== state.me.id).slice(0, 50)) store.fetchPresence(m.user.id);
      }
    }).catch((e) => {
      const cc = state.convs.get(convId);
      if (!dlg.open || !cc || cc.members) return;
      membersFailed = 'Could not load the members. ' + api.friendlyError(e);
      render();
    });
  }
  loadDetails();
  if (c.type === 'direct' && c.peer) store.fetchPresence(c.peer.id);
}
function rank(r) { return r === 'owner' ? 0 : r === 'admin' ? 1 : 2; }
// Members as the list shows them: by role, then by name.
function listOrder(members) {
  return [...members].sort((a, b) => rank(a.role) - rank(b.role) || a.user.display_name.localeCompare(b.user.display_name));
}

export function profileDialog({ onDeleted } = {}) {
  const me = state.me;
  const name = h('input', { value: me.display_name, maxChars: 64, required: true, autocomplete: 'name' });
  const about = h('textarea', { maxChars: 280, rows: 3, placeholder: 'A few words about you' });
  about.value = me.about || '';
  const err = h('p.form-error', { role: 'alert' });
  const save = h('button.btn.primary', { type: 'submit', form: 'profile-form' }, 'Save');
  const form = h('form', { id: 'profile-form', on: { submit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    const dn = name.value.trim();
    if (!dn) { err.textContent = 'Your name cannot be empty.'; return; }
    save.disabled = true;
    try {
      const u = await api.patch('/me', { display_name: dn, about: about.value.trim() });
      store.putUser(u);
      store.emit('me'); store.emit('users');
      toast('Profile saved');
      dlg.close();
    } catch (ex) { err.textContent = api.friendlyError(ex); save.disabled = false; }
  } } },
  h('div.profile-card', userAvatar(me, 'l'), h('p', '@' + me.username)),
  h('label.field', h('span', 'Display name'), name),
  h('label.field', h('span', 'About'), about), err);
  // Password change (other devices are signed out by the server).
  const cur = h('input', { type: 'password', autocomplete: 'current-password' });
  const next = h('input', { type: 'password', autocomplete: 'new-password', minLength: 8 });
  const pwErr = h('p.form-error', { role: 'alert' });
  const pwBtn = h('button.btn', { type: 'submit' }, 'Change password');
  const pwForm = h('form.sect', { 'aria-label': 'Change password', on: { submit: async (e) => {
    e.preventDefault();
    pwErr.textContent = '';
    if (!cur.value || next.value.length < 8) { pwErr.textContent = 'Enter your current password and a new one of at least 8 characters.'; return; }
    pwBtn.disabled = true;
    try {
      await api.patch('/me', { current_password: cur.value, new_password: next.value });
      cur.value = ''; next.value = '';
      toast('Password changed. Your other devices were signed out.');
    } catch (ex) {
      pwErr.textContent = ex instanceof api.ApiError && ex.status === 403 ? 'Your current password is not right.' : api.friendlyError(ex);
    }
    pwBtn.disabled = false;
  } } },
  h('h3', 'Change password'),
  h('label.field', h('span', 'Current password'), cur),
  h('label.field', h('span', 'New password'), next), pwErr, pwBtn);
  // Account deletion: the password, then a last question.
  const delPw = h('input', { type: 'password', autocomplete: 'current-password' });
  const delErr = h('p.form-error', { role: 'alert' });
  const delBtn = h('button.btn.danger', { type: 'submit' }, 'Delete account');
  const delForm = h('form.sect', { 'aria-label': 'Delete account', on: { submit: async (e) => {
    e.preventDefault();
    delErr.textContent = '';
    if (!delPw.value) { delErr.textContent = 'Enter your password to delete your account.'; return; }
    if (!(await confirmDialog('Delete your account?', 'You leave every group, your devices are signed out and your name is removed. Messages you sent stay, under "Deleted account"; messages not sent yet are dropped. This cannot be undone.', 'Delete', true, { focusCancel: true }))) return;
    delBtn.disabled = true;
    try {
      await api.del('/me', { password: delPw.value });
      dlg.close();
      if (onDeleted) onDeleted();
    } catch (ex) {
      const text = ex instanceof api.ApiError && ex.status === 403 ? 'Your password is not right.' : api.friendlyError(ex);
      // The dialog may have been closed meanwhile: then say it here.
      if (dlg.open) delErr.textContent = text; else toast(`Account not deleted: ${text}`);
      delBtn.disabled = false;
    }
  } } },
  h('h3', 'Delete account'),
  h('p.hint', 'Deleting your account cannot be undone.'),
  h('label.field', h('span', 'Password'), delPw), delErr, delBtn);
  const dlg = openDialog({ title: 'Edit profile', body: [form, pwForm, delForm], foot: [h('button.btn', { type: 'button', on: { click: () => dlg.close() } }, 'Cancel'), save] });
  name.focus();
}

// A dialog listing things a page at a time (fetch(cursor) resolves
// { items, next }), each row with one button that takes its thing off the
// list (unblock, unarchive): the focus goes to the next row's button, and
// the list says when nothing is left.
function pagedDialog({ title, hint, label, empty, fetch, row }) {
  const list = h('ul.people', { 'aria-label': label, 'aria-live': 'polite' }, h('li.hint', 'Loading…'));
  const dlg = openDialog({ title, body: [h('p.hint', hint), list] });
  let cursor = null;
  const none = () => { if (!list.querySelector('.paged-row') && !cursor) list.append(h('li.hint', empty)); };
  async function load(more = false) {
    let r;
    try { r = await fetch(more ? cursor : null); } catch (e) {
      if (!more) clear(list);
      list.querySelector('.form-error')?.remove();
      list.append(h('li.form-error', api.friendlyError(e)));
      return;
    }
    if (!more) clear(list);
    list.querySelector('.more-rows')?.remove();
    for (const item of r.items) {
      // row(item, dlg): { cls, content, button, label, act, done }
      const it = row(item, dlg);
      const li = h(`li.paged-row.${it.cls}`, it.content);
      const btn = h('button.btn.small', { type: 'button', 'aria-label': it.label, on: { click: async () => {
        btn.disabled = true;
        try {
          await it.act();
          toast(it.done);
          const next = li.nextElementSibling || li.previousElementSibling;
          li.remove();
          const to = next && next.querySelector('button');
          if (to) to.focus(); else dlg.querySelector('.dlg-head button')?.focus();
          none();
        } catch (e) { btn.disabled = false; toast(api.friendlyError(e)); }
      } } }, it.button);
      li.append(btn);
      list.append(li);
    }
    cursor = r.next;
    if (cursor) list.append(h('li.more-rows', h('button.btn.small', { type: 'button', on: { click: () => load(true) } }, 'Show more')));
    none();
  }
  load();
  return dlg;
}

// My archive: each chat opens from it, or goes back to the list.
export function archiveDialog(onOpen) {
  return pagedDialog({
    title: 'Archived chats', label: 'Archived chats', empty: 'No archived chats.',
    hint: 'Archived chats stay out of your list until a new message comes in them.',
    fetch: async (cursor) => {
      const r = await api.get('/conversations', { query: { archived: 'true', limit: 50, cursor: cursor || undefined } });
      const items = r.conversations.map((c) => store.upsertConv(c));
      store.emit('list');
      return { items, next: r.next_cursor };
    },
    row: (c, dlg) => {
      const title = convTitle(c);
      return {
        cls: 'archived-row', label: `Unarchive ${title}`, button: 'Unarchive', done: `${title} is back in your chats`,
        content: h('button.person.person-btn', { type: 'button', 'aria-label': `Open ${title}`, on: { click: () => { dlg.close(); onOpen(c.id); } } },
          convAvatar(c, 'm'), h('span.person-main', h('span.person-name', title))),
        act: () => store.setMarks(c.id, { archived: false }),
      };
    },
  });
}

// The people I block, each with Unblock.
export function blocksDialog() {
  return pagedDialog({
    title: 'Blocked people', label: 'Blocked people', empty: 'You are not blocking anyone.',
    hint: 'People you block can\'t message you in your chat with them, see when you\'re online or add you to groups. Groups you share stay as they are.',
    fetch: async (cursor) => {
      const r = await api.get('/me/blocks', { query: cursor ? { cursor } : {} });
      for (const b of r.blocks) store.putUser(b.user);
      return { items: r.blocks, next: r.next_cursor };
    },
    row: (b) => {
      const u = b.user;
      return {
        cls: 'session', label: `Unblock ${u.display_name}`, button: 'Unblock', done: `${u.display_name} is unblocked`,
        content: [userAvatar(u, 's'), h('div.session-main', h('div.session-name', u.display_name),
          h('div.session-sub', `@${u.username} · blocked ${fullTime(b.blocked_at)}`))],
        act: () => store.setBlocked(u.id, false),
      };
    },
  });
}

export async function sessionsDialog() {
  const list = h('div', { 'aria-live': 'polite' }, h('p.hint', 'Loading…'));
  const dlg = openDialog({ title: 'Devices', body: [h('p.hint', 'Devices where you are logged in. Sign out any you do not recognise.'), list] });
  async function load() {
    let r;
    try { r = await api.get('/sessions'); } catch (e) { clear(list).append(h('p.form-error', api.friendlyError(e))); return; }
    clear(list);
    for (const s of r.sessions) {
      list.append(h('div.session', { dataset: { sessionId: String(s.id) } }, icon('devices'),
        h('div.session-main',
          h('div.session-name', s.device_name || 'Unknown device', s.current ? h('span.current-tag', 'This device') : null),
          h('div.session-sub', `Last active ${fullTime(s.last_used_at)}${s.ip ? ' · ' + s.ip : ''}`),
          h('div.session-sub', { title: s.user_agent }, `Signed in ${fullTime(s.created_at)}`)),
        s.current ? null : h('button.btn.small.danger', { type: 'button', 'aria-label': `Sign out ${s.device_name || 'device'}`, on: { click: async (e) => {
          const btn = e.currentTarget;
          btn.disabled = true;
          try { await api.del(`/sessions/${s.id}`); toast('Device signed out'); load(); } catch (ex) {
            // Pressed again once the network or the server is back.
            btn.disabled = false;
            toast(api.friendlyError(ex));
          }
        } } }, 'Sign out')));
    }
    // Every other device at once (one request each: a sign-out that fails
    // leaves its device listed, to be tried again).
    const others = r.sessions.filter((s) => !s.current);
    if (others.length > 1) {
      list.append(h('button.btn.danger.sign-out-others', { type: 'button', on: { click: async (e) => {
        const btn = e.currentTarget;
        btn.disabled = true;
        const done = await Promise.allSettled(others.map((s) => api.del(`/sessions/${s.id}`)));
        // One that ended meanwhile (404) is signed out all the same.
        const failed = done.filter((d) => d.status === 'rejected' && !(d.reason instanceof api.ApiError && d.reason.status === 404));
        if (failed.length) toast(`${failed.length} of ${others.length} devices could not be signed out: ${api.friendlyError(failed[0].reason)}`);
        else toast(`${others.length} devices signed out`);
        await load();
        // The button is gone with the list drawn anew: the focus stays in
        // the dialog, on its first control.
        if (!dlg.contains(document.activeElement)) {
          const first = dlg.querySelector('.dlg-body button, .dlg-head button');
          if (first) first.focus();
        }
      } } }, `Sign out all ${others.length} other devices`));
    }
  }
  load();
  return dlg;
}
