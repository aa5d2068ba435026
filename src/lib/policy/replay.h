/* The sign node's replay database: every request id it has answered
 * (signed or rejected) and the SHA-256 of every request document it has
 * processed. A request id seen again, or the same document replayed
 * under another path or in a later commit, is refused as a replay.
 *
 * Backed by a journal (policy/journal.h) at STATEDIR/replay.journal with
 * lines "request <hex>" and "document <hex>"; held in memory as hash
 * sets. Ownership: replay_db_open() returns a db freed with
 * replay_db_close() (accepts NULL).
 */
#ifndef ROMBSR_POLICY_REPLAY_H
#define ROMBSR_POLICY_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_DB_MAX_BYTES ((size_t)1024 * 1024 * 1024)

struct replay_db;

int replay_db_open(const char *path, struct replay_db **ret);
void replay_db_close(struct replay_db *db);

bool replay_db_has_request(const struct replay_db *db, const uint8_t id[32]);
bool replay_db_has_document(const struct replay_db *db, const uint8_t sha256[32]);
size_t replay_db_requests(const struct replay_db *db);

/* Record a processed document and the request ids answered for it, in
 * one durable append. doc_sha256 may be NULL. */
int replay_db_record(struct replay_db *db, const uint8_t doc_sha256[32], const uint8_t (*ids)[32],
		     size_t n_ids);
/* Group commit of many records (journal_defer_sync / journal_sync):
 * between the two, recorded ids count as seen in memory already. */
void replay_db_defer_sync(struct replay_db *db, bool defer);
int replay_db_sync(struct replay_db *db);

#endif
