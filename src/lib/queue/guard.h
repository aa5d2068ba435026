/* The queue guard: the rules of docs/QUEUE.md "Rules the guard enforces",
 * applied to one ref update (the pre-receive hook, `rombsr queue-guard`)
 * or to a whole branch history (`rombsr queue verify`).
 *
 * A refusal is RB_E_PERM with an rb_err detail that names the first
 * violation: "commit <abbrev>: <reason naming the path>" for a commit,
 * or the reason alone for a ref-level violation (deletion, non-fast-
 * forward, wrong ref). Other negative codes mean the guard could not
 * decide (I/O, memory); callers must refuse then too.
 *
 * The allow-list: every configured node (area requests/<node>/), every
 * configured approver (approvals/<approver>/), and the manifest's `queue`
 * key by its OpenPGP fingerprint (area responses/). Signatures are
 * verified against the keyring only, and the verified primary
 * fingerprint is what selects the signer.
 *
 * Ownership: guard_new() borrows cfg, m and keyring (they must outlive
 * the guard) and returns a guard freed with guard_free() (accepts NULL).
 */
#ifndef ROMBSR_QUEUE_GUARD_H
#define ROMBSR_QUEUE_GUARD_H

#include "util/cleanup.h"

struct gpgsig;
struct manifest;
struct queue;
struct sign_config;
struct guard;

#define GUARD_MAX_LINE 4096      /* one "<old> <new> <ref>" hook line */
#define GUARD_MAX_UPDATES 256    /* ref updates in one push */
#define GUARD_MAX_COMMITS 100000 /* new commits checked in one update */

/* m may be NULL: then no key may write responses/. */
int guard_new(const struct sign_config *cfg, const struct manifest *m, struct gpgsig *keyring,
	      struct guard **ret);
void guard_free(struct guard *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct guard *, guard_free)
#define _cleanup_guard_ _cleanup_(guard_freep)

/* Check the update of ref from old to new (40-hex ids; all zeros for a
 * created or deleted ref, as git passes them) in q's repository. */
int guard_check_update(struct guard *g, struct queue *q, const char *old, const char *new,
		       const char *ref);

/* Check every commit of the queue branch from the root to tip (40 hex),
 * as if the branch were created with tip in one push. */
int guard_check_history(struct guard *g, struct queue *q, const char *tip);

#endif
