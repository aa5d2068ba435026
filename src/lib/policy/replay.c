#include "policy/replay.h"

#include <stdlib.h>
#include <string.h>

#include "policy/idset.h"
#include "policy/journal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

struct replay_db {
	struct journal *journal;
	struct idset requests;
	struct idset documents;
	const char *path;
};

static int replay_parse_hex32(const char *s, size_t len, uint8_t out[32])
{
	return rb_hex_decode_lower(s, len, out, 32);
}

static int replay_line(void *ctx, const char *line, size_t len)
{
	struct replay_db *db = ctx;
	uint8_t id[32];

	if (len == 8 + 64 && memcmp(line, "request ", 8) == 0 && replay_parse_hex32(line + 8, 64, id) == 0)
		return idset_add(&db->requests, id);
	if (len == 9 + 64 && memcmp(line, "document ", 9) == 0 && replay_parse_hex32(line + 9, 64, id) == 0)
		return idset_add(&db->documents, id);
	return rb_err_set(RB_E_PARSE, "%s: unrecognised record '%.40s'; the replay journal is damaged, restore it from backup",
			  db->path, line);
}

int replay_db_open(const char *path, struct replay_db **ret)
{
	struct replay_db *db = calloc(1, sizeof(*db));
	int err;

	if (!db)
		return RB_E_NOMEM;
	db->path = path;
	if ((err = journal_open(path, "rombsr-replay-journal 1", REPLAY_DB_MAX_BYTES, replay_line, db, &db->journal)) < 0) {
		replay_db_close(db);
		return err;
	}
	db->path = NULL; /* borrowed only while replaying */
	*ret = db;
	return RB_OK;
}

void replay_db_close(struct replay_db *db)
{
	if (!db)
		return;
	journal_close(db->journal);
	idset_clear(&db->requests);
	idset_clear(&db->documents);
	free(db);
}

bool replay_db_has_request(const struct replay_db *db, const uint8_t id[32])
{
	return idset_has(&db->requests, id);
}

bool replay_db_has_document(const struct replay_db *db, const uint8_t sha256[32])
{
	return idset_has(&db->documents, sha256);
}

size_t replay_db_requests(const struct replay_db *db)
{
	return db->requests.map.n;
}

static int replay_put(struct rb_buf *b, const char *tag, const uint8_t id[32])
{
	char hex[65];
	int err;

	rb_hex_format(id, 32, hex);
	if ((err = rb_buf_put_str(b, tag)) < 0 || (err = rb_buf_put(b, hex, 64)) < 0)
		return err;
	return rb_buf_put_u8(b, '\n');
}

int replay_db_record(struct replay_db *db, const uint8_t doc_sha256[32], const uint8_t (*ids)[32],
		     size_t n_ids)
{
	struct rb_buf b = RB_BUF_INIT;
	int err = RB_OK;

	b.cap = REPLAY_DB_MAX_BYTES;
	if (doc_sha256)
		err = replay_put(&b, "document ", doc_sha256);
	for (size_t i = 0; err == RB_OK && i < n_ids; i++)
		err = replay_put(&b, "request ", ids[i]);
	if (err == RB_OK && b.len)
		err = journal_append(db->journal, (const char *)b.data, b.len);
	/* Memory follows the disk: only what is durable counts as seen. */
	if (err == RB_OK && doc_sha256)
		err = idset_add(&db->documents, doc_sha256);
	for (size_t i = 0; err == RB_OK && i < n_ids; i++)
		err = idset_add(&db->requests, ids[i]);
	rb_buf_free(&b);
	return err;
}

void replay_db_defer_sync(struct replay_db *db, bool defer)
{
	if (db)
		journal_defer_sync(db->journal, defer);
}

int replay_db_sync(struct replay_db *db)
{
	if (!db)
		return RB_E_INVAL;
	return journal_sync(db->journal);
}
