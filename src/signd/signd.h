/* The sign orchestrator: the only process that asks the HSM to sign
 * anything for a build node. `rombsr sign --once` runs one batch;
 * `rombsr-sign` runs batches until SIGTERM.
 *
 * One batch (signd_run_batch):
 *   1 fetch the queue; walk the commits not yet seen (STATEDIR/last-commit)
 *     and verify each commit's OpenPGP signature against the keyring of
 *     configured nodes and approvers (gpgme);
 *   2 validate every new request document: schema, path, hashes, replays
 *     (STATEDIR/replay.journal);
 *   3 policy per entry: key known and active, node allowed to use it,
 *     approvals (dual control), quotas per build and per hour;
 *   4 append one `intent` entry per key to the audit log, durable, then
 *     sign on the HSM, one operation per unique (key, scheme, input);
 *   5 append every signature to the audit log and make it durable, then
 *     one signed checkpoint for the batch;
 *   6 commit the responses, signed by the HSM `queue` key, and push.
 * Nothing leaves the process before step 5 made it durable. After a crash
 * between 5 and 6 the next batch finds the signatures in the audit log and
 * publishes them without signing again; after a crash in 4 the intents
 * account for the HSM operations whose results were lost, and the next
 * batch signs those requests again under a new intent.
 *
 * The orchestrator holds the operator PIN only for C_Login and never the
 * admin (SO) credential. It logs one structured line per request to the
 * log stream it is given.
 *
 * Ownership: signd_open() returns a signd freed with signd_close()
 * (accepts NULL); it borrows log, which must outlive it.
 */
#ifndef ROMBSR_SIGND_SIGND_H
#define ROMBSR_SIGND_SIGND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A request document waits this long for approvals before it is refused. */
#define SIGND_APPROVAL_WAIT_SECONDS (24 * 3600)

struct signd;

struct signd_stats {
	size_t commits;       /* new queue commits examined */
	size_t documents;     /* request documents answered */
	size_t deferred;      /* documents waiting for approvals */
	size_t refused;       /* documents refused without a response */
	size_t signed_;       /* signatures released */
	size_t rejected;      /* requests rejected in responses */
	size_t hsm_ops;       /* signing operations on the HSM */
	size_t recovered;     /* signatures taken from the audit log after a crash */
	size_t claimed;       /* claims this batch published (docs/formats/claim.md) */
	size_t claimed_elsewhere; /* builds left to another sign node's claim */
	size_t claims_lost;   /* signed here, answered by another node first */
	char response_commit[41];
	bool more;            /* the batch was full (sign.conf queue.batchRequests):
	                       * run the next one now */
};

/* Load the configuration and everything it names, open the token and log
 * in as operator (the PIN is read from hsm.pinFile and wiped). Before the
 * token, the audit log (audit.dir) is checked against the queue: it must
 * exist (RB_E_NOTFOUND: make it with signd_audit_init) and extend the
 * newest checkpoint this node published in a response (RB_E_ROLLBACK:
 * missing, rolled back or forked; nothing is signed or appended). */
int signd_open(const char *config_path, FILE *log, struct signd **ret);

/* `rombsr audit init`: create the sign node's new, empty audit log at
 * audit.dir, with the origin the node uses. RB_E_EXISTS if one is there;
 * RB_E_ROLLBACK if the queue already holds a checkpoint this node
 * published (its log is to be restored, not replaced). Needs no token.
 * *ret_dir and *ret_origin are the caller's (free). */
int signd_audit_init(const char *config_path, char **ret_dir, char **ret_origin);
void signd_close(struct signd *s);

/* Run one batch. A SIGTERM-style stop request (*stop becomes non-zero)
 * is honoured between documents: the batch stops taking new work, and
 * what was signed and logged so far is still published. */
int signd_run_batch(struct signd *s, volatile sig_atomic_t *stop, struct signd_stats *ret);

/* Poll interval from the configuration. */
unsigned signd_poll_seconds(const struct signd *s);
/* Number of PKCS#11 sessions open on the token (for the benchmark). */
unsigned signd_open_sessions(struct signd *s);

#endif
