/* The signing contract between the formats (X.509, OpenPGP, later APK/AVB,
 * signed notes) and whatever holds the key (the PKCS#11 core in
 * production, a software key in unit tests).
 *
 * A format never holds a private key. It derives the bytes to be signed
 * itself, hashes them, and asks the signer for a signature over the digest
 * (or over the whole message for Ed25519, which has no prehash form).
 * Every rb_signer implementation verifies the signature against pub before
 * returning it.
 */
#ifndef ROMBSR_CRYPTO_SIGNER_H
#define ROMBSR_CRYPTO_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum rb_key_alg {
	RB_KEY_RSA = 1,
	RB_KEY_EC_P256 = 2,
	RB_KEY_ED25519 = 3,
};

enum rb_sig_scheme {
	RB_SIG_RSA_PKCS1_SHA256 = 1, /* in: SHA-256 digest; out: modulus-length sig */
	RB_SIG_RSA_PKCS1_SHA512 = 2, /* in: SHA-512 digest */
	RB_SIG_RSA_PSS_SHA256 = 3,   /* in: SHA-256 digest; MGF1-SHA256, salt 32 */
	RB_SIG_RSA_PSS_SHA512 = 4,   /* in: SHA-512 digest; MGF1-SHA512, salt 64 */
	RB_SIG_ECDSA_SHA256 = 5,     /* in: SHA-256 digest; out: raw r||s (64 bytes) */
	RB_SIG_ED25519 = 6,          /* in: the whole message; out: 64 bytes */
};

struct rb_signer {
	const char *name;     /* key name, used in error details */
	enum rb_key_alg alg;
	EVP_PKEY *pub;        /* public key; owned by the signer's creator */
	/* Sign in/inlen under scheme. *ret_sig is malloc()ed; caller frees.
	 * Returns RB_E_UNSUPPORTED if scheme does not fit the key. */
	int (*sign)(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		    uint8_t **ret_sig, size_t *ret_len);
	void *ctx;
};

static inline int rb_signer_sign(const struct rb_signer *s, enum rb_sig_scheme scheme,
				 const uint8_t *in, size_t inlen, uint8_t **ret_sig,
				 size_t *ret_len)
{
	return s->sign(s->ctx, scheme, in, inlen, ret_sig, ret_len);
}

const char *rb_key_alg_name(enum rb_key_alg alg);       /* "rsa", "ec-p256", "ed25519" */
const char *rb_sig_scheme_name(enum rb_sig_scheme s);   /* "rsa-pkcs1-sha256", ... */
int rb_sig_scheme_from_name(const char *name, enum rb_sig_scheme *ret);

/* Digest length the scheme expects as input, or 0 for Ed25519. */
size_t rb_sig_scheme_digest_len(enum rb_sig_scheme s);
/* The OpenSSL digest behind a prehash scheme (NULL for Ed25519). */
const EVP_MD *rb_sig_scheme_md(enum rb_sig_scheme s);
/* Whether the scheme can be used with a key of this algorithm. */
int rb_sig_scheme_fits(enum rb_sig_scheme s, enum rb_key_alg alg);

/* Hash data with the scheme's digest into out (at least 64 bytes). */
int rb_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t *ret_len);

/* The DER DigestInfo prefix for SHA-256 / SHA-512 (RFC 8017 9.2 note 1). */
int rb_digestinfo_prefix(enum rb_sig_scheme s, const uint8_t **ret, size_t *ret_len);

/* Verify sig over in (digest, or message for Ed25519) with pub.
 * RB_E_VERIFY on a bad signature. */
int rb_sig_verify(EVP_PKEY *pub, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		  const uint8_t *sig, size_t siglen);

/* Convert ECDSA P-256 signatures between raw r||s (64 bytes) and DER. */
int rb_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t **ret, size_t *ret_len);
int rb_ecdsa_der_to_raw(const uint8_t *der, size_t derlen, uint8_t raw[64]);

/* Classify a public key; RB_E_UNSUPPORTED for anything else. */
int rb_pkey_alg(EVP_PKEY *pub, enum rb_key_alg *ret);

/* An RSA public key from its big-endian modulus and public exponent (as
 * PKCS#11's CKA_MODULUS and CKA_PUBLIC_EXPONENT hold them; leading zero
 * bytes, which Java's BigInteger writes, are skipped). Only a key rombsr
 * would use: an odd modulus of 1024 to 16384 bits and an odd exponent from
 * 3 to 2^64-1; anything else is RB_E_PARSE, with a detail. The caller owns
 * and frees *ret (EVP_PKEY_free). */
int rb_pkey_from_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen, EVP_PKEY **ret);

/* SHA-256 over the DER SubjectPublicKeyInfo: the key fingerprint used in
 * manifests, policy and the audit log. */
int rb_pkey_fingerprint(EVP_PKEY *pub, uint8_t ret[32]);

#endif
