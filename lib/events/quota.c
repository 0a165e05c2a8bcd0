#include "events/quota.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/xalloc.h"

/* A user with open requests has an entry; the last to end removes it, so
 * the table holds the users waiting now, not everyone seen. */
struct entry {
	int64_t uid;
	int n;
	struct entry *next;
};

#define QUOTA_BUCKETS 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *buckets[QUOTA_BUCKETS];

static struct entry **slot(int64_t uid)
{
	uint64_t h = (uint64_t)uid * 0x9E3779B97F4A7C15ull;
	struct entry **pp = &buckets[h >> 52];
	while (*pp != NULL && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

int quota_enter(int64_t uid, int max)
{
	pthread_mutex_lock(&mu);
	struct entry **pp = slot(uid);
	int ok = 1;
	if (*pp == NULL) {
		struct entry *e = xcalloc(1, sizeof(*e));
		e->uid = uid;
		e->n = 1;
		*pp = e;
	} else if ((*pp)->n < max) {
		(*pp)->n++;
	} else {
		ok = 0;
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

void quota_leave(int64_t uid)
{
	pthread_mutex_lock(&mu);
	struct entry **pp = slot(uid);
	struct entry *e = *pp;
	if (e != NULL && --e->n <= 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&mu);
}

int quota_count(int64_t uid)
{
	pthread_mutex_lock(&mu);
	struct entry *e = *slot(uid);
	int n = e != NULL ? e->n : 0;
	pthread_mutex_unlock(&mu);
	return n;
}
