#include "soft_signer.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "util/err.h"

struct soft {
	EVP_PKEY *priv;
};

static int soft_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		     uint8_t **ret_sig, size_t *ret_len)
{
	struct soft *s = ctx;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *sig = NULL, *raw;
	size_t siglen = 0;
	int rc = RB_E_CRYPTO;
	enum rb_key_alg alg;

	if (rb_pkey_alg(s->priv, &alg) < 0 || !rb_sig_scheme_fits(scheme, alg))
		return RB_E_UNSUPPORTED;
	if (scheme == RB_SIG_ED25519) {
		mctx = EVP_MD_CTX_new();
		if (EVP_DigestSignInit(mctx, NULL, NULL, NULL, s->priv) != 1 ||
		    EVP_DigestSign(mctx, NULL, &siglen, in, inlen) != 1)
			goto out;
		sig = malloc(siglen);
		if (EVP_DigestSign(mctx, sig, &siglen, in, inlen) != 1)
			goto out;
	} else {
		pctx = EVP_PKEY_CTX_new(s->priv, NULL);
		if (EVP_PKEY_sign_init(pctx) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pctx, rb_sig_scheme_md(scheme)) != 1)
			goto out;
		if (scheme == RB_SIG_RSA_PSS_SHA256 || scheme == RB_SIG_RSA_PSS_SHA512) {
			if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)inlen) != 1)
				goto out;
		}
		if (EVP_PKEY_sign(pctx, NULL, &siglen, in, inlen) != 1)
			goto out;
		sig = malloc(siglen);
		if (EVP_PKEY_sign(pctx, sig, &siglen, in, inlen) != 1)
			goto out;
		if (scheme == RB_SIG_ECDSA_SHA256) {
			raw = malloc(64);
			if (rb_ecdsa_der_to_raw(sig, siglen, raw) < 0) {
				free(raw);
				goto out;
			}
			free(sig);
			sig = raw;
			siglen = 64;
		}
	}
	if ((rc = rb_sig_verify(s->priv, scheme, in, inlen, sig, siglen)) < 0)
		goto out;
	*ret_sig = sig;
	*ret_len = siglen;
	sig = NULL;
	rc = RB_OK;
out:
	free(sig);
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int soft_signer_new(const char *kind, struct rb_signer *out)
{
	struct soft *s = calloc(1, sizeof(*s));
	EVP_PKEY *pk = NULL;

	if (!s)
		return RB_E_NOMEM;
	if (strcmp(kind, "rsa2048") == 0)
		pk = EVP_RSA_gen(2048);
	else if (strcmp(kind, "rsa4096") == 0)
		pk = EVP_RSA_gen(4096);
	else if (strcmp(kind, "p256") == 0)
		pk = EVP_EC_gen("P-256");
	else if (strcmp(kind, "ed25519") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pk) {
		free(s);
		return RB_E_UNSUPPORTED;
	}
	s->priv = pk;
	memset(out, 0, sizeof(*out));
	out->name = kind;
	rb_pkey_alg(pk, &out->alg);
	out->pub = pk; /* the private key object also serves as the public key */
	out->sign = soft_sign;
	out->ctx = s;
	return RB_OK;
}

void soft_signer_free(struct rb_signer *out)
{
	struct soft *s;

	if (!out || !out->ctx)
		return;
	s = out->ctx;
	EVP_PKEY_free(s->priv);
	free(s);
	out->ctx = NULL;
	out->pub = NULL;
}
