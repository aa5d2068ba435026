/* An append-only journal of short text records, one per line.
 *
 * The sign node's own durable state (which request ids were answered,
 * which request documents were seen, how many signatures each node got
 * and when) lives in journals under its state directory. A journal is
 * only ever appended to; every append is written and fdatasync()ed
 * before journal_append() returns, so a record the caller acted on
 * survives a crash. A crash in the middle of an append leaves a last line
 * without its newline: journal_open() drops it (the caller had not acted
 * on it, because the append had not returned) and cuts the file back.
 *
 * Ownership: journal_open() returns a journal the caller frees with
 * journal_close() (accepts NULL).
 */
#ifndef ROMBSR_POLICY_JOURNAL_H
#define ROMBSR_POLICY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#define JOURNAL_LINE_MAX 1024

struct journal;

/* Called for every complete record at open, in order, without the
 * newline. A negative return aborts journal_open() with that error. */
typedef int (*journal_replay_fn)(void *ctx, const char *line, size_t len);

/* Open (creating it 0600 if missing) the journal at path, at most
 * max_bytes long, and replay its records. The first line of every journal
 * is its magic, "<format> <version>" (e.g. "rombsr-replay-journal 1"),
 * written when the journal is created and required when it is opened, so
 * a journal is never read as another kind or another version. Errors:
 * RB_E_TOOBIG over max_bytes, RB_E_PARSE a line over JOURNAL_LINE_MAX or
 * holding a NUL, RB_E_UNSUPPORTED another magic, RB_E_IO. */
int journal_open(const char *path, const char *magic, size_t max_bytes, journal_replay_fn replay,
		 void *ctx, struct journal **ret);
/* Append records: text is one or more lines, each ending in '\n'.
 * Durable when this returns 0. RB_E_LIMIT if the journal would exceed
 * its max_bytes. */
int journal_append(struct journal *j, const char *text, size_t len);
/* Group commit: while deferred, journal_append() writes without
 * fdatasync; journal_sync() makes everything written durable with one
 * fdatasync and ends the deferral. A caller must not act on a deferred
 * record (tell anyone, or move past it) before journal_sync() returned. */
void journal_defer_sync(struct journal *j, bool defer);
int journal_sync(struct journal *j);
void journal_close(struct journal *j);

#endif
