/* v2 and v3 signer records (docs/formats/apk-verify.md). Each signer is
 * checked on its own: its signatures over the signed-data bytes with its
 * public key, its first certificate against that key, and the algorithm
 * lists of the signatures and the digests against each other. The
 * content digests it claims are returned for apk_digest_check. */
#include <stdio.h>
#include <string.h>

#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "apk/apk-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static const struct apk_alg algs[] = {
	{ APK_SIG_RSA_PSS_SHA256, "rsa-pss-sha256", true, true, false },
	{ APK_SIG_RSA_PSS_SHA512, "rsa-pss-sha512", true, true, true },
	{ APK_SIG_RSA_PKCS1_SHA256, "rsa-pkcs1-sha256", true, false, false },
	{ APK_SIG_RSA_PKCS1_SHA512, "rsa-pkcs1-sha512", true, false, true },
	{ APK_SIG_ECDSA_SHA256, "ecdsa-sha256", false, false, false },
	{ APK_SIG_ECDSA_SHA512, "ecdsa-sha512", false, false, true },
};

const struct apk_alg *apk_alg_find(uint32_t id)
{
	for (size_t i = 0; i < ELEMENTSOF(algs); i++)
		if (algs[i].id == id)
			return &algs[i];
	return NULL;
}

const char *apk_sig_alg_name(uint32_t id)
{
	const struct apk_alg *a = apk_alg_find(id);

	return a ? a->name : NULL;
}

/* Where we are, for error details: "app.apk: v3 block, signer #0". */
struct ctx {
	char at[APK_WHERE_MAX];
	int scheme;
};

#define CTX_FMT "%s: "
#define CTX_ARGS(c) (c)->at

static void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static void x509_freep(X509 **p)
{
	X509_free(*p);
}
static void evp_md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

struct sig_rec {
	const struct apk_alg *alg;
	const uint8_t *sig;
	size_t len;
};

static int signatures_parse(const struct ctx *c, struct rb_reader *r, struct sig_rec out[APK_MAX_SIGNATURES],
			    size_t *ret_n)
{
	size_t n = 0;
	int rc;

	while (r->len > 0) {
		struct rb_reader rec, sig;
		uint32_t id;

		if (n == APK_MAX_SIGNATURES)
			return rb_err_set(RB_E_LIMIT, CTX_FMT "more than %d signatures", CTX_ARGS(c), APK_MAX_SIGNATURES);
		if ((rc = apk_get_lp(r, &rec)) < 0 || (rc = rb_reader_get_u32le(&rec, &id)) < 0 ||
		    (rc = apk_get_lp(&rec, &sig)) < 0 || (rc = rb_reader_expect_end(&rec)) < 0)
			return rb_err_set(rc, CTX_FMT "signature record #%zu is malformed", CTX_ARGS(c), n);
		if (!(out[n].alg = apk_alg_find(id)))
			return rb_err_set(RB_E_UNSUPPORTED, CTX_FMT "signature #%zu uses algorithm 0x%04x; rombsr verifies only 0x0101-0x0104 (RSA) and 0x0201-0x0202 (ECDSA)",
					  CTX_ARGS(c), n, id);
		for (size_t i = 0; i < n; i++)
			if (out[i].alg == out[n].alg)
				return rb_err_set(RB_E_PARSE, CTX_FMT "two signatures with algorithm 0x%04x", CTX_ARGS(c), id);
		if (sig.len == 0)
			return rb_err_set(RB_E_PARSE, CTX_FMT "signature #%zu is empty", CTX_ARGS(c), n);
		out[n].sig = sig.p;
		out[n].len = sig.len;
		n++;
	}
	if (n == 0)
		return rb_err_set(RB_E_PARSE, CTX_FMT "no signatures", CTX_ARGS(c));
	*ret_n = n;
	return 0;
}

static int signature_verify(const struct ctx *c, EVP_PKEY *pub, const struct sig_rec *s,
			    const uint8_t *msg, size_t msg_len)
{
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = s->alg->sha512 ? EVP_sha512() : EVP_sha256();
	bool is_rsa = EVP_PKEY_is_a(pub, "RSA"), is_ec = EVP_PKEY_is_a(pub, "EC");

	if (s->alg->rsa ? !is_rsa : !is_ec)
		return rb_err_set(RB_E_VERIFY, CTX_FMT "signature algorithm %s does not fit the signer's %s public key",
				  CTX_ARGS(c), s->alg->name, EVP_PKEY_get0_type_name(pub));
	if (!(mctx = EVP_MD_CTX_new()))
		return RB_E_NOMEM;
	if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pub) != 1)
		return rb_err_set(RB_E_CRYPTO, CTX_FMT "cannot set up %s verification", CTX_ARGS(c), s->alg->name);
	/* Android's PSS: MGF1 with the same digest, salt as long as the digest. */
	if (s->alg->pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) != 1))
		return rb_err_set(RB_E_CRYPTO, CTX_FMT "cannot set up RSA-PSS parameters", CTX_ARGS(c));
	if (EVP_DigestVerify(mctx, s->sig, s->len, msg, msg_len) != 1)
		return rb_err_set(RB_E_VERIFY, CTX_FMT "%s signature does not verify over the signed data; the signing block was altered or signed by another key",
				  CTX_ARGS(c), s->alg->name);
	return 0;
}

/* The DER SPKI, parsed whole; re-encoding must give the same bytes, so
 * the fingerprint the manifest check uses is of exactly what was signed. */
static int pubkey_parse(const struct ctx *c, const struct rb_reader *r, EVP_PKEY **ret)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pub = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	const unsigned char *p = r->p;
	int der_len;

	if (r->len == 0 || r->len > 16384)
		return rb_err_set(RB_E_PARSE, CTX_FMT "public key of %zu bytes", CTX_ARGS(c), r->len);
	if (!(pub = d2i_PUBKEY(NULL, &p, (long)r->len)) || (size_t)(p - r->p) != r->len)
		return rb_err_set(RB_E_PARSE, CTX_FMT "public key is not one DER SubjectPublicKeyInfo", CTX_ARGS(c));
	if ((der_len = i2d_PUBKEY(pub, &der)) <= 0)
		return rb_err_set(RB_E_CRYPTO, CTX_FMT "cannot re-encode the public key", CTX_ARGS(c));
	if ((size_t)der_len != r->len || memcmp(der, r->p, r->len) != 0)
		return rb_err_set(RB_E_PARSE, CTX_FMT "public key is not in canonical DER", CTX_ARGS(c));
	*ret = TAKE_PTR(pub);
	return 0;
}

/* The first certificate is the signer's identity on Android; its key must
 * be the one the signatures were checked with. */
static int cert_check(const struct ctx *c, const struct rb_reader *cert, const struct rb_reader *spki,
		      struct apk_signer_info *info)
{
	_cleanup_(x509_freep) X509 *x = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	const unsigned char *p = cert->p;
	int der_len;

	if (!(x = d2i_X509(NULL, &p, (long)cert->len)) || (size_t)(p - cert->p) != cert->len)
		return rb_err_set(RB_E_PARSE, CTX_FMT "certificate #0 is not one DER X.509 certificate", CTX_ARGS(c));
	if ((der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) <= 0)
		return rb_err_set(RB_E_CRYPTO, CTX_FMT "cannot encode certificate #0's public key", CTX_ARGS(c));
	if ((size_t)der_len != spki->len || memcmp(der, spki->p, spki->len) != 0)
		return rb_err_set(RB_E_VERIFY, CTX_FMT "certificate #0's public key is not the signer's public key",
				  CTX_ARGS(c));
	SHA256(cert->p, cert->len, info->cert_sha256);
	return 0;
}

static int signer_verify(const struct ctx *c, struct rb_reader *r, struct apk_signer *s)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pub = NULL;
	struct rb_reader signed_data, sigs, spki, cert;
	struct apk_signed_data sd;
	struct sig_rec recs[APK_MAX_SIGNATURES];
	uint32_t min_sdk = 0, max_sdk = 0;
	size_t n_sigs = 0, best = 0;
	int rc;

	if ((rc = apk_get_lp(r, &signed_data)) < 0)
		return rb_err_set(rc, CTX_FMT "truncated signed data", CTX_ARGS(c));
	if (c->scheme == 3 && ((rc = rb_reader_get_u32le(r, &min_sdk)) < 0 ||
			       (rc = rb_reader_get_u32le(r, &max_sdk)) < 0))
		return rb_err_set(rc, CTX_FMT "truncated SDK range", CTX_ARGS(c));
	if ((rc = apk_get_lp(r, &sigs)) < 0 || (rc = apk_get_lp(r, &spki)) < 0 || (rc = rb_reader_expect_end(r)) < 0)
		return rb_err_set(rc, CTX_FMT "malformed signer record (signatures, public key)", CTX_ARGS(c));
	if ((rc = signatures_parse(c, &sigs, recs, &n_sigs)) < 0 || (rc = pubkey_parse(c, &spki, &pub)) < 0)
		return rc;

	/* Every signature must verify before anything inside the signed data
	 * is believed. */
	for (size_t i = 0; i < n_sigs; i++) {
		if ((rc = signature_verify(c, pub, &recs[i], signed_data.p, signed_data.len)) < 0)
			return rc;
		if (recs[i].alg->sha512 && !recs[best].alg->sha512)
			best = i;
	}
	s->info.alg = recs[best].alg->id;
	if (rb_pkey_fingerprint(pub, s->info.spki_sha256) < 0)
		return rb_err_set(RB_E_CRYPTO, CTX_FMT "cannot fingerprint the public key", CTX_ARGS(c));

	if ((rc = apk_signed_data_parse(c->at, c->scheme, signed_data.p, signed_data.len, &sd)) < 0)
		return rc;
	cert = (struct rb_reader){ sd.cert, sd.cert_len };
	if ((rc = cert_check(c, &cert, &spki, &s->info)) < 0)
		return rc;
	s->info.min_sdk = sd.min_sdk;
	s->info.max_sdk = sd.max_sdk;
	s->claims_v3 = sd.claims_v3;
	for (size_t i = 0; i < sd.n_digests; i++) {
		s->digests[i].alg = apk_alg_find(sd.digests[i].alg);
		memcpy(s->digests[i].digest, sd.digests[i].digest, sd.digests[i].len);
		s->digests[i].len = sd.digests[i].len;
	}
	s->n_digests = sd.n_digests;
	/* A signature whose algorithm has no digest (or the reverse) would let
	 * the verifier check a digest nobody signed for. */
	if (s->n_digests != n_sigs)
		return rb_err_set(RB_E_VERIFY, CTX_FMT "signature algorithm lists disagree: %zu signatures, %zu digests",
				  CTX_ARGS(c), n_sigs, s->n_digests);
	for (size_t i = 0; i < n_sigs; i++)
		if (s->digests[i].alg != recs[i].alg)
			return rb_err_set(RB_E_VERIFY, CTX_FMT "signature algorithm lists disagree at #%zu: signature 0x%04x, digest 0x%04x",
					  CTX_ARGS(c), i, recs[i].alg->id, s->digests[i].alg->id);
	if (c->scheme == 3 && (min_sdk != s->info.min_sdk || max_sdk != s->info.max_sdk))
		return rb_err_set(RB_E_VERIFY, CTX_FMT "SDK range %u..%u outside the signed data disagrees with %u..%u inside it",
				  CTX_ARGS(c), min_sdk, max_sdk, s->info.min_sdk, s->info.max_sdk);
	return 0;
}

int apk_signers_verify(const char *source, int scheme, const uint8_t *value, size_t len,
		       struct apk_signer ret[APK_MAX_SIGNERS], size_t *ret_n)
{
	struct apk_signer out[APK_MAX_SIGNERS];
	struct ctx c = { .scheme = scheme };
	struct rb_reader r, signers;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(out));
	rb_reader_init(&r, value, len);
	if ((rc = apk_get_lp(&r, &signers)) < 0 || (rc = rb_reader_expect_end(&r)) < 0)
		return rb_err_set(RB_E_PARSE, "%s: v%d block of %zu bytes is not one length-prefixed signer sequence",
				  source, scheme, len);
	while (signers.len > 0) {
		struct rb_reader one;

		snprintf(c.at, sizeof(c.at), "%s: v%d block, signer #%zu", source, scheme, n);
		if (n == APK_MAX_SIGNERS)
			return rb_err_set(RB_E_LIMIT, "%s: v%d block has more than %d signers", source, scheme,
					  APK_MAX_SIGNERS);
		if ((rc = apk_get_lp(&signers, &one)) < 0)
			return rb_err_set(rc, CTX_FMT "truncated signer record", CTX_ARGS(&c));
		if ((rc = signer_verify(&c, &one, &out[n])) < 0)
			return rc;
		n++;
	}
	if (n == 0)
		return rb_err_set(RB_E_PARSE, "%s: v%d block has no signers", source, scheme);
	memcpy(ret, out, n * sizeof(out[0]));
	*ret_n = n;
	return 0;
}
