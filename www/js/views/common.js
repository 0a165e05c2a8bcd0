// Pieces shared by the views: avatars, toasts, dialogs, menus.
import { h, icon, iconButton } from '../dom.js';
import { initials, colorClass } from '../format.js';
import { state, convTitle } from '../store.js';

export function userAvatar(user, size = '', online = false) {
  const name = user ? user.display_name || user.username : '?';
  return h('span.avatar' + (size ? '.' + size : '') + '.' + colorClass(user && user.id), { 'aria-hidden': 'true' },
    initials(name), online ? h('span.dot') : null);
}

export function convAvatar(c, size = '') {
  if (c.type === 'direct' && c.peer) {
    const p = state.presence.get(c.peer.id);
    return userAvatar(state.users.get(c.peer.id) || c.peer, size, !!(p && p.online));
  }
  return h('span.avatar.group-av' + (size ? '.' + size : ''), { 'aria-hidden': 'true' }, initials(convTitle(c)));
}

// The user is looking: the tab shows and its window has the focus (a
// window behind another is visible but not read).
export function attentive() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

// Where toasts show: within the topmost open modal dialog, if any (the page
// under it is drawn below its backdrop and is inert, not read out either).
// (Every dialog has one, made with it by openDialog.)
function toastBox(except = null) {
  const dialogs = [...document.querySelectorAll('dialog[open]')].filter((d) => d !== except);
  const top = dialogs[dialogs.length - 1];
  return (top && top.querySelector(':scope > .toasts')) || document.getElementById('toasts');
}

export function toast(text, ms = 3500) {
  const box = toastBox();
  const t = h('div.toast', text);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

// Where the focus goes when what had it is gone (a dialog's opener in a chat
// that closed meanwhile): set by the app (app.js), a function that focuses
// the best place left.
let focusFallback = () => {};
export function setFocusFallback(fn) { focusFallback = fn; }

// A modal <dialog>: Esc and the close button close it; focus returns to where it was.
export function openDialog({ title, body, foot, label, onClose, className }) {
  // A menu's item goes with its menu: focus returns to the menu's button.
  let prev = document.activeElement;
  const menu = prev && prev.closest ? prev.closest('.menu') : null;
  if (menu && menu.anchorEl) prev = menu.anchorEl;
  const closeBtn = iconButton('close', 'Close', () => dlg.close(), 'plain');
  const heading = h('h2', { id: 'dlg-title-' + Math.random().toString(36).slice(2) }, title);
  const dlg = h('dialog' + (className ? '.' + className : ''), { 'aria-labelledby': heading.id },
    h('div.dlg-head', h('span.icon-spacer'), heading, closeBtn),
    h('div.dlg-body', body),
    foot ? h('div.dlg-foot', foot) : null,
    // Its live region is there from the start: one made and filled at
    // once is often not read out.
    h('div.toasts', { role: 'status', 'aria-live': 'polite' }));
  if (label) dlg.setAttribute('aria-label', label);
  dlg.addEventListener('close', () => {
    // What it was saying stays for its time, under whatever comes next.
    const said = dlg.querySelector(':scope > .toasts');
    if (said && said.children.length) toastBox(dlg).append(...said.children);
    dlg.remove();
    if (onClose) onClose();
    // Return focus to where it was, unless an action of the dialog moved it on.
    // Looked at again a frame later: the browser's own return of focus (to
    // what had it before the dialog: a menu item gone with its menu) can
    // come after this handler and leave it on the page.
    const lost = (now) => !now || now === document.body || !now.isConnected || dlg.contains(now);
    const back = () => {
      if (!lost(document.activeElement)) return;
      if (prev && prev.isConnected && prev.focus) prev.focus();
      else focusFallback();
    };
    back();
    requestAnimationFrame(back);
  });
  // A click on the backdrop closes it; not one whose press began inside
  // (text selected by dragging past the dialog's edge).
  let pressedOutside = false;
  dlg.addEventListener('pointerdown', (e) => { pressedOutside = e.target === dlg; });
  dlg.addEventListener('click', (e) => { if (e.target === dlg && pressedOutside) dlg.close(); });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

// focusCancel: for what cannot be undone, Enter (or a key held down) must
// not confirm it.
export function confirmDialog(title, text, okLabel = 'OK', danger = false, { focusCancel = false } = {}) {
  return new Promise((resolve) => {
    let result = false;
    const ok = h('button.btn' + (danger ? '.danger' : '.primary'), { type: 'button', on: { click: () => { result = true; dlg.close(); } } }, okLabel);
    const cancel = h('button.btn', { type: 'button', on: { click: () => dlg.close() } }, 'Cancel');
    const dlg = openDialog({ title, body: h('p', text), foot: [cancel, ok], onClose: () => resolve(result) });
    (focusCancel ? cancel : ok).focus();
  });
}

// A long press of a finger on el calls fn: a touch screen has no hover to
// show what a pointer would. A finger that moves (a scroll) makes no press;
// a press that called fn ends without a click or the browser's own menu.
export function onLongPress(el, fn, ms = 450) {
  let timer = null, fired = false, x = 0, y = 0;
  const stop = () => { clearTimeout(timer); timer = null; };
  el.addEventListener('pointerdown', (e) => {
    fired = false;
    stop();
    if (e.pointerType !== 'touch' || !e.isPrimary) return;
    x = e.clientX; y = e.clientY;
    timer = setTimeout(() => { timer = null; fired = true; fn(); }, ms);
  });
  el.addEventListener('pointermove', (e) => { if (timer && Math.hypot(e.clientX - x, e.clientY - y) > 10) stop(); });
  for (const type of ['pointerup', 'pointercancel', 'pointerleave']) el.addEventListener(type, stop);
  el.addEventListener('click', (e) => { if (fired) { fired = false; e.preventDefault(); e.stopPropagation(); } }, true);
  el.addEventListener('contextmenu', (e) => { if (fired || timer) e.preventDefault(); });
}

// A floating menu anchored to a button. Arrow keys move, Esc closes. When
// it closes with focus inside (an item chosen, Tab, Esc), focus goes back
// to its button, or, when that was made anew meanwhile (its row redrawn),
// to what refind() finds in its place; an item that moved focus on (into
// a dialog, the composer) keeps it there.
let openMenu = null;
export function closeMenu() {
  if (openMenu) { const m = openMenu; openMenu = null; m.close(); }
}
export function showMenu(anchor, build, { refind } = {}) {
  closeMenu();
  const menu = h('div.menu', { role: 'menu' });
  menu.anchorEl = anchor;
  build(menu);
  document.body.append(menu);
  const r = anchor.getBoundingClientRect();
  const mw = menu.offsetWidth, mh = menu.offsetHeight;
  let left = Math.min(Math.max(8, r.right - mw), window.innerWidth - mw - 8);
  let top = r.bottom + 4;
  if (top + mh > window.innerHeight - 8) top = Math.max(8, r.top - mh - 4);
  menu.style.left = left + 'px';
  menu.style.top = top + 'px';
  anchor.setAttribute('aria-expanded', 'true');
  const items = () => [...menu.querySelectorAll('button:not([disabled])')];
  const onKey = (e) => {
    const list = items();
    const i = list.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); closeMenu(); }
    else if (e.key === 'ArrowDown' || e.key === 'ArrowRight') { e.preventDefault(); list[(i + 1) % list.length].focus(); }
    else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') { e.preventDefault(); list[(i - 1 + list.length) % list.length].focus(); }
    // Closed, and the Tab goes on from the menu's button.
    else if (e.key === 'Tab') { closeMenu(); }
  };
  const onDown = (e) => { if (!menu.contains(e.target) && e.target !== anchor && !anchor.contains(e.target)) closeMenu(); };
  menu.addEventListener('keydown', onKey);
  setTimeout(() => document.addEventListener('pointerdown', onDown), 0);
  openMenu = {
    menu,
    close() {
      const had = menu.contains(document.activeElement);
      document.removeEventListener('pointerdown', onDown);
      anchor.setAttribute('aria-expanded', 'false');
      menu.remove();
      if (!had) return;
      const back = () => {
        const to = anchor.isConnected ? anchor : refind && refind();
        if (to && to.isConnected) to.focus({ preventScroll: true });
      };
      back();
      // The browser's own return of focus may follow (see openDialog).
      requestAnimationFrame(() => { const now = document.activeElement; if (!now || now === document.body) back(); });
    },
  };
  menu.addEventListener('click', (e) => { if (e.target.closest('button')) setTimeout(closeMenu, 0); });
  const first = items()[0];
  if (first) first.focus();
  return menu;
}

export function menuItem(iconName, label, onClick, danger = false) {
  return h('button' + (danger ? '.danger' : ''), { type: 'button', role: 'menuitem', on: { click: onClick } }, icon(iconName), label);
}
