/*
 * floor_insert: floor B. T threads, one MariaDB connection each, each doing
 * single-row INSERT + COMMIT in a closed loop into the same server the
 * application uses (so the same durability settings:
 * innodb_flush_log_at_trx_commit=1). The row is shaped like a message row.
 *
 *   floor_insert -S SOCKET -t THREADS -d SECONDS [-w WARMUP_SECONDS]
 *
 * Prints "RESULT inserts_per_s=... p50_ms=... p99_ms=...".
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>

static const char *sock;
static int nthreads = 32;
static double duration = 5, warmup = 1;
static uint64_t t_start, t_end;
static atomic_int failed;

struct worker {
	pthread_t th;
	int id;
	struct hist h;
	unsigned long long ok;
};

static MYSQL *connect_db(void)
{
	MYSQL *m = mysql_init(NULL);
	if (m == NULL)
		return NULL;
	if (mysql_real_connect(m, NULL, "root", "", NULL, 0, sock, 0) == NULL) {
		fprintf(stderr, "floor_insert: connect: %s\n", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	MYSQL *m = connect_db();
	if (m == NULL) {
		atomic_store(&failed, 1);
		return NULL;
	}
	static const char *const q =
		"INSERT INTO bench_floor.messages (conversation_id, seq, sender_id, client_id, body) "
		"VALUES (?, ?, ?, ?, ?)";
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (st == NULL || mysql_stmt_prepare(st, q, (unsigned long)strlen(q)) != 0 ||
	    mysql_autocommit(m, 0) != 0) {
		fprintf(stderr, "floor_insert: prepare: %s\n", mysql_error(m));
		atomic_store(&failed, 1);
		if (st)
			mysql_stmt_close(st);
		mysql_close(m);
		return NULL;
	}
	long long conv = w->id + 1, seq = 0, sender = w->id + 1;
	char client_id[64], body[128];
	unsigned long cid_len, body_len;
	MYSQL_BIND b[5];
	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_LONGLONG;
	b[0].buffer = &conv;
	b[1].buffer_type = MYSQL_TYPE_LONGLONG;
	b[1].buffer = &seq;
	b[2].buffer_type = MYSQL_TYPE_LONGLONG;
	b[2].buffer = &sender;
	b[3].buffer_type = MYSQL_TYPE_STRING;
	b[3].buffer = client_id;
	b[3].length = &cid_len;
	b[4].buffer_type = MYSQL_TYPE_STRING;
	b[4].buffer = body;
	b[4].length = &body_len;
	unsigned pid = (unsigned)getpid();
	for (;;) {
		uint64_t t = now_ns();
		if (t >= t_end || atomic_load(&failed))
			break;
		seq++;
		cid_len = (unsigned long)snprintf(client_id, sizeof(client_id), "f%x-%d-%lld", pid, w->id, seq);
		body_len = (unsigned long)snprintf(body, sizeof(body),
			"bench t=%llu lorem ipsum dolor sit amet", (unsigned long long)t);
		if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0 ||
		    mysql_commit(m) != 0) {
			fprintf(stderr, "floor_insert: insert: %s\n", mysql_stmt_error(st));
			atomic_store(&failed, 1);
			break;
		}
		uint64_t done = now_ns();
		if (t >= t_start && done <= t_end) {
			hist_add(&w->h, done - t);
			w->ok++;
		}
	}
	mysql_stmt_close(st);
	mysql_close(m);
	return NULL;
}

int main(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "S:t:d:w:")) != -1) {
		switch (ch) {
		case 'S': sock = optarg; break;
		case 't': nthreads = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		default: return 2;
		}
	}
	if (sock == NULL || nthreads < 1 || nthreads > 1024 || duration <= 0 || duration > 3600) {
		fprintf(stderr, "usage: floor_insert -S SOCKET -t THREADS -d SECONDS [-w SECONDS]\n");
		return 2;
	}
	if (mysql_library_init(0, NULL, NULL) != 0)
		return 1;
	MYSQL *m = connect_db();
	if (m == NULL)
		return 1;
	static const char *const setup[] = {
		"CREATE DATABASE IF NOT EXISTS bench_floor",
		"DROP TABLE IF EXISTS bench_floor.messages",
		"CREATE TABLE bench_floor.messages ("
		" id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
		" conversation_id BIGINT UNSIGNED NOT NULL, seq BIGINT UNSIGNED NOT NULL,"
		" sender_id BIGINT UNSIGNED NOT NULL,"
		" client_id VARCHAR(64) CHARACTER SET ascii NOT NULL, body TEXT NULL,"
		" created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
		" UNIQUE KEY uq_conv_seq (conversation_id, seq),"
		" UNIQUE KEY uq_sender_client (sender_id, client_id)"
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	};
	for (size_t k = 0; k < sizeof(setup) / sizeof(setup[0]); k++) {
		if (mysql_query(m, setup[k]) != 0) {
			fprintf(stderr, "floor_insert: %s: %s\n", setup[k], mysql_error(m));
			mysql_close(m);
			return 1;
		}
	}
	struct worker *w = xcalloc_or_die((size_t)nthreads, sizeof(*w));
	uint64_t t0 = now_ns();
	t_start = t0 + (uint64_t)(warmup * 1e9);
	t_end = t_start + (uint64_t)(duration * 1e9);
	int started = 0;
	for (int k = 0; k < nthreads; k++) {
		w[k].id = k;
		hist_init(&w[k].h);
		if (pthread_create(&w[k].th, NULL, run, &w[k]) != 0) {
			atomic_store(&failed, 1);
			break;
		}
		started++;
	}
	struct hist *all = xcalloc_or_die(1, sizeof(*all));
	hist_init(all);
	unsigned long long ok = 0;
	for (int k = 0; k < started; k++) {
		pthread_join(w[k].th, NULL);
		ok += w[k].ok;
		for (int e = 0; e < HIST_EXP; e++)
			for (int s = 0; s < HIST_SUB; s++)
				all->b[e][s] += w[k].h.b[e][s];
		all->n += w[k].h.n;
		all->sum += w[k].h.sum;
		if (w[k].h.max > all->max)
			all->max = w[k].h.max;
		if (w[k].h.min < all->min)
			all->min = w[k].h.min;
	}
	mysql_query(m, "DROP DATABASE IF EXISTS bench_floor");
	mysql_close(m);
	mysql_library_end();
	int bad = atomic_load(&failed);
	printf("RESULT inserts_per_s=%.1f ok=%llu errors=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "threads=%d seconds=%.1f\n",
		(double)ok / duration, ok, bad, ns_to_ms(hist_quantile(all, 0.5)),
		ns_to_ms(hist_quantile(all, 0.99)), ns_to_ms(all->max), nthreads, duration);
	free(all);
	free(w);
	return bad ? 1 : 0;
}
