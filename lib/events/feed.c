#include "events/feed.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "auth/auth.h"
#include "chat/chat.h"
#include "db/events.h"
#include "db/tickets.h"
#include "events/presence.h"
#include "events/quota.h"
#include "events/render.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "wake/doorbell.h"

#define TICKET_TTL_S 30
#define HEARTBEAT_MS 15000
#define DEFAULT_TIMEOUT_S 25
#define MAX_TIMEOUT_S 60
/* Open long-polls and streams per user (events_per_user). */
#define EVENTS_PER_USER 32

/* A pseudo-random share (0 to pct percent) of ms, different per user and
 * moment. Waiters that connected together (after a restart, say) would
 * otherwise refresh and time out together, in bursts that delay
 * everyone's messages. */
static int64_t jitter(int64_t uid, int64_t ms, int pct)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t h = ((uint64_t)uid * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_nsec;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (int64_t)(h % (uint64_t)(ms * pct / 100 + 1));
}

/* When uid's next presence refresh is due, counted from now. */
static int64_t refresh_due(int64_t uid, int64_t now)
{
	int64_t every = presence_refresh_ms();
	return now + every - jitter(uid, every, 50);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* An integer query parameter in [min, max], def when absent. Answers 400
 * itself. Returns 0 or -1. */
static int query_int(struct req *req, const char *name, int64_t min, int64_t max, int64_t def,
	int64_t *out)
{
	const char *s = req_query(req, name);
	*out = def;
	if (s == NULL)
		return 0;
	int64_t v;
	if (http_parse_uint(s, min, max, &v) < 0) {
		resp_problem(req, 400, "invalid_query",
			arena_printf(req->arena, "%s must be an integer from %lld to %lld.", name,
				(long long)min, (long long)max));
		return -1;
	}
	*out = v;
	return 0;
}

/* A storage failure: 500, which goes out as 503 when the database is
 * unreachable (server_opts.unavailable), so clients retry. */
static void db_failed(struct req *req)
{
	resp_problem(req, 500, "internal", NULL);
}

/* The head of uid's log. Answers itself on error; returns 0 or -1. */
static int load_head(struct req *req, struct db *db, int64_t uid, int64_t *head, int64_t *min)
{
	int r = events_head(db, uid, head, min);
	if (r < 0) {
		db_failed(req);
		return -1;
	}
	if (r == 0) {
		*head = 0;
		*min = 1;
	}
	return 0;
}

/* 410: events after the client's cursor are no longer kept. */
static void answer_expired(struct req *req, int64_t min)
{
	json_object *x = json_object_new_object();
	json_object_object_add(x, "oldest_cursor",
		json_object_new_string(arena_printf(req->arena, "%lld", (long long)(min - 1))));
	json_object_object_add(x, "resync", json_object_new_string(
		"Fetch GET /conversations and history, then GET /events without since."));
	resp_problem_ext(req, 410, "cursor_expired", "Events after this cursor are no longer kept.",
		x);
}

/* Validates a client's cursor against the log (DESIGN: the server never
 * skips a gap silently). Answers 400 or 410 itself; returns 0 or -1. */
static int check_cursor(struct req *req, const char *s, int64_t head, int64_t min, int64_t *out)
{
	/* A cursor is the decimal seq. */
	int64_t v;
	if (http_parse_uint(s, 0, INT64_MAX, &v) < 0) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is malformed.");
		return -1;
	}
	if (v > head) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is beyond the end of the log.");
		return -1;
	}
	if (v < min - 1) {
		answer_expired(req, min);
		return -1;
	}
	*out = v;
	return 0;
}

/* Whether the events right after cur went since the cursor was checked
 * (the sweeper raised the log's horizon past it meanwhile). Asked only
 * when a read returned nothing or starts past cur + 1, which early-pruned
 * typing and presence events also cause. 1 gone (*min set), 0 not, -1. */
static int pruned_past(struct db *db, int64_t uid, int64_t cur, const struct event_row *rows,
	int n, int64_t *min)
{
	if (n > 0 && rows[0].seq == cur + 1)
		return 0;
	int64_t head;
	int r = events_head(db, uid, &head, min);
	if (r < 0)
		return -1;
	return r == 1 && cur < *min - 1;
}

/*
 * Where a user's log ended when this process last read it, with the
 * doorbell value read before that read. While the doorbell still shows
 * that value nothing was appended since, except events committed but not
 * yet rung, whose ring comes after and ends any wait parked with that
 * value. So a client resuming from exactly that end (a long-poll's next
 * request) needs no head query: there is nothing between its cursor and
 * the end, and nothing it could have missed. Any other cursor is checked
 * against the log as before. An entry is trusted for HEAD_TRUST_MS only:
 * another host's append rings us only through a hint, and a lost hint must
 * still be found by the next request after a long-poll's timeout.
 */
#define HEADS 4096
#define HEAD_TRUST_MS 5000

static struct known_head {
	int64_t uid, head, at;
	uint32_t bell;
} heads[HEADS];
static pthread_mutex_t heads_mu = PTHREAD_MUTEX_INITIALIZER;

static void head_remember(int64_t uid, uint32_t bell, int64_t head)
{
	pthread_mutex_lock(&heads_mu);
	heads[(uint64_t)uid % HEADS] = (struct known_head){uid, head, clock_ms(), bell};
	pthread_mutex_unlock(&heads_mu);
}

static int head_known(int64_t uid, uint32_t bell, int64_t since)
{
	pthread_mutex_lock(&heads_mu);
	const struct known_head *k = &heads[(uint64_t)uid % HEADS];
	int ok = k->uid == uid && k->bell == bell && k->head == since &&
		 clock_ms() - k->at < HEAD_TRUST_MS;
	pthread_mutex_unlock(&heads_mu);
	return ok;
}

/* Presence with a scratch arena: a transition (coming online) builds JSON
 * and recipient lists that a parked request must not keep for its whole
 * wait. */
static void refresh_presence(struct db *db, int64_t uid)
{
	struct arena t;
	arena_init_block(&t, 1024);
	presence_refresh(db, &t, uid);
	arena_release(&t);
}

/* The common start of a feed request: marks the user present, reads the
 * doorbell BEFORE the query (a ring between the query and the wait then
 * changes the slot and the wait returns at once), loads the log head and
 * checks the cursor (none given: *cur is the head). Answers itself on
 * error; returns 0 or -1. */
static int feed_start(struct req *req, const char *since, uint32_t *bell, int64_t *head,
	int64_t *cur)
{
	int64_t min;
	struct db *db = app_db(req);
	if (db == NULL)
		return -1;
	refresh_presence(db, req->user_id);
	*bell = doorbell_read(req->user_id);
	int64_t v;
	if (since != NULL && http_parse_uint(since, 0, INT64_MAX, &v) == 0 &&
	    head_known(req->user_id, *bell, v)) {
		*head = *cur = v;
		return 0;
	}
	if (load_head(req, db, req->user_id, head, &min) < 0)
		return -1;
	head_remember(req->user_id, *bell, *head);
	if (since == NULL) {
		*cur = *head;
		return 0;
	}
	return check_cursor(req, since, *head, min, cur);
}

/* After message.new events reached this reader: delivered receipts, queued
 * for the process's receipt writer (lib/chat/receipts.c). */
static void mark_delivered(int64_t uid, const struct rendered *r)
{
	for (int i = 0; i < r->ndl; i++)
		receipts_add(uid, r->dl[i].conversation_id, r->dl[i].seq);
}

/* A stream sends delivered receipts at most once per RECEIPT_DELAY_MS:
 * the first after a quiet spell at once, later ones held until the spell
 * is over, one per conversation for everything shown meanwhile. A burst
 * of messages then tells the sender twice, not once per batch the stream
 * showed, and a lone message gets its receipt without delay (besides the
 * receipt writer's own pacing, lib/chat/receipts.c). */
#define RECEIPT_DELAY_MS 300
#define RECEIPTS_PENDING 16

struct pending {
	struct delivered dl[RECEIPTS_PENDING];
	int n;
	int64_t due;		/* when to send them (ms); 0 when none */
	int64_t last;		/* when receipts were last sent (ms) */
};

static void pending_flush(int64_t uid, struct pending *p, int64_t now)
{
	struct rendered r = {NULL, p->dl, p->n};
	mark_delivered(uid, &r);
	p->n = 0;
	p->due = 0;
	p->last = now;
}

/* Adds a batch's receipts (flushing first when they do not fit). */
static void pending_add(int64_t uid, struct pending *p,
	const struct rendered *r, int64_t now)
{
	for (int i = 0; i < r->ndl; i++) {
		int k = 0;
		while (k < p->n && p->dl[k].conversation_id != r->dl[i].conversation_id)
			k++;
		if (k == p->n) {
			if (p->n == RECEIPTS_PENDING)
				pending_flush(uid, p, now);
			k = p->n++;
			p->dl[k] = r->dl[i];
		} else if (r->dl[i].seq > p->dl[k].seq) {
			p->dl[k].seq = r->dl[i].seq;
		}
		if (p->due == 0)
			p->due = p->last + RECEIPT_DELAY_MS > now ? p->last + RECEIPT_DELAY_MS : now;
	}
}

/* 0 once the request's session has ended (logout, deleted device); a
 * database error counts as alive (the next check decides). */
static int session_alive(struct req *req)
{
	return auth_session_valid(req, req->session_id, req->user_id) != 0;
}

static void quota_end(struct req *req, void *state)
{
	(void)req;
	quota_leave(state);
}

static void answer_too_many(struct req *req, const char *detail)
{
	resp_header(req, "Retry-After", "10");
	resp_problem(req, 429, "too_many_waiting", detail);
}

/* Counts the request (its ticket t) among its user's open ones until it
 * ends. At events_per_user the user's oldest is asked to end (see
 * events/quota.h); answers 429 only when many are ending already. */
static int quota_take(struct req *req, struct quota_ticket *t)
{
	int max = (int)config_int_range("events_per_user", EVENTS_PER_USER, 1, 10000);
	int rc = quota_enter(t, req->user_id, max);
	if (rc == QUOTA_REFUSED) {
		answer_too_many(req, arena_printf(req->arena, "This account has %d event requests "
			"open and more ending; wait for them to end.", max));
		return 0;
	}
	req_on_end(req, quota_end, t);
	/* The oldest, asked to end, ends when woken. */
	if (rc == QUOTA_TAKEN_EVICTING)
		doorbell_ring(req->user_id);
	return 1;
}

static void poll_resume(struct req *req, void *p);

static void answer_batch(struct req *req, json_object *events, int64_t next, int has_more)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "events", events);
	json_object_object_add(o, "next",
		json_object_new_string(arena_printf(req->arena, "%lld", (long long)next)));
	json_object_object_add(o, "has_more", json_object_new_boolean(has_more));
	json_object_object_add(o, "caught_up", json_object_new_boolean(!has_more));
	resp_json(req, 200, o);
}

/* A long-poll between its parks. */
struct poll_state {
	int64_t uid, limit, head, cur, deadline, refresh_at;
	uint32_t bell;
	struct event_row *rows;
	struct quota_ticket qt;
};

/* Reads and answers, or parks until the next ring or timer. */
static void poll_step(struct req *req, struct poll_state *s)
{
	int n = 0;
	/* A connection only to read: a wait that ends with nothing new (its
	 * deadline) is answered without one, database or not. */
	if (s->head > s->cur) {
		struct db *db = app_db(req);
		if (db == NULL)
			return;
		/* The batch buffer is allocated only when there is something to
		 * read: an idle waiter then costs one small arena block. */
		if (s->rows == NULL)
			s->rows = arena_alloc(req->arena, sizeof(*s->rows) * (size_t)(s->limit + 1));
		n = events_read(db, req->arena, s->uid, s->cur, (int)s->limit + 1, s->rows);
		if (n < 0) {
			db_failed(req);
			return;
		}
		/* Checked when the request began; the sweeper may have pruned
		 * past it while this request waited. */
		int64_t min;
		int gone = pruned_past(db, s->uid, s->cur, s->rows, n, &min);
		if (gone != 0) {
			if (gone < 0)
				db_failed(req);
			else
				answer_expired(req, min);
			return;
		}
		/* Nothing left between the cursor and a known head: they were
		 * early-pruned typing/presence events. Skip past them. After a
		 * ring (head unknown) it was a neighbour's: nothing to read
		 * until the next ring. */
		if (n == 0 && s->head != INT64_MAX)
			s->cur = s->head;
		else if (n == 0)
			s->head = s->cur;
		/* The read began after s->bell was read: the end it saw. */
		if (n <= s->limit)
			head_remember(s->uid, s->bell, n > 0 ? s->rows[n - 1].seq : s->cur);
	}
	if (n > 0) {
		int shown = n > s->limit ? (int)s->limit : n;
		struct rendered r;
		render_events(req->arena, s->uid, s->rows, shown, &r);
		/* A slow reader must not keep a pooled connection while the
		 * answer goes out. */
		app_db_release(req);
		answer_batch(req, r.events, s->rows[shown - 1].seq, n > s->limit);
		/* The answer goes out first (it carries its length, so the
		 * client has it whole); the receipts follow, unless the client
		 * was gone before it could have it. */
		if (resp_flush(req) == 0)
			mark_delivered(s->uid, &r);
		return;
	}
	int64_t now = clock_ms(), left = s->deadline - now;
	if (left <= 0) {
		answer_batch(req, json_object_new_array(), s->cur, 0);
		return;
	}
	/* Wait without a connection: waiters must not exhaust the pool. */
	app_db_release(req);
	req_park(req, s->uid, s->bell, min64(left, s->refresh_at - now), poll_resume, s);
}

/* After a park: a ring, the deadline or a presence refresh. */
static void poll_resume(struct req *req, void *p)
{
	struct poll_state *s = p;
	/* The client left: nothing to answer, and nothing was delivered. */
	if (req->client_gone)
		return;
	/* The bell before the eviction mark: an eviction marks, then rings,
	 * so a mark not seen here comes with a ring after this read, which
	 * wakes the park below again. */
	uint32_t rung = doorbell_read(s->uid);
	if (s->qt.evicted) {
		answer_too_many(req, "A newer events request of this account took this one's "
			"place (one per device or tab is enough).");
		return;
	}
	if (rung != s->bell) {
		/* Rung: read straight away (one query). The head is not needed:
		 * nothing between the cursor and the end was pruned while we
		 * waited, and an empty read just waits again. */
		s->bell = rung;
		s->head = INT64_MAX;
		/* A sign-out rings too: an ended session is told nothing more. */
		if (auth_session_valid(req, req->session_id, req->user_id) == 0) {
			answer_batch(req, json_object_new_array(), s->cur, 0);
			return;
		}
	}
	int64_t now = clock_ms();
	if (now >= s->refresh_at) {
		struct db *db = app_db(req);
		if (db == NULL)
			return;
		if (!session_alive(req)) {
			/* Signed out meanwhile: end the wait now. */
			answer_batch(req, json_object_new_array(), s->cur, 0);
			return;
		}
		refresh_presence(db, s->uid);
		s->refresh_at = refresh_due(s->uid, now);
	}
	poll_step(req, s);
}

/* GET /events?since=&timeout=&limit= */
void feed_poll(struct req *req)
{
	int64_t timeout, limit;
	if (query_int(req, "timeout", 0, MAX_TIMEOUT_S, DEFAULT_TIMEOUT_S, &timeout) < 0 ||
	    query_int(req, "limit", 1, FEED_MAX_BATCH, FEED_MAX_BATCH, &limit) < 0)
		return;
	const char *since = req_query(req, "since");
	struct poll_state *s = arena_zalloc(req->arena, sizeof(*s));
	s->uid = req->user_id;
	s->limit = limit;
	if (feed_start(req, since, &s->bell, &s->head, &s->cur) < 0)
		return;
	if (since == NULL) {
		/* How a client starts: no events, the head as its cursor. */
		answer_batch(req, json_object_new_array(), s->head, 0);
		return;
	}
	/* Counted once its cursor is known good: a malformed request must
	 * not take a live one's place. */
	if (!quota_take(req, &s->qt))
		return;
	/* Operators may cap waits below what clients ask (plain CGI holds a
	 * process per waiter); an early empty answer is always allowed. */
	timeout = min64(timeout, config_int_range("events_max_wait", MAX_TIMEOUT_S, 0, 3600));
	int64_t start = clock_ms();
	s->deadline = start + timeout * 1000 - jitter(s->uid, timeout * 1000, 10);
	s->refresh_at = refresh_due(s->uid, start);
	poll_step(req, s);
}

/* Authenticates a stream by its single-use ticket. Answers itself; returns
 * 1 authenticated, 0 answered, -1 internal error. */
static int ticket_auth(struct req *req, const char *ticket)
{
	if (*ticket == '\0' || strlen(ticket) > 128) {
		resp_problem(req, 401, "invalid_ticket", "The stream ticket is not valid.");
		return 0;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return 0;
	unsigned char h[32];
	int64_t uid, sid;
	auth_sha256(ticket, h);
	int r = tickets_take(db, h, &uid, &sid);
	if (r < 0)
		return -1;
	if (r == 1) {
		/* The session may have ended since the ticket was issued. */
		r = sessions_valid(db, sid, uid, NULL);
		if (r < 0)
			return -1;
	}
	if (r == 0) {
		resp_problem(req, 401, "invalid_ticket",
			"The stream ticket is unknown, used or expired; get a new one.");
		return 0;
	}
	req->user_id = uid;
	req->session_id = sid;
	return 1;
}

/* Writes one batch as SSE events and flushes. Returns 0, or -1 when the
 * client is gone. */
/* Writes events as SSE, then, when the batch's last events were not shown
 * (a message deleted since, a conversation the reader has left), an id of
 * its own for the batch's end: a client resuming from its last id would
 * otherwise read them again, and get 410 once they are pruned. */
static int write_events(struct req *req, struct arena *a, json_object *events, int64_t end)
{
	size_t n = json_object_array_length(events);
	int64_t last = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(events, i), *seq, *type;
		json_object_object_get_ex(e, "seq", &seq);
		json_object_object_get_ex(e, "type", &type);
		size_t len;
		const char *data = json_object_to_json_string_length(e,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
		/* JSON text never contains a raw newline, so one data line. */
		const char *head = arena_printf(a, "id: %lld\nevent: %s\ndata: ",
			(long long)json_object_get_int64(seq), json_object_get_string(type));
		if (resp_write(req, head, strlen(head)) < 0 || resp_write(req, data, len) < 0 ||
		    resp_write(req, "\n\n", 2) < 0)
			return -1;
		last = json_object_get_int64(seq);
	}
	/* Events this reader is not shown end the batch: their position goes
	 * out with a heartbeat, which EventSource hands to the client (a bare
	 * id line would move its last event id unseen, and a client keeping
	 * its own cursor would read them again after a reconnect). */
	if (last != end) {
		const char *id = arena_printf(a, "id: %lld\nevent: ping\ndata: {}\n\n",
			(long long)end);
		if (resp_write(req, id, strlen(id)) < 0)
			return -1;
	}
	return resp_flush(req);
}

/* A stream between its parks. Per-batch memory comes from its own arena
 * (la), given back before each park. */
struct stream_state {
	int64_t uid, cur, deadline, next_ping, refresh_at, last_read, safety_ms;
	uint32_t bell;
	int check;		/* read before parking again */
	struct arena la;
	struct pending pend;
	struct quota_ticket qt;
};

/* A read that would find what other hosts' lost wake-up hints announced:
 * at most this often, and only when other hosts may send hints. */
#define SAFETY_READ_MS 60000

static void stream_resume(struct req *req, void *p);

/* How long a stream goes without reading the log when nothing rings it:
 * events_safety_read_seconds, for a ring lost between a commit and its ring
 * (a writer killed there, the wake-up file replaced under the processes);
 * at most SAFETY_READ_MS while other hosts may send hints, which can be
 * lost too. */
static int64_t safety_every(const struct stream_state *s)
{
	return doorbell_cross_host() ? min64(SAFETY_READ_MS, s->safety_ms) : s->safety_ms;
}

static void stream_end(struct req *req, struct stream_state *s)
{
	/* The client may be gone, but it was shown these. */
	if (s->pend.n > 0)
		pending_flush(s->uid, &s->pend, clock_ms());
	app_db_release(req);
	arena_release(&s->la);
}

/* Reads and writes what is there, then parks until the next ring, heartbeat,
 * presence refresh, receipt flush or the stream's end. */
static void stream_step(struct req *req, struct stream_state *s)
{
	struct db *db;
	for (;;) {
		int n = 0;
		struct event_row *rows = NULL;
		if (s->check) {
			if ((db = app_db_try(req)) == NULL) {
				stream_end(req, s);
				return;
			}
			arena_reset(&s->la);
			rows = arena_alloc(&s->la, sizeof(*rows) * FEED_MAX_BATCH);
			n = events_read(db, &s->la, s->uid, s->cur, FEED_MAX_BATCH, rows);
			int64_t min;
			/* Pruned past the stream's position (or an error): the
			 * stream ends, and its resumption with Last-Event-ID
			 * answers 410. */
			if (n < 0 || pruned_past(db, s->uid, s->cur, rows, n, &min) != 0) {
				stream_end(req, s);
				return;
			}
			s->last_read = clock_ms();
		}
		s->check = 0;
		if (n > 0) {
			struct rendered rd;
			render_events(&s->la, s->uid, rows, n, &rd);
			app_db_release(req);
			int w = write_events(req, &s->la, rd.events, rows[n - 1].seq);
			json_object_put(rd.events);
			if (w < 0) {
				stream_end(req, s);
				return;
			}
			s->cur = rows[n - 1].seq;
			pending_add(s->uid, &s->pend, &rd, clock_ms());
			arena_reset(&s->la);
			s->next_ping = clock_ms() + HEARTBEAT_MS;
			if (n == FEED_MAX_BATCH && clock_ms() < s->deadline) {
				s->check = 1;
				continue;
			}
		}
		break;
	}
	app_db_release(req);
	int64_t now = clock_ms();
	if (s->pend.due != 0 && now >= s->pend.due)
		pending_flush(s->uid, &s->pend, now);
	if (now >= s->deadline) {
		stream_end(req, s);
		return;
	}
	int64_t wait = min64(s->deadline - now, min64(s->next_ping - now, s->refresh_at - now));
	wait = min64(wait, s->last_read + safety_every(s) - now);
	if (s->pend.due != 0)
		wait = min64(wait, s->pend.due - now);
	/* Parked with nothing but the arenas' first blocks. */
	arena_reset(&s->la);
	req_park(req, s->uid, s->bell, wait < 1 ? 1 : wait, stream_resume, s);
}

static void stream_resume(struct req *req, void *p)
{
	struct stream_state *s = p;
	/* Gone, or a newer request of the user took this one's place (the
	 * bell read first, as in poll_resume). */
	uint32_t rung = doorbell_read(s->uid);
	if (req->client_gone || s->qt.evicted) {
		stream_end(req, s);
		return;
	}
	s->check = rung != s->bell;
	s->bell = rung;
	/* A sign-out rings too: an ended session's stream ends before it
	 * sends anything more. */
	if (s->check && auth_session_valid(req, req->session_id, req->user_id) == 0) {
		stream_end(req, s);
		return;
	}
	int64_t now = clock_ms();
	if (now >= s->next_ping) {
		/* The heartbeat also finds clients that left: the flush fails
		 * once lighttpd has closed our side. An event, not a comment:
		 * EventSource hides comments, and a client that hears nothing
		 * for a while knows its connection died without telling it. */
		static const char ping[] = "event: ping\ndata: {}\n\n";
		if (resp_write(req, ping, sizeof(ping) - 1) < 0 || resp_flush(req) < 0) {
			stream_end(req, s);
			return;
		}
		s->next_ping = now + HEARTBEAT_MS;
	}
	if (now >= s->refresh_at) {
		struct db *db = app_db_try(req);
		/* Logout and session deletion end open streams too. */
		if (db == NULL || !session_alive(req)) {
			stream_end(req, s);
			return;
		}
		refresh_presence(db, s->uid);
		arena_reset(&s->la);
		s->refresh_at = refresh_due(s->uid, now);
	}
	if (now - s->last_read >= safety_every(s))
		s->check = 1;
	stream_step(req, s);
}

/* GET /events/stream?ticket=&since= (or Authorization; Last-Event-ID wins) */
void feed_stream(struct req *req)
{
	const char *ticket = req_query(req, "ticket");
	int r = ticket != NULL ? ticket_auth(req, ticket) : auth_authenticate(req);
	if (r < 0 && !req->headers_sent)
		resp_problem(req, 500, "internal", NULL);
	if (r <= 0)
		return;
	struct stream_state *s = arena_zalloc(req->arena, sizeof(*s));
	s->uid = req->user_id;
	const char *since = req_header(req, "Last-Event-ID");
	if (since == NULL || *since == '\0')
		since = req_query(req, "since");
	int64_t head;
	if (feed_start(req, since, &s->bell, &head, &s->cur) < 0 || !quota_take(req, &s->qt))
		return;
	app_db_release(req);
	if (resp_start(req, 200, "text/event-stream") < 0)
		return;
	/* EventSource reconnects this long after the stream ends, sending
	 * the last id it saw: the stream's own position is that id from the
	 * start (an id with no data sets it without an event), so a stream
	 * opened without a cursor that ends before any event arrives resumes
	 * where it began, not at a later head. */
	char hello[64];
	int hn = snprintf(hello, sizeof(hello), "retry: 2000\nid: %lld\n\n", (long long)s->cur);
	if (resp_write(req, hello, hn) < 0 || resp_flush(req) < 0)
		return;

	/* A stream's life is capped so clients re-authenticate now and then;
	 * the client resumes with Last-Event-ID. */
	int64_t start = clock_ms();
	s->deadline = start + config_int_range("events_stream_max_seconds", 600, 10, 86400) * 1000;
	/* The first heartbeat comes a little early, by a different amount per
	 * stream, so streams opened together do not ping together forever. */
	s->next_ping = start + HEARTBEAT_MS - jitter(s->uid, HEARTBEAT_MS, 50);
	s->refresh_at = refresh_due(s->uid, start);
	s->safety_ms = config_int_range("events_safety_read_seconds", 300, 1, 3600) * 1000;
	/* A small first block: what a parked stream keeps. */
	arena_init_block(&s->la, 1024);
	/* Read at the start, after a ring, and now and then as a safety net
	 * for lost rings (safety_every); heartbeats alone read nothing. */
	s->check = 1;
	stream_step(req, s);
}

/* POST /events/ticket */
void feed_ticket(struct req *req)
{
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	char *ticket = auth_random_token(req->arena, 32);
	unsigned char h[32];
	auth_sha256(ticket, h);
	if (tickets_create(db, h, req->user_id, req->session_id, TICKET_TTL_S) < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticket", json_object_new_string(ticket));
	json_object_object_add(o, "expires_in", json_object_new_int(TICKET_TTL_S));
	resp_json(req, 201, o);
}
