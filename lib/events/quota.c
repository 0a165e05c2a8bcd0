#include "events/quota.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/xalloc.h"

/* A user with open requests has an entry, holding their tickets oldest
 * first; the last to end removes it, so the table holds the users waiting
 * now, not everyone seen. */
struct entry {
	int64_t uid;
	int n;			/* tickets */
	int evicted;		/* of them, asked to end */
	struct quota_ticket *oldest, *newest;
	struct entry *next;
};

#define QUOTA_BITS 12

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *buckets[1u << QUOTA_BITS];

unsigned quota_bucket(int64_t uid)
{
	return (unsigned)(((uint64_t)uid * 0x9E3779B97F4A7C15ull) >> (64 - QUOTA_BITS));
}

static struct entry **slot(int64_t uid)
{
	struct entry **pp = &buckets[quota_bucket(uid)];
	while (*pp != NULL && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

int quota_enter(struct quota_ticket *t, int64_t uid, int max)
{
	if (max < 1)
		max = 1;
	t->uid = uid;
	t->evicted = 0;
	t->older = t->newer = NULL;
	pthread_mutex_lock(&mu);
	struct entry **pp = slot(uid);
	struct entry *e = *pp;
	int rc = QUOTA_TAKEN;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->uid = uid;
		*pp = e;
	} else if (e->n - e->evicted >= max) {
		/* Requests asked to end go within moments (they are rung);
		 * so many still going means they do not: refuse. */
		if (e->evicted >= max) {
			pthread_mutex_unlock(&mu);
			return QUOTA_REFUSED;
		}
		struct quota_ticket *old = e->oldest;
		while (old->evicted)
			old = old->newer;
		old->evicted = 1;
		e->evicted++;
		rc = QUOTA_TAKEN_EVICTING;
	}
	t->older = e->newest;
	if (e->newest != NULL)
		e->newest->newer = t;
	else
		e->oldest = t;
	e->newest = t;
	e->n++;
	pthread_mutex_unlock(&mu);
	return rc;
}

void quota_leave(struct quota_ticket *t)
{
	pthread_mutex_lock(&mu);
	struct entry **pp = slot(t->uid);
	struct entry *e = *pp;
	if (e != NULL) {
		if (t->older != NULL)
			t->older->newer = t->newer;
		else
			e->oldest = t->newer;
		if (t->newer != NULL)
			t->newer->older = t->older;
		else
			e->newest = t->older;
		e->evicted -= t->evicted != 0;
		if (--e->n <= 0) {
			*pp = e->next;
			free(e);
		}
	}
	t->older = t->newer = NULL;
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
