#include <stdlib.h>
#include <string.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

/* Largest input we pass to C_Sign: an RSA DigestInfo is < 100 bytes, but
 * Ed25519 signs whole messages (OpenPGP hashes, checkpoints, TBS). */
#define MAX_SIGN_INPUT (64 * 1024 * 1024)

static size_t sig_len_for(const struct p11_key *k)
{
	switch (k->alg) {
	case RB_KEY_RSA:
		return (k->bits + 7) / 8;
	case RB_KEY_EC_P256:
	case RB_KEY_ED25519:
		return 64;
	}
	return 0;
}

int p11_key_sign(struct p11_key *k, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		 uint8_t **ret_sig, size_t *ret_len)
{
	struct p11_token *t = k->token;
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	uint8_t block[128];
	const uint8_t *prefix, *data = in;
	size_t plen, dlen = inlen;
	CK_ULONG siglen;
	uint8_t *sig;
	CK_RV rv;
	int err;

	if (!rb_sig_scheme_fits(scheme, k->alg))
		return rb_err_set(RB_E_UNSUPPORTED, "key '%s' is %s and cannot sign with %s; pick a "
				  "format that matches the key", k->name, rb_key_alg_name(k->alg),
				  rb_sig_scheme_name(scheme));
	if (scheme != RB_SIG_ED25519 && inlen != rb_sig_scheme_digest_len(scheme))
		return rb_err_set(RB_E_INVAL, "%s with key '%s': digest is %zu bytes, want %zu",
				  rb_sig_scheme_name(scheme), k->name, inlen,
				  rb_sig_scheme_digest_len(scheme));
	if (inlen > MAX_SIGN_INPUT)
		return rb_err_set(RB_E_TOOBIG, "key '%s': message of %zu bytes exceeds %d", k->name,
				  inlen, MAX_SIGN_INPUT);

	switch (scheme) {
	case RB_SIG_RSA_PKCS1_SHA256:
	case RB_SIG_RSA_PKCS1_SHA512:
		/* DigestInfo + CKM_RSA_PKCS works on every module, including
		 * those without CKM_SHA*_RSA_PKCS, and keeps hashing on the host
		 * where the caller can check what is being signed. */
		rb_digestinfo_prefix(scheme, &prefix, &plen);
		memcpy(block, prefix, plen);
		memcpy(block + plen, in, inlen);
		data = block;
		dlen = plen + inlen;
		mech.mechanism = CKM_RSA_PKCS;
		break;
	case RB_SIG_RSA_PSS_SHA256:
		pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, 32 };
		mech = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
		break;
	case RB_SIG_RSA_PSS_SHA512:
		pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA512, CKG_MGF1_SHA512, 64 };
		mech = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
		break;
	case RB_SIG_ECDSA_SHA256:
		mech.mechanism = CKM_ECDSA;
		break;
	case RB_SIG_ED25519:
		mech.mechanism = CKM_EDDSA;
		break;
	}

	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	siglen = sig_len_for(k);
	sig = malloc(siglen);
	if (!sig)
		return RB_E_NOMEM;
	/* A wrapped key is unwrapped on demand and pinned while it signs. */
	priv = k->priv;
	if (k->wrapped && (err = p11_wrapped_acquire(k, s, &priv)) < 0) {
		free(sig);
		return err;
	}
	rv = P11_MODULE_CALL(t->f->C_SignInit(s, &mech, priv));
	if (rv == CKR_OK)
		rv = t->f->C_Sign(s, (CK_BYTE_PTR)data, dlen, sig, &siglen);
	rb_wipe(block, sizeof(block));
	if (rv != CKR_OK) {
		if (k->wrapped)
			p11_wrapped_release(k, s, true);
		free(sig);
		if (rv == CKR_USER_NOT_LOGGED_IN && t->logged_in)
			return rb_err_set(RB_E_GONE, "C_Sign with key '%s' on token '%s': CKR_USER_NOT_LOGGED_IN "
					  "after a login: the token restarted", k->name, t->label);
		if (rv == CKR_USER_NOT_LOGGED_IN)
			return rb_err_set(RB_E_PERM, "C_Sign with key '%s' on token '%s': "
					  "CKR_USER_NOT_LOGGED_IN; log in as operator first", k->name, t->label);
		return p11_fail(rv, "C_Sign", "key", k->name);
	}
	/* Never release a signature the public key does not accept: it
	 * catches faulty hardware (RSA-CRT faults leak the key), a wrong
	 * key handle, and a module that returns garbage. */
	err = rb_sig_verify(k->pub, scheme, in, inlen, sig, siglen);
	/* An unwrapped object that signs wrongly (a blob swapped in from
	 * another key) is destroyed at once, not kept for the next call. */
	if (k->wrapped)
		p11_wrapped_release(k, s, err < 0);
	if (err < 0) {
		free(sig);
		return rb_err_set(RB_E_VERIFY, "self-check failed: the signature from key '%s' on token "
				  "'%s' does not verify with its public key; the token is faulty or "
				  "the key objects are mismatched", k->name, t->label);
	}
	*ret_sig = sig;
	*ret_len = siglen;
	return RB_OK;
}

static int signer_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		       uint8_t **ret_sig, size_t *ret_len)
{
	return p11_key_sign(ctx, scheme, in, inlen, ret_sig, ret_len);
}

void p11_key_signer(struct p11_key *k, struct rb_signer *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = k->name;
	ret->alg = k->alg;
	ret->pub = k->pub;
	ret->sign = signer_sign;
	ret->ctx = k;
}
