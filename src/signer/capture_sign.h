/* Deferred signing, sign-node side: the real signature for a capture
 * request (request/capture_request.h). Only the sign node's key holder
 * (rombsr-signer) holds the HSM session, so this sits in its code, above
 * the PKCS#11 core.
 */
#ifndef ROMBSR_SIGNER_CAPTURE_SIGN_H
#define ROMBSR_SIGNER_CAPTURE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "request/capture_request.h"

struct p11_key;

/* The real signature for r with key (which must be r's key): signs r->input
 * under r->scheme through the PKCS#11 core (self-checked). For ECDSA it
 * re-signs until capture_ecdsa_sig_fits() (about 4 tries on average, at
 * most 64, then RB_E_CRYPTO). A key whose public key is not the request's
 * (by fingerprint) is RB_E_KEY. *ret_sig is raw-form, malloc()ed; caller
 * frees. */
int capture_request_sign(struct p11_key *key, const struct capture_request *r,
			 uint8_t **ret_sig, size_t *ret_len);

#endif
