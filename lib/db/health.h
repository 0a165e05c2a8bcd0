#ifndef DB_HEALTH_H
#define DB_HEALTH_H
#include "db/db.h"
/* 0 when the database answers a trivial query. */
int db_health(struct db *db);
#endif
