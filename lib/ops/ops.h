/* Operations endpoints: health and metrics. */
#ifndef OPS_OPS_H
#define OPS_OPS_H

#include "http/http.h"

void ops_health(struct req *req); /* GET /health */

#endif
