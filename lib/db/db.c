#include "db/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "util/config.h"
#include "util/log.h"
#include "util/xalloc.h"

#define STMT_SLOTS 256	/* per-connection statement cache (open addressing) */
#define MAX_PARAMS 24
#define MAX_COLS 48	/* the widest: a conversation list row (lib/db/convs.c), 42 */

struct col {
	char *buf;
	unsigned long cap;
	unsigned long len;
	my_bool is_null;
	my_bool error;
};

struct db {
	MYSQL *conn;
	struct {
		const char *sql;
		MYSQL_STMT *stmt;
	} cache[STMT_SLOTS];
	MYSQL_STMT *cur;	/* statement with the active result */
	int ncols;
	struct col cols[MAX_COLS];
	MYSQL_BIND rbind[MAX_COLS];
	int in_tx;
	int tx_broken;		/* connection lost inside a transaction */
	/* Since the connection was taken: a db_tx committed, or its COMMIT
	 * lost the connection (so it may have). */
	int wrote;
	int reran;		/* the last statement ran again after a reconnect */
	const char *relock;	/* db_bind: what takes the session's lock again */
	int last_errno;
	uint64_t affected;
	int64_t insert_id;
};

int db_global_init(void)
{
	if (mysql_library_init(0, NULL, NULL) != 0) {
		log_error("db: mysql_library_init failed");
		return -1;
	}
	return 0;
}

static int connect_db(struct db *db)
{
	db->conn = mysql_init(NULL);
	if (db->conn == NULL)
		return -1;
	unsigned int timeout = (unsigned int)config_int_range("db_connect_timeout", 5, 1, 300);
	mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	/* A server that stops answering with its connection open (hung, or
	 * its host gone without a reset) holds a statement this long at most,
	 * not until TCP gives up (minutes; never on a local socket): a send
	 * writer waiting on it holds up every send of the process. */
	unsigned int io = (unsigned int)config_int_range("db_read_timeout", 60, 1, 86400);
	mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &io);
	mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	const char *sock = config_str("db_socket", NULL);
	const char *host = config_str("db_host", sock ? NULL : "127.0.0.1");
	unsigned int port = (unsigned int)config_int_range("db_port", 3306, 1, 65535);
	if (mysql_real_connect(db->conn, host, config_str("db_user", "root"),
		    config_str("db_password", ""), config_str("db_name", "messenger"), port, sock,
		    CLIENT_FOUND_ROWS) == NULL) {
		log_error("db: connect failed: %s", mysql_error(db->conn));
		mysql_close(db->conn);
		db->conn = NULL;
		return -1;
	}
	/* UTC everywhere; strict mode so bad data errors instead of truncating. */
	/* GROUP_CONCAT lists of ids (a message's members in msg_send) are
	 * read whole, whichever procedure ran first on the connection: at the
	 * default 1 MB a list would end mid-number, naming a wrong user. */
	if (mysql_query(db->conn, "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,"
				  "NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
				  "group_concat_max_len = 16777216") != 0 ||
	    mysql_query(db->conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") != 0) {
		log_error("db: session setup failed: %s", mysql_error(db->conn));
		mysql_close(db->conn);
		db->conn = NULL;
		return -1;
	}
	/* The recipient set of one event fan-out (see lib/db/events.c). */
	if (mysql_query(db->conn, "CREATE TEMPORARY TABLE IF NOT EXISTS fanout ("
				  "user_id BIGINT UNSIGNED NOT NULL, PRIMARY KEY USING BTREE (user_id))"
				  " ENGINE=MEMORY") != 0) {
		log_error("db: fan-out table setup failed: %s", mysql_error(db->conn));
		mysql_close(db->conn);
		db->conn = NULL;
		return -1;
	}
	return 0;
}

struct db *db_open(void)
{
	struct db *db = xcalloc(1, sizeof(*db));
	if (connect_db(db) < 0) {
		free(db);
		return NULL;
	}
	return db;
}

/* Frees st's result and any that follow (a CALL ends with a status
 * result), so the connection takes commands again. */
static void drain_results(MYSQL_STMT *st)
{
	mysql_stmt_free_result(st);
	while (mysql_stmt_more_results(st)) {
		if (mysql_stmt_next_result(st) != 0)
			break;
		mysql_stmt_free_result(st);
	}
}

static void drop_result(struct db *db)
{
	if (db->cur != NULL) {
		drain_results(db->cur);
		db->cur = NULL;
	}
	db->ncols = 0;
}

static void drop_stmts(struct db *db)
{
	drop_result(db);
	for (int i = 0; i < STMT_SLOTS; i++) {
		if (db->cache[i].stmt != NULL)
			mysql_stmt_close(db->cache[i].stmt);
		db->cache[i].stmt = NULL;
		db->cache[i].sql = NULL;
	}
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	drop_stmts(db);
	for (int i = 0; i < MAX_COLS; i++)
		free(db->cols[i].buf);
	if (db->conn != NULL)
		mysql_close(db->conn);
	free(db);
}

/* Closes the connection (the server rolls back what it had open and
 * releases its locks); the next statement outside a transaction, or the
 * next transaction, opens another. */
static void disconnect(struct db *db)
{
	drop_stmts(db);
	if (db->conn != NULL)
		mysql_close(db->conn);
	db->conn = NULL;
}

static int reconnect(struct db *db)
{
	disconnect(db);
	if (connect_db(db) < 0)
		return -1;
	if (db->relock == NULL)
		return 0;
	/* The lock went with the old connection: taken again at once, or
	 * another run has it now and this one must stop. */
	int held = 0;
	if (mysql_real_query(db->conn, db->relock, strlen(db->relock)) == 0) {
		MYSQL_RES *r = mysql_store_result(db->conn);
		if (r != NULL) {
			MYSQL_ROW row = mysql_fetch_row(r);
			held = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
			mysql_free_result(r);
		}
	}
	if (!held) {
		log_error("db: the connection holding this program's lock was lost, and the lock "
			"could not be taken again; stopping");
		mysql_close(db->conn);
		db->conn = NULL;
		return -1;
	}
	log_warn("db: the connection holding this program's lock was lost; reopened and the lock "
		"taken again");
	return 0;
}

void db_bind(struct db *db, const char *relock)
{
	db->relock = relock;
}

static MYSQL_STMT *prepare(struct db *db, const char *sql)
{
	uintptr_t h = ((uintptr_t)sql >> 3) * 2654435761u;
	for (int i = 0; i < STMT_SLOTS; i++) {
		int slot = (int)((h + (uintptr_t)i) % STMT_SLOTS);
		if (db->cache[slot].sql == sql)
			return db->cache[slot].stmt;
		if (db->cache[slot].sql == NULL) {
			MYSQL_STMT *st = mysql_stmt_init(db->conn);
			if (st == NULL)
				return NULL;
			if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
				db->last_errno = (int)mysql_stmt_errno(st);
				log_error("db: prepare failed (%d %s): %.200s", db->last_errno,
					mysql_stmt_error(st), sql);
				mysql_stmt_close(st);
				return NULL;
			}
			db->cache[slot].sql = sql;
			db->cache[slot].stmt = st;
			return st;
		}
	}
	log_error("db: statement cache full");
	return NULL;
}

static int is_conn_lost(int e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONN_HOST_ERROR ||
	       e == CR_CONNECTION_ERROR || e == ER_CONNECTION_KILLED || e == 1927 /* killed */;
}

/* A transaction that lost a lock conflict is worth running again whole. */
static int lock_conflict(int e)
{
	return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

/* Errors callers handle themselves (not logged as failures here). */
static int expected_error(int e)
{
	return e == ER_DUP_ENTRY || is_conn_lost(e) || lock_conflict(e);
}

static int run(struct db *db, const char *sql, const char *fmt, va_list ap)
{
	MYSQL_BIND pb[MAX_PARAMS];
	unsigned long plen[MAX_PARAMS];
	int64_t ival[MAX_PARAMS];
	double dval[MAX_PARAMS];
	my_bool pnull[MAX_PARAMS];
	int np = (int)strlen(fmt);
	if (np > MAX_PARAMS) {
		log_error("db: too many parameters");
		return -1;
	}
	memset(pb, 0, sizeof(pb));
	for (int i = 0; i < np; i++) {
		pnull[i] = 0;
		pb[i].is_null = &pnull[i];
		switch (fmt[i]) {
		case 'i':
			ival[i] = va_arg(ap, int64_t);
			pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
			pb[i].buffer = &ival[i];
			break;
		case 'I': {
			const int64_t *p = va_arg(ap, const int64_t *);
			pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
			if (p == NULL) {
				pnull[i] = 1;
				ival[i] = 0;
			} else {
				ival[i] = *p;
			}
			pb[i].buffer = &ival[i];
			break;
		}
		case 'd':
			dval[i] = va_arg(ap, double);
			pb[i].buffer_type = MYSQL_TYPE_DOUBLE;
			pb[i].buffer = &dval[i];
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			pb[i].buffer_type = MYSQL_TYPE_STRING;
			if (s == NULL) {
				pnull[i] = 1;
				plen[i] = 0;
			} else {
				plen[i] = (unsigned long)strlen(s);
			}
			pb[i].buffer = (void *)s;
			pb[i].length = &plen[i];
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			pb[i].buffer_type = MYSQL_TYPE_BLOB;
			pb[i].buffer = (void *)p;
			plen[i] = (unsigned long)n;
			pnull[i] = p == NULL;
			pb[i].length = &plen[i];
			break;
		}
		default:
			log_error("db: bad format character '%c'", fmt[i]);
			return -1;
		}
	}

	MYSQL_STMT *st = prepare(db, sql);
	if (st == NULL)
		return -1;
	if (mysql_stmt_param_count(st) != (unsigned long)np) {
		log_error("db: statement wants %lu parameters, got %d: %.200s",
			mysql_stmt_param_count(st), np, sql);
		return -1;
	}
	if (np > 0 && mysql_stmt_bind_param(st, pb) != 0) {
		db->last_errno = (int)mysql_stmt_errno(st);
		log_error("db: bind failed: %s", mysql_stmt_error(st));
		return -1;
	}
	if (mysql_stmt_execute(st) != 0) {
		db->last_errno = (int)mysql_stmt_errno(st);
		if (!expected_error(db->last_errno))
			log_error("db: execute failed (%d %s): %.200s", db->last_errno,
				mysql_stmt_error(st), sql);
		return -1;
	}
	db->affected = (uint64_t)mysql_stmt_affected_rows(st);
	db->insert_id = (int64_t)mysql_stmt_insert_id(st);

	MYSQL_RES *meta = mysql_stmt_result_metadata(st);
	if (meta == NULL) {
		drain_results(st);
		return 0;
	}
	int nc = (int)mysql_num_fields(meta);
	mysql_free_result(meta);
	if (nc > MAX_COLS) {
		log_error("db: too many result columns");
		drain_results(st);
		return -1;
	}
	memset(db->rbind, 0, sizeof(db->rbind));
	for (int i = 0; i < nc; i++) {
		struct col *c = &db->cols[i];
		if (c->buf == NULL) {
			c->cap = 256;
			c->buf = xmalloc(c->cap);
		}
		db->rbind[i].buffer_type = MYSQL_TYPE_STRING;
		db->rbind[i].buffer = c->buf;
		/* One byte stays free for db_peek's terminating NUL. */
		db->rbind[i].buffer_length = c->cap - 1;
		db->rbind[i].length = &c->len;
		db->rbind[i].is_null = &c->is_null;
		db->rbind[i].error = &c->error;
	}
	if (mysql_stmt_bind_result(st, db->rbind) != 0 || mysql_stmt_store_result(st) != 0) {
		/* INSERT .. RETURNING reports a duplicate key or a deadlock here,
		 * after the result's metadata: the statement is reset so the
		 * connection takes commands again (the ROLLBACK above all). */
		db->last_errno = (int)mysql_stmt_errno(st);
		if (!expected_error(db->last_errno))
			log_error("db: result failed (%d %s): %.200s", db->last_errno,
				mysql_stmt_error(st), sql);
		drain_results(st);
		mysql_stmt_reset(st);
		return -1;
	}
	db->cur = st;
	db->ncols = nc;
	return 0;
}

static int exec_ap(struct db *db, const char *sql, const char *fmt, va_list args)
{
	drop_result(db);
	db->last_errno = 0;
	db->reran = 0;
	if (db->conn == NULL && (db->in_tx || reconnect(db) < 0)) {
		db->tx_broken = db->in_tx;
		return -1;
	}
	for (int attempt = 0;; attempt++) {
		va_list ap;
		va_copy(ap, args);
		int rc = run(db, sql, fmt, ap);
		va_end(ap);
		if (rc == 0) {
			/* After a reconnect the statement ran: the loss is over
			 * (but a first run may have happened too: db_reran). */
			db->last_errno = 0;
			db->reran = attempt > 0;
			return 0;
		}
		if (!is_conn_lost(db->last_errno) || attempt > 0)
			return -1;
		/* Lost inside a transaction: the server rolled it back. No
		 * connection until db_tx's next attempt, so every further
		 * statement of this one fails too, rather than run on a new
		 * connection on its own (each committing by itself). */
		if (db->in_tx) {
			db->tx_broken = 1;
			disconnect(db);
			return -1;
		}
		log_warn("db: connection lost (%d); reconnecting", db->last_errno);
		if (reconnect(db) < 0)
			return -1;
	}
}

/* Before another attempt: a growing pause, so the winner can finish. */
static void retry_pause(const char *what, int attempt, int e)
{
	log_warn("db: %s retry %d after error %d", what, attempt + 1, e);
	usleep((useconds_t)(1000 * (attempt + 1) * (attempt + 1)));
}

int db_exec(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = exec_ap(db, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int db_call(struct db *db, const char *sql, const char *fmt, ...)
{
	for (int attempt = 0;; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int rc = exec_ap(db, sql, fmt, ap);
		va_end(ap);
		if (rc == 0)
			return 0;
		/* The procedure rolled back; a lost connection was retried by
		 * exec_ap (a call that committed must be idempotent). */
		if (!lock_conflict(db->last_errno) || attempt == 5)
			return -1;
		retry_pause("call", attempt, db->last_errno);
	}
}

char *db_ids_json(struct arena *a, const int64_t *ids, int n)
{
	/* Each id takes at most 20 digits and a separator. */
	char *text = arena_alloc(a, (size_t)(n > 0 ? n : 0) * 21 + 3);
	size_t off = 0;
	text[off++] = '[';
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, 22, "%s%lld", i ? "," : "", (long long)ids[i]);
	text[off++] = ']';
	text[off] = '\0';
	return text;
}

int db_id_list(struct arena *a, const char *s, int64_t **out)
{
	int n = 0, cap = 1;
	for (const char *p = s; p != NULL && *p; p++)
		cap += *p == ',';
	int64_t *ids = arena_alloc(a, sizeof(*ids) * (size_t)cap);
	while (s != NULL && *s && n < cap) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (end == s || errno == ERANGE)
			break;
		if (v > 0)
			ids[n++] = v;
		if (*end != ',')
			break;
		s = end + 1;
	}
	*out = ids;
	return n;
}

int db_next(struct db *db)
{
	if (db->cur == NULL)
		return 0;
	int rc = mysql_stmt_fetch(db->cur);
	if (rc == MYSQL_NO_DATA) {
		drop_result(db);
		return 0;
	}
	if (rc == 1) {
		/* Kept, so that a lost connection is told from a bad statement
		 * (db_is_down: 503, not 500). */
		db->last_errno = (int)mysql_stmt_errno(db->cur);
		log_error("db: fetch failed: %s", mysql_stmt_error(db->cur));
		drop_result(db);
		return -1;
	}
	if (rc == MYSQL_DATA_TRUNCATED) {
		/* Grow the buffers of the long columns and fetch them again. */
		for (int i = 0; i < db->ncols; i++) {
			struct col *c = &db->cols[i];
			if (!c->error)
				continue;
			unsigned long need = c->len + 1;
			c->buf = xrealloc(c->buf, need);
			c->cap = need;
			db->rbind[i].buffer = c->buf;
			db->rbind[i].buffer_length = c->cap - 1;
			if (mysql_stmt_fetch_column(db->cur, &db->rbind[i], (unsigned int)i, 0) != 0) {
				log_error("db: fetch_column failed");
				drop_result(db);
				return -1;
			}
		}
		/* Rebind so the next rows use the larger buffers (the old ones
		 * are freed: a statement left bound to them must not fetch). */
		if (mysql_stmt_bind_result(db->cur, db->rbind) != 0) {
			log_error("db: bind_result failed: %s", mysql_stmt_error(db->cur));
			drop_result(db);
			return -1;
		}
	}
	return 1;
}

int db_isnull(struct db *db, int col)
{
	return col >= db->ncols || db->cols[col].is_null;
}

const char *db_peek(struct db *db, int col, size_t *len)
{
	if (db_isnull(db, col)) {
		if (len)
			*len = 0;
		return NULL;
	}
	struct col *c = &db->cols[col];
	/* The buffer is bound to the statement: it must not move here (the
	 * next fetch writes into it). Bound one byte short, it always has room
	 * for the NUL; a value still longer was refetched by db_next. */
	if (c->len >= c->cap)
		c->len = c->cap - 1;
	c->buf[c->len] = '\0';
	if (len)
		*len = c->len;
	return c->buf;
}

int64_t db_int(struct db *db, int col)
{
	const char *s = db_peek(db, col, NULL);
	return s ? strtoll(s, NULL, 10) : 0;
}

double db_double(struct db *db, int col)
{
	const char *s = db_peek(db, col, NULL);
	return s ? strtod(s, NULL) : 0.0;
}

char *db_str(struct db *db, int col, struct arena *a, size_t *len)
{
	size_t n;
	const char *s = db_peek(db, col, &n);
	if (len)
		*len = n;
	return s ? arena_strndup(a, s, n) : NULL;
}

int db_ids(struct db *db, int max, int64_t *out)
{
	int n = 0, rc;
	while ((rc = db_next(db)) > 0)
		if (n < max)
			out[n++] = db_int(db, 0);
	return rc < 0 ? -1 : n;
}

uint64_t db_affected(struct db *db)
{
	return db->affected;
}

int64_t db_insert_id(struct db *db)
{
	return db->insert_id;
}

int db_errno(struct db *db)
{
	return db->last_errno;
}

int db_is_down(struct db *db)
{
	return db->conn == NULL || is_conn_lost(db->last_errno) ||
	       db->last_errno == CR_CONNECTION_ERROR || db->last_errno == CR_UNKNOWN_HOST;
}

int db_wrote(struct db *db)
{
	return db->wrote;
}

int db_reran(struct db *db)
{
	return db->reran;
}

int db_in_tx(struct db *db)
{
	return db->in_tx;
}

static int simple(struct db *db, const char *q)
{
	if (db->conn == NULL)
		return -1;
	if (mysql_query(db->conn, q) != 0) {
		db->last_errno = (int)mysql_errno(db->conn);
		return -1;
	}
	return 0;
}

int db_tx(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx)
{
	for (int attempt = 0; attempt < 6; attempt++) {
		drop_result(db);
		if (db->conn == NULL && reconnect(db) < 0)
			return -1;
		if (simple(db, "START TRANSACTION") != 0) {
			if (is_conn_lost(db->last_errno) && reconnect(db) == 0)
				continue;
			log_error("db: begin failed: %d", db->last_errno);
			return -1;
		}
		db->in_tx = 1;
		db->tx_broken = 0;
		int rc = fn(db, ctx);
		drop_result(db);
		/* A function that went on after a lost connection has nothing
		 * to commit: its first statements were rolled back. */
		if (rc == 0 && db->tx_broken)
			rc = -1;
		if (rc == 0) {
			if (simple(db, "COMMIT") == 0) {
				db->in_tx = 0;
				db->wrote = 1;
				return 0;
			}
			if (is_conn_lost(db->last_errno)) {
				/* Whether the commit happened cannot be known, and
				 * running fn again is not safe for every caller (a
				 * second group created, a removal answered 404, a
				 * refresh token taken for a replay): fail, with a
				 * fresh connection for the next request. Sends, which
				 * are idempotent by client_id, retry on their own
				 * (db_call). A connection lost before the COMMIT
				 * (tx_broken, below) rolled back for sure and is
				 * retried. */
				log_warn("db: connection lost during COMMIT (%d); outcome unknown, "
					"not retried", db->last_errno);
				db->in_tx = 0;
				db->wrote = 1;
				reconnect(db);
				return -1;
			}
			rc = -1;
		}
		int e = db->last_errno;
		/* A connection that cannot roll back is closed: the server then
		 * rolls back and releases the locks itself. */
		if (db->conn != NULL && simple(db, "ROLLBACK") != 0) {
			log_warn("db: rollback failed (%d); closing the connection", db->last_errno);
			disconnect(db);
		}
		db->in_tx = 0;
		if (rc == 1 && !db->tx_broken)
			return 1;
		int retry = lock_conflict(e) || db->tx_broken || e == 1020 /* record changed */;
		if (!retry)
			return -1;
		retry_pause("transaction", attempt, e);
	}
	log_error("db: transaction failed after retries");
	return -1;
}

/* --- pool --- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct db **pool;
static int pool_size, pool_free, pool_opened;

void db_pool_init(int size)
{
	pool = xcalloc((size_t)size, sizeof(*pool));
	pool_size = size;
	pool_free = 0;
	pool_opened = 0;
}

struct db *db_pool_acquire(void)
{
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		if (pool_free > 0) {
			struct db *db = pool[--pool_free];
			pthread_mutex_unlock(&pool_lock);
			return db;
		}
		if (pool_opened < pool_size) {
			pool_opened++;
			pthread_mutex_unlock(&pool_lock);
			struct db *db = db_open();
			if (db == NULL) {
				/* The place is free again: a thread waiting for a
				 * connection may try to open one itself (else it
				 * would sleep until some other connection came
				 * back, which in an outage may be never). */
				pthread_mutex_lock(&pool_lock);
				pool_opened--;
				pthread_cond_signal(&pool_cond);
				pthread_mutex_unlock(&pool_lock);
			}
			return db;
		}
		pthread_cond_wait(&pool_cond, &pool_lock);
	}
}

void db_pool_release(struct db *db)
{
	if (db == NULL)
		return;
	drop_result(db);
	/* The next request starts with nothing of this one's failures. */
	db->last_errno = 0;
	db->wrote = 0;
	db->reran = 0;
	pthread_mutex_lock(&pool_lock);
	pool[pool_free++] = db;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}
