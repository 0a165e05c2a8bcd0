/*
 * Presence, derived from event connections: a user is online while one of
 * their clients has an events request open. memcached holds the live flag
 * (key with a TTL, refreshed by every events request and periodically by
 * long streams); MySQL holds last_seen_at and the mark that an "online"
 * announcement was made, so each transition is announced once to the people
 * sharing a conversation (never to strangers). The sweeper announces
 * "offline" when last_seen_at goes stale. Without memcached, presence keeps
 * working from MySQL alone (throttled writes), only costlier.
 */
#ifndef EVENTS_PRESENCE_H
#define EVENTS_PRESENCE_H

#include <stdint.h>

#include "db/db.h"
#include "http/http.h"

/* Milliseconds between refreshes a long events request owes: a third of
 * the TTL, at most 20 s, so a connected user's flag never lapses. */
int presence_refresh_ms(void);

/* Notes that uid has an events request open (db is held by the caller).
 * Failures are logged and otherwise ignored: presence is best effort. */
void presence_refresh(struct db *db, struct arena *a, int64_t uid);

/* Starts the thread that writes connected users' last_seen_at together
 * (threaded events.fcgi; without it each is written at once). 0 or -1. */
int presence_seen_start(void);

/* Sweeper: announces "offline" for users whose last_seen_at went stale.
 * Returns the number of users that went offline, or -1. */
int presence_sweep(struct db *db, struct arena *a);

/* GET /users/{id}/presence */
void presence_get(struct req *req);

#endif
