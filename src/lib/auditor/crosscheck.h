/* Cross-checking the audit log against the signing queue
 * (`rombsr audit verify DIR --queue QUEUE`, docs/formats/audit-log.md,
 * "Cross-check with the queue").
 *
 * The log says what the HSM signed; the queue says what builds asked for
 * and what the sign node answered. Both must tell the same story:
 *
 *   - every `sign` entry names a request id that is in some request
 *     document of the queue; one that is not was signed outside the flow
 *     (AUDIT_XCHECK_UNEXPLAINED);
 *   - every response is in a commit signed by the manifest's `queue` key
 *     (checked as `rombsr apply` checks it, apply_commit_check()), added
 *     once and never changed;
 *   - every signed response entry's signature is the one in the `sign`
 *     entry of its request, and its `audit.leaf` is that entry; its
 *     `audit.proof`, when present, proves that leaf under its
 *     `audit.checkpoint`, signed by the log's key;
 *   - no logged signature belongs to a request that was answered with a
 *     rejection;
 *   - every request id in an `intent` entry is in some request document
 *     (AUDIT_XCHECK_UNEXPLAINED otherwise: the HSM was asked outside the
 *     flow); an intended request that no `sign` or `reject` entry
 *     follows before the log ends or the next intent for it is a result
 *     the HSM may have made and nobody has: reported in `lost`, which is
 *     accounting, not a finding.
 *   - every logged signature for a request of the queue was released: a
 *     response in the queue answers the request (one that does not was
 *     never published, or its response commit was lost or removed).
 *   - a response whose audit checkpoint names another origin was answered
 *     by another sign node on its own log (docs/formats/claim.md): it is
 *     counted, and judged by that log's cross-check; a signature of this
 *     log for a request another node answered is accounting (a claim
 *     taken over after its lease), not a finding.
 *
 * The queue and the log are both untrusted here: everything read from
 * them goes through the strict parsers. Nothing is printed; the caller
 * gets a report.
 *
 * Ownership: audit_crosscheck() returns a report freed with
 * audit_xcheck_report_free() (accepts NULL), which owns every string in
 * it. The log, queue, manifest and verifier are borrowed.
 */
#ifndef ROMBSR_AUDITOR_CROSSCHECK_H
#define ROMBSR_AUDITOR_CROSSCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/log.h"
#include "audit/note.h"
#include "keys/manifest.h"
#include "queue/git.h"
#include "util/cleanup.h"

enum audit_xcheck_kind {
	AUDIT_XCHECK_UNEXPLAINED = 1,     /* sign entry for a request id no build asked for */
	AUDIT_XCHECK_RESPONSE_UNSIGNED,   /* response added by an unsigned commit */
	AUDIT_XCHECK_RESPONSE_FOREIGN,    /* response commit not signed by the queue key */
	AUDIT_XCHECK_RESPONSE_BAD,        /* response added twice, changed, or unparsable */
	AUDIT_XCHECK_NOT_LOGGED,          /* released signature with no sign entry */
	AUDIT_XCHECK_SIG_MISMATCH,        /* released signature differs from the logged one */
	AUDIT_XCHECK_LEAF_MISMATCH,       /* audit.leaf is not the request's sign entry */
	AUDIT_XCHECK_BAD_PROOF,           /* audit.checkpoint / audit.proof do not verify */
	AUDIT_XCHECK_SIGNED_BUT_REJECTED, /* logged signature, request answered "rejected" */
	AUDIT_XCHECK_RESPONSE_MISSING,    /* logged signature, no response answers the request */
};

/* "unexplained", "response-unsigned", ...: for messages. */
const char *audit_xcheck_kind_name(enum audit_xcheck_kind k);

#define AUDIT_XCHECK_NO_LEAF UINT64_MAX

struct audit_xcheck_finding {
	enum audit_xcheck_kind kind;
	uint64_t leaf;          /* the log entry concerned, or AUDIT_XCHECK_NO_LEAF */
	char *path;             /* queue path concerned, or NULL */
	char *commit;           /* queue commit concerned, or NULL */
	char *request_id;       /* hex request id, or NULL */
	char *message;          /* one line saying what is wrong */
};

/* An intent whose result was never logged: "signed, result lost". */
struct audit_xcheck_lost {
	uint64_t leaf;          /* the intent entry */
	uint64_t again;         /* the next intent for the request, or AUDIT_XCHECK_NO_LEAF */
	char *request_id;       /* hex */
	char *key;              /* the intent's key name */
};

struct audit_xcheck_report {
	char tip[QUEUE_OID_HEX + 1];
	uint64_t entries;       /* log entries read */
	uint64_t sign_entries;  /* of which `sign` */
	size_t request_docs;    /* request documents in the queue */
	size_t requests;        /* request ids in them */
	size_t responses;       /* response documents */
	size_t other_log_responses; /* of which answered on another sign node's log
	                         * (their checkpoint names another origin) */
	uint64_t signed_answered_elsewhere; /* sign entries of this log whose request
	                         * another sign node answered (a claim taken over) */
	size_t signatures;      /* signed entries in responses */
	size_t matched;         /* of which equal to their sign entry */
	uint64_t intents;       /* intent entries */
	uint64_t intended;      /* request ids in them */
	uint64_t intent_signed; /* of which a sign entry followed */
	uint64_t intent_rejected; /* of which a reject entry followed (HSM failure) */
	struct audit_xcheck_finding *findings;
	size_t n_findings;
	struct audit_xcheck_lost *lost; /* in log order */
	size_t n_lost;
};

/* Cross-check every entry of log (all of it, also beyond its checkpoint)
 * against the queue q at its current tip (no fetch: the caller fetches).
 * m gives the queue key; v (the log's checkpoint key, whose name is the
 * origin) checks the responses' audit checkpoints. Findings are not
 * errors: the function returns 0 with a report, and the caller decides
 * (rombsr exits 7 when n_findings > 0). Errors: RB_E_NOTFOUND the queue
 * has no commits; RB_E_STATE history rewritten; RB_E_KEY no queue key in
 * m; RB_E_IO, RB_E_NOMEM, RB_E_PARSE/RB_E_VERIFY a log entry that does not
 * read back. */
int audit_crosscheck(struct audit_log *log, struct queue *q, const struct manifest *m,
		     const struct note_verifier *v, struct audit_xcheck_report **ret);
void audit_xcheck_report_free(struct audit_xcheck_report *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct audit_xcheck_report *, audit_xcheck_report_free)

/* --- what the sign node published ---------------------------------------
 *
 * Every signed response entry carries the audit checkpoint of its batch,
 * so the queue holds the largest checkpoint the sign node ever handed
 * out. A log that does not extend it - missing, restored from an older
 * copy, replaced - would have the node sign on a log that forks from what
 * build nodes and auditors already hold; the sign node refuses to start
 * on one (docs/formats/sign-node-state.md, "The audit log and the
 * queue"). */
struct audit_published {
	bool found;                       /* false: nothing published yet */
	uint64_t size;                    /* the checkpoint's tree size */
	uint8_t root[MERKLE_HASH_LEN];
	char commit[QUEUE_OID_HEX + 1];   /* the response commit that carried it */
	char *path;                       /* the response that carried it */
};

/* The newest checkpoint of the log origin in the responses of q (no fetch:
 * the caller fetches), walking the first-parent line from the tip: the
 * first commit signed by m's queue key (apply_commit_check) that adds a
 * response with a checkpoint. The checkpoint must verify with m's `audit`
 * key (RB_E_VERIFY otherwise: a response the queue key signed carries a
 * checkpoint the audit key did not). ret->found is false if there is
 * none. Free with audit_published_clear(). */
int audit_published_find(struct queue *q, const struct manifest *m, const char *origin,
			 struct audit_published *ret);
void audit_published_clear(struct audit_published *p);

/* RB_E_ROLLBACK, with a detail naming dir, the sizes, the response and
 * what to do, unless log (NULL: dir holds no log) extends p: at least
 * p->size entries and a consistency proof from p to the log's size that
 * verifies. RB_OK if nothing was published. */
int audit_published_check(struct audit_log *log, const char *dir, const struct audit_published *p);

#endif
