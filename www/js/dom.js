// Small DOM helpers: element creation from text nodes only (all text goes
// through textContent, so message bodies can never inject markup), icons,
// and keyed reconciliation of child lists.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('div.cls1.cls2', {attrs, on: {click: fn}}, ...children)
export function h(tag, props, ...children) {
  if (props instanceof Node || typeof props === 'string' || Array.isArray(props) || props == null) {
    if (props != null) children.unshift(props);
    props = {};
  }
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.className = [el.className, v].filter(Boolean).join(' ');
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'maxChars') {
      limitChars(el, v);
    } else if (k in el && typeof v !== 'string') {
      el[k] = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, v);
    }
  }
  append(el, children);
  return el;
}

// At most n characters (code points, as the API counts them) in a text
// field: maxLength counts UTF-16 units, so an emoji would count twice and a
// name of emoji be cut at half its length. Input that would go over is
// undone (a paste is cut to fit), as maxLength does.
function limitChars(el, n) {
  el.maxLength = 2 * n;
  let last = null;
  el.addEventListener('focus', () => { last = el.value; });
  // Not in the middle of an input method's composition (Chinese, Japanese,
  // Korean): what is typed there is not final until it ends.
  el.addEventListener('compositionend', () => check());
  el.addEventListener('input', (e) => { if (!e.isComposing) check(); });
  function check() {
    const chars = [...el.value];
    if (chars.length <= n) { last = el.value; return; }
    const grown = last != null && [...last].length <= n ? el.value.length - last.length : 0;
    const caret = el.selectionStart;
    if (grown > 0 && caret >= grown && el.value.slice(0, caret - grown) + el.value.slice(caret) === last) {
      // Keep what fits of what was just typed or pasted, where it went.
      const room = n - [...last].length;
      const added = [...el.value.slice(caret - grown, caret)].slice(0, room).join('');
      el.value = last.slice(0, caret - grown) + added + last.slice(caret - grown);
      const at = caret - grown + added.length;
      el.setSelectionRange(at, at);
    } else {
      el.value = chars.slice(0, n).join('');
    }
    last = el.value;
  }
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Items are known by data-client-id, data-id or data-conv-id.
const ITEM = '[data-client-id],[data-id],[data-conv-id]';
function itemKey(el) {
  return el.dataset.clientId || el.dataset.id || el.dataset.convId || '';
}

// Where the keyboard focus is inside parent, when it is on an item or a
// control in one: the item's key and the control's tag and label.
function focusMark(parent) {
  const had = document.activeElement;
  if (!had || had === document.body || !parent.contains(had)) return null;
  const item = had.closest(ITEM);
  if (!item) return null;
  return { had, key: itemKey(item), tag: had.tagName, label: had.getAttribute('aria-label') || had.textContent || '' };
}

// Puts the focus back on the same control of the item with the same key,
// when what had it was replaced or moved (and nothing else took it).
function restoreFocus(parent, mark) {
  if (!mark || !mark.key) return;
  const now = document.activeElement;
  if (now === mark.had || (now && now !== document.body)) return;
  const item = [...parent.querySelectorAll(ITEM)].find((el) => itemKey(el) === mark.key);
  if (!item) return;
  const same = [item, ...item.querySelectorAll(mark.tag)].find((el) =>
    el.tagName === mark.tag && (el.getAttribute('aria-label') || el.textContent || '') === mark.label);
  const target = same || (item.matches('button, [tabindex]') ? item : item.querySelector('button, [tabindex]'));
  if (target) target.focus({ preventScroll: true });
}

// Makes parent's children exactly `nodes`, in order, moving as little as
// possible: nodes already in place stay put. The keyboard focus stays on
// its item (or the same control in it) even when the item was redrawn as a
// new node or moved: a keyboard user's place survives a receipt, a
// reaction or a name arriving.
export function reconcile(parent, nodes) {
  const mark = focusMark(parent);
  const want = new Set(nodes);
  for (const c of [...parent.childNodes]) if (!want.has(c)) parent.removeChild(c);
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(n, cur);
  }
  restoreFocus(parent, mark);
}

// Icons: 24x24 stroke paths (drawn for this app).
const ICONS = {
  send: 'M3.4 20.4 21 12 3.4 3.6l.1 6.5L15 12 3.5 13.9z',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zm11-15 4 4',
  plus: 'M12 5v14M5 12h14',
  group: 'M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zm-6 9c0-3.3 2.7-6 6-6s6 2.7 6 6M16 4.3a3.5 3.5 0 0 1 0 6.4M18 14c2 .8 3 2.9 3 6',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zm5-2 5 5',
  back: 'M15 5 8 12l7 7',
  close: 'M6 6l12 12M18 6 6 18',
  info: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-10v6m0-9.5v.5',
  more: 'M5 12h.01M12 12h.01M19 12h.01',
  reply: 'M10 8 5 12l5 4M5 12h9a5 5 0 0 1 5 5v1',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14.5a4.5 4.5 0 0 0 7 0M9 9.5v.5m6-.5v.5',
  trash: 'M4 7h16M9 7V4h6v3m-9 0 1 13h10l1-13',
  check: 'M5 12.5 10 17 19 7',
  checks: 'M2 12.5 7 17 16 7M11 16l1 1 9-10',
  clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-13v4l3 2',
  alert: 'M12 8v5m0 3.5v.5M10.3 3.9 2.4 18a2 2 0 0 0 1.7 3h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  devices: 'M3 5h14v10H3zM1 19h18M19 9h4v11h-4z',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 9c0-3.9 3.1-7 7-7s7 3.1 7 7',
  chat: 'M4 5h16v11H9l-5 4z',
  down: 'M6 9l6 6 6-6',
  retry: 'M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7',
  bell: 'M6 16V11a6 6 0 1 1 12 0v5l2 2H4zm4 4h4',
  mute: 'M6 16V11a6 6 0 0 1 9.5-4.9M18 11v5l2 2H8m2 2h4M3 3l18 18',
  block: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM5.6 5.6l12.8 12.8',
  forward: 'M14 5l7 7-7 7M21 12H10a6 6 0 0 0-6 6v1',
  pin: 'M9 3h6l-1 7 4 4H6l4-4zM12 14v7',
  archive: 'M3 4h18v4H3zM5 8v12h14V8M10 12h4',
  unread: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-6a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
};

export function icon(name, cls = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon' + (cls ? ' ' + cls : ''));
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', ICONS[name] || '');
  svg.appendChild(p);
  return svg;
}

// An icon-only button always carries an accessible name.
export function iconButton(name, label, onClick, cls = '') {
  return h('button.icon-btn' + (cls ? '.' + cls : ''), {
    type: 'button', 'aria-label': label, title: label, on: { click: onClick },
  }, icon(name));
}

export function $(sel, root = document) { return root.querySelector(sel); }
