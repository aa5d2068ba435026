/* Test tool for tests/integration/audit-queue.sh: what an insider with the
 * operator PIN could do on the sign node's token outside the signing flow,
 * so the test can check that `rombsr audit verify --queue` notices.
 *
 *   audit_forge sign LOG_DIR STATE_DIR PIN_FILE MANIFEST KEY REQUEST_ID
 *       sign a random SHA-256 digest with KEY (RSA, PKCS#1 v1.5) on the
 *       token, append a `sign` entry for REQUEST_ID to the log and a
 *       checkpoint signed by the token's `audit` key; prints the leaf.
 *   audit_forge intent LOG_DIR STATE_DIR PIN_FILE MANIFEST KEY REQUEST_ID
 *       append an `intent` entry naming REQUEST_ID and KEY, as the sign
 *       node writes before it asks the HSM, and a checkpoint; prints the
 *       leaf.
 *   audit_forge sign-commit STATE_DIR PIN_FILE MANIFEST < DATA > SIG
 *       an armored OpenPGP signature over DATA (a git commit object
 *       without its gpgsig header) by the token's real `queue` key, as the
 *       sign node makes them (signd_sign_commit).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/entry.h"
#include "audit/log.h"
#include "audit/note.h"
#include "config.h"
#include "keys/manifest.h"
#include "p11/p11.h"
#include "pgp/pgp.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "audit_forge: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	return 1;
}

struct token {
	struct p11_module *m;
	struct p11_token *t;
	struct manifest *man;
};

static void token_close(struct token *k)
{
	p11_token_free(k->t);
	p11_module_free(k->m);
	manifest_free(k->man);
}

static int token_open(const char *state, const char *pin_file, const char *manifest,
		      struct token *ret)
{
	_cleanup_free_ char *conf = NULL;
	struct p11_pin_source src = { P11_PIN_FILE, pin_file };
	struct rb_secret *pin = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	if (asprintf(&conf, "%s/softhsm2.conf", state) < 0 || setenv("SOFTHSM2_CONF", conf, 1) < 0)
		return RB_E_NOMEM;
	if ((err = manifest_load(manifest, &ret->man)) < 0 ||
	    (err = p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &ret->m)) < 0 ||
	    (err = p11_token_open(ret->m, ret->man->token_label, 0, &ret->t)) < 0 ||
	    (err = p11_pin_read(&src, &pin)) < 0)
		return err;
	err = p11_token_login(ret->t, CKU_USER, pin);
	rb_secret_free(pin);
	return err;
}

/* The origin named in the log's checkpoint (the sign node chose it). */
static int log_origin(const char *dir, char **ret)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *cp = NULL;
	_cleanup_(note_freep) struct note *n = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	size_t len;
	int err;

	if (asprintf(&path, "%s/checkpoint", dir) < 0)
		return RB_E_NOMEM;
	if ((err = rb_file_read(path, NOTE_MAX_BYTES, &cp, &len)) < 0 ||
	    (err = note_parse(cp, len, &n)) < 0 || (err = checkpoint_parse(n->text, n->text_len, &c)) < 0)
		return err;
	*ret = TAKE_PTR(c->origin);
	return RB_OK;
}

/* The entry `intent` or `sign` appends for KEY and REQUEST_ID, made with
 * the token: 0, or 1 when it failed (reported). */
static int forge_entry(struct token *tk, bool intent, const char *key_name, const char *rid,
		       struct json_value **ret)
{
	struct p11_key *key = NULL;
	struct manifest_key *mk;
	_cleanup_free_ uint8_t *sig = NULL;
	uint8_t digest[32], node[AUDIT_NODE_FPR_LEN], artifact[32];
	size_t sig_len;
	int err;

	if (!(mk = manifest_find(tk->man, key_name)))
		return die(key_name, RB_E_KEY);
	if (intent) {
		const char *ids[1] = { rid };
		struct audit_intent_info in = {
			.time = (int64_t)time(NULL), .key_name = key_name, .key_fpr = mk->spki_sha256,
			.request_ids = ids, .n_request_ids = 1,
		};

		return (err = audit_entry_intent(&in, ret)) < 0 ? die("entry", err) : 0;
	}
	if ((err = p11_token_find_key(tk->t, key_name, &key)) < 0 ||
	    (err = rb_random_bytes(digest, sizeof(digest))) < 0 ||
	    (err = p11_key_sign(key, RB_SIG_RSA_PKCS1_SHA256, digest, sizeof(digest), &sig, &sig_len)) < 0)
		return die("sign", err);
	memset(node, 0x42, sizeof(node));
	memset(artifact, 0x24, sizeof(artifact));
	{
		const char *none[1] = { NULL };
		struct audit_sign_info in = {
			.time = (int64_t)time(NULL), .request_id = rid, .build_id = "no-such-build",
			.node_fpr = node, .key_name = key_name, .key_fpr = mk->spki_sha256,
			.scheme = RB_SIG_RSA_PKCS1_SHA256, .artifact_name = "outside-the-flow.bin",
			.artifact_sha256 = artifact, .digest = digest, .digest_len = sizeof(digest),
			.sig = sig, .sig_len = sig_len, .approvals = none, .n_approvals = 0,
		};

		return (err = audit_entry_sign(&in, ret)) < 0 ? die("entry", err) : 0;
	}
}

/* sign|intent LOG_DIR STATE_DIR PIN_FILE MANIFEST KEY REQUEST_ID: the
 * entry, appended with a checkpoint signed by the token's audit key; print
 * its leaf. */
static int do_append(char **argv)
{
	struct token tk;
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_json_ struct json_value *e = NULL;
	_cleanup_free_ char *origin = NULL;
	struct p11_key *audit = NULL;
	struct rb_signer audit_signer;
	uint64_t index;
	int err, rc = 1;

	if ((err = token_open(argv[2], argv[3], argv[4], &tk)) < 0) {
		rc = die("token", err);
		goto out;
	}
	if (forge_entry(&tk, strcmp(argv[0], "intent") == 0, argv[5], argv[6], &e) != 0)
		goto out;
	if ((err = p11_token_find_key(tk.t, "audit", &audit)) < 0) {
		rc = die("audit key", err);
		goto out;
	}
	p11_key_signer(audit, &audit_signer);
	if ((err = log_origin(argv[1], &origin)) < 0 || (err = audit_log_open(argv[1], origin, &log)) < 0 ||
	    (err = audit_log_append(log, e, &index)) < 0 ||
	    (err = audit_log_checkpoint(log, &audit_signer, NULL)) < 0) {
		rc = die(argv[1], err);
		goto out;
	}
	printf("%" PRIu64 "\n", index);
	rc = 0;
out:
	token_close(&tk);
	return rc;
}

static int do_sign_commit(char **argv)
{
	struct token tk;
	struct p11_key *queue = NULL;
	struct manifest_key *mk;
	struct rb_signer signer;
	struct pgp_key *pk = NULL;
	struct rb_buf in = RB_BUF_INIT, bin = RB_BUF_INIT, arm = RB_BUF_INIT;
	char chunk[4096];
	size_t n;
	int err, rc = 1;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if ((err = rb_buf_put(&in, chunk, n)) < 0)
			return die("stdin", err);
	if ((err = token_open(argv[2], argv[3], argv[4], &tk)) < 0) {
		rc = die("token", err);
		goto out;
	}
	if (!(mk = manifest_find(tk.man, "queue")) || (err = p11_token_find_key(tk.t, "queue", &queue)) < 0) {
		rc = die("queue key", mk ? err : RB_E_KEY);
		goto out;
	}
	p11_key_signer(queue, &signer);
	if ((err = pgp_key_new(&signer, mk->created, &pk)) < 0 ||
	    (err = pgp_sign_buffer(pk, PGP_SIG_BINARY, PGP_HASH_SHA512, (int64_t)time(NULL), in.data,
				   in.len, &bin)) < 0 ||
	    (err = pgp_armor(PGP_ARMOR_SIGNATURE, bin.data, bin.len, &arm)) < 0) {
		rc = die("pgp", err);
		goto out;
	}
	fwrite(arm.data, 1, arm.len, stdout);
	rc = 0;
out:
	pgp_key_free(pk);
	rb_buf_free(&in);
	rb_buf_free(&bin);
	rb_buf_free(&arm);
	token_close(&tk);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 8 && (strcmp(argv[1], "sign") == 0 || strcmp(argv[1], "intent") == 0))
		return do_append(argv + 1);
	if (argc == 5 && strcmp(argv[1], "sign-commit") == 0)
		return do_sign_commit(argv);
	fprintf(stderr, "usage: audit_forge sign LOG_DIR STATE_DIR PIN_FILE MANIFEST KEY REQUEST_ID\n"
			"       audit_forge intent LOG_DIR STATE_DIR PIN_FILE MANIFEST KEY REQUEST_ID\n"
			"       audit_forge sign-commit STATE_DIR PIN_FILE MANIFEST < DATA > SIG\n");
	return 2;
}
