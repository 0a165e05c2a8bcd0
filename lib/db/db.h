/*
 * MariaDB/MySQL access. All SQL text lives in lib/db/ files as static strings;
 * db_exec() prepares each one once per connection (cached by the string's
 * address) and binds parameters from a format:
 *   'i' int64_t          'I' const int64_t * (NULL pointer -> SQL NULL)
 *   's' const char * (NULL -> SQL NULL)     'b' const void *, size_t (blob)
 *   'd' double
 * Result columns are read as text through db_int()/db_str(). One result is
 * active per connection; db_exec() discards the previous one.
 *
 * A lost connection ("server gone away") is reopened and the statement
 * retried once, unless it happened inside a transaction: then the error is
 * returned and db_tx() retries the whole transaction, as it does for
 * deadlocks and lock wait timeouts.
 */
#ifndef DB_DB_H
#define DB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"

struct db;

/* MySQL error numbers callers care about. */
#define DB_ER_DUP_ENTRY 1062
#define DB_ER_NO_REFERENCED_ROW 1452

/* Process-wide init (before threads). Returns 0 or -1. */
int db_global_init(void);

/* Opens a connection from the configuration (db_socket or db_host/db_port,
 * db_user, db_password, db_name). Returns NULL on failure (logged). The
 * caller owns it: db_close(). */
struct db *db_open(void);
void db_close(struct db *db);

/* Executes sql. Returns 0, or -1 on error (logged unless it is a duplicate
 * key, which callers check with db_errno()). */
int db_exec(struct db *db, const char *sql, const char *fmt, ...);
/* Executes a CALL of a procedure that is its own transaction, again when
 * it rolled back on a deadlock or lock wait timeout (up to 5 times).
 * Otherwise like db_exec; read its result with db_next. */
int db_call(struct db *db, const char *sql, const char *fmt, ...);
/* Parses a comma-separated list of ids (GROUP_CONCAT) into the arena;
 * returns how many (*out is never NULL). */
int db_id_list(struct arena *a, const char *s, int64_t **out);
/* The n ids as a JSON array ("[1,2,3]") in the arena: for JSON_TABLE
 * statements that take a list of ids as one parameter. */
char *db_ids_json(struct arena *a, const int64_t *ids, int n);
/* Next row of the current result: 1 row, 0 no more rows, -1 error. */
int db_next(struct db *db);
int db_isnull(struct db *db, int col);
int64_t db_int(struct db *db, int col);	/* 0 for NULL */
double db_double(struct db *db, int col);
/* Copies a column into the arena; NULL for SQL NULL. len may be NULL. */
char *db_str(struct db *db, int col, struct arena *a, size_t *len);
/* Borrowed view of a column, valid until the next db_next/db_exec. */
const char *db_peek(struct db *db, int col, size_t *len);
/* The first column of every row of the current result as integers, at
 * most max of them (the rest is read and dropped). Returns the count or -1. */
int db_ids(struct db *db, int max, int64_t *out);
uint64_t db_affected(struct db *db);
int64_t db_insert_id(struct db *db);
int db_errno(struct db *db);
/* 1 when the last error was an unreachable or lost server (answer 503). */
int db_is_down(struct db *db);
/* Since the connection was taken from the pool (or opened): a db_tx
 * committed, or its COMMIT lost the connection (so it may have). */
int db_wrote(struct db *db);
/* The last statement was run again after its connection was lost and
 * reopened: its first run may have happened too (a CALL that committed). */
int db_reran(struct db *db);
/* What the session holds (a named lock) goes with its connection: when the
 * connection is lost, a new one runs relock (a query answering 1 when it
 * took the lock again, e.g. GET_LOCK(name, 0)) before anything else, and
 * is given up if it does not (every later statement fails). relock must
 * outlive db. */
void db_bind(struct db *db, const char *relock);

/* Runs fn inside BEGIN/COMMIT, retrying on deadlock, lock wait timeout and a
 * lost connection (up to 5 times). fn returns 0 to commit, -1 on error
 * (rolled back), or 1 to roll back without error (e.g. a client error was
 * found). Returns fn's result, or -1 when the commit failed. */
int db_tx(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx);
int db_in_tx(struct db *db);

/* A small pool for threaded processes (events.fcgi). */
struct db *db_pool_acquire(void);
void db_pool_release(struct db *db);
void db_pool_init(int size);

#endif
