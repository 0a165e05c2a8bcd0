/* Unit tests for lib/db without a server: a column's buffer is bound to the
 * prepared statement, so reading a value must never move it (the next fetch
 * writes into it), and db_id_list reads GROUP_CONCAT lists. */
#include "db/db.c"

#include "check.h"

int main(void)
{
	struct db *db = xcalloc(1, sizeof(*db));
	/* A value that filled its buffer to the last byte (as one bound with
	 * the whole buffer would let the server write). */
	char *buf = xmalloc(8);
	memcpy(buf, "abcdefgh", 8);
	db->cols[0] = (struct col){buf, 8, 8, 0, 0};
	db->rbind[0].buffer = buf;
	db->ncols = 1;
	size_t n;
	const char *v = db_peek(db, 0, &n);
	CHECK(db->cols[0].buf == buf);
	CHECK(db->rbind[0].buffer == buf);
	CHECK(v == buf);
	CHECK(n < 8);
	CHECK_EQ(v[n], '\0');
	/* A value with room to spare reads whole. */
	memcpy(buf, "abc", 3);
	db->cols[0].len = 3;
	CHECK_STR(db_peek(db, 0, NULL), "abc");
	CHECK(db->cols[0].buf == buf);
	free(buf);
	free(db);

	struct arena a;
	arena_init(&a);
	int64_t *ids;
	CHECK_EQ(db_id_list(&a, "3,17,42", &ids), 3);
	CHECK_EQ(ids[0], 3);
	CHECK_EQ(ids[2], 42);
	CHECK_EQ(db_id_list(&a, NULL, &ids), 0);
	CHECK_EQ(db_id_list(&a, "", &ids), 0);
	CHECK_EQ(db_id_list(&a, "5,x,6", &ids), 1);
	arena_release(&a);
	return CHECK_DONE();
}
