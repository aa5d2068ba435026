/* From a verified APK to a manifest key. Every signer counts: an APK that
 * also carries a stranger's signature is not "signed by our key" for the
 * purposes of whoever asks. */
#include <openssl/crypto.h>

#include "apk/apk.h"
#include "util/err.h"
#include "util/encode.h"

static const struct manifest_key *key_by_spki(const struct manifest *m, const uint8_t sha[32])
{
	for (size_t i = 0; i < m->n_keys; i++)
		if (CRYPTO_memcmp(m->keys[i].spki_sha256, sha, 32) == 0)
			return &m->keys[i];
	return NULL;
}

static int scheme_check(const struct apk_scheme_info *info, int scheme, const struct manifest *m,
			const struct manifest_key **ret_first)
{
	for (size_t i = 0; i < info->n_signers; i++) {
		const struct manifest_key *k = key_by_spki(m, info->signers[i].spki_sha256);
		char fp[17];

		rb_hex_format(info->signers[i].spki_sha256, 8, fp);
		if (!k)
			return rb_err_set(RB_E_KEY, "v%d signer #%zu (SPKI SHA-256 %s...) is not a key of the manifest; the APK was signed by someone else",
					  scheme, i, fp);
		if (k->status == KEY_REVOKED)
			return rb_err_set(RB_E_PERM, "v%d signer #%zu is key '%s', which is revoked%s%s; do not trust or ship this APK",
					  scheme, i, k->name, k->revocation_reason ? ": " : "",
					  k->revocation_reason ? k->revocation_reason : "");
		if (k->status != KEY_ACTIVE && k->status != KEY_RETIRED)
			return rb_err_set(RB_E_PERM, "v%d signer #%zu is key '%s' in an unknown status", scheme, i, k->name);
		if (i == 0)
			*ret_first = k;
	}
	return 0;
}

int apk_check_against_manifest(const struct apk_result *result, const struct manifest *m,
			       const struct manifest_key **ret_key)
{
	const struct manifest_key *k2 = NULL, *k3 = NULL;
	int rc;

	if (!result || !m || !ret_key)
		return RB_E_INVAL;
	if (!(result->v2.present && result->v2.verified && result->v2.n_signers) &&
	    !(result->v3.present && result->v3.verified && result->v3.n_signers))
		return rb_err_set(RB_E_INVAL, "APK result has no verified v2 or v3 signer; verify the APK first");
	if ((result->v2.present && !result->v2.verified) || (result->v3.present && !result->v3.verified))
		return rb_err_set(RB_E_INVAL, "APK result has a scheme that did not verify");
	if (result->v2.present && (rc = scheme_check(&result->v2, 2, m, &k2)) < 0)
		return rc;
	if (result->v3.present && (rc = scheme_check(&result->v3, 3, m, &k3)) < 0)
		return rc;
	*ret_key = k3 ? k3 : k2;
	return 0;
}
