/* bench/audit-log: the audit log against `openssl dgst -sha256` over the
 * same bytes, in the same run.
 *
 *   append    N sign entries (default 1,000,000) in batches of 1,000, one
 *             signed checkpoint per batch, every batch durable (fsync)
 *             before the call returns; entries/s (target >= 100,000)
 *   proof     inclusion-proof generation at size N, microseconds per proof
 *             (target < 100)
 *   verify    audit_dir_verify(): check every entry (audit_entry_validate,
 *             the single-pass canonical reader), recompute every tile and
 *             the root, check the checkpoint; bytes/s of entry bundles
 *             against openssl dgst -sha256 over those same bundle files
 *             (target >= 0.5x); best of three runs of each
 *   reopen    audit_log_open() of the full log (recovery path), for scale
 *
 * The checkpoint key is an in-process Ed25519 key: the HSM's signing cost
 * (one C_Sign per batch) is measured by bench/sign-throughput, not here.
 * It prints figures and ratios and asserts nothing.
 *
 * usage: audit-log [N] [BATCH] [DIR]   (BATCH default 1000, at most 100000;
 *        DIR default: a new directory in $TMPDIR or /tmp, removed afterwards)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "audit/log.h"
#include "audit/tile.h"
#include "util/err.h"
#include "util/fileio.h"

static size_t batch = 1000;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noreturn)) void die(const char *what, int err)
{
	fprintf(stderr, "audit-log: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	exit(1);
}

static int ed_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		   uint8_t **ret_sig, size_t *ret_len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t *sig = malloc(64);
	size_t len = 64;
	int ok = scheme == RB_SIG_ED25519 && m && sig &&
		 EVP_DigestSignInit(m, NULL, NULL, NULL, ctx) == 1 &&
		 EVP_DigestSign(m, sig, &len, in, inlen) == 1;

	EVP_MD_CTX_free(m);
	if (!ok) {
		free(sig);
		return RB_E_CRYPTO;
	}
	*ret_sig = sig;
	*ret_len = len;
	return 0;
}

static struct json_value *entry(uint64_t i)
{
	static const uint8_t fpr[32] = { 0x42 };
	uint8_t digest[32], sig[256];
	char rid[40];
	const char *approvals[] = { "release-manager@example.org" };
	struct audit_sign_info in = { 0 };
	struct json_value *e;
	int err;

	memset(digest, (int)(i & 0xff), sizeof(digest));
	memset(sig, (int)(i >> 8 & 0xff), sizeof(sig));
	snprintf(rid, sizeof(rid), "%016" PRIx64, i);
	in.time = 1795000000 + (int64_t)(i / 100);
	in.request_id = rid;
	in.build_id = "build-20261122.1";
	in.node_fpr = fpr;
	in.key_name = "platform";
	in.key_fpr = fpr;
	in.scheme = RB_SIG_RSA_PKCS1_SHA256;
	in.artifact_name = "priv-app/Settings/Settings.apk";
	in.artifact_sha256 = fpr;
	in.digest = digest;
	in.digest_len = 32;
	in.sig = sig;
	in.sig_len = 256; /* RSA-2048 sized; RSA-4096 entries are 340 bytes longer */
	in.approvals = approvals;
	in.n_approvals = 1;
	if ((err = audit_entry_sign(&in, &e)) < 0)
		die("entry", err);
	return e;
}

/* The Merkle part of verification alone: read every bundle, hash every
 * record, build the tree - no entry parsing. Seconds. */
static int hash_cb(void *ctx, const uint8_t *e, size_t len)
{
	uint8_t leaf[MERKLE_HASH_LEN];

	merkle_hash_leaf(e, len, leaf);
	return audit_tree_push(ctx, leaf);
}

static double hash_only(const char *dir, uint64_t n)
{
	struct audit_tree t = { 0 };
	uint8_t root[MERKLE_HASH_LEN];
	struct merkle_source src;
	double t0 = now();

	for (uint64_t i = 0; i * TILE_WIDTH < n; i++) {
		char rel[TILE_PATH_MAX], *path;
		unsigned w = n - i * TILE_WIDTH >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(n - i * TILE_WIDTH), got;
		uint8_t *d;
		size_t len, good;

		tile_path(TILE_ENTRIES, i, w, rel);
		if (asprintf(&path, "%s/%s", dir, rel) < 0 || rb_file_read(path, 1 << 26, &d, &len) < 0)
			die(rel, RB_E_IO);
		if (audit_bundle_walk(d, len, w, hash_cb, &t, &got, &good) < 0)
			die(rel, RB_E_PARSE);
		free(d);
		free(path);
	}
	audit_tree_source(&t, &src);
	merkle_range_root(&src, 0, n, root);
	audit_tree_clear(&t);
	return now() - t0;
}

/* openssl dgst -sha256 over the bundle files (concatenated); seconds. */
static double openssl_sha256(const char *dir)
{
	char cmd[4096];
	double t0, t1;

	snprintf(cmd, sizeof(cmd), "cd '%s' && find tile/entries -type f -print0 | xargs -0 cat "
		 "> bench-all.bin", dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 '%s/bench-all.bin' > /dev/null", dir);
	/* Warm the page cache, then time it. */
	if (system(cmd) != 0)
		return -1;
	t0 = now();
	if (system(cmd) != 0)
		return -1;
	t1 = now();
	return t1 - t0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	char tmpl[512];
	const char *dir;
	struct audit_log *log = NULL;
	struct rb_signer key = { "bench-audit", RB_KEY_ED25519, NULL, ed_sign, NULL };
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct json_value **es;
	struct note_verifier *v = NULL;
	struct audit_verify_result r;
	double t_append = 0, t0, t_proof, t_verify, t_sha, t_open, t_hash;
	uint64_t bundle_bytes = 0;
	int err;

	if (argc > 2)
		batch = strtoul(argv[2], NULL, 10);
	if (batch == 0 || batch > 100000)
		batch = 1000;
	es = calloc(batch, sizeof(*es));
	if (!pk || !es || n == 0)
		return 1;
	key.pub = pk;
	key.ctx = pk;
	if (argc > 3) {
		dir = argv[3];
	} else {
		const char *t = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/rombsr-bench-audit-XXXXXX", t && *t ? t : "/tmp");
		if (!(dir = mkdtemp(tmpl)))
			return 1;
	}
	if ((err = audit_log_create(dir, "bench.rombsr/audit", &log)) < 0)
		die("create", err);
	for (uint64_t i = 0; i < n;) {
		size_t k = 0;
		uint64_t first;

		while (k < batch && i < n)
			es[k++] = entry(i++);
		t0 = now();
		if ((err = audit_log_append_batch(log, (const struct json_value *const *)es, k, &first)) < 0)
			die("append", err);
		if ((err = audit_log_checkpoint(log, &key, NULL)) < 0)
			die("checkpoint", err);
		t_append += now() - t0;
		for (size_t j = 0; j < k; j++)
			json_free(es[j]);
	}
	/* Inclusion proofs at the full size, spread over the log. */
	{
		struct merkle_proof p;
		const int reps = 100000;

		t0 = now();
		for (int i = 0; i < reps; i++)
			if ((err = audit_log_inclusion_proof(log, ((uint64_t)i * 7919u) % n, n, &p)) < 0)
				die("proof", err);
		t_proof = (now() - t0) / reps;
	}
	audit_log_close(log);
	for (uint64_t t = 0; t * TILE_WIDTH < n; t++) {
		char rel[TILE_PATH_MAX], *path;
		unsigned w = n - t * TILE_WIDTH >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(n - t * TILE_WIDTH);
		uint8_t *d;
		size_t len;

		tile_path(TILE_ENTRIES, t, w, rel);
		if (asprintf(&path, "%s/%s", dir, rel) < 0 || rb_file_read(path, 1 << 26, &d, &len) < 0)
			die(rel, RB_E_IO);
		bundle_bytes += len;
		free(d);
		free(path);
	}
	if ((err = note_verifier_from_pkey("bench.rombsr/audit", pk, &v)) < 0)
		die("verifier", err);
	/* Best of three for verify, the hashes-only pass and openssl alike:
	 * on a shared machine the fastest run is the least disturbed. */
	t_verify = 1e30;
	for (int k = 0; k < 3; k++) {
		t0 = now();
		if ((err = audit_dir_verify(dir, v, NULL, &r)) < 0)
			die("verify", err);
		if (now() - t0 < t_verify)
			t_verify = now() - t0;
	}
	t0 = now();
	if ((err = audit_log_open(dir, "bench.rombsr/audit", &log)) < 0)
		die("reopen", err);
	t_open = now() - t0;
	audit_log_close(log);
	t_hash = hash_only(dir, n);
	t_sha = openssl_sha256(dir);
	for (int k = 0; k < 2; k++) {
		double h = hash_only(dir, n), o = openssl_sha256(dir);

		if (h < t_hash)
			t_hash = h;
		if (o > 0 && o < t_sha)
			t_sha = o;
	}

	printf("audit-log: %" PRIu64 " entries, %.1f MB of entry bundles, batches of %zu, %s\n", n,
	       (double)bundle_bytes / 1e6, batch, dir);
	printf("append+checkpoint  %10.0f entries/s   (target >= 100000: %.2fx)\n", (double)n / t_append,
	       (double)n / t_append / 100000.0);
	printf("inclusion proof    %10.2f us/proof    at size %" PRIu64 " (target < 100 us)\n",
	       t_proof * 1e6, n);
	printf("verify             %10.1f MB/s        (%.2f s)\n", (double)bundle_bytes / t_verify / 1e6,
	       t_verify);
	if (t_sha > 0) {
		printf("openssl sha256     %10.1f MB/s        same bytes (%.2f s)\n",
		       (double)bundle_bytes / t_sha / 1e6, t_sha);
		printf("verify/sha256      %10.2f            (target >= 0.50)\n", t_sha / t_verify);
	}
	printf("hashes only        %10.1f MB/s        the Merkle part of verify, no entry parsing "
	       "(%.2fx sha256)\n", (double)bundle_bytes / t_hash / 1e6, t_sha > 0 ? t_sha / t_hash : 0);
	printf("reopen (recovery)  %10.2f s\n", t_open);
	if (argc <= 3) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "audit-log: could not remove %s\n", dir);
	} else {
		char *p;

		if (asprintf(&p, "%s/bench-all.bin", dir) >= 0) {
			unlink(p);
			free(p);
		}
	}
	note_verifier_free(v);
	EVP_PKEY_free(pk);
	free(es);
	return 0;
}
