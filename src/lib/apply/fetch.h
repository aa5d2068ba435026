/* Steps 1-3 of `rombsr apply`: the request and the response of one build
 * from the signing queue, with the response commit's signature checked
 * against the manifest's queue key (docs/QUEUE.md).
 *
 * The queue is untrusted: anyone who can push may add commits, and a
 * cache may have been edited. So the response is read from the commit
 * that added it - the commit whose signature is checked - never from
 * whatever the tip holds, and both documents must have been added exactly
 * once on the first-parent line and never changed.
 *
 * Ownership: apply_fetch returns a struct the caller frees with
 * apply_fetched_free() (accepts NULL); the buffers are owned by it, the
 * queue key is borrowed from the manifest.
 */
#ifndef ROMBSR_APPLY_FETCH_H
#define ROMBSR_APPLY_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "keys/manifest.h"
#include "queue/git.h"
#include "util/cleanup.h"

struct apply_fetched {
	char tip[QUEUE_OID_HEX + 1];
	char request_commit[QUEUE_OID_HEX + 1];   /* the commit that added the request */
	char response_commit[QUEUE_OID_HEX + 1];  /* the commit that added the response */
	uint8_t *request;          /* requests/<node>/<build>.json at request_commit */
	size_t request_len;
	uint8_t *response;         /* responses/<node>/<build>.json at response_commit */
	size_t response_len;
	const struct manifest_key *queue_key;     /* signed the response commit (borrowed) */
};

/* Fetch q, then find and check the documents of (node, build_id).
 * Errors:
 *   RB_E_INVAL     node or build_id is not a valid name
 *   RB_E_NOTFOUND  the queue is empty, or has no request, or no response
 *                  yet (the detail says which)
 *   RB_E_VERIFY    the response commit is unsigned or not signed by the
 *                  queue key; a document was changed after it was added
 *   RB_E_PERM      signed by a revoked queue key
 *   RB_E_KEY       the manifest has no queue key
 *   RB_E_IO, RB_E_TOOBIG, RB_E_STATE (history rewritten), RB_E_NOMEM */
int apply_fetch(struct queue *q, const struct manifest *m, const char *node, const char *build_id,
		struct apply_fetched **ret);
void apply_fetched_free(struct apply_fetched *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct apply_fetched *, apply_fetched_free)

#endif
