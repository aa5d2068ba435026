/* rombsr audit init|verify|show|prove|check-proof: create the sign node's
 * audit log, read and check it (no HSM needed; the sign node writes the
 * log). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor/crosscheck.h"
#include "audit/log.h"
#include "audit/note.h"
#include "cli.h"
#include "fsutil.h"
#include "queue/git.h"
#if ROMBSR_ZONES & ZONE_SIGN
#include "signd/signd.h"
#endif
#include "keys/manifest.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/timefmt.h"

static const char verb[] = "audit";

static void help(void)
{
	printf("usage: rombsr audit init [--config FILE]\n"
	       "       rombsr audit verify DIR (--manifest FILE | --key VKEY) [--origin NAME]\n"
	       "                              [--trust-dir DIR | --no-trust]\n"
	       "                              [--queue QUEUE [--cache DIR] [--branch NAME]]\n"
	       "       rombsr audit show DIR [--key NAME] [--since TIME] [--json]\n"
	       "       rombsr audit show DIR --leaf N --raw\n"
	       "       rombsr audit prove DIR (--leaf N | --consistency OLD) [--size N]\n"
	       "       rombsr audit check-proof --checkpoint FILE --proof FILE\n"
	       "                              (--manifest FILE | --key VKEY) [--origin NAME]\n"
	       "                              (--entry FILE | --leaf-hash HEX | --old-checkpoint FILE)\n"
	       "\n"
	       "init         create the sign node's audit log (sign.conf audit.dir, default\n"
	       "             STATEDIR/audit), empty, once, before its first start: the sign\n"
	       "             node never makes a log itself, and refuses to start without one\n"
	       "             or on one that does not extend the checkpoint it last published\n"
	       "             in the queue. Refused if the directory holds a log (exit 10) or\n"
	       "             the queue already carries this node's checkpoints (exit 12:\n"
	       "             restore the log from backup). --config as for rombsr sign.\n"
	       "verify       recompute every tile and the root from the entries, check the\n"
	       "             checkpoint signature with the manifest's `audit` key or VKEY\n"
	       "             (name+keyid+base64), and check that the log only grew since the\n"
	       "             checkpoint this verifier trusted last (kept in --trust-dir, default\n"
	       "             ~/.local/state/rombsr/audit-trust/<SHA-256 of the origin>).\n"
	       "             Names the first bad entry.\n"
	       "             --queue (needs --manifest) also cross-checks the signing queue\n"
	       "             (a URL or path, mirrored into --cache DIR or a temporary\n"
	       "             directory): every `sign` entry must answer a request of the\n"
	       "             queue, every signature in a response signed by the manifest's\n"
	       "             queue key must be the logged one at its audit.leaf, and no\n"
	       "             logged signature may belong to a rejected request. A signature\n"
	       "             the HSM made outside the flow shows up as unexplained (exit 7).\n"
	       "             An intent no sign entry followed is listed as \"signed, result\n"
	       "             lost\" (the node stopped between the HSM and the log; exit 0).\n"
	       "show         print the history, one entry per line (--json: JSON lines);\n"
	       "             --key keeps entries about key NAME, --since entries at or after\n"
	       "             TIME (2026-11-22T08:30:00Z). --leaf N --raw prints the exact\n"
	       "             canonical bytes of entry N (what its leaf hash covers).\n"
	       "prove        print an inclusion proof for entry N, or a consistency proof from\n"
	       "             size OLD, for the tree of --size entries (default: the checkpoint).\n"
	       "check-proof  verify a proof offline against a signed checkpoint, as an auditor\n"
	       "             or a device would: an inclusion proof for an entry (its bytes, or\n"
	       "             its leaf hash in hex), or a consistency proof from an older\n"
	       "             signed checkpoint.\n"
	       "\n"
	       "Formats: docs/formats/audit-log.md, docs/formats/audit-entry.md.\n");
}

enum {
	OPT_MANIFEST = 0x200,
	OPT_KEY,
	OPT_ORIGIN,
	OPT_TRUST_DIR,
	OPT_NO_TRUST,
	OPT_SINCE,
	OPT_JSON,
	OPT_LEAF,
	OPT_CONSISTENCY,
	OPT_SIZE,
	OPT_CHECKPOINT,
	OPT_PROOF,
	OPT_ENTRY,
	OPT_LEAF_HASH,
	OPT_OLD_CHECKPOINT,
	OPT_QUEUE,
	OPT_CACHE,
	OPT_BRANCH,
	OPT_RAW,
	OPT_CONFIG,
};

struct opts {
	const char *manifest, *key, *origin, *trust_dir, *since, *checkpoint, *proof, *entry,
		*leaf_hash, *old_checkpoint, *leaf, *consistency, *size, *queue, *cache, *branch,
		*config;
	bool no_trust, json, raw;
};

static int parse_u64_arg(const char *s, const char *what, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return cli_usage_error(verb, "%s: expected a number", what);
	v = strtoull(s, &end, 10);
	if (*end)
		return cli_usage_error(verb, "%s: expected a number, got '%s'", what, s);
	*ret = v;
	return EXIT_OK;
}

/* The origin written in a checkpoint file, unverified: it only selects the
 * key name, the signature is checked with the key the user gave. */
static int checkpoint_origin(const uint8_t *cp, size_t len, char **ret)
{
	_cleanup_(note_freep) struct note *n = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	int err;

	if ((err = note_parse(cp, len, &n)) < 0 || (err = checkpoint_parse(n->text, n->text_len, &c)) < 0)
		return err;
	*ret = TAKE_PTR(c->origin);
	return RB_OK;
}

/* The verifier: --key VKEY, or the manifest's `audit` key under origin. */
static int load_verifier(const struct opts *o, const char *origin, struct note_verifier **ret)
{
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
	struct manifest *m = NULL;
	struct manifest_key *k;
	int err;

	if (o->key) {
		if ((err = note_verifier_parse(o->key, &v)) < 0)
			return rb_err_prefix(err, "--key");
		if (strcmp(v->name, origin) != 0)
			return rb_err_set(RB_E_VERIFY, "--key is for log '%s', the checkpoint is of '%s'",
					  v->name, origin);
		*ret = TAKE_PTR(v);
		return RB_OK;
	}
	if ((err = manifest_load(o->manifest, &m)) < 0)
		return err;
	k = manifest_find(m, "audit");
	if (!k)
		err = rb_err_set(RB_E_KEY, "%s has no key named 'audit'; pass --key VKEY", o->manifest);
	else if (k->status == KEY_REVOKED)
		err = rb_err_set(RB_E_KEY, "%s: the 'audit' key is revoked; checkpoints it signed are "
				 "not trusted", o->manifest);
	else
		err = note_verifier_from_pkey(origin, k->pub, ret);
	manifest_free(m);
	return err;
}

static int read_checkpoint_and_verifier(const struct opts *o, const char *path, uint8_t **ret_cp,
					size_t *ret_len, struct note_verifier **ret_v)
{
	_cleanup_free_ uint8_t *cp = NULL;
	_cleanup_free_ char *origin = NULL;
	size_t len;
	int err;

	if ((err = rb_file_read(path, NOTE_MAX_BYTES, &cp, &len)) < 0)
		return err;
	if ((err = checkpoint_origin(cp, len, &origin)) < 0)
		return rb_err_prefix(err, "%s", path);
	if (o->origin && strcmp(o->origin, origin) != 0)
		return rb_err_set(RB_E_VERIFY, "%s is a checkpoint of '%s', not of '%s' (--origin)", path,
				  origin, o->origin);
	if ((err = load_verifier(o, origin, ret_v)) < 0)
		return err;
	*ret_cp = TAKE_PTR(cp);
	*ret_len = len;
	return RB_OK;
}

static int open_log_of(const char *dir, struct audit_log **ret);

/* The queue's mirror: --cache DIR, or a new temporary directory (removed
 * afterwards: *ret_tmp). */
static int mirror_queue(const struct opts *o, struct queue **ret, char **ret_tmp)
{
	_cleanup_free_ char *tmp = NULL, *local = NULL;
	const char *base = getenv("TMPDIR");
	char tip[QUEUE_OID_HEX + 1];
	struct queue *q = NULL;
	int err;

	if (!o->cache) {
		if (asprintf(&tmp, "%s/rombsr-audit-queue-XXXXXX", base && *base ? base : "/tmp") < 0)
			return RB_E_NOMEM;
		if (!mkdtemp(tmp))
			return rb_err_set(RB_E_IO, "%s: cannot create a temporary directory: %s", tmp,
					  strerror(errno));
		if (asprintf(&local, "%s/queue", tmp) < 0)
			return RB_E_NOMEM;
	}
	err = queue_open(o->queue, o->cache ? o->cache : local, o->branch ? o->branch :
			 QUEUE_DEFAULT_BRANCH, &q);
	if (err == 0)
		err = queue_fetch(q, tip);
	if (err < 0) {
		queue_free(q);
		if (tmp)
			cli_remove_tree(tmp);
		return rb_err_prefix(err, "--queue %s", o->queue);
	}
	*ret = q;
	*ret_tmp = TAKE_PTR(tmp);
	return RB_OK;
}

static void print_finding(const struct audit_xcheck_finding *f)
{
	printf("%s:", audit_xcheck_kind_name(f->kind));
	if (f->leaf != AUDIT_XCHECK_NO_LEAF)
		printf(" leaf %" PRIu64, f->leaf);
	if (f->path)
		printf(" %s", f->path);
	if (f->commit)
		printf(" (commit %s)", f->commit);
	printf(": %s\n", f->message);
}

/* An HSM operation whose result was never logged: accounting, not an
 * error (docs/formats/audit-entry.md, "Intents"). */
static void print_lost(const struct audit_xcheck_lost *l)
{
	printf("signed, result lost: leaf %" PRIu64 ": request %s, key %s: the HSM was asked to sign "
	       "it and no sign or reject entry followed (the sign node stopped before logging the "
	       "result; nothing was released)", l->leaf, l->request_id, l->key);
	if (l->again != AUDIT_XCHECK_NO_LEAF)
		printf("; asked again by the intent at leaf %" PRIu64 "\n", l->again);
	else
		printf("; not asked again since\n");
}

static int do_crosscheck(const struct opts *o, const char *dir, const struct note_verifier *v)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_(audit_xcheck_report_freep) struct audit_xcheck_report *rep = NULL;
	_cleanup_free_ char *tmp = NULL;
	struct queue *q = NULL;
	struct manifest *m = NULL;
	int err;

	if ((err = open_log_of(dir, &log)) < 0 || (err = manifest_load(o->manifest, &m)) < 0)
		return cli_fail(verb, err);
	if ((err = mirror_queue(o, &q, &tmp)) < 0) {
		manifest_free(m);
		return cli_fail(verb, err);
	}
	err = audit_crosscheck(log, q, m, v, &rep);
	queue_free(q);
	manifest_free(m);
	if (tmp)
		cli_remove_tree(tmp);
	if (err < 0)
		return cli_fail(verb, rb_err_prefix(err, "cross-check with %s", o->queue));
	for (size_t i = 0; i < rep->n_lost; i++)
		print_lost(&rep->lost[i]);
	for (size_t i = 0; i < rep->n_findings; i++)
		print_finding(&rep->findings[i]);
	printf("queue %s at %s: %zu request documents (%zu requests), %zu responses signed by the "
	       "queue key, %zu signatures, %zu matched the log; log: %" PRIu64 " entries, %" PRIu64
	       " sign entries, %" PRIu64 " intents for %" PRIu64 " requests (%" PRIu64 " signed, %"
	       PRIu64 " rejected, %zu results lost)\n", o->queue, rep->tip, rep->request_docs,
	       rep->requests, rep->responses, rep->signatures, rep->matched, rep->entries,
	       rep->sign_entries, rep->intents, rep->intended, rep->intent_signed,
	       rep->intent_rejected, rep->n_lost);
	if (rep->other_log_responses || rep->signed_answered_elsewhere)
		printf("other sign nodes: %zu responses answered on another sign node's log (cross-check that "
		       "log too); %" PRIu64 " signatures of this log not released because another node answered "
		       "the request after this node's claim ran out\n", rep->other_log_responses,
		       rep->signed_answered_elsewhere);
	if (rep->n_findings) {
		fprintf(stderr, "rombsr audit: the log and the queue disagree: %zu finding%s (see "
			"above)\n", rep->n_findings, rep->n_findings == 1 ? "" : "s");
		return EXIT_VERIFY;
	}
	printf("cross-check OK: every sign entry answers a request and is released in a response, "
	       "every released signature is the logged one\n");
	if (rep->n_lost)
		printf("%zu signing result%s lost (see above): the HSM may have made signatures that were "
		       "never logged or released; each is accounted for by its intent\n", rep->n_lost,
		       rep->n_lost == 1 ? "" : "s");
	return EXIT_OK;
}

static int do_verify(const struct opts *o, const char *dir)
{
	_cleanup_free_ char *cp_path = NULL, *trust = NULL, *b64 = NULL, *vkey = NULL;
	_cleanup_free_ uint8_t *cp = NULL;
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
	struct audit_verify_result r;
	size_t len;
	int err;

	if (asprintf(&cp_path, "%s/checkpoint", dir) < 0)
		return cli_fail(verb, RB_E_NOMEM);
	if ((err = read_checkpoint_and_verifier(o, cp_path, &cp, &len, &v)) < 0)
		return cli_fail(verb, err);
	if (!o->no_trust) {
		if (o->trust_dir) {
			if (!(trust = strdup(o->trust_dir)))
				return cli_fail(verb, RB_E_NOMEM);
		} else if ((err = audit_trust_dir_default(v->name, &trust)) < 0) {
			return cli_fail(verb, err);
		}
	}
	err = audit_dir_verify(dir, v, trust, &r);
	if (err < 0) {
		int code = cli_fail(verb, err);

		if (r.bad_index != UINT64_MAX)
			fprintf(stderr, "rombsr audit: first bad entry: %" PRIu64 "\n", r.bad_index);
		return code;
	}
	if (rb_base64_encode(r.root, 32, true, &b64) < 0 || note_verifier_format(v, &vkey) < 0)
		return cli_fail(verb, RB_E_NOMEM);
	printf("%s: OK: %" PRIu64 " entries, root %s\n", dir, r.size, b64);
	printf("checkpoint signed by %s\n", vkey);
	if (trust)
		printf("consistent with the last trusted checkpoint; trusted now: %s\n", trust);
	if (o->queue)
		return do_crosscheck(o, dir, v);
	return EXIT_OK;
}

/* An entry as one human-readable line. */
static void show_line(uint64_t index, const struct json_value *e)
{
	static const char *const fields[] = { "key", "new_key", "artifact", "request_id", "build_id",
					      "actor", "role", "token", "reason", "detail", NULL };
	const char *type = "?", *time = "?", *s;

	json_get_string(e, "type", &type);
	json_get_string(e, "time", &time);
	printf("%" PRIu64 " %s %s", index, time, type);
	for (size_t i = 0; fields[i]; i++)
		if (json_get_string_opt(e, fields[i], &s) == 0)
			printf(" %s=%s", fields[i], s);
	if (json_get_string_opt(e, "scheme", &s) == 0)
		printf(" scheme=%s", s);
	{
		const struct json_value *a = json_object_get(e, "approvals");

		if (a)
			printf(" approvals=%zu", json_array_size(a));
		/* An intent: how many requests (--json has their ids). */
		if ((a = json_object_get(e, "request_ids")))
			printf(" requests=%zu", json_array_size(a));
	}
	putchar('\n');
}

static int open_log_of(const char *dir, struct audit_log **ret)
{
	_cleanup_free_ char *cp_path = NULL, *origin = NULL;
	_cleanup_free_ uint8_t *cp = NULL;
	size_t len;
	int err;

	if (asprintf(&cp_path, "%s/checkpoint", dir) < 0)
		return RB_E_NOMEM;
	if ((err = rb_file_read(cp_path, NOTE_MAX_BYTES, &cp, &len)) < 0)
		return err;
	if ((err = checkpoint_origin(cp, len, &origin)) < 0)
		return rb_err_prefix(err, "%s", cp_path);
	return audit_log_open_readonly(dir, origin, ret);
}

static int do_show(const struct opts *o, const char *dir)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	int64_t since = 0;
	int err;

	if (o->since && rb_time_parse(o->since, &since) < 0)
		return cli_usage_error(verb, "--since: expected a time like 2026-11-22T08:30:00Z");
	if (!!o->leaf != o->raw)
		return cli_usage_error(verb, "show --leaf N and --raw go together");
	if ((err = open_log_of(dir, &log)) < 0)
		return cli_fail(verb, err);
	if (o->raw) {
		_cleanup_free_ uint8_t *bytes = NULL;
		uint64_t index;
		size_t len;
		int code;

		if ((code = parse_u64_arg(o->leaf, "--leaf", &index)) != EXIT_OK)
			return code;
		/* Checked like every entry a reader takes from the log. */
		if ((err = audit_log_entry(log, index, &bytes, &len)) < 0 ||
		    (err = audit_entry_validate(bytes, len, NULL)) < 0)
			return cli_fail(verb, rb_err_prefix(err, "entry %" PRIu64, index));
		if (fwrite(bytes, 1, len, stdout) != len || fflush(stdout) != 0)
			return cli_fail(verb, rb_err_set(RB_E_IO, "stdout: write failed"));
		return EXIT_OK;
	}
	for (uint64_t i = 0; i < audit_log_size(log); i++) {
		_cleanup_free_ uint8_t *bytes = NULL;
		_cleanup_json_ struct json_value *e = NULL;
		const char *s;
		size_t len;
		int64_t t;

		if ((err = audit_log_entry(log, i, &bytes, &len)) < 0 ||
		    (err = audit_entry_parse(bytes, len, &e, NULL)) < 0)
			return cli_fail(verb, rb_err_prefix(err, "entry %" PRIu64, i));
		if (json_get_string(e, "time", &s) == 0 && rb_time_parse(s, &t) == 0 && t < since)
			continue;
		if (o->key) {
			const char *k1 = NULL, *k2 = NULL;

			json_get_string_opt(e, "key", &k1);
			json_get_string_opt(e, "new_key", &k2);
			if (!(k1 && strcmp(k1, o->key) == 0) && !(k2 && strcmp(k2, o->key) == 0))
				continue;
		}
		if (o->json)
			printf("{\"entry\":%.*s,\"index\":%" PRIu64 "}\n", (int)len, (const char *)bytes, i);
		else
			show_line(i, e);
	}
	return EXIT_OK;
}

static int do_prove(const struct opts *o, const char *dir)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	struct audit_proof p;
	struct rb_buf out = RB_BUF_INIT;
	uint64_t size;
	int err, code;

	if (!!o->leaf == !!o->consistency)
		return cli_usage_error(verb, "prove needs exactly one of --leaf N and --consistency OLD");
	memset(&p, 0, sizeof(p));
	p.kind = o->leaf ? AUDIT_PROOF_INCLUSION : AUDIT_PROOF_CONSISTENCY;
	if ((code = parse_u64_arg(o->leaf ? o->leaf : o->consistency, o->leaf ? "--leaf" :
				  "--consistency", &p.a)) != EXIT_OK)
		return code;
	if ((err = open_log_of(dir, &log)) < 0)
		return cli_fail(verb, err);
	size = audit_log_checkpoint_size(log);
	if (o->size && (code = parse_u64_arg(o->size, "--size", &size)) != EXIT_OK)
		return code;
	p.size = size;
	err = p.kind == AUDIT_PROOF_INCLUSION ? audit_log_inclusion_proof(log, p.a, size, &p.proof)
					      : audit_log_consistency_proof(log, p.a, size, &p.proof);
	if (err < 0 || (err = audit_proof_format(&p, &out)) < 0)
		return cli_fail(verb, err);
	fwrite(out.data, 1, out.len, stdout);
	rb_buf_free(&out);
	return EXIT_OK;
}

static int do_check_proof(const struct opts *o)
{
	_cleanup_free_ uint8_t *cp = NULL, *ptext = NULL;
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	struct audit_proof p;
	size_t len, plen;
	int err;

	if (!o->checkpoint || !o->proof)
		return cli_usage_error(verb, "check-proof needs --checkpoint FILE and --proof FILE");
	if (!!o->entry + !!o->leaf_hash + !!o->old_checkpoint != 1)
		return cli_usage_error(verb, "check-proof needs one of --entry, --leaf-hash and "
				       "--old-checkpoint");
	if ((err = read_checkpoint_and_verifier(o, o->checkpoint, &cp, &len, &v)) < 0)
		return cli_fail(verb, err);
	if ((err = checkpoint_verify(cp, len, v, &c)) < 0)
		return cli_fail(verb, rb_err_prefix(err, "%s", o->checkpoint));
	if ((err = rb_file_read(o->proof, AUDIT_PROOF_MAX_BYTES, &ptext, &plen)) < 0 ||
	    (err = audit_proof_parse(ptext, plen, &p)) < 0)
		return cli_fail(verb, rb_err_prefix(err, "%s", o->proof));
	if (p.size != c->size)
		return cli_fail(verb, rb_err_set(RB_E_VERIFY, "the proof is for size %" PRIu64 ", the "
						 "checkpoint has size %" PRIu64, p.size, c->size));
	if (o->old_checkpoint) {
		_cleanup_free_ uint8_t *ocp = NULL;
		_cleanup_(checkpoint_freep) struct checkpoint *old = NULL;
		size_t olen;

		if (p.kind != AUDIT_PROOF_CONSISTENCY)
			return cli_fail(verb, rb_err_set(RB_E_VERIFY, "%s is not a consistency proof", o->proof));
		if ((err = rb_file_read(o->old_checkpoint, NOTE_MAX_BYTES, &ocp, &olen)) < 0 ||
		    (err = checkpoint_verify(ocp, olen, v, &old)) < 0)
			return cli_fail(verb, rb_err_prefix(err, "%s", o->old_checkpoint));
		if (old->size != p.a)
			return cli_fail(verb, rb_err_set(RB_E_VERIFY, "the proof starts at size %" PRIu64
							 ", the old checkpoint has size %" PRIu64,
							 p.a, old->size));
		if ((err = merkle_consistency_verify(old->size, c->size, old->root, 32, c->root, 32,
						     &p.proof)) < 0)
			return cli_fail(verb, err);
		printf("OK: the log of size %" PRIu64 " extends the one of size %" PRIu64 "\n", c->size,
		       old->size);
		return EXIT_OK;
	}
	if (p.kind != AUDIT_PROOF_INCLUSION)
		return cli_fail(verb, rb_err_set(RB_E_VERIFY, "%s is not an inclusion proof", o->proof));
	{
		uint8_t leaf[32];
		_cleanup_free_ uint8_t *bytes = NULL, *h = NULL;
		size_t blen, hlen;

		if (o->entry) {
			_cleanup_json_ struct json_value *e = NULL;

			if ((err = rb_file_read(o->entry, AUDIT_ENTRY_MAX, &bytes, &blen)) < 0)
				return cli_fail(verb, err);
			/* Accept one trailing newline (as `audit show --json | jq -c` writes). */
			if (blen && bytes[blen - 1] == '\n')
				blen--;
			if ((err = audit_entry_parse(bytes, blen, &e, NULL)) < 0)
				return cli_fail(verb, rb_err_prefix(err, "%s", o->entry));
			merkle_hash_leaf(bytes, blen, leaf);
		} else {
			if (rb_hex_decode(o->leaf_hash, strlen(o->leaf_hash), &h, &hlen) < 0 || hlen != 32)
				return cli_usage_error(verb, "--leaf-hash: expected 64 hex digits");
			memcpy(leaf, h, 32);
		}
		if ((err = merkle_inclusion_verify(p.a, p.size, leaf, 32, &p.proof, c->root, 32)) < 0)
			return cli_fail(verb, err);
	}
	printf("OK: entry %" PRIu64 " is in the log of size %" PRIu64 " signed by %s\n", p.a, c->size,
	       v->name);
	return EXIT_OK;
}

#if ROMBSR_ZONES & ZONE_SIGN
static int do_init(const struct opts *o)
{
	const char *config = o->config ? o->config : getenv("ROMBSR_SIGN_CONFIG");
	_cleanup_free_ char *dir = NULL, *origin = NULL;
	int err;

	if (!config || !*config)
		config = "/etc/rombsr/sign.conf";
	if ((err = signd_audit_init(config, &dir, &origin)) < 0)
		return cli_fail(verb, err);
	printf("%s: created an empty audit log for %s; the sign node appends to it from its first "
	       "batch. Back it up with the state directory: it is never made again\n", dir, origin);
	return EXIT_OK;
}
#else
/* The auditor's program holds no sign-node code: the log is made where
 * it is written. */
static int do_init(const struct opts *o)
{
	(void)o;
	return cli_usage_error(verb, "'audit init' makes the sign node's log: run 'rombsr audit init' on the "
			       "sign node");
}
#endif

int cmd_audit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "manifest", required_argument, NULL, OPT_MANIFEST },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ "trust-dir", required_argument, NULL, OPT_TRUST_DIR },
		{ "no-trust", no_argument, NULL, OPT_NO_TRUST },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "leaf", required_argument, NULL, OPT_LEAF },
		{ "consistency", required_argument, NULL, OPT_CONSISTENCY },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
		{ "proof", required_argument, NULL, OPT_PROOF },
		{ "entry", required_argument, NULL, OPT_ENTRY },
		{ "leaf-hash", required_argument, NULL, OPT_LEAF_HASH },
		{ "old-checkpoint", required_argument, NULL, OPT_OLD_CHECKPOINT },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "branch", required_argument, NULL, OPT_BRANCH },
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o;
	const char *sub;
	int c;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		help();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	sub = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MANIFEST: o.manifest = optarg; break;
		case OPT_KEY: o.key = optarg; break;
		case OPT_ORIGIN: o.origin = optarg; break;
		case OPT_TRUST_DIR: o.trust_dir = optarg; break;
		case OPT_NO_TRUST: o.no_trust = true; break;
		case OPT_SINCE: o.since = optarg; break;
		case OPT_JSON: o.json = true; break;
		case OPT_LEAF: o.leaf = optarg; break;
		case OPT_CONSISTENCY: o.consistency = optarg; break;
		case OPT_SIZE: o.size = optarg; break;
		case OPT_CHECKPOINT: o.checkpoint = optarg; break;
		case OPT_PROOF: o.proof = optarg; break;
		case OPT_ENTRY: o.entry = optarg; break;
		case OPT_LEAF_HASH: o.leaf_hash = optarg; break;
		case OPT_OLD_CHECKPOINT: o.old_checkpoint = optarg; break;
		case OPT_QUEUE: o.queue = optarg; break;
		case OPT_CACHE: o.cache = optarg; break;
		case OPT_BRANCH: o.branch = optarg; break;
		case OPT_RAW: o.raw = true; break;
		case OPT_CONFIG: o.config = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	if (strcmp(sub, "init") == 0) {
		if (optind != argc)
			return cli_usage_error(verb, "init takes no positional arguments (the directory is "
					       "sign.conf's audit.dir)");
		return do_init(&o);
	}
	if (strcmp(sub, "check-proof") == 0) {
		if (optind != argc)
			return cli_usage_error(verb, "check-proof takes no positional arguments");
		if (!!o.manifest == !!o.key)
			return cli_usage_error(verb, "pass exactly one of --manifest FILE and --key VKEY");
		return do_check_proof(&o);
	}
	if (optind + 1 != argc)
		return cli_usage_error(verb, "%s needs the log directory", sub);
	if (strcmp(sub, "verify") == 0) {
		if (!!o.manifest == !!o.key)
			return cli_usage_error(verb, "pass exactly one of --manifest FILE and --key VKEY");
		if (o.no_trust && o.trust_dir)
			return cli_usage_error(verb, "--trust-dir and --no-trust exclude each other");
		if (o.queue && !o.manifest)
			return cli_usage_error(verb, "--queue needs --manifest (for the queue key)");
		if ((o.cache || o.branch) && !o.queue)
			return cli_usage_error(verb, "--cache and --branch go with --queue");
		return do_verify(&o, argv[optind]);
	}
	if (strcmp(sub, "show") == 0)
		return do_show(&o, argv[optind]);
	if (strcmp(sub, "prove") == 0)
		return do_prove(&o, argv[optind]);
	return cli_usage_error(verb, "unknown subcommand '%s'; use init, verify, show, prove or "
			       "check-proof", sub);
}
