/* Sign node: the real signature for a captured request. The request was
 * parsed and checked (id, placeholder, key policy) by
 * capture_request_parse(); here the token key must be the request's key,
 * and the signature must fit where the placeholder sits. */
#include <stdlib.h>
#include <string.h>

#include "p11/p11.h"
#include "signer/capture_sign.h"
#include "util/err.h"
#include "util/secret.h"

/* An ECDSA signature fits with probability (127/256)^2, about 1 in 4;
 * 64 misses in a row happen with probability below 1e-7. */
#define ECDSA_MAX_TRIES 64

int capture_request_sign(struct p11_key *key, const struct capture_request *r,
			 uint8_t **ret_sig, size_t *ret_len)
{
	uint8_t fpr[32], *sig = NULL;
	size_t siglen = 0;
	EVP_PKEY *pub;
	int err;

	if (!key || !r || !ret_sig || !ret_len)
		return rb_err_set(RB_E_INVAL, "capture sign: missing argument");
	pub = p11_key_public(key);
	if (!pub || rb_pkey_fingerprint(pub, fpr) < 0)
		return rb_err_set(RB_E_KEY, "request %s: token key '%s' has no usable public key",
				  r->id_hex, p11_key_name(key));
	if (!rb_ct_equal(fpr, 32, r->key_spki_sha256, 32))
		return rb_err_set(RB_E_KEY,
				  "request %s is for key \"%s\" with a different fingerprint than "
				  "token key '%s'; sign it with the key named in the request",
				  r->id_hex, r->key_name, p11_key_name(key));
	if (!rb_sig_scheme_fits(r->scheme, p11_key_alg(key)))
		return rb_err_set(RB_E_KEY, "request %s: token key '%s' is %s and cannot sign %s",
				  r->id_hex, p11_key_name(key), rb_key_alg_name(p11_key_alg(key)),
				  rb_sig_scheme_name(r->scheme));

	for (unsigned tries = 0;; tries++) {
		if (tries == (r->scheme == RB_SIG_ECDSA_SHA256 ? ECDSA_MAX_TRIES : 1))
			return rb_err_set(RB_E_CRYPTO,
					  "request %s: %u ECDSA signatures from key '%s' in a row "
					  "had a top byte outside 0x01..0x7f; the token's nonces are "
					  "not random - check the HSM",
					  r->id_hex, tries, p11_key_name(key));
		if ((err = p11_key_sign(key, r->scheme, r->input, r->input_len, &sig, &siglen)) < 0)
			return err;
		if (siglen != r->placeholder_len) {
			free(sig);
			return rb_err_set(RB_E_KEY,
					  "request %s: key '%s' made a %zu-byte signature for a "
					  "%zu-byte placeholder; the key does not match the manifest",
					  r->id_hex, p11_key_name(key), siglen, r->placeholder_len);
		}
		if (r->scheme != RB_SIG_ECDSA_SHA256 || capture_ecdsa_sig_fits(sig))
			break;
		free(sig);
		sig = NULL;
	}
	*ret_sig = sig;
	*ret_len = siglen;
	return RB_OK;
}
