/* The sign node looks through a capture request wherever it can: for a
 * key that signs only APK structures, the data the build tool passed must
 * be one (docs/formats/request.md, "What the sign node checks"). */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apk/apk.h"
#include "request/request.h"
#include "util/err.h"

int request_capture_structure_check(const struct capture_request *r, const struct manifest_key *key)
{
	char detail[RB_ERR_DETAIL_MAX], purposes[KEY_PURPOSES_TEXT_MAX];
	uint8_t digest[64];
	const uint8_t *data;
	size_t len, n;
	int err;

	if (!r || !key)
		return rb_err_set(RB_E_INVAL, "capture structure check: missing argument");
	if ((key->purposes & KEY_PURPOSES_OPAQUE) || !(key->purposes & KEY_PURPOSE_APK))
		return RB_OK;
	key_purposes_format(key->purposes, ", ", purposes);
	if (!capture_request_signed_data(r, &data, &len))
		return rb_err_set(RB_E_PERM,
				  "capture request %.16s (%s, version %d) carries only a digest; key '%s' (purposes "
				  "%s) signs only APK structures the sign node can read. Update the capture module "
				  "on the build node to this rombsr release (it keeps the signed data), sign again "
				  "and resubmit", r->id_hex, capture_mech_name(r->mechanism), r->version, key->name,
				  purposes);
	/* The reader checked this already; the HSM is next, so once more. */
	if (r->scheme != RB_SIG_ED25519 &&
	    (rb_digest(rb_sig_scheme_md(r->scheme), data, len, digest, &n) < 0 || n != r->input_len ||
	     CRYPTO_memcmp(digest, r->input, n) != 0))
		return rb_err_set(RB_E_PERM, "capture request %.16s: its data does not hash to its input; the "
				  "request was altered", r->id_hex);
	if (!key->cert || key->cert_len == 0)
		return rb_err_set(RB_E_PERM, "key '%s' has no certificate in the manifest, so no APK structure "
				  "can name it; re-provision the key", key->name);
	if ((err = apk_signer_input_check("data", data, len, key->cert, key->cert_len, NULL)) < 0) {
		rb_err_save(err, detail);
		return rb_err_set(RB_E_PERM, "capture request %.16s for key '%s' (purposes %s) is not what apksigner "
				  "signs with that key (v2/v3 signed data or v4 signing data naming its certificate, "
				  "or a v1 signature file); %s", r->id_hex, key->name, purposes, detail);
	}
	return RB_OK;
}
