/* How many signatures each build node received, and when: the ledger
 * behind the per-hour quota. Backed by a journal (policy/journal.h) at
 * STATEDIR/usage.journal with lines "use <unix-time> <node> <count>";
 * records older than the quota window are dropped from memory at open,
 * and from the file when it has grown past USAGE_COMPACT_BYTES.
 * Ownership: usage_ledger_open() returns a ledger freed with
 * usage_ledger_close() (accepts NULL).
 */
#ifndef ROMBSR_POLICY_USAGE_H
#define ROMBSR_POLICY_USAGE_H

#include <stddef.h>
#include <stdint.h>

#define USAGE_WINDOW_SECONDS 3600
#define USAGE_COMPACT_BYTES ((size_t)4 * 1024 * 1024)
#define USAGE_MAX_BYTES ((size_t)256 * 1024 * 1024)

struct usage_ledger;

int usage_ledger_open(const char *path, int64_t now, struct usage_ledger **ret);
void usage_ledger_close(struct usage_ledger *l);
/* Signatures recorded for node at or after since. */
uint64_t usage_ledger_count(const struct usage_ledger *l, const char *node, int64_t since);
/* Durably record count signatures for node at time t. */
int usage_ledger_record(struct usage_ledger *l, const char *node, int64_t t, uint64_t count);

#endif
