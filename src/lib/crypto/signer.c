#include "crypto/signer.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "util/cleanup.h"
#include "util/err.h"

static const struct {
	enum rb_sig_scheme s;
	const char *name;
} scheme_names[] = {
	{ RB_SIG_RSA_PKCS1_SHA256, "rsa-pkcs1-sha256" },
	{ RB_SIG_RSA_PKCS1_SHA512, "rsa-pkcs1-sha512" },
	{ RB_SIG_RSA_PSS_SHA256, "rsa-pss-sha256" },
	{ RB_SIG_RSA_PSS_SHA512, "rsa-pss-sha512" },
	{ RB_SIG_ECDSA_SHA256, "ecdsa-p256-sha256" },
	{ RB_SIG_ED25519, "ed25519" },
};

const char *rb_key_alg_name(enum rb_key_alg alg)
{
	switch (alg) {
	case RB_KEY_RSA: return "rsa";
	case RB_KEY_EC_P256: return "ec-p256";
	case RB_KEY_ED25519: return "ed25519";
	}
	return "unknown";
}

const char *rb_sig_scheme_name(enum rb_sig_scheme s)
{
	for (size_t i = 0; i < ELEMENTSOF(scheme_names); i++)
		if (scheme_names[i].s == s)
			return scheme_names[i].name;
	return "unknown";
}

int rb_sig_scheme_from_name(const char *name, enum rb_sig_scheme *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(scheme_names); i++)
		if (strcmp(scheme_names[i].name, name) == 0) {
			*ret = scheme_names[i].s;
			return RB_OK;
		}
	return RB_E_UNSUPPORTED;
}

const EVP_MD *rb_sig_scheme_md(enum rb_sig_scheme s)
{
	switch (s) {
	case RB_SIG_RSA_PKCS1_SHA256:
	case RB_SIG_RSA_PSS_SHA256:
	case RB_SIG_ECDSA_SHA256:
		return EVP_sha256();
	case RB_SIG_RSA_PKCS1_SHA512:
	case RB_SIG_RSA_PSS_SHA512:
		return EVP_sha512();
	case RB_SIG_ED25519:
		return NULL;
	}
	return NULL;
}

size_t rb_sig_scheme_digest_len(enum rb_sig_scheme s)
{
	const EVP_MD *md = rb_sig_scheme_md(s);

	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

int rb_sig_scheme_fits(enum rb_sig_scheme s, enum rb_key_alg alg)
{
	switch (s) {
	case RB_SIG_RSA_PKCS1_SHA256:
	case RB_SIG_RSA_PKCS1_SHA512:
	case RB_SIG_RSA_PSS_SHA256:
	case RB_SIG_RSA_PSS_SHA512:
		return alg == RB_KEY_RSA;
	case RB_SIG_ECDSA_SHA256:
		return alg == RB_KEY_EC_P256;
	case RB_SIG_ED25519:
		return alg == RB_KEY_ED25519;
	}
	return 0;
}

int rb_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t *ret_len)
{
	unsigned int n = 0;

	if (!md)
		return RB_E_INVAL;
	if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
		return RB_E_CRYPTO;
	*ret_len = n;
	return RB_OK;
}

static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

int rb_digestinfo_prefix(enum rb_sig_scheme s, const uint8_t **ret, size_t *ret_len)
{
	switch (s) {
	case RB_SIG_RSA_PKCS1_SHA256:
		*ret = di_sha256;
		*ret_len = sizeof(di_sha256);
		return RB_OK;
	case RB_SIG_RSA_PKCS1_SHA512:
		*ret = di_sha512;
		*ret_len = sizeof(di_sha512);
		return RB_OK;
	default:
		return RB_E_UNSUPPORTED;
	}
}

int rb_pkey_alg(EVP_PKEY *pub, enum rb_key_alg *ret)
{
	char group[32];
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		*ret = RB_KEY_RSA;
		return RB_OK;
	case EVP_PKEY_ED25519:
		*ret = RB_KEY_ED25519;
		return RB_OK;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) == 1 &&
		    strcmp(group, "prime256v1") == 0) {
			*ret = RB_KEY_EC_P256;
			return RB_OK;
		}
		return RB_E_UNSUPPORTED;
	}
	return RB_E_UNSUPPORTED;
}

int rb_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t **ret, size_t *ret_len)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int n;

	if (rawlen != 64)
		return RB_E_INVAL;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, 32, NULL);
	s = BN_bin2bn(raw + 32, 32, NULL);
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return RB_E_NOMEM;
	}
	n = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return RB_E_CRYPTO;
	*ret = malloc((size_t)n);
	if (!*ret) {
		OPENSSL_free(der);
		return RB_E_NOMEM;
	}
	memcpy(*ret, der, (size_t)n);
	OPENSSL_free(der);
	*ret_len = (size_t)n;
	return RB_OK;
}

int rb_ecdsa_der_to_raw(const uint8_t *der, size_t derlen, uint8_t raw[64])
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int ok;

	if (derlen > 80)
		return RB_E_PARSE;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (!sig)
		return RB_E_PARSE;
	if ((size_t)(p - der) != derlen) {
		ECDSA_SIG_free(sig);
		return RB_E_PARSE;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? RB_OK : RB_E_PARSE;
}

int rb_sig_verify(EVP_PKEY *pub, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		  const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *der = NULL;
	size_t derlen;
	int rc = RB_E_CRYPTO, ok;

	if (scheme == RB_SIG_ED25519) {
		mctx = EVP_MD_CTX_new();
		if (!mctx)
			return RB_E_NOMEM;
		if (EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pub) != 1)
			goto out;
		ok = EVP_DigestVerify(mctx, sig, siglen, in, inlen);
		rc = ok == 1 ? RB_OK : RB_E_VERIFY;
		goto out;
	}
	if (inlen != rb_sig_scheme_digest_len(scheme))
		return RB_E_INVAL;
	pctx = EVP_PKEY_CTX_new(pub, NULL);
	if (!pctx || EVP_PKEY_verify_init(pctx) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_signature_md(pctx, rb_sig_scheme_md(scheme)) != 1)
		goto out;
	switch (scheme) {
	case RB_SIG_RSA_PKCS1_SHA256:
	case RB_SIG_RSA_PKCS1_SHA512:
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
			goto out;
		break;
	case RB_SIG_RSA_PSS_SHA256:
	case RB_SIG_RSA_PSS_SHA512:
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, rb_sig_scheme_md(scheme)) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)inlen) != 1)
			goto out;
		break;
	case RB_SIG_ECDSA_SHA256:
		if ((rc = rb_ecdsa_raw_to_der(sig, siglen, &der, &derlen)) < 0) {
			rc = RB_E_VERIFY;
			goto out;
		}
		sig = der;
		siglen = derlen;
		break;
	default:
		rc = RB_E_UNSUPPORTED;
		goto out;
	}
	ok = EVP_PKEY_verify(pctx, sig, siglen, in, inlen);
	rc = ok == 1 ? RB_OK : RB_E_VERIFY;
out:
	free(der);
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int rb_pkey_fingerprint(EVP_PKEY *pub, uint8_t ret[32])
{
	unsigned char *der = NULL;
	size_t n;
	int len = i2d_PUBKEY(pub, &der);
	int err;

	if (len <= 0)
		return RB_E_CRYPTO;
	err = rb_digest(EVP_sha256(), der, (size_t)len, ret, &n);
	OPENSSL_free(der);
	return err;
}

int rb_pkey_from_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	EVP_PKEY *pk = NULL;
	int rc = RB_E_CRYPTO;

	if (!n || !e || !ret)
		return rb_err_set(RB_E_INVAL, "RSA public key: missing argument");
	for (; nlen > 0 && *n == 0; n++, nlen--)
		;
	for (; elen > 0 && *e == 0; e++, elen--)
		;
	/* An even modulus or exponent, e = 1 and toy sizes make keys that
	 * verify forgeries or nothing at all. */
	if (nlen < 128 || nlen > 2048 || !(n[nlen - 1] & 1))
		return rb_err_set(RB_E_PARSE, "RSA public key: the modulus must be odd and 1024 to 16384 bits "
				  "(it is %zu bytes)", nlen);
	if (elen == 0 || elen > 8 || !(e[elen - 1] & 1) || (elen == 1 && e[0] < 3))
		return rb_err_set(RB_E_PARSE, "RSA public key: the exponent must be odd and 3 to 2^64-1");
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn_n || !bn_e || !bld) {
		rc = RB_E_NOMEM;
		goto out;
	}
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*ret = pk;
	rc = RB_OK;
out:
	if (rc == RB_E_CRYPTO)
		rb_err_set(rc, "RSA public key: OpenSSL cannot build it from its modulus and exponent");
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
