/* Fuzz the APK verifier (src/lib/apk) on untrusted APK bytes: the EoCD
 * search, the signing block and its pairs, the v2/v3 signer records, the
 * certificates and keys inside them. It must never crash, leak or read out
 * of bounds; whatever it accepts must have a verified scheme, and no key
 * outside an empty manifest may be reported as a signer. */
#include <stdint.h>
#include <stdlib.h>

#include "apk/apk.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apk_result r;
	struct manifest none = { 0 };
	const struct manifest_key *k = NULL;

	if (apk_verify_buffer(data, size, "fuzz", &r) == 0) {
		if (!(r.v2.present && r.v2.verified) && !(r.v3.present && r.v3.verified))
			abort();
		if (r.v2.n_signers > APK_MAX_SIGNERS || r.v3.n_signers > APK_MAX_SIGNERS)
			abort();
		if (apk_check_against_manifest(&r, &none, &k) != RB_E_KEY || k)
			abort();
	}
	return 0;
}
