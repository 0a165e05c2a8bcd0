// Helpers shared by the conversation and message tests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, sql, validateEvent } from './lib.mjs';

export function cid() {
  return 'c' + randomBytes(8).toString('hex');
}

export async function direct(a, b) {
  const r = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } });
  assert.ok(r.status === 201 || r.status === 200, `direct: ${r.status} ${r.text}`);
  return r.body;
}

export async function group(owner, members, title = 'Team') {
  const r = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title, member_ids: members.map((m) => m.id) } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

export async function send(u, conv, body = 'hello', clientId = cid(), extra = {}) {
  const r = await api('POST', `/conversations/${conv.id ?? conv}/messages`, { token: u.token, body: { client_id: clientId, body, ...extra } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

// Rows of user_events for a user and type (optionally one conversation / ref).
// The payload travels as hex: the command-line client's character set would
// turn emoji into '?'.
export function events(uid, type, where = '') {
  return sql(`SELECT seq, conversation_id, COALESCE(ref_id, 0), COALESCE(HEX(payload), '') FROM user_events WHERE user_id = ${uid} AND type = '${type}' ${where} ORDER BY seq`)
    .map(([seq, conv, ref, payload]) => {
      const ev = { seq: +seq, conversation_id: +conv, ref_id: +ref,
        payload: payload ? JSON.parse(Buffer.from(payload, 'hex').toString('utf8')) : null };
      // Stored payloads must make events that fit the OpenAPI Event schema
      // (message events are rendered by the reader from the message row).
      if (ev.payload) validateEvent({ seq: ev.seq, type, created_at: '2026-01-01T00:00:00.000Z', conversation_id: ev.conversation_id, ...ev.payload });
      return ev;
    });
}

export function count(query) {
  return +sql(query)[0][0];
}
