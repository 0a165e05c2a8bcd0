/*
 * Reading the event log: long-poll, Server-Sent Events and stream tickets
 * (events.fcgi). A waiting request holds no database connection: it reads
 * its doorbell slot before querying, gives the connection back to the pool,
 * and sleeps on the doorbell until rung or timed out, then queries again.
 */
#ifndef EVENTS_FEED_H
#define EVENTS_FEED_H

#include "http/http.h"

/* The largest batch, and what GET /events?limit= may ask for. */
#define FEED_MAX_BATCH 100

void feed_poll(struct req *req);	/* GET /events */
void feed_stream(struct req *req);	/* GET /events/stream */
void feed_ticket(struct req *req);	/* POST /events/ticket */

#endif
