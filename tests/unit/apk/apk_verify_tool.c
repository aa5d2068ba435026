/* The APK verifier as a command, for the integration test that compares
 * it with `apksigner verify` (tests/integration/apk-verify.sh).
 *
 *   apk_verify_tool MANIFEST APK
 *
 * Prints one line per verified scheme, "v2 <alg> <spki-sha256> <cert-sha256>"
 * (v3 adds "<min-sdk> <max-sdk>"), then "key <name>". Exit status: 0
 * verified and signed by a usable manifest key, 1 the APK does not verify,
 * 2 the signer is unknown or revoked, 3 usage or manifest error. */
#include <stdio.h>

#include "apk/apk.h"
#include "keys/manifest.h"
#include "util/err.h"

static void hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void print_scheme(const char *name, const struct apk_scheme_info *s, int v3)
{
	for (size_t i = 0; s->present && i < s->n_signers; i++) {
		printf("%s %s ", name, apk_sig_alg_name(s->signers[i].alg));
		hex(s->signers[i].spki_sha256, 32);
		printf(" ");
		hex(s->signers[i].cert_sha256, 32);
		if (v3)
			printf(" %u %u", s->signers[i].min_sdk, s->signers[i].max_sdk);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	struct manifest *m = NULL;
	struct apk_result r;
	const struct manifest_key *k;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: apk_verify_tool MANIFEST APK\n");
		return 3;
	}
	if ((rc = manifest_load(argv[1], &m)) < 0) {
		fprintf(stderr, "%s: %s\n", rb_strerror(rc), rb_err_detail());
		return 3;
	}
	if ((rc = apk_verify_file(argv[2], &r)) < 0) {
		fprintf(stderr, "%s: %s\n", rb_strerror(rc), rb_err_detail());
		manifest_free(m);
		return 1;
	}
	print_scheme("v2", &r.v2, 0);
	print_scheme("v3", &r.v3, 1);
	if ((rc = apk_check_against_manifest(&r, m, &k)) < 0) {
		fprintf(stderr, "%s: %s\n", rb_strerror(rc), rb_err_detail());
		manifest_free(m);
		return 2;
	}
	printf("key %s\n", k->name);
	manifest_free(m);
	return 0;
}
