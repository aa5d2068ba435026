/* Test tool for tests/integration/audit-*.sh: append COUNT `sign` entries
 * (numbered from FIRST, in batches of BATCH) to the audit log in DIR and
 * sign one checkpoint per batch with the `audit` key on a SoftHSM2 token,
 * through PKCS#11 - the sign node's path, without the rest of the node.
 *
 *   audit_log_gen DIR ORIGIN STATE_DIR PIN_FILE FIRST COUNT BATCH [TAG]
 *
 * TAG (hex) is appended to every request id, to build a fork of a log.
 * $AUDIT_GEN_KEY names another signing key (to forge a checkpoint). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/entry.h"
#include "audit/log.h"
#include "config.h"
#include "p11/p11.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "audit_log_gen: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	return 1;
}

static int entry(uint64_t i, const char *tag, struct json_value **ret)
{
	uint8_t fpr[32], digest[32], sig[512];
	char rid[80], build[32];
	const char *approvals[] = { "release-manager@example.org" };
	struct audit_sign_info in = { 0 };

	memset(fpr, 0x11, sizeof(fpr));
	memset(digest, (int)(i & 0xff), sizeof(digest));
	memset(sig, 0x77, sizeof(sig));
	snprintf(rid, sizeof(rid), "%016" PRIx64 "%s", i, tag);
	snprintf(build, sizeof(build), "build-%" PRIu64, i / 4);
	in.time = 1795000000 + (int64_t)i * 60;
	in.request_id = rid;
	in.build_id = build;
	in.node_fpr = fpr;
	in.key_name = i % 3 == 0 ? "platform" : "media";
	in.key_fpr = fpr;
	in.scheme = RB_SIG_RSA_PKCS1_SHA256;
	in.artifact_name = i % 2 ? "Settings.apk" : "system.img";
	in.artifact_sha256 = fpr;
	in.digest = digest;
	in.digest_len = 32;
	in.sig = sig;
	in.sig_len = 512;
	in.approvals = approvals;
	in.n_approvals = 1;
	return audit_entry_sign(&in, ret);
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *conf = NULL;
	struct p11_module *m = NULL;
	struct p11_token *t = NULL;
	struct p11_key *k = NULL;
	struct rb_secret *pin = NULL;
	struct p11_pin_source src;
	struct rb_signer signer;
	struct audit_log *log = NULL;
	uint64_t first, count, batch;
	int err, rc = 1;

	if (argc < 8 || argc > 9) {
		fprintf(stderr, "usage: audit_log_gen DIR ORIGIN STATE_DIR PIN_FILE FIRST COUNT BATCH [TAG]\n");
		return 2;
	}
	first = strtoull(argv[5], NULL, 10);
	count = strtoull(argv[6], NULL, 10);
	batch = strtoull(argv[7], NULL, 10);
	if (asprintf(&conf, "%s/softhsm2.conf", argv[3]) < 0 || setenv("SOFTHSM2_CONF", conf, 1) < 0)
		return 1;
	src = (struct p11_pin_source){ P11_PIN_FILE, argv[4] };
	if ((err = p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &m)) < 0)
		return die("module", err);
	if ((err = p11_token_open(m, "rombsr-test", 0, &t)) < 0 ||
	    (err = p11_pin_read(&src, &pin)) < 0 || (err = p11_token_login(t, CKU_USER, pin)) < 0 ||
	    (err = p11_token_find_key(t, getenv("AUDIT_GEN_KEY") ? getenv("AUDIT_GEN_KEY") : "audit",
				       &k)) < 0) {
		rc = die("token", err);
		goto out;
	}
	p11_key_signer(k, &signer);
	/* The first call makes the log, later ones append to it. */
	err = audit_log_open(argv[1], argv[2], &log);
	if (err == RB_E_NOTFOUND)
		err = audit_log_create(argv[1], argv[2], &log);
	if (err < 0) {
		rc = die(argv[1], err);
		goto out;
	}
	for (uint64_t i = first; i < first + count;) {
		struct json_value *es[256];
		size_t n = 0;
		uint64_t idx;

		while (n < batch && n < 256 && i < first + count) {
			if ((err = entry(i++, argc == 9 ? argv[8] : "", &es[n])) < 0) {
				rc = die("entry", err);
				goto out;
			}
			n++;
		}
		err = audit_log_append_batch(log, (const struct json_value *const *)es, n, &idx);
		for (size_t j = 0; j < n; j++)
			json_free(es[j]);
		if (err < 0 || (err = audit_log_checkpoint(log, &signer, NULL)) < 0) {
			rc = die("append", err);
			goto out;
		}
	}
	rc = 0;
out:
	audit_log_close(log);
	rb_secret_free(pin);
	p11_token_free(t);
	p11_module_free(m);
	return rc;
}
