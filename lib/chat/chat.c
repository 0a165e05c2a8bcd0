/* Shared pieces of the chat capability: JSON views, input checks, receipts. */
#include "chat/chat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unistr.h>

#include <sodium.h>

#include "auth/auth.h"
#include "cache/cache.h"
#include "events/emit.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/recent.h"
#include "wake/doorbell.h"

static json_object *opt_time(struct arena *a, const char *t)
{
	return t ? json_object_new_string(http_time(a, t)) : NULL;
}

static json_object *opt_id(int64_t id)
{
	return id > 0 ? json_object_new_int64(id) : NULL;
}

json_object *chat_message_json(struct arena *a, const struct msg *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(m->id));
	json_object_object_add(o, "conversation_id", json_object_new_int64(m->conversation_id));
	json_object_object_add(o, "seq", json_object_new_int64(m->seq));
	json_object_object_add(o, "sender_id", json_object_new_int64(m->sender_id));
	json_object_object_add(o, "client_id", json_object_new_string(m->client_id));
	json_object_object_add(o, "kind", json_object_new_string(m->kind));
	/* A deleted message is a tombstone: its body is gone, whatever a row
	 * read before the delete still holds. */
	json_object_object_add(o, "body",
		m->body && !m->deleted_at ? json_object_new_string(m->body) : NULL);
	json_object_object_add(o, "reply_to", opt_id(m->reply_to));
	json_object_object_add(o, "media_ids", json_object_new_array());
	json_object_object_add(o, "created_at", opt_time(a, m->created_at));
	json_object_object_add(o, "edited_at", opt_time(a, m->edited_at));
	json_object_object_add(o, "deleted_at", opt_time(a, m->deleted_at));
	/* One entry per emoji, in order of first appearance; the input need not
	 * be sorted (lib/db sorts by emoji; other callers may not). */
	json_object *list = json_object_new_array();
	for (int i = 0; i < m->nreactions; i++) {
		const char *emoji = m->reactions[i].emoji;
		int seen = 0;
		/* Backwards: in sorted input a repeat matches its neighbour, so the
		 * whole loop costs reactions x distinct emoji. */
		for (int k = i - 1; k >= 0 && !seen; k--)
			seen = strcmp(m->reactions[k].emoji, emoji) == 0;
		if (seen)
			continue;
		json_object *users = json_object_new_array();
		int count = 0;
		for (int j = i; j < m->nreactions; j++) {
			if (strcmp(m->reactions[j].emoji, emoji) != 0)
				continue;
			json_object_array_add(users, json_object_new_int64(m->reactions[j].user_id));
			count++;
		}
		json_object *r = json_object_new_object();
		json_object_object_add(r, "emoji", json_object_new_string(emoji));
		json_object_object_add(r, "count", json_object_new_int(count));
		json_object_object_add(r, "user_ids", users);
		json_object_array_add(list, r);
	}
	json_object_object_add(o, "reactions", list);
	return o;
}

json_object *chat_member_json(struct arena *a, const struct member *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "user", auth_user_json(a, &m->user));
	json_object_object_add(o, "role", json_object_new_string(convs_role_name(m->role)));
	json_object_object_add(o, "joined_at", opt_time(a, m->joined_at));
	json_object_object_add(o, "last_read_seq", json_object_new_int64(m->last_read_seq));
	json_object_object_add(o, "delivered_seq", json_object_new_int64(m->delivered_seq));
	return o;
}

/* Conversations larger than this get receipts on the member's devices only
 * (the conversation's receipt_events says which a client has). */
static int receipt_fanout_max(void)
{
	return (int)config_int_range("receipt_fanout_max", CHAT_RECEIPT_FANOUT_MAX, 0, 100000);
}

json_object *chat_conv_json(struct db *db, struct arena *a, const struct conv *c,
	int with_members)
{
	return chat_conv_json_last(db, a, c, with_members, NULL);
}

json_object *chat_conv_json_last(struct db *db, struct arena *a, const struct conv *c,
	int with_members, json_object *given)
{
	json_object *last = NULL, *peer = NULL, *members = NULL;
	if (given != NULL) {
		last = json_object_get(given);
	} else if (c->joined) {
		if (c->last_message != NULL)
			last = chat_message_json(a, c->last_message);
	} else if (c->last_message_id > 0) {
		struct msg m;
		int rc = msgs_get(db, a, c->id, c->last_message_id, &m);
		if (rc < 0)
			goto fail;
		if (rc == 1)
			last = chat_message_json(a, &m);
	}
	if (c->joined) {
		if (c->peer != NULL)
			peer = auth_user_json(a, c->peer);
	} else if (c->peer_id > 0) {
		struct user u;
		int rc = users_get(db, a, c->peer_id, &u);
		if (rc < 0)
			goto fail;
		if (rc == 1)
			peer = auth_user_json(a, &u);
	}
	if (with_members) {
		int max = CHAT_GROUP_MAX_MEMBERS + 1;
		struct member *list = arena_alloc(a, sizeof(*list) * (size_t)max);
		int n = convs_members(db, a, c->id, max, list);
		if (n < 0)
			goto fail;
		members = json_object_new_array();
		for (int i = 0; i < n; i++)
			json_object_array_add(members, chat_member_json(a, &list[i]));
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(c->id));
	json_object_object_add(o, "type", json_object_new_string(c->group ? "group" : "direct"));
	json_object_object_add(o, "title",
		c->group && c->title ? json_object_new_string(c->title) : NULL);
	json_object_object_add(o, "avatar_media_id", NULL);
	json_object_object_add(o, "created_at", opt_time(a, c->created_at));
	json_object_object_add(o, "updated_at", opt_time(a, c->updated_at));
	json_object_object_add(o, "last_activity_at", opt_time(a, c->last_activity_at));
	json_object_object_add(o, "last_seq", json_object_new_int64(c->last_seq));
	json_object_object_add(o, "member_count", json_object_new_int64(c->member_count));
	json_object_object_add(o, "receipt_events",
		json_object_new_boolean(c->member_count <= receipt_fanout_max()));
	json_object_object_add(o, "my_role", json_object_new_string(convs_role_name(c->role)));
	json_object_object_add(o, "last_read_seq", json_object_new_int64(c->last_read_seq));
	json_object_object_add(o, "unread_count", json_object_new_int64(c->unread_count));
	json_object_object_add(o, "muted_until", opt_time(a, c->muted_until));
	json_object_object_add(o, "e2ee", json_object_new_boolean(0));
	json_object_object_add(o, "closed", json_object_new_boolean(c->closed));
	json_object_object_add(o, "blocked", json_object_new_boolean(c->blocked));
	json_object_object_add(o, "pinned", json_object_new_boolean(c->pinned));
	json_object_object_add(o, "marked_unread", json_object_new_boolean(c->marked_unread));
	json_object_object_add(o, "archived_seq", c->archived_seq >= 0 ?
		json_object_new_int64(c->archived_seq) : NULL);
	json_object_object_add(o, "last_message", last);
	json_object_object_add(o, "peer", peer);
	if (members != NULL)
		json_object_object_add(o, "members", members);
	return o;
fail:
	json_object_put(last);
	json_object_put(peer);
	json_object_put(members);
	return NULL;
}

/* --- receipts --- */

/* Emits "receipt" for uid's current marks in cid: to everyone in the
 * conversation, or only to uid's devices in large conversations. (A
 * delivered receipt, sql/0008, goes to the others alone: uid's own devices
 * have no use for it, and it would wake the very long-poll that just
 * fetched the message for one more round trip.) */

static int emit_receipt(struct db *db, struct emit *e, int64_t cid, int64_t uid)
{
	int64_t delivered = 0, read = 0, count = 0;
	if (convs_receipt_marks(db, cid, uid, &delivered, &read, &count) != 1)
		return -1;
	json_object *p = json_object_new_object();
	json_object_object_add(p, "user_id", json_object_new_int64(uid));
	json_object_object_add(p, "delivered_seq", json_object_new_int64(delivered));
	json_object_object_add(p, "read_seq", json_object_new_int64(read));
	int rc;
	if (count <= receipt_fanout_max())
		rc = emit_conv(db, e, cid, 0, "receipt", 0, p);
	else
		rc = emit_user(db, e, uid, "receipt", cid, 0, p);
	json_object_put(p);
	return rc < 0 ? -1 : 0;
}

/* Receipts tried before (tries > 0), or all of them when the write ran
 * again after a lost connection (all), may have committed with their
 * answer lost, ringing nobody: their conversations' members (those that
 * get receipt events) are rung once more. A ring too many costs a reader
 * one look at its log. r is sorted by conversation. */
/* Rings cid's members when it has at most max (ids: room for max + 1). */
static void ring_members(struct db *db, int64_t cid, int max, int64_t *ids)
{
	int k = convs_member_ids(db, cid, max + 1, ids);
	if (k > 0 && k <= max)
		doorbell_ring_many(ids, k);
}

static void ring_retried(struct db *db, struct arena *a, const struct receipt *r, int n, int max,
	int all)
{
	int64_t *ids = NULL, last = 0;
	for (int i = 0; i < n && max > 0; i++) {
		if ((!all && r[i].tries == 0) || r[i].conversation_id == last)
			continue;
		last = r[i].conversation_id;
		if (ids == NULL)
			ids = arena_alloc(a, sizeof(*ids) * (size_t)(max + 1));
		ring_members(db, r[i].conversation_id, max, ids);
	}
}

int chat_mark_delivered(struct db *db, struct arena *a, const struct receipt *r, int n)
{
	int64_t *wake;
	int nwake;
	int fanout = receipt_fanout_max();
	int rc = convs_mark_delivered(db, a, r, n, fanout, &wake, &nwake);
	if (rc >= 0)
		ring_retried(db, a, r, n, fanout < CHAT_GROUP_MAX_MEMBERS ? fanout :
			CHAT_GROUP_MAX_MEMBERS, db_reran(db));
	if (rc <= 0)
		return rc;
	/* Cached views hold no receipts: nothing to invalidate. */
	doorbell_ring_many(wake, nwake);
	return 1;
}

int chat_emit_receipt(struct db *db, struct emit *e, int64_t cid, int64_t uid)
{
	return emit_receipt(db, e, cid, uid);
}

/* --- change transactions --- */

int chat_stop(struct chat_outcome *o, int status, const char *code, const char *detail)
{
	o->status = status;
	o->code = code;
	o->detail = detail;
	return 1;
}

int chat_found(struct req *req, int rc, const char *detail)
{
	if (rc < 0)
		resp_problem(req, 500, "internal", NULL);
	else if (rc == 0)
		resp_problem(req, 404, "not_found", detail);
	return rc == 1;
}

void chat_answer(struct req *req, const struct chat_outcome *o)
{
	if (o->status == 400)
		resp_bad_field(req, o->code, o->detail);
	else
		resp_problem(req, o->status, o->code, o->detail);
}

int chat_lock(struct db *db, int64_t cid, int64_t me, int64_t target, struct chat_roles *r,
	struct chat_outcome *out)
{
	r->group = r->closed = 0;
	int rc = convs_lock(db, cid, &r->group, &r->closed);
	if (rc < 0)
		return -1;
	r->role = rc == 1 ? convs_role(db, cid, me) : ROLE_NONE;
	r->trole = r->role > 0 && target > 0 ? convs_role(db, cid, target) : ROLE_NONE;
	if (r->role < 0 || r->trole < 0)
		return -1;
	if (r->role == ROLE_NONE)
		return chat_stop(out, 404, "not_found", "No such conversation.");
	if (target > 0 && r->trole == ROLE_NONE)
		return chat_stop(out, 404, "not_found", "That user is not a member.");
	return 0;
}

int chat_tx(struct req *req, struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx,
	const struct chat_outcome *out)
{
	int rc = db_tx(db, fn, ctx);
	if (rc < 0)
		resp_problem(req, 500, "internal", NULL);
	else if (rc == 1)
		chat_answer(req, out);
	return rc == 0 ? 0 : -1;
}

/* --- input checks --- */

int chat_check_client_id(struct req *req, const char *s)
{
	if (chat_client_id_ok(s))
		return 0;
	return resp_bad_field(req, "client_id", "Field 'client_id' must be 1-64 characters of "
		"A-Z, a-z, 0-9, '_' and '-'.");
}

int chat_client_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > CHAT_CLIENT_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '_' || c == '-') || c > 0x7F)
			return 0;
	}
	return 1;
}

/* What joins, varies or tags emoji: the zero-width joiner, the variation
 * selectors, the keycap mark, the tag characters (subdivision flags) and
 * the skin tones (Emoji_Modifier). */
static int emoji_part(ucs4_t cp)
{
	return cp == 0x200D || cp == 0xFE0E || cp == 0xFE0F || cp == 0x20E3 ||
		(cp >= 0xE0020 && cp <= 0xE007F) || uc_is_property_emoji_modifier(cp);
}

/* A regional indicator: a flag's letter, an emoji only in pairs. */
static int regional(ucs4_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

/* An emoji: 1-32 bytes of well-formed UTF-8 (the router already rejected
 * bad escapes and NUL), at most 10 code points, made of pictographic code
 * points (Unicode's Extended_Pictographic, through libunistring), flags
 * (pairs of regional indicators) and the parts that join or vary them (at
 * least one pictographic or flag), or a keycap: a digit, '#' or '*', then
 * U+20E3 (U+FE0F between allowed). Letters (a lone regional indicator, a
 * squared letter too), spaces and invisible characters are not emoji. */
int chat_emoji_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > CHAT_EMOJI_MAX_BYTES || !utf8_valid(s, n) || utf8_chars(s) > 10)
		return 0;
	int pict = 0, keycap = 0, flag_letters = 0;
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	while (p < end) {
		ucs4_t cp;
		int len = u8_mbtouc(&cp, p, (size_t)(end - p));
		if (len <= 0)
			return 0;
		if (regional(cp)) {
			flag_letters++;
			p += len;
			continue;
		}
		/* The letters before this make whole flags, or it is not emoji. */
		if (flag_letters % 2)
			return 0;
		pict |= flag_letters > 0;
		flag_letters = 0;
		if (cp < 0x80) {
			/* A keycap's base: the mark must follow. */
			if (!(isdigit((int)cp) || cp == '#' || cp == '*'))
				return 0;
			const uint8_t *q = p + 1;
			if (q[0] == 0xEF && q[1] == 0xB8 && q[2] == 0x8F)	/* U+FE0F */
				q += 3;
			if (!(q[0] == 0xE2 && q[1] == 0x83 && q[2] == 0xA3))	/* U+20E3 */
				return 0;
			keycap = 1;
			p = q + 3;
			continue;
		}
		if (uc_is_property_extended_pictographic(cp))
			pict = 1;
		else if (!emoji_part(cp))
			return 0;
		p += len;
	}
	if (flag_letters % 2)
		return 0;
	return pict || keycap || flag_letters > 0;
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int chat_parse_time(const char *s, char *out, size_t n)
{
	/* 2026-12-04T17:14:23Z or 2026-12-04T17:14:23.123Z (1-3 fraction digits). */
	size_t len = strlen(s);
	if (n < 24 || len < 20 || len > 24)
		return -1;
	if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return -1;
	char frac[4] = "000";
	size_t i = 19;
	if (s[i] == '.') {
		size_t f = 0;
		for (i++; i < len && isdigit((unsigned char)s[i]); i++, f++)
			if (f < 3)
				frac[f] = s[i];
		if (f == 0 || f > 3)
			return -1;
	}
	if (i != len - 1 || (s[i] != 'Z' && s[i] != 'z'))
		return -1;
	int mon = atoi(s + 5), day = atoi(s + 8), h = atoi(s + 11), mi = atoi(s + 14),
	    sec = atoi(s + 17), year = atoi(s);
	if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
		return -1;
	snprintf(out, n, "%.10s %.8s.%s", s, s + 11, frac);
	return 0;
}

void chat_direct_key(char *out, size_t size, int64_t a, int64_t b)
{
	snprintf(out, size, "%lld:%lld", (long long)(a < b ? a : b), (long long)(a < b ? b : a));
}

int chat_cursor_parse(const char *s, int64_t *ms, int64_t *id)
{
	const char *dot = strchr(s, '.');
	if (dot == NULL || dot == s || dot[1] == '\0' || dot - s > 15 || strlen(dot + 1) > 18)
		return -1;
	if (!digits(s, (int)(dot - s)) || !digits(dot + 1, (int)strlen(dot + 1)))
		return -1;
	*ms = strtoll(s, NULL, 10);
	*id = strtoll(dot + 1, NULL, 10);
	return *id > 0 ? 0 : -1;
}

/* Word characters for search: letters, digits and combining marks in any
 * script (by Unicode's classes), plus '_' as InnoDB's parser does.
 * Everything else separates words: spaces and punctuation of every script
 * (a no-break space, a dash, curly quotes), and the boolean-mode operators
 * + - < > ( ) ~ * " @. */
static int word_char(ucs4_t c)
{
	return c == '_' || uc_is_general_category(c, UC_CATEGORY_L) ||
		uc_is_general_category(c, UC_CATEGORY_N) || uc_is_general_category(c, UC_CATEGORY_M);
}

char *chat_search_query(struct arena *a, const char *q, int min_chars)
{
	size_t n = strlen(q);
	/* Each word w becomes +"w ": 4 bytes more than its own, and there are
	 * at most (n + 1) / 2 words (each has a separator after it but the
	 * last): every word is kept, however many. */
	char *out = arena_alloc(a, 3 * n + 4);
	size_t j = 0;
	int words = 0;
	const uint8_t *p = (const uint8_t *)q, *end = p + n;
	while (p < end) {
		ucs4_t c;
		int len = u8_mbtouc(&c, p, (size_t)(end - p));
		if (len <= 0)
			break;
		if (!word_char(c)) {
			p += len;
			continue;
		}
		const uint8_t *start = p;
		int chars = 0;
		while (p < end && (len = u8_mbtouc(&c, p, (size_t)(end - p))) > 0 && word_char(c)) {
			p += len;
			chars++;
		}
		/* A required word shorter than the index's minimum token would
		 * match nothing at all (InnoDB never indexed it): leave it out. */
		if (chars < min_chars)
			continue;
		if (words > 0)
			out[j++] = ' ';
		out[j++] = '+';
		out[j++] = '"';
		memcpy(out + j, start, (size_t)(p - start));
		j += (size_t)(p - start);
		out[j++] = '"';
		words++;
	}
	out[j] = '\0';
	return words > 0 ? out : NULL;
}

/* --- caching --- */

/* Until when (CLOCK_MONOTONIC ms) this process reads no cached view: set
 * when a delete of a generation could not be done (memcached unreachable
 * for this process, or in its retry pause, while it may still hold the
 * old generation for others to read). A change acknowledged here is then
 * read from the database here for as long as a stale view could live
 * (CHAT_CACHE_TTL); other processes and hosts still rely on the expiry. */
static _Atomic int64_t distrust_until_ms;

/* Cached views of a conversation live under keys that include the
 * conversation's generation, a random number kept in memcached. A change
 * deletes the generation after its commit, before the answer goes out; the
 * next reader starts a new one and misses. A reader that read the old
 * generation before the commit may still store what it read, but under the
 * old key, which nobody asks for again. Random (not counted) generations
 * cannot repeat one that was evicted, and every cached view also expires on
 * its own (CHAT_CACHE_TTL), which bounds the damage of a lost delete. */
int chat_cache_distrusted(void)
{
	return clock_ms() < distrust_until_ms;
}

int chat_cache_gen(struct arena *a, int64_t cid, int64_t *gen)
{
	if (chat_cache_distrusted())
		return 0;
	char key[CACHE_KEY_MAX];
	cache_key(key, "cgen", cid);
	for (int attempt = 0; attempt < 2; attempt++) {
		char *v;
		int rc = cache_get(key, a, &v, NULL);
		if (rc < 0)
			return 0;
		if (rc == 1) {
			char *end;
			long long g = strtoll(v, &end, 10);
			if (*end != '\0' || g <= 0)
				return 0;
			*gen = g;
			return 1;
		}
		uint64_t r;
		randombytes_buf(&r, sizeof(r));
		char val[24];
		int n = snprintf(val, sizeof(val), "%lld", (long long)(r >> 1 | 1));
		/* Whoever adds first wins; the others read the winner's value. */
		if (cache_add(key, val, (size_t)n, CHAT_GEN_TTL) < 0)
			return 0;
	}
	return 0;
}

void chat_invalidate(int64_t cid)
{
	chat_invalidate_many(&cid, 1);
}

void chat_invalidate_many(const int64_t *cids, int n)
{
	/* In chunks: the keys live on the stack whatever n is. */
	enum { CHUNK = 32 };
	char keys[CHUNK][CACHE_KEY_MAX];
	const char *k[CHUNK];
	for (int i = 0; i < n; i += CHUNK) {
		int m = n - i < CHUNK ? n - i : CHUNK;
		for (int j = 0; j < m; j++) {
			cache_key(keys[j], "cgen", cids[i + j]);
			k[j] = keys[j];
		}
		if (cache_del_many(k, (size_t)m) < 0 && cache_configured())
			distrust_until_ms = clock_ms() + CHAT_CACHE_TTL * 1000;
	}
}

/* What a retry woke lately: (conversation, message or 0). */
static struct recent retry_woken = RECENT_INIT;
#define RETRY_WAKE_MS 10000

void chat_retry_wake(struct db *db, struct arena *a, int64_t cid, int64_t mid)
{
	if (recent_claim(&retry_woken, cid, mid, 0, RETRY_WAKE_MS) == 0)
		return;
	chat_invalidate(cid);
	ring_members(db, cid, CHAT_GROUP_MAX_MEMBERS,
		arena_alloc(a, sizeof(int64_t) * (CHAT_GROUP_MAX_MEMBERS + 1)));
}
