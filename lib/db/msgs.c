#include "db/msgs.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/log.h"


/* SQL_BY_CLIENT */
static const char *const SQL_BY_CLIENT =
	"SELECT " MSG_COLS " FROM messages x WHERE x.sender_id = ? AND x.client_id = ?";
/* SQL_GET */
static const char *const SQL_GET =
	"SELECT " MSG_COLS " FROM messages x WHERE x.id = ? AND x.conversation_id = ?";
/* SQL_LOCK */
static const char *const SQL_LOCK =
	"SELECT " MSG_COLS " FROM messages x WHERE x.id = ? AND x.conversation_id = ? FOR UPDATE";
/* SQL_LATEST */
static const char *const SQL_LATEST =
	"SELECT " MSG_COLS " FROM messages x WHERE x.conversation_id = ? "
	"ORDER BY x.seq DESC LIMIT ?";
/* SQL_BEFORE */
static const char *const SQL_BEFORE =
	"SELECT " MSG_COLS " FROM messages x WHERE x.conversation_id = ? AND x.seq < ? "
	"ORDER BY x.seq DESC LIMIT ?";
/* SQL_AFTER */
static const char *const SQL_AFTER =
	"SELECT " MSG_COLS " FROM messages x WHERE x.conversation_id = ? AND x.seq > ? "
	"ORDER BY x.seq LIMIT ?";
/* SQL_REACTIONS_ONE */
static const char *const SQL_REACTIONS_ONE =
	"SELECT message_id, emoji, user_id FROM reactions WHERE message_id = ? "
	"ORDER BY emoji, created_at, user_id";
/* SQL_REACTIONS_RANGE: the reactions of one page of history. */
static const char *const SQL_REACTIONS_RANGE =
	"SELECT r.message_id, r.emoji, r.user_id FROM reactions r JOIN messages x ON "
	"x.id = r.message_id WHERE x.conversation_id = ? AND x.seq BETWEEN ? AND ? "
	"ORDER BY r.message_id, r.emoji, r.created_at, r.user_id";
/* SQL_EDIT */
static const char *const SQL_EDIT =
	"UPDATE messages SET body = ?, edited_at = NOW(3) WHERE id = ? AND deleted_at IS NULL";
/* SQL_DELETE */
static const char *const SQL_DELETE =
	"UPDATE messages SET body = NULL, deleted_at = NOW(3) WHERE id = ? AND deleted_at IS NULL";
/* SQL_REACTIONS_DROP */
static const char *const SQL_REACTIONS_DROP =
	"DELETE FROM reactions WHERE message_id = ?";
/* SQL_REACT */
static const char *const SQL_REACT =
	"INSERT IGNORE INTO reactions (message_id, user_id, emoji) VALUES (?, ?, ?)";
/* SQL_REACTION_COUNTS: distinct emoji on the message, the user's
 * reactions, whether the emoji is there, whether the user gave it. */
static const char *const SQL_REACTION_COUNTS =
	"SELECT COUNT(DISTINCT emoji), COALESCE(SUM(user_id = ?), 0), COALESCE(SUM(emoji = ?), 0), "
	"COALESCE(SUM(user_id = ? AND emoji = ?), 0) FROM reactions WHERE message_id = ?";
/* SQL_UNREACT */
static const char *const SQL_UNREACT =
	"DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?";
/* SQL_SEARCH: only conversations uid belongs to; newest first by id. */
static const char *const SQL_SEARCH =
	"SELECT " MSG_COLS " FROM messages x JOIN members mb ON "
	"mb.conversation_id = x.conversation_id AND mb.user_id = ? "
	"WHERE MATCH (x.body) AGAINST (? IN BOOLEAN MODE) AND x.deleted_at IS NULL "
	"AND x.kind <> 'system' "
	"AND (? = 0 OR x.conversation_id = ?) AND (? = 0 OR x.id < ?) "
	"ORDER BY x.id DESC LIMIT ?";

/* msgs_system: the conversation's next seq (its row is locked by the
 * membership change already), the line, and the actor's marks (written by
 * them, so read by them). The client_id cannot be taken by a client first:
 * it holds a UUID. */
static const char *const SQL_SYSTEM_SEQ =
	"UPDATE conversations SET last_seq = LAST_INSERT_ID(last_seq + 1), last_activity_at = NOW(3) "
	"WHERE id = ?";
static const char *const SQL_SYSTEM_INSERT =
	"INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, created_at) "
	"VALUES (?, ?, ?, CONCAT('system-', UUID()), 'system', ?, NOW(3))";
static const char *const SQL_SYSTEM_MARKS =
	"UPDATE members SET last_read_seq = GREATEST(last_read_seq, ?), "
	"delivered_seq = GREATEST(delivered_seq, ?) WHERE conversation_id = ? AND user_id = ?";

/* SQL_FT_MIN */
static const char *const SQL_FT_MIN = "SELECT @@innodb_ft_min_token_size";

void msgs_read_row(struct db *db, struct arena *a, int col, struct msg *m)
{
	m->id = db_int(db, col);
	m->conversation_id = db_int(db, col + 1);
	m->seq = db_int(db, col + 2);
	m->sender_id = db_int(db, col + 3);
	m->client_id = db_str(db, col + 4, a, NULL);
	m->kind = db_str(db, col + 5, a, NULL);
	m->body = db_str(db, col + 6, a, NULL);
	m->reply_to = db_int(db, col + 7);
	m->created_at = db_str(db, col + 8, a, NULL);
	m->edited_at = db_str(db, col + 9, a, NULL);
	m->deleted_at = db_str(db, col + 10, a, NULL);
	m->reactions = NULL;
	m->nreactions = 0;
}

static void read_msg(struct db *db, struct arena *a, struct msg *m)
{
	msgs_read_row(db, a, 0, m);
}

static void drain(struct db *db)
{
	while (db_next(db) > 0)
		;
}

/* Appends a reaction to m, growing its arena array by doubling. */
static void add_reaction(struct arena *a, struct msg *m, const char *emoji, int64_t uid)
{
	int n = m->nreactions;
	/* Capacity is 4, then the next power of two: grow when n reaches it. */
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		int cap = n == 0 ? 4 : n * 2;
		struct msg_reaction *grown = arena_alloc(a, sizeof(*grown) * (size_t)cap);
		if (n > 0)
			memcpy(grown, m->reactions, sizeof(*grown) * (size_t)n);
		m->reactions = grown;
	}
	m->reactions[n].emoji = emoji;
	m->reactions[n].user_id = uid;
	m->nreactions = n + 1;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void msgs_parse_reactions(struct arena *a, struct msg *m, const char *text)
{
	while (text != NULL && *text) {
		const char *item = text, *comma = strchr(text, ',');
		size_t len = comma ? (size_t)(comma - text) : strlen(text);
		text = comma ? comma + 1 : NULL;
		const char *colon = memchr(item, ':', len);
		if (colon == NULL)
			continue;
		size_t hex = len - (size_t)(colon + 1 - item);
		if (hex == 0 || hex % 2 != 0)
			continue;
		char *emoji = arena_alloc(a, hex / 2 + 1);
		int ok = 1;
		for (size_t i = 0; i < hex / 2 && ok; i++) {
			int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);
			ok = hi >= 0 && lo >= 0;
			emoji[i] = (char)(hi << 4 | lo);
		}
		emoji[hex / 2] = '\0';
		if (ok)
			add_reaction(a, m, emoji, strtoll(item, NULL, 10));
	}
}

/* Loads the reactions of the current result into the matching messages. */
static int attach_reactions(struct db *db, struct arena *a, struct msg *list, int n)
{
	int rc, last = 0;
	while ((rc = db_next(db)) > 0) {
		int64_t mid = db_int(db, 0);
		if (last >= n || list[last].id != mid) {
			for (last = 0; last < n && list[last].id != mid; last++)
				;
			if (last == n)
				continue;
		}
		add_reaction(a, &list[last], db_str(db, 1, a, NULL), db_int(db, 2));
	}
	return rc < 0 ? -1 : 0;
}

static int load_reactions_one(struct db *db, struct arena *a, struct msg *m)
{
	if (db_exec(db, SQL_REACTIONS_ONE, "i", m->id) < 0)
		return -1;
	return attach_reactions(db, a, m, 1);
}

static const char *const SQL_SEND = "CALL msg_send(?, ?, ?, ?, ?, ?)";

int msgs_send(struct db *db, struct arena *a, struct msg *m, int64_t **members, int *n)
{
	*members = NULL;
	*n = 0;
	int64_t reply_to = m->reply_to;
	if (db_call(db, SQL_SEND, "iisssI", m->conversation_id, m->sender_id, m->client_id, m->kind,
		    m->body, reply_to > 0 ? &reply_to : NULL) < 0)
		return -1;
	if (db_next(db) != 1)
		return -1;
	const char *outcome = db_peek(db, 0, NULL);
	int rc;
	if (outcome == NULL) {
		rc = -1;
	} else if (strcmp(outcome, "ok") == 0) {
		rc = SEND_OK;
		m->id = db_int(db, 1);
		m->created_at = db_str(db, 2, a, NULL);
		m->seq = db_int(db, 3);
		m->edited_at = m->deleted_at = NULL;
		m->reactions = NULL;
		m->nreactions = 0;
		*n = db_id_list(a, db_peek(db, 4, NULL), members);
	} else if (strcmp(outcome, "not_found") == 0) {
		rc = SEND_NOT_FOUND;
	} else if (strcmp(outcome, "reply_to") == 0) {
		rc = SEND_BAD_REPLY;
	} else if (strcmp(outcome, "duplicate") == 0) {
		rc = SEND_DUPLICATE;
	} else if (strcmp(outcome, "closed") == 0) {
		rc = SEND_CLOSED;
	} else {
		rc = -1;
	}
	drain(db);
	return rc;
}

static const char *const SQL_SEND_BATCH = "CALL msg_send_batch(?, ?, ?)";
/* SQL_MISFITS: which messages of a failed batch would fail (sql/0010). */
static const char *const SQL_MISFITS = "SELECT msg_batch_misfits(?)";

/* The batch as msg_send_batch takes it, in order (a permutation of s):
 * each message's rank among the batch's messages to its conversation (r),
 * their count (k) and the rank of its sender's last one there (l), with the
 * counts of distinct conversations and (conversation, sender) pairs. */
static json_object *batch_json(const struct send_slot *s, const int *order, int n,
	int *convs, int *pairs)
{
	json_object *batch = json_object_new_array_ext(n);
	*convs = *pairs = 0;
	for (int oi = 0; oi < n; oi++) {
		const struct msg *m = s[order[oi]].m;
		int r = 0, k = 0, l = 0, first_conv = 1, first_pair = 1;
		for (int oj = 0; oj < n; oj++) {
			const struct msg *o = s[order[oj]].m;
			if (o->conversation_id != m->conversation_id)
				continue;
			k++;
			if (oj <= oi)
				r++;
			if (o->sender_id == m->sender_id)
				l = k;
			if (oj < oi) {
				first_conv = 0;
				first_pair &= o->sender_id != m->sender_id;
			}
		}
		*convs += first_conv;
		*pairs += first_pair;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "c", json_object_new_int64(m->conversation_id));
		json_object_object_add(o, "s", json_object_new_int64(m->sender_id));
		json_object_object_add(o, "i", json_object_new_string(m->client_id));
		json_object_object_add(o, "t", json_object_new_string(m->kind));
		json_object_object_add(o, "b", json_object_new_string(m->body));
		json_object_object_add(o, "r", json_object_new_int(r));
		json_object_object_add(o, "k", json_object_new_int(k));
		json_object_object_add(o, "l", json_object_new_int(l));
		json_object_array_add(batch, o);
	}
	return batch;
}

/* Marks the slots that msg_batch_misfits names ("3,7"; none when it cannot
 * tell). */
static void mark_misfits(struct db *db, struct send_slot *s, const int *order, int n,
	const char *text)
{
	for (int i = 0; i < n; i++)
		s[i].misfit = 0;
	if (db_exec(db, SQL_MISFITS, "s", text) < 0 || db_next(db) != 1)
		return;
	for (const char *q = db_peek(db, 0, NULL); q != NULL && *q != '\0';) {
		char *end;
		long long pos = strtoll(q, &end, 10);
		if (end == q)
			break;
		if (pos >= 1 && pos <= n)
			s[order[pos - 1]].misfit = 1;
		q = *end == ',' ? end + 1 : end;
	}
	drain(db);
}

/* Reads one position's entries "position:id:seq:member" of the summary at
 * *p (advanced past them) into x. 0, or -1 when they do not fit. */
static int read_position(const char **p, int pos, int last, struct send_slot *x)
{
	int cnt = 0;
	for (const char *q = *p; q != NULL && *q != '\0' && strtoll(q, NULL, 10) == pos;) {
		cnt++;
		q = strchr(q, ',');
		q = q != NULL ? q + 1 : NULL;
	}
	if (cnt == 0)
		return -1;
	x->members = arena_alloc(x->a, sizeof(int64_t) * (size_t)cnt);
	x->nmembers = 0;
	for (int e = 0; e < cnt; e++) {
		long long v[4];
		for (int f = 0; f < 4; f++) {
			char *end;
			v[f] = strtoll(*p, &end, 10);
			char want = f < 3 ? ':' : (last && e == cnt - 1 ? '\0' : ',');
			if (end == *p || v[f] <= 0 || *end != want)
				return -1;
			*p = *end != '\0' ? end + 1 : end;
		}
		if (e > 0 && (x->m->id != v[1] || x->m->seq != v[2]))
			return -1;
		x->m->id = v[1];
		x->m->seq = v[2];
		x->members[x->nmembers++] = v[3];
	}
	return 0;
}

int msgs_send_batch(struct db *db, struct send_slot *s, int n)
{
	if (n < 2 || n > SEND_BATCH_MAX)
		return -1;
	/* In conversation order (a stable sort: each conversation's messages
	 * keep their order), so batches lock conversation rows in id order. */
	int order[SEND_BATCH_MAX];
	for (int i = 0; i < n; i++) {
		int j = i;
		while (j > 0 && s[order[j - 1]].m->conversation_id > s[i].m->conversation_id) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	int convs, pairs;
	json_object *batch = batch_json(s, order, n, &convs, &pairs);
	const char *text = json_object_to_json_string_ext(batch,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = db_call(db, SQL_SEND_BATCH, "sii", text, (int64_t)convs, (int64_t)pairs);
	const char *outcome = rc == 0 && db_next(db) == 1 ? db_peek(db, 0, NULL) : NULL;
	if (outcome != NULL && strcmp(outcome, "alone") == 0) {
		drain(db);
		mark_misfits(db, s, order, n, text);
		json_object_put(batch);
		return 1;
	}
	json_object_put(batch);
	if (outcome == NULL || strcmp(outcome, "ok") != 0) {
		drain(db);
		return -1;
	}
	/* Committed. "position:id:seq:member,..." in position order; anything
	 * else is an error, and the caller's retry of each send finds the
	 * stored ones. */
	const char *created = db_peek(db, 1, NULL);
	const char *p = db_peek(db, 2, NULL);
	int bad = created == NULL || p == NULL;
	for (int oi = 0; oi < n && !bad; oi++) {
		struct send_slot *x = &s[order[oi]];
		bad = read_position(&p, oi + 1, oi == n - 1, x) < 0;
		x->m->created_at = arena_strdup(x->a, created != NULL ? created : "");
		x->m->edited_at = x->m->deleted_at = NULL;
		x->m->reactions = NULL;
		x->m->nreactions = 0;
	}
	if (bad)
		log_error("db: msg_send_batch answered a summary that does not fit its batch");
	drain(db);
	return bad ? -1 : 0;
}

/* Reads one message row of the current result, then its reactions. */
static int one_msg(struct db *db, struct arena *a, struct msg *m, int reactions)
{
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	read_msg(db, a, m);
	drain(db);
	if (reactions && load_reactions_one(db, a, m) < 0)
		return -1;
	return 1;
}

int msgs_by_client(struct db *db, struct arena *a, int64_t sender, const char *client_id,
	struct msg *m)
{
	if (db_exec(db, SQL_BY_CLIENT, "is", sender, client_id) < 0)
		return -1;
	return one_msg(db, a, m, 1);
}

int msgs_get(struct db *db, struct arena *a, int64_t cid, int64_t mid, struct msg *m)
{
	if (db_exec(db, SQL_GET, "ii", mid, cid) < 0)
		return -1;
	return one_msg(db, a, m, 1);
}

int msgs_lock(struct db *db, struct arena *a, int64_t cid, int64_t mid, struct msg *m)
{
	if (db_exec(db, SQL_LOCK, "ii", mid, cid) < 0)
		return -1;
	return one_msg(db, a, m, 0);
}

int msgs_history(struct db *db, struct arena *a, int64_t cid, int64_t before, int64_t after,
	int max, struct msg *out)
{
	int desc = 1, rc;
	if (before > 0)
		rc = db_exec(db, SQL_BEFORE, "iii", cid, before, (int64_t)max);
	else if (after >= 0) {
		rc = db_exec(db, SQL_AFTER, "iii", cid, after, (int64_t)max);
		desc = 0;
	} else
		rc = db_exec(db, SQL_LATEST, "ii", cid, (int64_t)max);
	if (rc < 0)
		return -1;
	int n = 0;
	while ((rc = db_next(db)) > 0)
		if (n < max)
			read_msg(db, a, &out[n++]);
	if (rc < 0)
		return -1;
	if (desc) {
		for (int i = 0, j = n - 1; i < j; i++, j--) {
			struct msg t = out[i];
			out[i] = out[j];
			out[j] = t;
		}
	}
	if (n == 0)
		return 0;
	if (db_exec(db, SQL_REACTIONS_RANGE, "iii", cid, out[0].seq, out[n - 1].seq) < 0 ||
	    attach_reactions(db, a, out, n) < 0)
		return -1;
	return n;
}

int msgs_edit(struct db *db, int64_t mid, const char *body)
{
	if (db_exec(db, SQL_EDIT, "si", body, mid) < 0)
		return -1;
	return db_affected(db) > 0 ? 1 : 0;
}

int msgs_delete(struct db *db, int64_t mid)
{
	if (db_exec(db, SQL_DELETE, "i", mid) < 0)
		return -1;
	if (db_affected(db) == 0)
		return 0;
	return db_exec(db, SQL_REACTIONS_DROP, "i", mid) < 0 ? -1 : 1;
}

int msgs_react(struct db *db, int64_t mid, int64_t uid, const char *emoji)
{
	if (db_exec(db, SQL_REACT, "iis", mid, uid, emoji) < 0)
		return -1;
	return db_affected(db) > 0 ? 1 : 0;
}

int msgs_reaction_counts(struct db *db, int64_t mid, int64_t uid, const char *emoji,
	struct reaction_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (db_exec(db, SQL_REACTION_COUNTS, "isisi", uid, emoji, uid, emoji, mid) < 0)
		return -1;
	int rc = db_next(db);
	if (rc > 0) {
		out->emoji = db_int(db, 0);
		out->mine = db_int(db, 1);
		out->this_emoji = db_int(db, 2);
		out->given = db_int(db, 3);
	}
	while (rc > 0)
		rc = db_next(db);
	return rc < 0 ? -1 : 0;
}

int msgs_unreact(struct db *db, int64_t mid, int64_t uid, const char *emoji)
{
	if (db_exec(db, SQL_UNREACT, "iis", mid, uid, emoji) < 0)
		return -1;
	return db_affected(db) > 0 ? 1 : 0;
}

int msgs_search(struct db *db, struct arena *a, int64_t uid, const char *query, int64_t cid,
	int64_t before_id, int max, struct msg *out)
{
	if (db_exec(db, SQL_SEARCH, "isiiiii", uid, query, cid, cid, before_id, before_id,
		    (int64_t)max) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0)
		if (n < max)
			read_msg(db, a, &out[n++]);
	if (rc < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (load_reactions_one(db, a, &out[i]) < 0)
			return -1;
	return n;
}

int msgs_ft_min_word(struct db *db)
{
	/* A server setting that only changes with a restart: read it once. A
	 * race between threads only reads it twice. */
	static _Atomic int cached;
	int v = cached;
	if (v > 0)
		return v;
	v = 3;
	if (db_exec(db, SQL_FT_MIN, "") == 0 && db_next(db) > 0) {
		int64_t got = db_int(db, 0);
		if (got > 0 && got < 100)
			v = (int)got;
		drain(db);
		cached = v;
	}
	return v;
}

int msgs_system(struct db *db, int64_t cid, int64_t actor, const char *body, int64_t *mid)
{
	if (db_exec(db, SQL_SYSTEM_SEQ, "i", cid) < 0)
		return -1;
	if (db_affected(db) != 1)
		return -1;
	int64_t seq = db_insert_id(db);
	if (db_exec(db, SQL_SYSTEM_INSERT, "iiis", cid, seq, actor, body) < 0)
		return -1;
	*mid = db_insert_id(db);
	return db_exec(db, SQL_SYSTEM_MARKS, "iiii", seq, seq, cid, actor);
}
