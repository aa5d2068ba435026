/* The sign orchestrator: open everything a batch needs, run batches. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "audit/origin.h"
#include "audit/entry.h"
#include "auditor/crosscheck.h"
#include "config.h"
#include "signd/sandbox.h"
#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"


unsigned signd_poll_seconds(const struct signd *s)
{
	return s->cfg->queue.poll_seconds;
}

unsigned signd_open_sessions(struct signd *s)
{
	return s->hsm.kh ? keyholder_open_sessions(s->hsm.kh) : 0;
}

static void signd_close_hsm(struct signd *s);

void signd_close(struct signd *s)
{
	if (!s)
		return;
	signd_cache_free(s->hsm.cache);
	audit_log_close(s->aw.audit);
	journal_close(s->pol.approvals_journal);
	journal_close(s->in.pending_journal);
	for (size_t i = 0; i < s->pol.n_approvals; i++)
		free(s->pol.approvals[i].keys);
	free(s->pol.approvals);
	free(s->in.pending);
	usage_ledger_close(s->pol.usage);
	replay_db_close(s->in.replay);
	queue_free(s->q);
	gpgsig_free(s->in.keyring);
	signd_close_hsm(s);
	manifest_free(s->m);
	sign_config_free(s->cfg);
	free(s->in.last_commit_path);
	free(s->pub.last_response_path);
	free(s->pol.policy_path);
	free(s);
}

static int signd_path(const struct signd *s, const char *name, char **ret)
{
	if (asprintf(ret, "%s/%s", s->cfg->state_dir, name) < 0)
		return RB_E_NOMEM;
	return RB_OK;
}

/* A wrong operator PIN is an event an auditor must see: someone tried to
 * use the HSM and failed. Returns err with its detail, or the log's error
 * if the failure could not be logged. */
static int signd_audit_login_failure(struct signd *s, int err)
{
	char detail[RB_ERR_DETAIL_MAX];
	_cleanup_json_ struct json_value *e = NULL;
	uint64_t index;
	int aerr;

	rb_err_save(err, detail);
	if ((aerr = audit_entry_login_failure((int64_t)time(NULL), "operator", s->m->token_label, detail, &e)) < 0 ||
	    (aerr = audit_log_append(s->aw.audit, e, &index)) < 0) {
		char why[RB_ERR_DETAIL_MAX];

		rb_err_save(aerr, why);
		return rb_err_set(aerr, "%s; and the login failure could not be written to the audit log: %s",
				  detail, why);
	}
	return rb_err_set(err, "%s", detail);
}

/* The key holder: it loads the module, reads the PIN, logs in and checks
 * the queue and audit keys against the manifest before it says ready.
 * This process never does any of it. */
static int signd_open_keyholder(struct signd *s)
{
	int err = keyholder_start(s->cfg->path, &s->hsm.kh);

	if (err == RB_E_PIN)
		return signd_audit_login_failure(s, err);
	return err;
}

static int signd_find_key(struct signd *s, const char *name, enum key_purpose want, const char *purpose,
			  const struct manifest_key **ret_mk)
{
	const struct manifest_key *mk = manifest_find(s->m, name);

	if (!mk || mk->status != KEY_ACTIVE || mk->alg != RB_KEY_ED25519)
		return rb_err_set(RB_E_KEY, "%s: the manifest has no active Ed25519 key '%s', which %s",
				  s->cfg->manifest, name, purpose);
	/* Its purposes stand alone (key_purposes_check), so the key that signs
	 * responses or checkpoints signs nothing else. */
	if (mk->purposes != (unsigned)want)
		return rb_err_set(RB_E_KEY, "%s: key '%s' %s, so its only purpose must be %s; re-provision or "
				  "fix the manifest", s->cfg->manifest, name, purpose, key_purpose_name(want));
	*ret_mk = mk;
	return RB_OK;
}

/* A state file holding one commit id (40 hex digits and a newline):
 * STATEDIR/name into out ("" if there is none); *ret_path keeps its path. */
static int signd_load_commit(struct signd *s, const char *name, char **ret_path, char out[QUEUE_OID_HEX + 1])
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int err;

	if ((err = signd_path(s, name, ret_path)) < 0)
		return err;
	err = rb_file_read(*ret_path, 64, &data, &len);
	if (err == RB_E_NOTFOUND) {
		rb_err_clear();
		out[0] = '\0';
		return RB_OK;
	}
	if (err < 0)
		return err;
	if (len != 41 || data[40] != '\n')
		return rb_err_set(RB_E_PARSE, "%s: not a commit id; restore it from backup", *ret_path);
	if (!rb_hex_is_lower((const char *)data, 40))
		return rb_err_set(RB_E_PARSE, "%s: not a commit id; restore it from backup", *ret_path);
	memcpy(out, data, 40);
	out[40] = '\0';
	return RB_OK;
}

static int signd_save_commit(const char *path, const char *commit, char mem[QUEUE_OID_HEX + 1])
{
	char line[QUEUE_OID_HEX + 2];
	int err;

	snprintf(line, sizeof(line), "%s\n", commit);
	if ((err = rb_file_write_atomic(path, line, QUEUE_OID_HEX + 1, 0600)) < 0)
		return err;
	memcpy(mem, commit, QUEUE_OID_HEX + 1);
	return RB_OK;
}

/* Open the audit log and check it against the queue: the newest
 * checkpoint this node published in a response must be a prefix of the
 * log (a consistency proof). A missing log is refused too: with
 * checkpoints published it was lost (RB_E_ROLLBACK), without any this is
 * the node's first start and `rombsr audit init` makes the log on
 * purpose (RB_E_NOTFOUND). Nothing is signed or appended before this. */
static int signd_check_audit_log(struct signd *s, const char *origin)
{
	struct audit_published pub;
	int err;

	err = audit_log_open(s->cfg->audit_dir, origin, &s->aw.audit);
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if ((err = audit_published_find(s->q, s->m, origin, &pub)) < 0)
		return rb_err_prefix(err, "queue %s", s->cfg->queue.url);
	err = audit_published_check(s->aw.audit, s->cfg->audit_dir, &pub);
	if (err == RB_OK && !s->aw.audit)
		err = rb_err_set(RB_E_NOTFOUND, "%s: no audit log. On this sign node's first start, create "
				 "it with 'rombsr audit init --config %s'; if it had one, restore it from "
				 "backup (nothing was published from it yet)", s->cfg->audit_dir,
				 s->cfg->path);
	if (err == RB_E_ROLLBACK)
		signd_log(s, "event=halt reason=audit-log-behind dir=\"%s\" entries=%llu published=%llu commit=%.12s",
			  s->cfg->audit_dir, s->aw.audit ? (unsigned long long)audit_log_size(s->aw.audit) : 0ULL,
			  (unsigned long long)pub.size, pub.commit);
	audit_published_clear(&pub);
	return err;
}

/* What the sign node and `rombsr audit init` both start from: sign.conf,
 * the state directory, the manifest, the audit log's origin, and the
 * queue mirror, fetched. */
static int signd_open_queue(struct signd *s, const char *config_path, char **ret_origin)
{
	_cleanup_free_ char *qdir = NULL;
	char tip[QUEUE_OID_HEX + 1];
	int err;

	if ((err = sign_config_load(config_path, &s->cfg)) < 0 ||
	    (err = rb_mkdir_p(s->cfg->state_dir, 0700)) < 0 ||
	    (err = manifest_load(s->cfg->manifest, &s->m)) < 0 ||
	    (err = audit_origin_for_node(s->m->token_label, s->cfg->sign_node_name, ret_origin)) < 0 ||
	    (err = signd_path(s, "queue", &qdir)) < 0 ||
	    (err = queue_open(s->cfg->queue.url, qdir, s->cfg->queue.branch, &s->q)) < 0 ||
	    (err = queue_set_publish_deadline(s->q, s->cfg->queue.publish_seconds)) < 0)
		return err;
	/* The remote, not only the local mirror: the mirror is in the state
	 * directory, which may have been restored along with the log. */
	if ((err = queue_fetch(s->q, tip)) < 0)
		return rb_err_prefix(err, "queue %s: cannot check the audit log %s against what this "
				     "sign node published; try again once the queue can be fetched",
				     s->cfg->queue.url, s->cfg->audit_dir);
	return RB_OK;
}

int signd_audit_init(const char *config_path, char **ret_dir, char **ret_origin)
{
	struct signd *s = calloc(1, sizeof(*s));
	_cleanup_free_ char *origin = NULL, *dir = NULL;
	struct audit_published pub = { 0 };
	int err;

	if (!s)
		return RB_E_NOMEM;
	if ((err = signd_open_queue(s, config_path, &origin)) < 0 ||
	    (err = audit_published_find(s->q, s->m, origin, &pub)) < 0)
		goto out;
	/* A log that published checkpoints is restored, never replaced. */
	if (pub.found) {
		err = rb_err_set(RB_E_ROLLBACK, "%s: this sign node already published a checkpoint of %llu "
				 "audit-log entries (%s, commit %.12s), so it had a log: restore %s from a "
				 "backup that holds at least those entries; a new log would fork from "
				 "what build nodes and auditors hold", s->cfg->audit_dir,
				 (unsigned long long)pub.size, pub.path, pub.commit, s->cfg->audit_dir);
		goto out;
	}
	if ((err = audit_log_create(s->cfg->audit_dir, origin, &s->aw.audit)) < 0)
		goto out;
	if (!(dir = strdup(s->cfg->audit_dir))) {
		err = RB_E_NOMEM;
		goto out;
	}
	*ret_dir = TAKE_PTR(dir);
	*ret_origin = TAKE_PTR(origin);
out:
	audit_published_clear(&pub);
	signd_close(s);
	return err;
}

/* The token, logged in, and the keys that sign what the sign node itself
 * composes (response commits, checkpoints), each checked against the
 * manifest: at start, and again after an outage. */
static int signd_open_hsm(struct signd *s, const struct manifest_key **ret_qmk)
{
	const struct manifest_key *qmk, *amk;
	int err;

	if ((err = signd_find_key(s, SIGN_NODE_QUEUE_KEY, KEY_PURPOSE_QUEUE_RESPONSE, "signs the response commits",
				  &qmk)) < 0 ||
	    (err = signd_find_key(s, SIGN_NODE_AUDIT_KEY, KEY_PURPOSE_AUDIT_CHECKPOINT,
				  "signs the audit log's checkpoints", &amk)) < 0 ||
	    (err = signd_open_keyholder(s)) < 0)
		return err;
	/* pgp_key and the audit log borrow their signers: keep them in s,
	 * with their own references to the public keys (the manifest is
	 * read again for every batch). */
	if (EVP_PKEY_up_ref(qmk->pub) != 1)
		return RB_E_CRYPTO;
	s->hsm.queue_pub = qmk->pub;
	if (EVP_PKEY_up_ref(amk->pub) != 1)
		return RB_E_CRYPTO;
	s->hsm.audit_pub = amk->pub;
	s->hsm.queue_ref = (struct keyholder_key){ .kh = s->hsm.kh, .purpose = SIGNER_FOR_QUEUE, .key = SIGN_NODE_QUEUE_KEY,
					       .node = "" };
	s->hsm.audit_ref = (struct keyholder_key){ .kh = s->hsm.kh, .purpose = SIGNER_FOR_CHECKPOINT,
					       .key = SIGN_NODE_AUDIT_KEY, .node = "" };
	keyholder_key_signer(&s->hsm.queue_ref, qmk, &s->hsm.queue_signer);
	keyholder_key_signer(&s->hsm.audit_ref, amk, &s->hsm.audit_signer);
	s->hsm.queue_signer.name = s->hsm.queue_ref.key;
	s->hsm.queue_signer.pub = s->hsm.queue_ref.pub = s->hsm.queue_pub;
	s->hsm.audit_signer.name = s->hsm.audit_ref.key;
	s->hsm.audit_signer.pub = s->hsm.audit_ref.pub = s->hsm.audit_pub;
	if ((err = pgp_key_new(&s->hsm.queue_signer, qmk->created, &s->hsm.queue_pgp)) < 0)
		return err;
	if (memcmp(s->hsm.queue_pgp->fpr, qmk->openpgp_fpr, PGP_FPR_LEN) != 0)
		return rb_err_set(RB_E_VERIFY, "%s: the token's 'queue' key is not the manifest's (OpenPGP fingerprints differ)",
				  s->cfg->manifest);
	if (ret_qmk)
		*ret_qmk = qmk;
	return RB_OK;
}

static void signd_close_hsm(struct signd *s)
{
	pgp_key_free(s->hsm.queue_pgp);
	s->hsm.queue_pgp = NULL;
	memset(&s->hsm.queue_ref, 0, sizeof(s->hsm.queue_ref));
	memset(&s->hsm.audit_ref, 0, sizeof(s->hsm.audit_ref));
	memset(&s->hsm.queue_signer, 0, sizeof(s->hsm.queue_signer));
	memset(&s->hsm.audit_signer, 0, sizeof(s->hsm.audit_signer));
	keyholder_stop(s->hsm.kh);
	s->hsm.kh = NULL;
	EVP_PKEY_free(s->hsm.queue_pub);
	EVP_PKEY_free(s->hsm.audit_pub);
	s->hsm.queue_pub = s->hsm.audit_pub = NULL;
}

/* The token went away under a batch (RB_E_GONE: restarted, removed; its
 * sessions and handles are dead). The batch stops before anything is
 * answered; its intents are in the log, so every HSM operation it made is
 * accounted for, and the next batch takes the same work (and what the log
 * already holds from this one). One audit entry per outage, when it is
 * first seen; the retries until the token is back add none. */
static int signd_hsm_lost(struct signd *s, int why)
{
	char detail[RB_ERR_DETAIL_MAX];
	_cleanup_json_ struct json_value *e = NULL;
	uint64_t index;
	int err;

	rb_err_save(why, detail);
	if (!s->hsm.hsm_lost) {
		if ((err = audit_entry_hsm_outage((int64_t)time(NULL), s->m->token_label, detail, &e)) < 0 ||
		    (err = audit_log_append(s->aw.audit, e, &index)) < 0)
			return err;
		s->hsm.hsm_lost = true;
		signd_log(s, "event=hsm-lost audit_index=%llu", (unsigned long long)index);
	}
	signd_close_hsm(s);
	return rb_err_set(RB_E_AGAIN, "the HSM went away (%s); nothing was answered, and the requests wait "
			  "until the token is back", detail);
}

/* After an outage: the token again, logged in, its keys found and checked
 * against the manifest as at start. A token that is not back yet is
 * RB_E_AGAIN (the daemon tries again later); one that came back with
 * other keys, or that refuses the PIN, needs an operator. */
static int signd_hsm_reopen(struct signd *s)
{
	int err;

	signd_close_hsm(s);
	err = signd_open_hsm(s, NULL);
	if (err == RB_OK) {
		s->hsm.hsm_lost = false;
		s->hsm.reopen_refusals = 0;
		signd_log(s, "event=hsm-back token=%s", keyholder_token_label(s->hsm.kh));
		return RB_OK;
	}
	signd_close_hsm(s);
	if (err == RB_E_PIN)
		return rb_err_set(RB_E_STATE, "the HSM came back but refuses the PIN: %s", rb_err_message(err));
	/* A token that goes away again while it is being opened looks, for
	 * a moment, like one without its keys: only a token seen without
	 * them (or with others) at SIGND_REOPEN_REFUSALS reopens in a row
	 * halts the node. Nothing is signed meanwhile: the key holder
	 * refuses to start. */
	if ((err == RB_E_VERIFY || err == RB_E_KEY) && ++s->hsm.reopen_refusals >= SIGND_REOPEN_REFUSALS)
		return rb_err_set(RB_E_STATE, "the HSM came back but cannot be used: %s", rb_err_message(err));
	return rb_err_set(RB_E_AGAIN, "the HSM is not back yet: %s", rb_err_message(err));
}

int signd_open(const char *config_path, FILE *log, struct signd **ret)
{
	struct signd *s = calloc(1, sizeof(*s));
	const struct manifest_key *qmk;
	_cleanup_free_ char *gnupg = NULL, *replay = NULL, *usage = NULL, *appr = NULL,
			    *pend = NULL, *origin = NULL;
	int err;

	if (!s)
		return RB_E_NOMEM;
	s->log = log;
	/* The audit log before anything else touches it (a failed login is
	 * logged below): it must extend what this node already published. */
	if ((err = signd_open_queue(s, config_path, &origin)) < 0 ||
	    (err = signd_check_audit_log(s, origin)) < 0)
		goto fail;
	if ((err = signd_open_hsm(s, &qmk)) < 0)
		goto fail;
	if ((err = signd_path(s, "gnupg", &gnupg)) < 0 ||
	    (err = signd_path(s, "replay.journal", &replay)) < 0 ||
	    (err = signd_path(s, "usage.journal", &usage)) < 0 ||
	    (err = signd_path(s, "approvals.journal", &appr)) < 0 ||
	    (err = signd_path(s, "pending.journal", &pend)) < 0)
		goto fail;
	if ((err = gpgsig_open_keyring(gnupg, s->cfg, s->m, &s->in.keyring)) < 0)
		goto fail;
	rb_hex_format_upper(qmk->openpgp_fpr, 20, s->pub.queue_fpr);
	if ((err = replay_db_open(replay, &s->in.replay)) < 0 ||
	    (err = usage_ledger_open(usage, (int64_t)time(NULL), &s->pol.usage)) < 0 ||
	    (err = signd_approvals_load(s, appr)) < 0 || (err = signd_pending_load(s, pend)) < 0 ||
	    (err = signd_claim_open(s, origin)) < 0)
		goto fail;
	if ((err = signd_load_commit(s, "last-commit", &s->in.last_commit_path, s->in.last_commit)) < 0 ||
	    (err = signd_load_commit(s, "last-response", &s->pub.last_response_path, s->pub.last_response)) < 0)
		goto fail;
	if ((err = signd_path(s, "policy.sha256", &s->pol.policy_path)) < 0)
		goto fail;
	{
		_cleanup_free_ uint8_t *old = NULL;
		size_t oldlen;

		if (rb_file_read(s->pol.policy_path, 64, &old, &oldlen) == RB_OK && oldlen == 32) {
			memcpy(s->pol.policy_sha256, old, 32);
			s->pol.policy_audited = true;
		}
		rb_err_clear();
	}
	/* From here on this process parses what build nodes wrote: it does
	 * so under its syscall allow-list, holding no key and no PIN. */
	if ((err = signd_sandbox_enter()) < 0)
		goto fail;
	*ret = s;
	return RB_OK;
fail:
	signd_close(s);
	return err;
}

/* The crash tests (tests/integration/signd-lifecycle.sh) kill the sign
 * node at each step of a batch: ROMBSR_SIGND_CRASH_AT=claimed|signed|
 * appended|logged|published|recorded ("claimed": its claims are on the
 * branch, nothing is signed; "signed": the HSM has signed, only the
 * intents are in the log; "appended": the entries are durable, the
 * checkpoint is not written yet). ROMBSR_SIGND_STOP_AT=step stops the
 * process there instead (SIGSTOP). Test hooks that can only make the
 * process die or pause, the way a power cut or a suspended machine would;
 * they never change what a running batch does. */
static void signd_crash_point(const char *step)
{
	const char *at = secure_getenv("ROMBSR_SIGND_CRASH_AT");

	if (at && strcmp(at, step) == 0) {
		fflush(NULL);
		kill(getpid(), SIGKILL);
	}
	/* The same for a pause (a VM suspended, a process stopped): the
	 * test sends SIGCONT when it wants the batch to go on. */
	at = secure_getenv("ROMBSR_SIGND_STOP_AT");
	if (at && strcmp(at, step) == 0) {
		fflush(NULL);
		kill(getpid(), SIGSTOP);
	}
}

/* The queue's branch must still hold what this node has seen and said:
 * the last commit it processed, and the last response commit it knows
 * of. A branch that lost either was rewritten by its server: builds lose
 * their responses, or documents come back to be answered again, and only
 * an operator can tell why. */
static int signd_check_history(struct signd *s, const char *tip)
{
	bool on_branch = false;

	if (s->in.last_commit[0] && (!tip[0] || !queue_has_commit(s->q, s->in.last_commit) ||
				  queue_is_ancestor(s->q, s->in.last_commit, tip, &on_branch) < 0 || !on_branch)) {
		signd_log(s, "event=halt reason=history-rewritten last=%.12s tip=%.12s", s->in.last_commit,
			  tip[0] ? tip : "none");
		return rb_err_set(RB_E_STATE,
				  "queue %s: the last commit this sign node processed (%.12s) is no longer on branch %s: the queue's history was rewritten; refusing to sign until an operator has investigated",
				  s->cfg->queue.url, s->in.last_commit, s->cfg->queue.branch);
	}
	on_branch = false;
	if (s->pub.last_response[0] && (!tip[0] || !queue_has_commit(s->q, s->pub.last_response) ||
				    queue_is_ancestor(s->q, s->pub.last_response, tip, &on_branch) < 0 || !on_branch)) {
		signd_log(s, "event=halt reason=response-missing response=%.12s tip=%.12s", s->pub.last_response,
			  tip[0] ? tip : "none");
		return rb_err_set(RB_E_STATE,
				  "queue %s: response commit %s, published by this sign node, is no longer on branch %s: the queue's server lost or removed it, and the builds it answered have no response ('rombsr audit verify --queue' lists them); refusing to sign until an operator has put it back (this node's mirror %s/queue holds it) or, to go on without it, removed %s",
				  s->cfg->queue.url, s->pub.last_response, s->cfg->queue.branch, s->cfg->state_dir,
				  s->pub.last_response_path);
	}
	return RB_OK;
}

/* Remember commit (a response commit on the branch) as the newest one,
 * unless the one remembered is newer. */
static int signd_remember_response(struct signd *s, const char *commit)
{
	bool newer = true;
	int err;

	if (!commit[0] || strcmp(commit, s->pub.last_response) == 0)
		return RB_OK;
	if (s->pub.last_response[0] && (err = queue_is_ancestor(s->q, s->pub.last_response, commit, &newer)) < 0)
		return err;
	return newer ? signd_save_commit(s->pub.last_response_path, commit, s->pub.last_response) : RB_OK;
}

/* A request that could not be signed or released: the rest of the build
 * goes on and the node learns why. */
static int signd_entry_failed(struct signd_item *it, size_t i, int err)
{
	char *msg = NULL;

	if (asprintf(&msg, err == RB_E_VERIFY ? "not released: %s" : "the HSM could not sign: %s",
		     rb_err_message(err)) < 0)
		return RB_E_NOMEM;
	it->reason[i] = RESPONSE_REASON_HSM_ERROR;
	it->message[i] = msg;
	return RB_OK;
}

/* Entry i could not be signed. A lost token says nothing about the
 * request: no hsm-error answer, RB_E_GONE and the batch waits for the
 * token. Nor does a key that cannot be found or a module error while the
 * token is going away (SoftHSM2 shows an empty token, not an error), so
 * before answering hsm-error the token is asked afresh for the queue
 * key, which is always on it. */
static int signd_sign_failed(struct signd *s, struct signd_item *it, size_t i, int err)
{
	char detail[RB_ERR_DETAIL_MAX];

	if (err == RB_E_GONE)
		return err;
	rb_err_save(err, detail);
	if (err != RB_E_VERIFY && keyholder_probe(s->hsm.kh, SIGN_NODE_QUEUE_KEY) == RB_E_GONE)
		return rb_err_set(RB_E_GONE, "%s; and the token no longer holds the queue key", detail);
	rb_err_set(err, "%s", detail);
	return signd_entry_failed(it, i, err);
}

/* Sign what the batch took, items [0, done), in an order that accounts
 * for every HSM operation (docs/formats/audit-entry.md, "Intents"):
 *   1 take from the audit log what an earlier run signed and logged;
 *   2 append one intent per key for everything else, durable;
 *   3 sign on the HSM;
 *   4 append every signature and rejection, durable (one append per
 *     4096 entries).
 * Two syncs of the log for a batch of the default size (batchRequests
 * 2048), one more per 4096 entries beyond. */
static int signd_sign_batch(struct signd *s, struct signd_batch *b, size_t done, struct signd_stats *st)
{
	int err;

	/* Claims that end soon are not signed under, nor is an intent
	 * logged for them. */
	if ((err = signd_lease_check(s, b)) < 0)
		return err;
	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b->items[k];

		if (!signd_item_answered(it))
			continue;
		for (size_t i = 0; i < it->doc->n_entries; i++)
			if (!it->reason[i] && (err = signd_recover_entry(s, it, i, st)) < 0 &&
			    (err = signd_entry_failed(it, i, err)) < 0)
				return err;
	}
	if ((err = signd_audit_intents(s, b, done)) < 0)
		return err;
	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b->items[k];

		if (!signd_item_answered(it))
			continue;
		for (size_t i = 0; i < it->doc->n_entries; i++) {
			if (it->reason[i] || it->have_leaf[i])
				continue;
			/* Never sign under a claim another node may take over. */
			if ((err = signd_lease_check(s, b)) < 0)
				return err;
			if ((err = signd_sign_entry(s, it, i, st)) == RB_OK)
				continue;
			if ((err = signd_sign_failed(s, it, i, err)) < 0)
				return err;
		}
	}
	signd_crash_point("signed");
	if ((err = signd_audit_results(s, b, done)) < 0)
		return err;
	signd_crash_point("appended");
	return RB_OK;
}

static int signd_record_item(struct signd *s, struct signd_batch *b, struct signd_item *it)
{
	_cleanup_free_ uint8_t (*ids)[32] = NULL;
	size_t n = it->doc ? it->doc->n_entries : 0, granted = 0;
	char line[JOURNAL_LINE_MAX + QUEUE_MAX_PATH + 64];
	int err;

	/* Another sign node's: looked at again by the next batch. */
	if (it->claimed_elsewhere)
		return RB_OK;
	if (it->deferred) {
		if (it->from_pending)
			return RB_OK;
		snprintf(line, sizeof(line), "pending %s %lld %s\n", it->commit, (long long)it->since, it->path);
		if ((err = journal_append(s->in.pending_journal, line, strlen(line))) < 0)
			return err;
		/* A daemon looks at it again in its next batch, not only after
		 * a restart. */
		return signd_pending_add(s, it->commit, it->path, it->since);
	}
	if (n && !(ids = calloc(n, 32)))
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(ids[i], it->doc->entries[i].id, 32);
		granted += it->reason && it->reason[i] == 0;
	}
	if ((err = replay_db_record(s->in.replay, it->doc_sha256, (const uint8_t(*)[32])ids,
				    it->refused ? 0 : n)) < 0)
		return err;
	if (granted && signd_item_answered(it) &&
	    (err = usage_ledger_record(s->pol.usage, it->node->name, b->now, granted)) < 0)
		return err;
	{
		uint8_t marker[32];

		signd_processed_marker(it->commit, it->path, marker);
		if ((err = replay_db_record(s->in.replay, marker, NULL, 0)) < 0)
			return err;
	}
	if (it->from_pending) {
		snprintf(line, sizeof(line), "done %s %s\n", it->commit, it->path);
		if ((err = journal_append(s->in.pending_journal, line, strlen(line))) < 0)
			return err;
		for (size_t i = 0; i < s->in.n_pending; i++)
			if (!strcmp(s->in.pending[i].commit, it->commit) && !strcmp(s->in.pending[i].path, it->path))
				s->in.pending[i].done = true;
	}
	return RB_OK;
}

/* The responses to publish on one tip: those whose build this node still
 * claims. One whose claim another node took over (this node was too slow
 * for its lease) and answered is not published: it is signed and logged
 * here, and the cross-check reports it as answered by the other node's
 * log. */
struct publish_round {
	struct signd *s;
	const struct queue_file *files;
	struct signd_item **items;
	size_t n;
	struct queue_file *out;
	size_t n_out;
};

static int publish_files(void *ctx, const char *tip, const struct queue_file **ret, size_t *ret_n)
{
	struct publish_round *r = ctx;
	int err;

	r->n_out = 0;
	for (size_t i = 0; i < r->n; i++) {
		bool ours = false;

		if ((err = signd_claim_still_ours(r->s, tip, r->items[i], &ours)) < 0)
			return err;
		r->items[i]->claim_lost = !ours;
		if (ours)
			r->out[r->n_out++] = r->files[i];
		else
			signd_log(r->s, "event=claim-lost node=%s build=%s", r->items[i]->node->name,
				  r->items[i]->build_id);
	}
	*ret = r->out;
	*ret_n = r->n_out;
	return RB_OK;
}

/* Publishes the responses of b->items[0..done) (the items after done
 * were not taken by this batch, even if decided). */
static int signd_publish(struct signd *s, struct signd_batch *b, size_t done, const char *checkpoint,
			 struct signd_stats *st)
{
	struct queue_file *files = NULL;
	struct signd_item **items = NULL;
	struct rb_buf *bufs = NULL;
	char **paths = NULL, message[128];
	size_t n = 0;
	int err = RB_OK;

	files = calloc(b->n ? b->n : 1, sizeof(*files));
	bufs = calloc(b->n ? b->n : 1, sizeof(*bufs));
	paths = calloc(b->n ? b->n : 1, sizeof(*paths));
	items = calloc(b->n ? b->n : 1, sizeof(*items));
	if (!files || !bufs || !paths || !items) {
		err = RB_E_NOMEM;
		goto out;
	}
	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b->items[k];

		if (!signd_item_answered(it))
			continue;
		bufs[n].cap = RESPONSE_MAX_BYTES;
		if ((err = signd_response(s, b, it, checkpoint, &bufs[n])) < 0)
			goto out;
		if (asprintf(&paths[n], "responses/%s/%s.json", it->node->name, it->build_id) < 0) {
			err = RB_E_NOMEM;
			goto out;
		}
		files[n] = (struct queue_file){ paths[n], bufs[n].data, bufs[n].len };
		items[n] = it;
		n++;
	}
	if (n == 0)
		goto out;
	snprintf(message, sizeof(message), "rombsr sign: %zu response%s\n", n, n == 1 ? "" : "s");
	{
		struct publish_round r = { s, files, items, n, NULL, 0 };

		if (!(r.out = calloc(n, sizeof(*r.out)))) {
			err = RB_E_NOMEM;
			goto out;
		}
		err = queue_publish_with(s->q, publish_files, &r, message, "rombsr sign node", "sign@rombsr.invalid",
					 signd_sign_commit, s, st->response_commit);
		free(r.out);
	}
	if (queue_publish_races(s->q))
		signd_log(s, "event=publish-race lost=%u%s", queue_publish_races(s->q), err == RB_OK ? "" : " gave-up");
out:
	for (size_t k = 0; paths && bufs && k < b->n; k++) {
		free(paths[k]);
		rb_buf_free(&bufs[k]);
	}
	free(paths);
	free(bufs);
	free(files);
	free(items);
	return err;
}

/* The manifest is read again for every batch, so a revocation takes
 * effect at the next batch, without a restart. A manifest that no longer
 * parses stops the batch: signing on a stale key list is what revocation
 * exists to prevent. Every change of what the policy rests on (sign.conf
 * and the manifest) is an audit event. */
static int signd_reload_policy(struct signd *s, int64_t now)
{
	_cleanup_free_ uint8_t *conf = NULL, *man = NULL;
	struct manifest *m = NULL;
	size_t clen, mlen;
	uint8_t sha[32];
	EVP_MD_CTX *md;
	int err;

	if ((err = rb_file_read(s->cfg->path, SIGN_CONFIG_MAX_BYTES, &conf, &clen)) < 0 ||
	    (err = rb_file_read(s->cfg->manifest, MANIFEST_MAX_BYTES, &man, &mlen)) < 0 ||
	    (err = manifest_parse((const char *)man, mlen, s->cfg->manifest, &m)) < 0)
		return err;
	manifest_free(s->m);
	s->m = m;
	if (!(md = EVP_MD_CTX_new()))
		return RB_E_NOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, conf, clen) != 1 ||
	    EVP_DigestUpdate(md, man, mlen) != 1 || EVP_DigestFinal_ex(md, sha, NULL) != 1)
		err = RB_E_CRYPTO;
	EVP_MD_CTX_free(md);
	if (err < 0)
		return err;
	if (!s->pol.policy_audited || memcmp(sha, s->pol.policy_sha256, 32) != 0) {
		_cleanup_json_ struct json_value *e = NULL;
		uint64_t index;

		if ((err = audit_entry_policy_change(now, "sign node", sha, &e)) < 0 ||
		    (err = audit_log_append(s->aw.audit, e, &index)) < 0)
			return err;
		memcpy(s->pol.policy_sha256, sha, 32);
		s->pol.policy_audited = true;
		if ((err = rb_file_write_atomic(s->pol.policy_path, sha, 32, 0600)) < 0)
			return err;
		signd_log(s, "event=policy-change leaf=%llu", (unsigned long long)index);
	}
	return RB_OK;
}

/* A signed checkpoint over everything logged so far, unless the last one
 * covers it already. */
static int signd_checkpoint(struct signd *s, char **ret_checkpoint)
{
	if (audit_log_size(s->aw.audit) <= audit_log_checkpoint_size(s->aw.audit))
		return RB_OK;
	free(*ret_checkpoint);
	*ret_checkpoint = NULL;
	return audit_log_checkpoint(s->aw.audit, &s->hsm.audit_signer, ret_checkpoint);
}

int signd_run_batch(struct signd *s, volatile sig_atomic_t *stop, struct signd_stats *ret)
{
	struct signd_stats st = { 0 };
	struct signd_batch b = { .now = (int64_t)time(NULL), .stats = &st, .first_carried = SIZE_MAX };
	_cleanup_free_ char *checkpoint = NULL;
	char tip[QUEUE_OID_HEX + 1];
	size_t done = 0, answered = 0, documents = 0, frontier;
	uint64_t response_bytes = 0;
	bool stopped = false, more;
	int err;

	/* A detail left by the previous batch describes nothing in this one. */
	rb_err_clear();
	if (!(b.node_documents = calloc(s->cfg->n_nodes ? s->cfg->n_nodes : 1, sizeof(*b.node_documents))))
		return RB_E_NOMEM;
	/* Nothing is taken from the queue while the token is away. */
	if (s->hsm.hsm_lost && (err = signd_hsm_reopen(s)) < 0)
		goto out;
	if ((err = signd_cache_new(&s->hsm.cache)) < 0)
		goto out;
	if ((err = signd_reload_policy(s, b.now)) < 0)
		goto out;
	if ((err = queue_fetch(s->q, tip)) < 0 || (err = signd_check_history(s, tip)) < 0)
		goto out;
	if (!tip[0]) {
		/* An empty queue, but the policy change or a failed login may
		 * have been logged: a checkpoint makes them provable too. */
		err = signd_checkpoint(s, &checkpoint);
		goto out;
	}
	if ((err = signd_intake(s, tip, &b)) < 0)
		goto out;

	for (done = 0; done < b.n; done++) {
		struct signd_item *it = &b.items[done];

		if (stop && *stop) {
			stopped = true;
			break;
		}
		if ((err = signd_decide(s, &b, it)) < 0)
			goto out;
		if (it->refused || it->deferred || it->answered_before)
			continue;
		/* Another sign node's, for now: it takes no room in this batch. */
		if ((err = signd_claim_peek(s, tip, it, b.now)) < 0)
			goto out;
		if (it->claimed_elsewhere)
			continue;
		if ((err = signd_bound_item(s, &b, it)) < 0)
			goto out;
		if (it->refused)
			continue;
		/* Bounded batches: the responses of a batch are held until they
		 * are published in one commit, so a batch is bounded in
		 * documents (intake), requests and response bytes. An empty
		 * document costs one request. A document is never split: one
		 * over a bound goes alone into a batch of its own. The rest is
		 * taken by the next batch, at once. */
		{
			size_t cost = it->doc->n_entries ? it->doc->n_entries : 1;
			uint64_t bytes = signd_response_bound(s, it);

			if (documents > 0 && (answered + cost > s->cfg->queue.batch_requests ||
					      response_bytes + bytes > s->cfg->queue.batch_response_bytes)) {
				stopped = true;
				break;
			}
			answered += cost;
			response_bytes += bytes;
			documents++;
		}
	}
	/* Claimed before the HSM is touched: another sign node on this queue
	 * may be about to answer the same builds. */
	if ((err = signd_claim_batch(s, &b, done, &st)) < 0)
		goto out;
	signd_crash_point("claimed");
	/* What the batch took is signed together: a stop request ends the
	 * intake above, not the signing of what is intended. */
	if ((err = signd_sign_batch(s, &b, done, &st)) < 0)
		goto out;
	/* One checkpoint per batch: every entry above is durable in the log
	 * already; the checkpoint makes the batch provable. Refusals and
	 * policy changes are covered too, not only signatures. */
	if ((err = signd_checkpoint(s, &checkpoint)) < 0)
		goto out;
	signd_crash_point("logged");
	if ((err = signd_publish(s, &b, done, checkpoint, &st)) < 0)
		goto out;
	/* The response commit is on the branch now, and must stay there:
	 * remembered before anything else. */
	if ((err = signd_remember_response(s, b.own_response)) < 0 ||
	    (err = signd_remember_response(s, st.response_commit)) < 0)
		goto out;
	signd_crash_point("published");
	/* One fdatasync for the whole batch's replay records: they follow a
	 * published commit and are all made durable before last-commit moves
	 * (a crash in between redoes them; every record is idempotent). */
	replay_db_defer_sync(s->in.replay, true);
	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b.items[k];

		if ((err = signd_record_item(s, &b, it)) < 0)
			goto out;
		if (it->deferred)
			st.deferred++;
		if (it->claim_lost) {
			st.claims_lost++;
			continue;
		}
		if (signd_item_answered(it)) {
			st.documents++;
			for (size_t i = 0; i < it->doc->n_entries; i++) {
				if (it->reason[i])
					st.rejected++;
				else
					st.signed_++;
			}
			signd_log_item(s, it);
		}
	}
	replay_db_defer_sync(s->in.replay, false);
	if ((err = replay_db_sync(s->in.replay)) < 0)
		goto out;
	signd_crash_point("recorded");
	/* last-commit moves up to the commit before the first one with a
	 * document this batch did not finish; the next batch walks on from
	 * there and skips what is answered (replay journal) or waiting
	 * (pending journal). */
	frontier = b.first_carried;
	for (size_t k = done; k < b.n; k++)
		if (b.items[k].walk_seq < frontier)
			frontier = b.items[k].walk_seq;
	/* More to take at once only if this batch left work for the next; a
	 * build another sign node claims is looked at again at the next
	 * poll, not in a loop. */
	more = frontier != SIZE_MAX || b.walk_full || (stopped && done < b.n);
	for (size_t k = 0; k < done; k++)
		if (b.items[k].claimed_elsewhere && b.items[k].walk_seq < frontier)
			frontier = b.items[k].walk_seq;
	if (frontier == SIZE_MAX && !more) {
		err = signd_save_commit(s->in.last_commit_path, tip, s->in.last_commit);
	} else {
		if (frontier == SIZE_MAX)
			frontier = b.n_walk;
		if (frontier > 0 && frontier <= b.n_walk)
			err = signd_save_commit(s->in.last_commit_path, b.walk[frontier - 1], s->in.last_commit);
		st.more = more && !(stop && *stop);
	}
	/* The session count lets an operator (and bench/queue-throughput) see
	 * that the pool stays bounded across batches. Empty polls stay quiet. */
	if (err == RB_OK && b.n)
		signd_log(s, "event=batch commits=%zu documents=%zu signed=%zu rejected=%zu hsm_ops=%zu sessions=%u "
			  "claimed=%zu elsewhere=%zu lost=%zu",
			  st.commits, st.documents, st.signed_, st.rejected, st.hsm_ops, signd_open_sessions(s),
			  st.claimed, st.claimed_elsewhere, st.claims_lost);
out:
	/* The token went away (under the entries' signing, the checkpoint's
	 * or the response commit's): stop and wait for it. */
	if (err == RB_E_GONE)
		err = signd_hsm_lost(s, err);
	/* A batch that failed while recording leaves no append undurable. */
	(void)replay_db_sync(s->in.replay);
	for (size_t k = 0; k < b.n; k++)
		signd_item_clear(&b.items[k]);
	free(b.items);
	free(b.walk);
	free(b.node_documents);
	idset_clear(&b.paths);
	signd_cache_free(s->hsm.cache);
	s->hsm.cache = NULL;
	if (err == RB_OK && ret)
		*ret = st;
	return err;
}
