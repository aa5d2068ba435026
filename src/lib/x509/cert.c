/* Self-signed certificates for HSM keys: rombsr writes the TBSCertificate,
 * the token signs it, and OpenSSL must accept the result before anyone
 * else sees it. */
#include "x509/x509.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "x509/der.h"
#include "x509/x509-internal.h"

/* An RSA-4096 certificate is about 1.4 KiB; anything near this cap is a
 * bug, and the cap keeps such a bug from becoming a huge allocation. */
#define CERT_MAX (64u * 1024)
#define SKI_LEN 20 /* SHA-1 */
#define RSA_MIN_BITS 2048

#define OID_SHA256_WITH_RSA "1.2.840.113549.1.1.11"
#define OID_ECDSA_WITH_SHA256 "1.2.840.10045.4.3.2"
#define OID_ED25519 "1.3.101.112"
#define OID_SUBJECT_KEY_ID "2.5.29.14"
#define OID_KEY_USAGE "2.5.29.15"
#define OID_BASIC_CONSTRAINTS "2.5.29.19"
#define OID_AUTHORITY_KEY_ID "2.5.29.35"

/* KeyUsage named bits as they sit in the first content octet. */
#define KU_OCTET_DIGITAL_SIGNATURE 0x80 /* bit 0 */
#define KU_OCTET_KEY_CERT_SIGN 0x04 /* bit 5 */
#define KU_OCTET_CRL_SIGN 0x02 /* bit 6 */

static void openssl_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}

/* For error details only; a signer without a name is still usable. */
static const char *signer_name(const struct rb_signer *s)
{
	return s->name ? s->name : "(unnamed)";
}

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_PUBKEY *, X509_PUBKEY_free)

struct tbs_key {
	enum rb_key_alg alg;
	unsigned char *spki; /* i2d_PUBKEY output; OPENSSL_free() */
	size_t spki_len;
	uint8_t ski[SKI_LEN];
};

static void tbs_key_done(struct tbs_key *k)
{
	OPENSSL_free(k->spki);
	k->spki = NULL;
}

/* The algorithm comes from the public key itself, not from what the signer
 * claims, and the two must agree: a mismatch means a mis-wired signer. */
static int tbs_key_get(const struct rb_signer *s, struct tbs_key *ret)
{
	_cleanup_(openssl_freep) unsigned char *spki = NULL;
	_cleanup_(X509_PUBKEY_freep) X509_PUBKEY *xpub = NULL;
	const unsigned char *q, *bits = NULL;
	enum rb_key_alg alg;
	int n, bits_len = 0, err;
	size_t mdlen;

	if ((err = rb_pkey_alg(s->pub, &alg)) < 0)
		return rb_err_set(err, "x509: key '%s' is neither RSA, P-256 nor Ed25519",
				  signer_name(s));
	if (alg != s->alg)
		return rb_err_set(RB_E_INVAL,
				  "x509: signer '%s' claims %s but its public key is %s",
				  signer_name(s), rb_key_alg_name(s->alg), rb_key_alg_name(alg));
	if (alg == RB_KEY_RSA && EVP_PKEY_get_bits(s->pub) < RSA_MIN_BITS)
		return rb_err_set(RB_E_UNSUPPORTED,
				  "x509: RSA key '%s' has %d bits; at least %d are required",
				  signer_name(s), EVP_PKEY_get_bits(s->pub), RSA_MIN_BITS);
	n = i2d_PUBKEY(s->pub, &spki);
	if (n <= 0) {
		ERR_clear_error();
		return rb_err_set(RB_E_CRYPTO, "x509: cannot encode the public key of '%s'",
				  signer_name(s));
	}
	/* RFC 5280 4.2.1.2 method 1 hashes the subjectPublicKey BIT STRING
	 * value; take it from the very SPKI bytes that go into the TBS. */
	q = spki;
	xpub = d2i_X509_PUBKEY(NULL, &q, n);
	if (!xpub || X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xpub) != 1 ||
	    bits_len <= 0) {
		ERR_clear_error();
		return rb_err_set(RB_E_CRYPTO, "x509: cannot decode the public key of '%s'",
				  signer_name(s));
	}
	if ((err = rb_digest(EVP_sha1(), bits, (size_t)bits_len, ret->ski, &mdlen)) < 0)
		return err;
	ret->alg = alg;
	ret->spki_len = (size_t)n;
	ret->spki = TAKE_PTR(spki);
	return RB_OK;
}

static int put_sig_alg(struct der_writer *w, enum rb_key_alg alg)
{
	der_begin(w, DER_SEQUENCE);
	switch (alg) {
	case RB_KEY_RSA:
		/* RFC 4055 5: the parameters are NULL, not absent. */
		der_put_oid(w, OID_SHA256_WITH_RSA);
		der_put_null(w);
		break;
	case RB_KEY_EC_P256:
		/* RFC 5758 3.2 and RFC 8410 3: parameters absent. */
		der_put_oid(w, OID_ECDSA_WITH_SHA256);
		break;
	case RB_KEY_ED25519:
		der_put_oid(w, OID_ED25519);
		break;
	}
	return der_end(w);
}

/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue };
 * the value is written by the caller between ext_begin and ext_end. DER
 * omits a FALSE critical flag because it is the default. */
static void ext_begin(struct der_writer *w, const char *oid, bool critical)
{
	der_begin(w, DER_SEQUENCE);
	der_put_oid(w, oid);
	if (critical)
		der_put_boolean(w, true);
	der_begin(w, DER_OCTET_STRING);
}

static void ext_end(struct der_writer *w)
{
	der_end(w);
	der_end(w);
}

static void put_extensions(struct der_writer *w, const struct x509_cert_params *p,
			   const struct tbs_key *k)
{
	uint8_t ku = KU_OCTET_DIGITAL_SIGNATURE;

	der_begin(w, DER_CONTEXT_CONS(3));
	der_begin(w, DER_SEQUENCE);

	/* Critical so that no verifier can ignore whether this is a CA. cA is
	 * DEFAULT FALSE, so an end-entity writes the empty SEQUENCE. */
	ext_begin(w, OID_BASIC_CONSTRAINTS, true);
	der_begin(w, DER_SEQUENCE);
	if (p->is_ca)
		der_put_boolean(w, true);
	der_end(w);
	ext_end(w);

	/* RFC 5280 4.2.1.3: a CA key that signs certificates MUST assert
	 * keyCertSign; OpenSSL refuses CA:TRUE self-signed roots without it. A
	 * named BIT STRING drops trailing zero bits in DER (X.690 11.2.2). */
	if (p->is_ca)
		ku |= KU_OCTET_KEY_CERT_SIGN | KU_OCTET_CRL_SIGN;
	ext_begin(w, OID_KEY_USAGE, true);
	der_put_bit_string(w, &ku, 1, (unsigned)__builtin_ctz(ku));
	ext_end(w);

	ext_begin(w, OID_SUBJECT_KEY_ID, false);
	der_put_octet_string(w, k->ski, sizeof(k->ski));
	ext_end(w);

	/* Self-signed: the authority key is the subject key. Only keyIdentifier
	 * [0], so the AKI does not repeat the issuer and serial. */
	ext_begin(w, OID_AUTHORITY_KEY_ID, false);
	der_begin(w, DER_SEQUENCE);
	der_put_tlv(w, DER_CONTEXT(0), k->ski, sizeof(k->ski));
	der_end(w);
	ext_end(w);

	der_end(w);
	der_end(w);
}

static int build_tbs(const struct x509_cert_params *p, const uint8_t *serial, size_t serial_len,
		     const struct tbs_key *k, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(der_writer_free) struct der_writer w;
	int err;

	der_writer_init(&w, CERT_MAX);
	der_begin(&w, DER_SEQUENCE);
	der_begin(&w, DER_CONTEXT_CONS(0));
	der_put_uint(&w, 2); /* v3 */
	der_end(&w);
	der_put_uint_bytes(&w, serial, serial_len);
	put_sig_alg(&w, k->alg);
	if ((err = x509_name_put(&w, p->subject)) < 0) /* issuer */
		return err;
	der_begin(&w, DER_SEQUENCE);
	der_put_time(&w, p->not_before);
	der_put_time(&w, p->not_after);
	der_end(&w);
	if ((err = x509_name_put(&w, p->subject)) < 0) /* subject, the same */
		return err;
	der_put_raw(&w, k->spki, k->spki_len);
	put_extensions(&w, p, k);
	der_end(&w);
	return der_writer_finish(&w, ret, ret_len);
}

/* Ask the signer for the signature over the TBS and shape it for the
 * certificate's signatureValue. Lengths are checked here; the signature
 * itself is checked on the finished certificate. */
static int sign_tbs(const struct rb_signer *s, enum rb_key_alg alg, const uint8_t *tbs,
		    size_t tbs_len, uint8_t **ret_sig, size_t *ret_len)
{
	_cleanup_free_ uint8_t *sig = NULL;
	uint8_t md[64];
	size_t md_len = 0, sig_len = 0, want;
	int err;

	switch (alg) {
	case RB_KEY_RSA:
		if ((err = rb_digest(EVP_sha256(), tbs, tbs_len, md, &md_len)) < 0 ||
		    (err = rb_signer_sign(s, RB_SIG_RSA_PKCS1_SHA256, md, md_len, &sig,
					  &sig_len)) < 0)
			return err;
		want = (size_t)EVP_PKEY_get_size(s->pub);
		break;
	case RB_KEY_EC_P256:
		if ((err = rb_digest(EVP_sha256(), tbs, tbs_len, md, &md_len)) < 0 ||
		    (err = rb_signer_sign(s, RB_SIG_ECDSA_SHA256, md, md_len, &sig,
					  &sig_len)) < 0)
			return err;
		want = 64;
		break;
	case RB_KEY_ED25519:
		/* PureEdDSA has no prehash: the token gets the whole TBS. */
		if ((err = rb_signer_sign(s, RB_SIG_ED25519, tbs, tbs_len, &sig, &sig_len)) < 0)
			return err;
		want = 64;
		break;
	default:
		return RB_E_UNSUPPORTED;
	}
	if (sig_len != want)
		return rb_err_set(RB_E_VERIFY, "x509: key '%s' returned a %zu-byte signature, "
				  "expected %zu", signer_name(s), sig_len, want);
	if (alg == RB_KEY_EC_P256) {
		/* X.509 carries ECDSA-Sig-Value (DER), the token gives r||s. */
		if ((err = rb_ecdsa_raw_to_der(sig, sig_len, ret_sig, ret_len)) < 0)
			return rb_err_set(err, "x509: cannot DER-encode the ECDSA signature "
					  "from key '%s'", signer_name(s));
		return RB_OK;
	}
	*ret_sig = TAKE_PTR(sig);
	*ret_len = sig_len;
	return RB_OK;
}

/* Hand nothing out that OpenSSL would not accept: the certificate must
 * parse exactly, carry the signer's key, verify under it, and say what we
 * meant it to say (self-signed, CA or not, the validity asked for). */
static int check_cert(const struct rb_signer *s, const struct x509_cert_params *p,
		      const uint8_t *der, size_t len)
{
	_cleanup_(X509_freep) X509 *x = NULL;
	const unsigned char *q = der;
	EVP_PKEY *pk;
	uint32_t flags;

	if (len > LONG_MAX)
		return RB_E_TOOBIG;
	x = d2i_X509(NULL, &q, (long)len);
	if (!x || (size_t)(q - der) != len) {
		ERR_clear_error();
		return rb_err_set(RB_E_CRYPTO, "x509: OpenSSL does not parse the certificate "
				  "built for '%s' (a rombsr bug)", signer_name(s));
	}
	pk = X509_get0_pubkey(x);
	if (!pk || EVP_PKEY_eq(pk, s->pub) != 1) {
		ERR_clear_error();
		return rb_err_set(RB_E_CRYPTO, "x509: certificate for '%s' carries another key "
				  "(a rombsr bug)", signer_name(s));
	}
	if (X509_verify(x, s->pub) != 1) {
		ERR_clear_error();
		return rb_err_set(RB_E_VERIFY, "x509: the signature made by key '%s' does not "
				  "verify with its public key; no certificate was issued. "
				  "Check that the token's private key matches the public key",
				  signer_name(s));
	}
	flags = X509_get_extension_flags(x);
	if ((flags & EXFLAG_INVALID) || !(flags & EXFLAG_SS) ||
	    !!(flags & EXFLAG_CA) != !!p->is_ca ||
	    ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), p->not_before) != 0 ||
	    ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), p->not_after) != 0) {
		ERR_clear_error();
		return rb_err_set(RB_E_CRYPTO, "x509: certificate for '%s' does not read back "
				  "as built (a rombsr bug)", signer_name(s));
	}
	return RB_OK;
}

int x509_cert_build_selfsigned(const struct rb_signer *signer, const struct x509_cert_params *p,
			       uint8_t **ret_der, size_t *ret_len)
{
	_cleanup_free_ uint8_t *tbs = NULL, *sig = NULL, *cert = NULL;
	_cleanup_(tbs_key_done) struct tbs_key key = { 0 };
	_cleanup_(der_writer_free) struct der_writer w;
	uint8_t serial[X509_SERIAL_MAX];
	size_t tbs_len = 0, sig_len = 0, cert_len = 0, i;
	int err;

	der_writer_init(&w, CERT_MAX);
	if (!signer || !signer->pub || !signer->sign || !p || !ret_der || !ret_len)
		return rb_err_set(RB_E_INVAL, "x509: missing signer, parameters or output");
	if (p->serial_len == 0 || p->serial_len > X509_SERIAL_MAX)
		return rb_err_set(RB_E_INVAL, "x509: serial must be 1..%d bytes, not %zu",
				  X509_SERIAL_MAX, p->serial_len);
	/* Clearing the top bit keeps the INTEGER positive without the extra
	 * 0x00 that would make a 20-byte serial 21 octets long. */
	memcpy(serial, p->serial, p->serial_len);
	serial[0] &= 0x7f;
	for (i = 0; i < p->serial_len && serial[i] == 0; i++)
		;
	if (i == p->serial_len)
		return rb_err_set(RB_E_INVAL, "x509: serial is zero; use random bytes");
	if (p->not_before >= p->not_after)
		return rb_err_set(RB_E_INVAL, "x509: not_before must be earlier than not_after");

	if ((err = tbs_key_get(signer, &key)) < 0)
		return err;
	if ((err = build_tbs(p, serial, p->serial_len, &key, &tbs, &tbs_len)) < 0)
		return err;
	if ((err = sign_tbs(signer, key.alg, tbs, tbs_len, &sig, &sig_len)) < 0)
		return err;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
	 * signatureValue }; the algorithm must repeat the one inside the TBS. */
	der_begin(&w, DER_SEQUENCE);
	der_put_raw(&w, tbs, tbs_len);
	put_sig_alg(&w, key.alg);
	der_put_bit_string(&w, sig, sig_len, 0);
	der_end(&w);
	if ((err = der_writer_finish(&w, &cert, &cert_len)) < 0)
		return err;

	if ((err = check_cert(signer, p, cert, cert_len)) < 0)
		return err;
	*ret_der = TAKE_PTR(cert);
	*ret_len = cert_len;
	return RB_OK;
}
