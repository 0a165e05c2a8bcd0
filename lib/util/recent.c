#include "util/recent.h"

#include "util/clock.h"

static struct recent_slot *slot_of(struct recent *r, int64_t a, int64_t b, int64_t c)
{
	uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15u;
	h = (h ^ (uint64_t)b) * 0xC2B2AE3D27D4EB4Fu;
	h ^= (uint64_t)c;
	return &r->slot[h % RECENT_SLOTS];
}

static int same(const struct recent_slot *s, int64_t a, int64_t b, int64_t c)
{
	return s->a == a && s->b == b && s->c == c;
}

static void set(struct recent_slot *s, int64_t a, int64_t b, int64_t c, int64_t until)
{
	s->a = a;
	s->b = b;
	s->c = c;
	s->until_ms = until;
}

int recent_has(struct recent *r, int64_t a, int64_t b, int64_t c)
{
	struct recent_slot *s = slot_of(r, a, b, c);
	int64_t now = clock_ms();
	pthread_mutex_lock(&r->mu);
	int hit = same(s, a, b, c) && s->until_ms > now;
	pthread_mutex_unlock(&r->mu);
	return hit;
}

void recent_put(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t ms)
{
	struct recent_slot *s = slot_of(r, a, b, c);
	int64_t until = clock_ms() + ms;
	pthread_mutex_lock(&r->mu);
	set(s, a, b, c, until);
	pthread_mutex_unlock(&r->mu);
}

int64_t recent_claim(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t ms)
{
	struct recent_slot *s = slot_of(r, a, b, c);
	int64_t now = clock_ms(), claim = 0;
	pthread_mutex_lock(&r->mu);
	if (!same(s, a, b, c) || s->until_ms <= now) {
		claim = now + ms;
		set(s, a, b, c, claim);
	}
	pthread_mutex_unlock(&r->mu);
	return claim;
}

void recent_drop(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t until_ms)
{
	struct recent_slot *s = slot_of(r, a, b, c);
	pthread_mutex_lock(&r->mu);
	if (same(s, a, b, c) && s->until_ms == until_ms)
		s->until_ms = 0;
	pthread_mutex_unlock(&r->mu);
}
