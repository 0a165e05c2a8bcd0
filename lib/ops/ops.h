/* Operations endpoints: health and metrics. */
#ifndef OPS_OPS_H
#define OPS_OPS_H

#include "http/http.h"

void ops_health(struct req *req); /* GET /health */
/* GET /events/health: the same, from the events process, with how many
 * requests it holds waiting. */
void ops_events_health(struct req *req);

#endif
