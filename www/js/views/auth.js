// Sign in / create account.
import { h, icon, clear } from '../dom.js';
import * as api from '../api.js';

export function renderAuth(root, onSignedIn) {
  let mode = 'login';
  const err = h('p.form-error', { role: 'alert', id: 'auth-error' });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': 'auth-error' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, minLength: 8 });
  const displayName = h('input', { name: 'display_name', autocomplete: 'name', maxChars: 64 });
  const nameField = h('label.field', h('span', 'Your name'), displayName);
  const userHint = h('span.hint', '3–32 characters: letters, digits, . _ -');
  const submit = h('button.btn.primary', { type: 'submit' }, 'Log in');
  const tabLogin = h('button', { type: 'button', role: 'tab', 'aria-selected': 'true', id: 'tab-login', on: { click: () => setMode('login') } }, 'Log in');
  const tabSignup = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', id: 'tab-signup', on: { click: () => setMode('signup') } }, 'Sign up');

  const form = h('form', { 'aria-labelledby': 'auth-heading', novalidate: true, on: { submit: onSubmit } },
    nameField,
    h('label.field', h('span', 'Username'), username, userHint),
    h('label.field', h('span', 'Password'), password),
    err, submit);

  function setMode(m) {
    mode = m;
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabSignup.setAttribute('aria-selected', String(m === 'signup'));
    nameField.hidden = m === 'login';
    userHint.hidden = m === 'login';
    password.autocomplete = m === 'login' ? 'current-password' : 'new-password';
    submit.textContent = m === 'login' ? 'Log in' : 'Create account';
    heading.textContent = m === 'login' ? 'Welcome back' : 'Create your account';
    err.textContent = '';
  }

  async function onSubmit(e) {
    e.preventDefault();
    err.textContent = '';
    const u = username.value.trim().toLowerCase();
    const p = password.value;
    if (!u || !p) { err.textContent = 'Enter your username and password.'; return; }
    if (mode === 'signup') {
      if (!/^[a-z0-9_.-]{3,32}$/.test(u)) { err.textContent = 'Usernames are 3–32 characters: letters, digits, dot, underscore or dash.'; username.focus(); return; }
      if (p.length < 8) { err.textContent = 'Use at least 8 characters for your password.'; password.focus(); return; }
    }
    submit.disabled = true;
    try {
      const user = mode === 'login' ? await api.login(u, p) : await api.register(u, p, displayName.value.trim() || undefined);
      onSignedIn(user);
    } catch (ex) {
      if (ex instanceof api.ApiError && ex.code === 'username_taken') err.textContent = 'That username is taken. Try another one.';
      else if (ex instanceof api.ApiError && ex.status === 401) err.textContent = 'Wrong username or password.';
      else err.textContent = api.friendlyError(ex);
      submit.disabled = false;
    }
  }

  const heading = h('p', { id: 'auth-heading' }, 'Welcome back');
  clear(root).append(h('div.auth', h('main.auth-card',
    h('div.brand', h('div.brand-mark', icon('chat')), h('h1', 'Messenger'), heading),
    h('div.tabs', { role: 'tablist', 'aria-label': 'Log in or sign up' }, tabLogin, tabSignup),
    form)));
  setMode('login');
  username.focus();
}
