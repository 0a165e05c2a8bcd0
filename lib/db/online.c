#include "db/online.h"

#define DT(col) "DATE_FORMAT(" col ", '%Y-%m-%d %H:%i:%s.%f')"

/* online_touch: with CLIENT_FOUND_ROWS the count is the rows matched. A
 * missing mark (the sweeper announced offline) always passes the throttle,
 * so coming back is announced at once even without memcached. */
static const char *const SQL_TOUCH =
	"UPDATE users SET last_seen_at = NOW(3) WHERE id = ? AND deleted_at IS NULL AND "
	"(? = 0 OR last_seen_at IS NULL OR last_seen_at < NOW(3) - INTERVAL ? SECOND "
	"OR NOT EXISTS (SELECT 1 FROM presence_online p WHERE p.user_id = ?))";
/* online_seen: only while the mark exists (CLIENT_FOUND_ROWS: matched). */
static const char *const SQL_SEEN =
	"UPDATE users SET last_seen_at = NOW(3) WHERE id = ? AND deleted_at IS NULL "
	"AND EXISTS (SELECT 1 FROM presence_online p WHERE p.user_id = ?)";
/* online_seen_many: driven by the list (STRAIGHT_JOIN over primary keys):
 * an UPDATE locks what it scans. */
#define SEEN_IDS "JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) j"
static const char *const SQL_SEEN_MANY =
	"UPDATE " SEEN_IDS " STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ON u.id = j.id "
	"STRAIGHT_JOIN presence_online p FORCE INDEX (PRIMARY) ON p.user_id = u.id "
	"SET u.last_seen_at = NOW(3) WHERE u.deleted_at IS NULL";
static const char *const SQL_UNMARKED =
	"SELECT j.id FROM " SEEN_IDS " JOIN users u ON u.id = j.id AND u.deleted_at IS NULL "
	"LEFT JOIN presence_online p ON p.user_id = j.id WHERE p.user_id IS NULL";
static const char *const SQL_MARK =
	"INSERT IGNORE INTO presence_online (user_id, presence_since) VALUES (?, NOW(3))";
static const char *const SQL_LAST_SEEN =
	"SELECT " DT("last_seen_at") " FROM users WHERE id = ?";
/* online_stale */
static const char *const SQL_STALE =
	"SELECT p.user_id FROM presence_online p JOIN users u ON u.id = p.user_id "
	"WHERE u.last_seen_at IS NULL OR u.last_seen_at < NOW(3) - INTERVAL ? SECOND "
	"ORDER BY p.user_id LIMIT ?";
/* online_clear: the staleness is checked again by the DELETE itself. */
static const char *const SQL_CLEAR =
	"DELETE p FROM presence_online p JOIN users u ON u.id = p.user_id WHERE p.user_id = ? "
	"AND (u.last_seen_at IS NULL OR u.last_seen_at < NOW(3) - INTERVAL ? SECOND)";
/* online_get */
static const char *const SQL_GET =
	"SELECT " DT("u.last_seen_at") ", p.user_id IS NOT NULL AND u.last_seen_at >= "
	"NOW(3) - INTERVAL ? SECOND FROM users u LEFT JOIN presence_online p ON p.user_id = u.id "
	"WHERE u.id = ? AND u.deleted_at IS NULL";
/* online_shares_conversation */
static const char *const SQL_SHARES =
	"SELECT 1 FROM members a JOIN members b ON b.conversation_id = a.conversation_id "
	"WHERE a.user_id = ? AND b.user_id = ? AND NOT EXISTS (SELECT 1 FROM blocks k "
	"WHERE (k.user_id = a.user_id AND k.blocked_id = b.user_id) OR "
	"(k.user_id = b.user_id AND k.blocked_id = a.user_id)) LIMIT 1";

static int last_seen_of(struct db *db, struct arena *a, int64_t uid, const char **out)
{
	*out = NULL;
	if (db_exec(db, SQL_LAST_SEEN, "i", uid) < 0)
		return -1;
	int rc;
	while ((rc = db_next(db)) > 0)
		*out = db_str(db, 0, a, NULL);
	return rc;
}

int online_touch(struct db *db, struct arena *a, int64_t uid, int throttle_s,
	const char **last_seen)
{
	*last_seen = NULL;
	if (db_exec(db, SQL_TOUCH, "iiii", uid, (int64_t)throttle_s, (int64_t)throttle_s, uid) < 0)
		return -1;
	if (db_affected(db) == 0)
		return 0;
	if (db_exec(db, SQL_MARK, "i", uid) < 0)
		return -1;
	if (db_affected(db) == 0)
		return 0;
	return last_seen_of(db, a, uid, last_seen) < 0 ? -1 : 1;
}

int online_seen(struct db *db, int64_t uid)
{
	if (db_exec(db, SQL_SEEN, "ii", uid, uid) < 0)
		return -1;
	return db_affected(db) > 0;
}

int online_seen_many(struct db *db, const char *ids_json, int max, int64_t *unmarked)
{
	if (db_exec(db, SQL_SEEN_MANY, "s", ids_json) < 0 ||
	    db_exec(db, SQL_UNMARKED, "s", ids_json) < 0)
		return -1;
	return db_ids(db, max, unmarked);
}

int online_stale(struct db *db, int64_t stale_s, int max, int64_t *out)
{
	if (db_exec(db, SQL_STALE, "ii", stale_s, (int64_t)max) < 0)
		return -1;
	return db_ids(db, max, out);
}

int online_clear(struct db *db, struct arena *a, int64_t uid, int64_t stale_s,
	const char **last_seen)
{
	*last_seen = NULL;
	if (db_exec(db, SQL_CLEAR, "ii", uid, stale_s) < 0)
		return -1;
	if (db_affected(db) == 0)
		return 0;
	return last_seen_of(db, a, uid, last_seen) < 0 ? -1 : 1;
}

int online_get(struct db *db, struct arena *a, int64_t uid, int64_t stale_s, int *marked,
	const char **last_seen)
{
	*marked = 0;
	*last_seen = NULL;
	if (db_exec(db, SQL_GET, "ii", stale_s, uid) < 0)
		return -1;
	int found = 0, rc;
	while ((rc = db_next(db)) > 0) {
		found = 1;
		*last_seen = db_str(db, 0, a, NULL);
		*marked = db_int(db, 1) == 1;
	}
	return rc < 0 ? -1 : found;
}

int online_shares_conversation(struct db *db, int64_t a, int64_t b)
{
	if (db_exec(db, SQL_SHARES, "ii", a, b) < 0)
		return -1;
	int found = 0, rc;
	while ((rc = db_next(db)) > 0)
		found = 1;
	return rc < 0 ? -1 : found;
}
