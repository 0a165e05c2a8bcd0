/* Account, session and profile endpoints. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app/app.h"
#include "auth/auth.h"
#include "chat/chat.h"
#include "events/emit.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/utf8.h"

/* Passwords, device names and the user search are limited in characters,
 * as the OpenAPI document says; the byte caps (4 per character) only stop
 * what cannot fit before it is counted. */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 256
#define PASSWORD_MAX_BYTES (4 * PASSWORD_MAX)
#define DEVICE_MAX_CHARS 64
#define USER_QUERY_MAX_CHARS 64
#define DISPLAY_MAX_CHARS 64
#define ABOUT_MAX_CHARS 280

/* A password: at most PASSWORD_MAX characters and, when it is being set,
 * at least PASSWORD_MIN. */
static int check_password(struct req *req, const char *field, const char *s, int setting)
{
	size_t n = utf8_chars(s);
	if (n > PASSWORD_MAX)
		return json_req_bad(req, field,
			arena_printf(req->arena, "is longer than %d characters", PASSWORD_MAX));
	if (setting && n < PASSWORD_MIN) {
		resp_problem(req, 400, "weak_password", "Passwords need at least 8 characters.");
		return -1;
	}
	return 0;
}

/* A display name: one line of text with something besides white space. */
static int check_display_name(struct req *req, const char *s)
{
	return json_req_text(req, "display_name", s, DISPLAY_MAX_CHARS, 0, 0);
}

static int valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n < 3 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static char *lower(struct arena *a, const char *s)
{
	char *o = arena_strdup(a, s);
	for (char *p = o; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return o;
}

static const char *user_agent(struct req *req)
{
	const char *ua = req_header(req, "User-Agent");
	if (ua == NULL)
		return "";
	char *c = arena_strndup(req->arena, ua, strlen(ua) > 250 ? 250 : strlen(ua));
	/* Keep it printable ASCII; it is shown back in the sessions list. */
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
			*p = '?';
	return c;
}

struct profile_ctx {
	struct emit *e;
	struct arena *a;
	int64_t uid;
};

/* The profile is read with its row locked: a change committed meanwhile is
 * in it, and one that comes after waits, so the last profile.updated each
 * contact gets is the profile as it stands (two changes at once could end
 * their events in the other order). */
static int profile_tx(struct db *db, void *p)
{
	struct profile_ctx *c = p;
	c->e->n = 0;
	struct user u;
	int rc = users_lock(db, c->a, c->uid, &u);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	json_object *payload = json_object_new_object();
	json_object_object_add(payload, "user", auth_user_json(c->a, &u));
	rc = emit_contacts(db, c->e, c->uid, "profile.updated", payload);
	json_object_put(payload);
	return rc < 0 ? -1 : 0;
}

/* Tells the user's other devices and everyone sharing a conversation. */
static int emit_profile_changed(struct db *db, struct arena *a, int64_t uid)
{
	struct emit e;
	emit_init(&e, a);
	struct profile_ctx c = {&e, a, uid};
	int rc = db_tx(db, profile_tx, &c);
	if (rc == 0)
		emit_wake(&e);
	return rc;
}

static int verify_my_password(struct req *req, struct db **db, const char *password,
	const char **proven);

static int token_ttl(void)
{
	return (int)config_int_range("access_token_ttl", 900, 60, 86400);
}

static int refresh_days(void)
{
	return (int)config_int_range("refresh_token_days", 30, 1, 3650);
}

/* --- the refresh cookie ---
 * A browser app asks (refresh_cookie: true) for its refresh token in an
 * HttpOnly cookie instead of the answer's body: script on the page, an
 * injected one included, never sees it. It goes only to the auth routes,
 * never cross-site (SameSite=Strict; the routes also take JSON bodies
 * only, which a cross-site form cannot send), and only over TLS when the
 * request came over TLS. */
#define REFRESH_COOKIE "messenger_refresh"

static void set_refresh_cookie(struct req *req, const char *token)
{
	/* Secure when the request came over TLS, to lighttpd or to a proxy
	 * in front of it, or always (cookie_secure = 1). */
	const char *https = req_env(req, "HTTPS");
	const char *proto = req_header(req, "X-Forwarded-Proto");
	int secure = config_int("cookie_secure", 0) == 1 ||
		(https != NULL && strcasecmp(https, "on") == 0) ||
		(proto != NULL && strcasecmp(proto, "https") == 0);
	long long age = token != NULL ? (long long)refresh_days() * 86400 : 0;
	resp_header(req, "Set-Cookie", arena_printf(req->arena,
		"%s=%s; Path=%s/auth; Max-Age=%lld; HttpOnly; SameSite=Strict%s", REFRESH_COOKIE,
		token != NULL ? token : "", config_str("api_prefix", "/api/v1"), age,
		secure ? "; Secure" : ""));
}

/* The well-formed refresh cookies of the request (at most 128 characters
 * of the URL-safe alphabet and dots each), up to max of them: their
 * count. */
#define REFRESH_COOKIES_MAX 4
static int refresh_cookies(struct req *req, const char **out, int max)
{
	const char *c = req_header(req, "Cookie");
	size_t name = strlen(REFRESH_COOKIE);
	int n = 0;
	while (c != NULL && *c != '\0' && n < max) {
		while (*c == ' ' || *c == ';')
			c++;
		const char *end = strchr(c, ';');
		size_t len = end != NULL ? (size_t)(end - c) : strlen(c);
		if (len > name && strncmp(c, REFRESH_COOKIE, name) == 0 && c[name] == '=') {
			const char *v = c + name + 1;
			size_t vl = len - name - 1;
			int ok = vl > 0 && vl <= 128;
			for (size_t i = 0; ok && i < vl; i++)
				ok = isalnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '_' || v[i] == '.';
			if (ok)
				out[n++] = arena_strndup(req->arena, v, vl);
		}
		c = end;
	}
	return n;
}

/* The refresh cookie's value, or NULL when there is none (or it is not a
 * token's shape). Two of that name are none: ours and one another site of
 * the same domain planted (Domain=.example.org, a longer Path, so the
 * browser sends it first), which would sign this browser into the
 * planter's account. */
static const char *refresh_cookie(struct req *req)
{
	const char *v[2];
	return refresh_cookies(req, v, 2) == 1 ? v[0] : NULL;
}

/* Answers {user, access_token, refresh_token, ...}; with in_cookie the
 * refresh token goes into the cookie instead. */
static void answer_tokens(struct req *req, const struct user *u, int64_t sid, const char *access,
	const char *refresh, int in_cookie, int status)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "user", auth_user_json(req->arena, u));
	json_object_object_add(o, "access_token", json_object_new_string(access));
	if (in_cookie)
		set_refresh_cookie(req, refresh);
	else
		json_object_object_add(o, "refresh_token", json_object_new_string(refresh));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int(token_ttl()));
	json_object_object_add(o, "session_id", json_object_new_int64(sid));
	resp_json(req, status, o);
}

/* The refresh token the database asks for (refresh_mint_fn). */
struct minted {
	struct arena *a;
	const unsigned char *seed;	/* the rotated token's SHA-256, or NULL */
	char *token;
};

static void mint_refresh(void *arg, int64_t sid, unsigned char hash[32])
{
	struct minted *m = arg;
	m->token = auth_refresh_token(m->a, sid, m->seed);
	auth_sha256(m->token, hash);
}

/* Creates a session and answers with its tokens. proven: as for
 * sessions_create (a login's password hash). */
static void issue_session(struct req *req, struct db *db, const struct user *u, const char *device,
	const char *proven, int in_cookie, int status)
{
	struct minted m = {req->arena, NULL, NULL};
	int64_t sid;
	int rc = sessions_create(db, u->id, device ? device : "", user_agent(req), req->remote_addr,
		refresh_days(), mint_refresh, &m, proven, &sid);
	if (rc == 1) {
		/* The password was changed (or the account deleted) while it
		 * was being checked: it no longer opens the account. A retried
		 * registration is then told what a new one would be. */
		if (status == 201)
			resp_problem(req, 409, "username_taken", "That username is taken.");
		else
			resp_problem(req, 401, "invalid_credentials", "Wrong username or password.");
		return;
	}
	if (rc < 0) {
		resp_problem(req, 500, "internal", "Could not create the session.");
		return;
	}
	char *access = auth_issue_token(req->arena, u->id, sid, token_ttl());
	if (access == NULL) {
		resp_problem(req, 500, "internal", "Could not issue a token.");
		return;
	}
	answer_tokens(req, u, sid, access, m.token, in_cookie, status);
}

/* 503 with Retry-After: the password hashing queue is full. */
static void busy(struct req *req)
{
	resp_header(req, "Retry-After", "1");
	resp_problem(req, 503, "busy", "The server is busy; try again.");
}

/* Checks password against hash (NULL: the dummy hash, for an account that
 * does not exist) with the request's database connection given back
 * meanwhile (a check takes a core for tens of ms, and waits its turn).
 * 1 matches, 0 does not, -1 answered 503 busy. */
static int password_matches(struct req *req, const char *hash, const char *password)
{
	app_db_release(req);
	if (hash == NULL)
		hash = auth_dummy_hash();
	int ok = hash != NULL ? auth_check_password(hash, password) : AUTH_BUSY;
	if (ok == AUTH_BUSY) {
		busy(req);
		return -1;
	}
	return ok == 1;
}

/* Hashes a new password into out with the connection *db given back
 * meanwhile and taken again after. 0, or -1 after answering (503 busy,
 * 500). */
static int hash_new_password(struct req *req, struct db **db, const char *password, char *out)
{
	app_db_release(req);
	int hr = auth_hash_password(password, out);
	if (hr != 0) {
		if (hr == AUTH_BUSY)
			busy(req);
		else
			resp_problem(req, 500, "internal", "Could not hash the password.");
		return -1;
	}
	*db = app_db(req);
	return *db != NULL ? 0 : -1;
}

static int rate_limited(struct req *req, struct db *db, const char *bucket, int64_t limit,
	int window)
{
	int retry = 0;
	int64_t hits = ratelimit_hit(db, bucket, window, &retry);
	if (hits < 0)
		return -1;
	if (hits > limit) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", retry > 0 ? retry : 1);
		resp_header(req, "Retry-After", ra);
		resp_problem(req, 429, "rate_limited", "Too many attempts; wait and try again.");
		return 1;
	}
	return 0;
}

static int login_window(void)
{
	return (int)config_int_range("login_window_seconds", 300, 1, 86400);
}

/* The account's login attempts (the login form and the password checks of
 * PATCH and DELETE /me share them): 0 allowed, 1 answered 429, -1.
 * From one address, login_per_account: guessing from there stops, while
 * the account's owner elsewhere still logs in (a count of the account's
 * attempts alone let anyone lock any account out with a few wrong
 * passwords). From all addresses together, ten times that: guessing spread
 * over many addresses stops too, and locking the owner out takes as many.
 * Valid usernames (at most 32 characters) and addresses (at most 47, an
 * IPv6 /64 as req->client_net gives it) fit the bucket. */
static int account_limited(struct req *req, struct db *db, const char *username)
{
	int64_t per = config_int_range("login_per_account", 10, 1, 100000000);
	char bucket[128];
	snprintf(bucket, sizeof(bucket), "login-ua:%.32s@%.48s", username, req->client_net);
	int rl = rate_limited(req, db, bucket, per, login_window());
	if (rl != 0)
		return rl;
	snprintf(bucket, sizeof(bucket), "login-user:%.64s", username);
	return rate_limited(req, db, bucket,
		config_int_range("login_per_account_all", 10 * per, 1, 1000000000), login_window());
}

/* How long after its creation a registration's retry finds the account. */
#define REGISTER_RETRY_S 600

/* A registration whose account was stored but whose answer was lost (the
 * session not created, a connection lost at the commit, a client timeout)
 * is sent again by its client and finds the name taken: by its own account.
 * An account created in the last few minutes whose password is the one
 * given answers the retry as its registration would have (201, a new
 * session); the password check counts as a login attempt on the account.
 * 1 answered, 0 not such a retry (the caller answers 409). */
static int retried_registration(struct req *req, struct db *db, const char *username,
	const char *password, const char *device, int in_cookie)
{
	int rl = account_limited(req, db, username);
	if (rl != 0)
		return rl > 0;	/* answered 429 */
	struct user u;
	const char *hash = NULL;
	if (users_by_username(db, req->arena, username, &u, &hash) != 1 || hash == NULL)
		return 0;
	int64_t created = clock_stored_ms(u.created_at);
	if (created < 0)
		return 0;
	int64_t age = (clock_wall_ms() - created) / 1000;
	if (age < -60 || age > REGISTER_RETRY_S)
		return 0;
	int ok = password_matches(req, hash, password);
	if (ok == 0)
		return 0;
	if (ok > 0 && (db = app_db(req)) != NULL)
		issue_session(req, db, &u, device, hash, in_cookie, 201);
	return 1;
}

/* POST /auth/register */
void auth_register(struct req *req)
{
	static const char *const allowed[] = {"username", "password", "display_name",
		"device_name", "refresh_cookie", NULL};
	const char *username, *password, *display, *device;
	int in_cookie = 0;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "username", 1, 1, 64, &username) < 0 ||
	    json_req_str(req, req->json, "password", 1, 1, PASSWORD_MAX_BYTES, &password) < 0 ||
	    json_req_str(req, req->json, "display_name", 0, 1, 256, &display) < 0 ||
	    json_req_str(req, req->json, "device_name", 0, 0, 4 * DEVICE_MAX_CHARS, &device) < 0 ||
	    json_req_bool(req, req->json, "refresh_cookie", 0, &in_cookie, NULL) < 0)
		return;
	username = lower(req->arena, username);
	if (!valid_username(username)) {
		resp_problem(req, 400, "invalid_username",
			"Usernames are 3-32 characters: a-z, 0-9, '_', '.', '-'.");
		return;
	}
	/* Deleting an account renames it deleted-<id>: that name is taken
	 * in advance by nobody, or the deletion would fail. */
	if (strncmp(username, DELETED_PREFIX, strlen(DELETED_PREFIX)) == 0) {
		resp_problem(req, 400, "invalid_username",
			"Usernames starting with '" DELETED_PREFIX "' are reserved.");
		return;
	}
	if (check_password(req, "password", password, 1) < 0)
		return;
	if (display == NULL)
		display = username;
	if (check_display_name(req, display) < 0 ||
	    (device && json_req_text(req, "device_name", device, DEVICE_MAX_CHARS, 0, 1) < 0))
		return;
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	char bucket[96];
	snprintf(bucket, sizeof(bucket), "register:%.60s", req->client_net);
	int rl = rate_limited(req, db, bucket,
		config_int_range("register_per_ip_per_hour", 1000, 1, 1000000000), 3600);
	if (rl != 0) {
		if (rl < 0)
			resp_problem(req, 500, "internal", NULL);
		return;
	}
	char hash[crypto_pwhash_STRBYTES];
	if (hash_new_password(req, &db, password, hash) < 0)
		return;
	int64_t id;
	int rc = users_create(db, username, display, hash, &id);
	if (rc < 0) {
		resp_problem(req, 500, "internal", "Could not create the account.");
		return;
	}
	if (rc == 0) {
		if (!retried_registration(req, db, username, password, device, in_cookie))
			resp_problem(req, 409, "username_taken", "That username is taken.");
		return;
	}
	struct user u;
	if (users_get(db, req->arena, id, &u) != 1) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	issue_session(req, db, &u, device, NULL, in_cookie, 201);
}

/* POST /auth/login */
void auth_login(struct req *req)
{
	static const char *const allowed[] = {"username", "password", "device_name",
		"refresh_cookie", NULL};
	const char *username, *password, *device;
	int in_cookie = 0;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "username", 1, 1, 64, &username) < 0 ||
	    json_req_str(req, req->json, "password", 1, 1, PASSWORD_MAX_BYTES, &password) < 0 ||
	    json_req_str(req, req->json, "device_name", 0, 0, 4 * DEVICE_MAX_CHARS, &device) < 0 ||
	    json_req_bool(req, req->json, "refresh_cookie", 0, &in_cookie, NULL) < 0)
		return;
	if (check_password(req, "password", password, 0) < 0 ||
	    (device && json_req_text(req, "device_name", device, DEVICE_MAX_CHARS, 0, 1) < 0))
		return;
	username = lower(req->arena, username);
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	/* Attempts are limited per IP and per account (a guessing attack on one
	 * account from many addresses is still stopped). */
	char bucket[128];
	snprintf(bucket, sizeof(bucket), "login-ip:%.60s", req->client_net);
	int rl = rate_limited(req, db, bucket, config_int_range("login_per_ip", 50, 1, 1000000000),
		login_window());
	/* A name no account can have has no account bucket (and its bytes
	 * need not fit the bucket column); it gets the dummy check below. */
	if (rl == 0 && valid_username(username))
		rl = account_limited(req, db, username);
	if (rl != 0) {
		if (rl < 0)
			resp_problem(req, 500, "internal", NULL);
		return;
	}
	struct user u;
	const char *hash = NULL;
	int rc = valid_username(username) ?
		users_by_username(db, req->arena, username, &u, &hash) : 0;
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	/* Verify against a dummy hash for unknown users, so the answer and its
	 * timing do not tell which usernames exist. */
	int ok = password_matches(req, rc == 1 ? hash : NULL, password);
	if (ok < 0)
		return;
	if (!ok || rc != 1) {
		resp_problem(req, 401, "invalid_credentials", "Wrong username or password.");
		return;
	}
	db = app_db(req);
	if (db == NULL)
		return;
	issue_session(req, db, &u, device, hash, in_cookie, 200);
}

/* POST /auth/refresh */
void auth_refresh(struct req *req)
{
	static const char *const allowed[] = {"refresh_token", "refresh_cookie", NULL};
	const char *token;
	int in_cookie = 0;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "refresh_token", 0, 1, 128, &token) < 0 ||
	    json_req_bool(req, req->json, "refresh_cookie", 0, &in_cookie, NULL) < 0)
		return;
	/* The body's token, else the cookie's; what came in the cookie goes
	 * back in it. */
	if (token == NULL) {
		token = refresh_cookie(req);
		if (token == NULL) {
			resp_bad_field(req, "refresh_token", "Field 'refresh_token' is required "
				"(or the refresh cookie that login set).");
			return;
		}
		in_cookie = 1;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	unsigned char old_h[32];
	auth_sha256(token, old_h);
	struct minted fresh = {req->arena, old_h, NULL};
	int64_t sid = 0;
	struct user u;
	int rc = sessions_rotate(db, req->arena, old_h, auth_refresh_token_session(token),
		mint_refresh, &fresh, refresh_days(),
		(int)config_int_range("refresh_reuse_grace_seconds", 10, 0, 300), &sid, &u);
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	if (rc == 2) {
		log_warn("refresh token reuse on session %lld; session revoked", (long long)sid);
		app_db_release(req);
		auth_session_ended(sid, u.id);
		if (in_cookie)
			set_refresh_cookie(req, NULL);
		resp_problem(req, 401, "refresh_token_reused",
			"This refresh token was already used; the session has been ended.");
		return;
	}
	if (rc == 0 || rc == 3) {
		if (in_cookie)
			set_refresh_cookie(req, NULL);
		if (rc == 3)
			resp_problem(req, 401, "session_ended", "This session was ended: signed out "
				"(here or from another device), by a new password, or with the account.");
		else
			resp_problem(req, 401, "invalid_refresh_token", "The refresh token is not valid.");
		return;
	}
	char *access = auth_issue_token(req->arena, u.id, sid, token_ttl());
	if (access == NULL) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	answer_tokens(req, &u, sid, access, fresh.token, in_cookie, 200);
}

/* POST /auth/logout: the session of the access token; without a valid one,
 * the session of the refresh cookie (a browser that was offline when its
 * user logged out, or whose access token is gone or expired, still ends its
 * session). */
void auth_logout(struct req *req)
{
	const char *h = req_header(req, "Authorization");
	/* Every refresh cookie sent ends its session: with one planted by
	 * another site of the domain beside ours, ours still ends (the other
	 * session is the planter's own). */
	const char *cookies[REFRESH_COOKIES_MAX];
	int ncookies = refresh_cookies(req, cookies, REFRESH_COOKIES_MAX);
	int64_t uid, sid0;
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0 && auth_verify_token(h + 7, &uid, &sid0)) {
		/* A genuine token of a session that may have ended already: ending
		 * it again is a success (a retried logout must not fail). */
		req->user_id = uid;
		req->session_id = sid0;
		ncookies = 0;
	} else if (ncookies == 0) {
		int r = auth_authenticate(req);
		if (r < 0 && !req->headers_sent)
			resp_problem(req, 500, "internal", NULL);
		if (r <= 0)
			return;
	} else if (!req_is_json(req)) {
		/* Ended by the cookie alone: as a JSON request only, which
		 * another site's page can send only with this server's CORS
		 * leave (a form of a page of the same site cannot). */
		resp_problem(req, 415, "unsupported_media_type", "Signing out with the refresh "
			"cookie takes a JSON body (Content-Type: application/json).");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	/* The sessions ended (or lately ended: a retry) and their users. */
	int64_t sids[REFRESH_COOKIES_MAX], owners[REFRESH_COOKIES_MAX];
	int nended = 0;
	if (ncookies == 0) {
		int rc = sessions_revoke(db, req->session_id, req->user_id, AUTH_SESSION_CACHE_S);
		if (rc < 0) {
			resp_problem(req, 500, "internal", NULL);
			return;
		}
		if (rc == 1) {
			sids[nended] = req->session_id;
			owners[nended++] = req->user_id;
		}
	}
	for (int i = 0; i < ncookies; i++) {
		/* The cookie's session and its user (whose open streams end). */
		unsigned char digest[32];
		auth_sha256(cookies[i], digest);
		int64_t sid = 0, owner = 0;
		int rc = sessions_revoke_by_refresh(db, digest, AUTH_SESSION_CACHE_S, &sid, &owner);
		if (rc < 0) {
			resp_problem(req, 500, "internal", NULL);
			return;
		}
		if (rc == 1) {
			sids[nended] = sid;
			owners[nended++] = owner;
		}
	}
	app_db_release(req);
	/* Ended by this call or lately (a retry: the first may not have told
	 * the caches); one ended long ago passes nowhere, and a logout sent
	 * again and again costs the caches and its streams nothing. */
	for (int i = 0; i < nended; i++)
		if (sids[i] > 0)
			auth_session_ended(sids[i], owners[i]);
	/* A browser's refresh cookie goes too (a client without one gets a
	 * header it ignores). */
	set_refresh_cookie(req, NULL);
	resp_json(req, 204, NULL);
}

static void send_user(struct req *req, struct db *db, int64_t id, int status)
{
	struct user u;
	int rc = users_get(db, req->arena, id, &u);
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	if (rc == 0) {
		resp_problem(req, 404, "not_found", "No such user.");
		return;
	}
	resp_json(req, status, auth_user_json(req->arena, &u));
}

/* GET /me */
void auth_me_get(struct req *req)
{
	struct db *db = app_db(req);
	if (db != NULL)
		send_user(req, db, req->user_id, 200);
}

/* PATCH /me */
void auth_me_patch(struct req *req)
{
	static const char *const allowed[] = {"display_name", "about",
		"current_password", "new_password", NULL};
	const char *display, *about, *cur, *newpw;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "display_name", 0, 1, 256, &display) < 0 ||
	    json_req_str(req, req->json, "about", 0, 0, 1200, &about) < 0 ||
	    json_req_str(req, req->json, "current_password", 0, 1, PASSWORD_MAX_BYTES, &cur) < 0 ||
	    json_req_str(req, req->json, "new_password", 0, 1, PASSWORD_MAX_BYTES, &newpw) < 0)
		return;
	if ((display && check_display_name(req, display) < 0) ||
	    (about && json_req_text(req, "about", about, ABOUT_MAX_CHARS, 1, 1) < 0))
		return;
	if ((newpw != NULL) != (cur != NULL)) {
		json_req_bad(req, cur == NULL ? "current_password" : "new_password",
			"is needed too: changing the password takes both current_password and "
			"new_password");
		return;
	}
	if ((cur != NULL && check_password(req, "current_password", cur, 0) < 0) ||
	    (newpw != NULL && check_password(req, "new_password", newpw, 1) < 0))
		return;
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	/* The password is checked and the new one hashed before anything is
	 * written; the profile goes first, then the password. */
	char nh[crypto_pwhash_STRBYTES];
	const char *proven = NULL;
	if (newpw != NULL) {
		if (!verify_my_password(req, &db, cur, &proven) ||
		    hash_new_password(req, &db, newpw, nh) < 0)
			return;
	}
	/* A new password signs out every other device, in the same
	 * transaction; it replaces only the password checked above (another
	 * device's change committed meanwhile wins, and this one is refused). */
	int rc = users_update_account(db, req->user_id, display, about,
		newpw != NULL ? nh : NULL, proven, req->session_id);
	if (rc == 1) {
		resp_problem(req, 409, "password_changed", "The password was changed meanwhile, "
			"from another device; nothing was changed here.");
		return;
	}
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	/* The other devices stop at once, before anything else is done. */
	if (newpw != NULL) {
		auth_sessions_ended(req, req->user_id);
		if ((db = app_db(req)) == NULL)
			return;
	}
	if (display || about)
		emit_profile_changed(db, req->arena, req->user_id);
	send_user(req, db, req->user_id, 200);
}

/* 1 when password is the caller's (*proven, when not NULL: the hash it
 * matched); otherwise answers (401, 403, 429, 503 or 500) and 0. A check
 * counts against the account's login attempts (the same bucket: a stolen
 * access token gives no more guesses than the login form). The connection
 * *db is given back during the check and taken again after it. */
static int verify_my_password(struct req *req, struct db **db, const char *password,
	const char **proven)
{
	struct user u;
	const char *hash = NULL;
	int rc = users_get(*db, req->arena, req->user_id, &u);
	if (rc == 1 && !u.deleted)
		rc = users_by_username(*db, req->arena, u.username, &u, &hash);
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return 0;
	}
	if (rc == 0 || u.deleted || hash == NULL) {
		/* Deleted from another device since this token was checked. */
		resp_problem(req, 401, "invalid_token", "This account was deleted.");
		return 0;
	}
	int rl = account_limited(req, *db, u.username);
	if (rl != 0) {
		if (rl < 0)
			resp_problem(req, 500, "internal", NULL);
		return 0;
	}
	int ok = password_matches(req, hash, password);
	if (ok <= 0) {
		if (ok == 0)
			resp_problem(req, 403, "wrong_password", "The password is wrong.");
		return 0;
	}
	if (proven != NULL)
		*proven = hash;
	*db = app_db(req);
	return *db != NULL;
}

/* DELETE /me  {password} */
void auth_me_delete(struct req *req)
{
	static const char *const allowed[] = {"password", NULL};
	const char *password;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "password", 1, 1, PASSWORD_MAX_BYTES, &password) < 0 ||
	    check_password(req, "password", password, 0) < 0)
		return;
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	if (!verify_my_password(req, &db, password, NULL))
		return;
	/* The account is marked deleted first, so nobody can add it to a
	 * group any more (adds take live users only); then it leaves every
	 * group, as leaving does: an owner's group gets a new owner (a deleted
	 * account kept its role, and nobody could take the group over). The
	 * other way round, an add between the two left the deleted account a
	 * member. Direct conversations keep the deleted account. */
	if (users_delete(db, req->user_id) < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	/* Deleted, and its sessions stop at once. What follows cannot be
	 * undone or asked again: groups it could not leave now, the sweeper
	 * leaves for it a minute or two later. */
	auth_sessions_ended(req, req->user_id);
	db = app_db_try(req);
	if (db == NULL || chat_leave_groups(db, req->arena, req->user_id) < 0)
		log_warn("account %lld deleted; the sweeper finishes leaving its groups",
			(long long)req->user_id);
	if (db != NULL)
		emit_profile_changed(db, req->arena, req->user_id);
	resp_json(req, 204, NULL);
}

/* GET /users/{id} */
void auth_user_get(struct req *req)
{
	int64_t id;
	if (!req_param_id(req, 0, &id))
		return;
	struct db *db = app_db(req);
	if (db != NULL)
		send_user(req, db, id, 200);
}

/* GET /users?q=&cursor=&limit= */
void auth_users_search(struct req *req)
{
	const char *q = req_query(req, "q");
	const char *cursor = req_query(req, "cursor");
	const char *lim = req_query(req, "limit");
	if (q == NULL || *q == '\0' || strlen(q) > 4 * USER_QUERY_MAX_CHARS ||
	    utf8_chars(q) > USER_QUERY_MAX_CHARS) {
		resp_problem(req, 400, "invalid_query", "Give q: 1-64 characters to search for.");
		return;
	}
	int64_t limit = 20, after = 0;
	if (lim != NULL && http_parse_uint(lim, 1, 100, &limit) < 0) {
		resp_problem(req, 400, "invalid_query", "limit must be 1-100.");
		return;
	}
	if (cursor != NULL && http_parse_uint(cursor, 0, INT64_MAX, &after) < 0) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is not valid.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct user *list = arena_alloc(req->arena, sizeof(struct user) * (size_t)(limit + 1));
	int n = users_search(db, req->arena, q, after, (int)limit + 1, list);
	if (n < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	json_object *arr = json_object_new_array();
	int shown = n > limit ? (int)limit : n;
	for (int i = 0; i < shown; i++)
		json_object_array_add(arr, auth_user_json(req->arena, &list[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "users", arr);
	json_object_object_add(o, "next_cursor", n > limit ?
		json_object_new_string(arena_printf(req->arena, "%lld",
			(long long)list[shown - 1].id)) : NULL);
	resp_json(req, 200, o);
}

/* GET /sessions */
void auth_sessions_list(struct req *req)
{
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct session list[100];
	int n = sessions_list(db, req->arena, req->user_id, 100, list);
	if (n < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	json_object *arr = json_object_new_array();
	for (int i = 0; i < n; i++) {
		json_object *s = json_object_new_object();
		json_object_object_add(s, "id", json_object_new_int64(list[i].id));
		json_object_object_add(s, "device_name", json_object_new_string(list[i].device_name));
		json_object_object_add(s, "user_agent", json_object_new_string(list[i].user_agent));
		json_object_object_add(s, "ip", json_object_new_string(list[i].ip));
		json_object_object_add(s, "created_at",
			json_object_new_string(http_time(req->arena, list[i].created_at)));
		json_object_object_add(s, "last_used_at",
			json_object_new_string(http_time(req->arena, list[i].last_used_at)));
		json_object_object_add(s, "expires_at",
			json_object_new_string(http_time(req->arena, list[i].expires_at)));
		json_object_object_add(s, "current",
			json_object_new_boolean(list[i].id == req->session_id));
		json_object_array_add(arr, s);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "sessions", arr);
	resp_json(req, 200, o);
}

/* DELETE /sessions/{id} */
void auth_session_delete(struct req *req)
{
	int64_t id;
	if (!req_param_id(req, 0, &id))
		return;
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	int rc = sessions_revoke(db, id, req->user_id, AUTH_SESSION_CACHE_S);
	if (rc < 0)
		resp_problem(req, 500, "internal", NULL);
	else if (rc == 0)
		resp_problem(req, 404, "not_found", "No such session.");
	else {
		app_db_release(req);
		if (rc == 1)
			auth_session_ended(id, req->user_id);
		resp_json(req, 204, NULL);
	}
}
