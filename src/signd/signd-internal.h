/* Internals of the sign orchestrator, shared by its files:
 *   orchestrator.c  open/close, the batch
 *   intake.c        new commits: signature, signer, areas, documents
 *   decide.c        per-document and per-entry policy
 *   hsm.c           signing through the key holder, the queue-key commit signer
 *   keyholder.c     the key holder process (rombsr-signer) and its socket
 *   cache.c         the signing cache (cache.h)
 *   record.c        audit entries, responses, structured log lines
 *   claim.c         claims: several sign nodes on one queue sign each build once
 */
#ifndef ROMBSR_SIGND_INTERNAL_H
#define ROMBSR_SIGND_INTERNAL_H

#include "signd/signd.h"

#include "signd/cache.h"
#include "signd/keyholder.h"

#include "audit/log.h"
#include "keys/manifest.h"
#include "pgp/pgp.h"
#include "policy/idset.h"
#include "policy/journal.h"
#include "policy/replay.h"
#include "policy/usage.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "request/claim.h"
#include "request/request.h"
#include "request/response.h"
#include "util/buf.h"

#define SIGND_LINE_MAX 1024
/* Reopens in a row that find the token without the manifest's keys
 * before the sign node halts (it retries after 1, 2, 4 s between them). */
#define SIGND_REOPEN_REFUSALS 3


/* The sign node's state, by responsibility: each group belongs to the
 * files named beside it (orchestrator.c opens and closes them all); the
 * shared part is set at open and read by all. */
struct signd_intake {            /* intake.c: new commits and their documents */
	struct gpgsig *keyring;      /* the nodes' and approvers' certificates */
	struct replay_db *replay;
	struct journal *pending_journal;
	char last_commit[41];        /* last queue commit examined, "" for none */
	char *last_commit_path;
	/* documents deferred for approvals (pending.journal) */
	struct signd_pending *pending;
	size_t n_pending, alloc_pending;
};

struct signd_policy {            /* decide.c: what may be signed */
	struct usage_ledger *usage;
	struct journal *approvals_journal;
	/* approvals seen in the queue (approvals.journal) */
	struct signd_approval *approvals;
	size_t n_approvals, alloc_approvals;
	uint8_t policy_sha256[32];   /* of sign.conf + manifest, as last audited */
	bool policy_audited;
	char *policy_path;
};

struct signd_signing {           /* hsm.c, keyholder.c: the signing client */
	struct keyholder *kh;        /* the key holder, rombsr-signer; NULL while the HSM is lost */
	struct keyholder_key queue_ref;
	struct rb_signer queue_signer;
	struct pgp_key *queue_pgp;
	struct keyholder_key audit_ref;
	struct rb_signer audit_signer;
	EVP_PKEY *queue_pub, *audit_pub; /* references of their own (the manifest is reloaded) */
	bool hsm_lost;               /* the token went away: reopen before a batch */
	unsigned reopen_refusals;    /* reopens in a row that found the token without its keys */
	struct signd_cache *cache;   /* per batch */
};

struct signd_audit_writer {      /* record.c: the audit log */
	struct audit_log *audit;
	char origin[CLAIM_ORIGIN_MAX + 1]; /* the audit log's origin */
};

struct signd_publisher {         /* record.c, claim.c: claims and responses */
	char queue_fpr[41];          /* OpenPGP fingerprint of the queue key */
	char sign_node[65];          /* rombsr.signNode, "sign" by default */
	uint8_t instance[CLAIM_INSTANCE_LEN]; /* STATEDIR/instance */
	char last_response[41];      /* newest response commit of this node known
	                              * on the branch, "" for none */
	char *last_response_path;
};

struct signd {
	/* shared: set at open */
	struct sign_config *cfg;
	struct manifest *m;
	FILE *log;
	struct queue *q;             /* the queue: read by intake, written by the publisher */

	struct signd_intake in;
	struct signd_policy pol;
	struct signd_signing hsm;
	struct signd_audit_writer aw;
	struct signd_publisher pub;
};

struct signd_approval {
	char approver[65];
	char node[65];
	char build_id[CAPTURE_BUILD_ID_MAX + 1];
	uint8_t request_sha256[32];
	char *keys;                  /* ",key1,key2," */
};

struct signd_pending {
	char commit[41];
	char path[QUEUE_MAX_PATH + 1];
	int64_t since;
	bool done;
};

/* A request document taken in this batch. */
struct signd_item {
	char commit[41];
	char path[QUEUE_MAX_PATH + 1];
	const struct sign_node *node;
	char node_fpr[41];
	char build_id[CAPTURE_BUILD_ID_MAX + 1];
	uint8_t *data;
	size_t len;
	uint8_t doc_sha256[32];
	int64_t since;               /* when it was first seen (approval wait) */
	bool from_pending;
	size_t walk_seq;             /* index of its commit in batch->walk; SIZE_MAX if pending */
	struct request_doc *doc;
	/* decisions, one per doc->entries[i] */
	enum response_reason *reason; /* 0: sign it */
	char **message;
	uint8_t **sig;
	size_t *sig_len;
	enum rb_sig_scheme *scheme;
	uint64_t *leaf;
	bool *have_leaf;
	bool deferred;
	bool refused;                /* no response at all (logged and audited) */
	bool answered_before;        /* a response exists already */
	bool claimed_elsewhere;      /* another sign node holds a live claim on it,
	                              * or answered it since intake: left alone */
	bool peeked_elsewhere;       /* ... found so at intake (signd_claim_peek) */
	bool claim_lost;             /* signed here, but another node answered it */
	int64_t claim_expires;       /* this node's claim on it, Unix seconds; 0: none
	                              * (an answer of rejections needs none) */
};

struct signd_batch {
	struct signd_item *items;
	size_t n, alloc;
	int64_t now;
	struct signd_stats *stats;
	/* What intake walked, oldest first, and how far the batch can move
	 * last-commit: up to the commit before the first one with a document
	 * this batch did not take (first_carried, SIZE_MAX for none). */
	char (*walk)[QUEUE_OID_HEX + 1];
	size_t n_walk, alloc_walk;
	size_t first_carried;
	bool walk_full;              /* the walk stopped: the batch has its documents */
	char own_response[QUEUE_OID_HEX + 1]; /* the newest queue-key commit the walk
	                              * passed, "" for none */
	size_t documents;            /* documents taken */
	unsigned *node_documents;    /* documents taken per cfg->nodes[i] */
	struct idset paths;          /* SHA-256 of every taken document's path */
	int64_t lease_end;           /* no HSM signature under this batch's claims
	                              * from this time on (Unix seconds) */
};

/* intake.c */
int signd_intake(struct signd *s, const char *tip, struct signd_batch *b);
int signd_approvals_load(struct signd *s, const char *path);
int signd_pending_load(struct signd *s, const char *path);
/* Remember a deferred document in memory (the journal is the caller's). */
int signd_pending_add(struct signd *s, const char *commit, const char *path, int64_t since);
/* One request document of node's verified commit (the seq-th commit of
 * the walk): skipped if pending, taken in this batch or processed before;
 * carried to the next batch if the batch or the node is full; else taken,
 * its bytes read through read (at most cap bytes) unless its size is over
 * queue.maxRequestBytes (then refused: too-large). */
typedef int (*signd_blob_reader)(void *ctx, const char *blob, size_t cap, uint8_t **ret, size_t *ret_len);
int signd_intake_document(struct signd *s, struct signd_batch *b, size_t seq, const char *commit,
			  const struct sign_node *node, const char *fpr, const char *path, const char *blob,
			  uint64_t size, signd_blob_reader read, void *read_ctx);
/* Order a batch's items: pending documents first, then the nodes' in turn. */
int signd_intake_interleave(struct signd *s, struct signd_batch *b);
int signd_batch_add(struct signd_batch *b, struct signd_item **ret);
/* The replay journal's record that the document at path in commit was
 * processed (answered or refused), so that a batch walking the commit
 * again skips it. */
void signd_processed_marker(const char *commit, const char *path, uint8_t out[32]);
void signd_item_clear(struct signd_item *it);

/* decide.c */
int signd_decide(struct signd *s, struct signd_batch *b, struct signd_item *it);
/* A document whose response could be over RESPONSE_MAX_BYTES is answered
 * with every entry rejected as too-large, before anything is signed; if
 * even that answer could be over the cap it is refused (audited, no
 * response). */
int signd_bound_item(struct signd *s, struct signd_batch *b, struct signd_item *it);
unsigned signd_count_approvals(const struct signd *s, const struct signd_item *it, const char *key,
			       const struct sign_key_policy *kp);

/* hsm.c */
/* Crash recovery for entry i, before anything is signed: sets the scheme
 * the HSM computes for it and, if the audit log holds its signature from
 * an earlier run, takes that one (verified against the manifest key; a
 * signature that does not verify is RB_E_VERIFY and not taken). 1 taken,
 * 0 not in the log. */
int signd_recover_entry(struct signd *s, struct signd_item *it, size_t i, struct signd_stats *st);
/* Sign entry i on the token (or from the batch's signing cache); only
 * after signd_recover_entry() found nothing and its intent is durable. */
int signd_sign_entry(struct signd *s, struct signd_item *it, size_t i, struct signd_stats *st);
int signd_sign_commit(void *ctx, const uint8_t *data, size_t len, char **ret_armored);

/* claim.c */
/* The sign node's name, its log's origin and STATEDIR/instance (made at
 * the first start). */
int signd_claim_open(struct signd *s, const char *origin);
/* Claim every build items[0, done) has HSM work for (an answer of
 * rejections alone needs no claim), in one commit signed by the queue
 * key, before the HSM is called: a build another node holds a live
 * claim on, or answered, is marked claimed_elsewhere and left alone.
 * Sets b->lease_end. RB_E_STATE if another sign node claims with this
 * node's audit-log origin. */
int signd_claim_batch(struct signd *s, struct signd_batch *b, size_t done, struct signd_stats *st);
/* At intake: marks it claimed_elsewhere if another node holds a live
 * claim on its build at tip, so that it takes no room in the batch. */
int signd_claim_peek(struct signd *s, const char *tip, struct signd_item *it, int64_t now);
/* RB_E_AGAIN once the batch's claims are within their margin of ending:
 * asked before every HSM signature. */
int signd_lease_check(const struct signd *s, const struct signd_batch *b);
/* Whether it's response may be published at tip: this node's claim is
 * still the newest on the build (or, for an unclaimed answer of
 * rejections, nobody claimed it), and it has no response yet. */
int signd_claim_still_ours(struct signd *s, const char *tip, const struct signd_item *it, bool *ret);
/* The replay journal's record of a claim file added by a refused commit:
 * it claims nothing. */
void signd_forged_claim_marker(const char *path, uint8_t out[32]);

/* record.c */
/* One `intent` entry per key (per AUDIT_INTENT_IDS_MAX requests) for every
 * entry of items[0, done) still to be signed on the HSM, appended and
 * made durable in one append before the HSM is called. */
int signd_audit_intents(struct signd *s, struct signd_batch *b, size_t done);
/* The `sign` and `reject` entries of items[0, done), in one append per
 * 4096 entries (one for a batch of the default size); sets each entry's
 * leaf. */
int signd_audit_results(struct signd *s, struct signd_batch *b, size_t done);
/* The items a batch signs and answers: taken, decided, not refused,
 * deferred or answered before. */
bool signd_item_answered(const struct signd_item *it);
int signd_audit_refusal(struct signd *s, int64_t now, const char *build_id, const char *node_fpr,
			const char *path, const char *reason);
int signd_response(struct signd *s, struct signd_batch *b, struct signd_item *it,
		   const char *checkpoint, struct rb_buf *out);
/* An upper bound of the bytes signd_response() writes for it as decided
 * (a signed entry is counted at its largest: longest signature, proof
 * and checkpoint, or an HSM error message instead). */
uint64_t signd_response_bound(const struct signd *s, const struct signd_item *it);
void signd_log(struct signd *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void signd_log_item(struct signd *s, const struct signd_item *it);

#endif
