/* Self-signed X.509 v3 certificates for keys that live in an HSM.
 *
 * rombsr builds the TBSCertificate itself and asks a struct rb_signer to
 * sign it, so only public data ever leaves the token. The profile (what
 * goes into every certificate) is described in docs/formats/x509.md:
 *
 *   - version 3, positive non-zero serial of at most 20 octets;
 *   - issuer = subject, parsed from the one-line "/C=US/.../CN=x" form;
 *   - signature algorithm follows the key: RSA (>= 2048 bits) ->
 *     sha256WithRSAEncryption, P-256 -> ecdsa-with-SHA256, Ed25519 ->
 *     id-Ed25519;
 *   - basicConstraints (critical): CA:TRUE for is_ca, else CA:FALSE;
 *   - keyUsage (critical): digitalSignature, plus keyCertSign and cRLSign
 *     for is_ca;
 *   - subjectKeyIdentifier = SHA-1 of the subjectPublicKey bits (RFC 5280
 *     4.2.1.2 method 1); authorityKeyIdentifier = the same key id.
 *
 * Android signing keys (platform, media, shared, ...) conventionally carry
 * AOSP's make_key subject and are CA-style (is_ca = true), as make_key's
 * "openssl req -x509" produces; X509_SUBJECT_AOSP is that subject. Any
 * other subject may be given.
 *
 * Every function returns 0 or a negative rb_err and attaches a detail
 * (rb_err_detail()) on failure. Output parameters are set only on success.
 */
#ifndef ROMBSR_X509_X509_H
#define ROMBSR_X509_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "crypto/signer.h"
#include "util/buf.h"

/* The subject AOSP's development/tools/make_key uses for test and release
 * keys, and the validity it gives them ("-days 10000"). */
#define X509_SUBJECT_AOSP                                                   \
	"/C=US/ST=California/L=Mountain View/O=Android/OU=Android/CN=Android" \
	"/emailAddress=android@android.com"
#define X509_AOSP_VALIDITY_DAYS 10000

/* Caps on the subject string: bytes (excluding the NUL) and RDN count. */
#define X509_SUBJECT_MAX 1024
#define X509_SUBJECT_MAX_RDNS 16

/* RFC 5280 4.1.2.2: a serial number is at most 20 octets. */
#define X509_SERIAL_MAX 20

struct x509_cert_params {
	/* One-line form, each RDN "/name=value" (the form "openssl req -subj"
	 * takes and X509_NAME_oneline() prints). Names, case-sensitive: C, ST,
	 * L, O, OU, CN, serialNumber, emailAddress, DC. A value is non-empty,
	 * has no control characters and no leading/trailing space; '\' escapes
	 * exactly one of '/', '\' or '+'. An unescaped '+' (a multi-valued RDN
	 * for openssl) is rejected. C is two upper-case letters; serialNumber
	 * is PrintableString, emailAddress and DC are ASCII (IA5String), the
	 * rest UTF-8 (UTF8String); RFC 5280 upper bounds apply (CN <= 64
	 * characters, ...). The caller keeps ownership. */
	const char *subject;
	/* Big-endian serial, 1..X509_SERIAL_MAX bytes, normally random from
	 * rb_random_bytes(). The builder clears the top bit of serial[0] so
	 * the INTEGER is positive and fits 20 octets; the result must not be
	 * zero. The caller's array is not modified. */
	uint8_t serial[X509_SERIAL_MAX];
	size_t serial_len;
	/* Validity, seconds since the epoch, not_before < not_after. Dates
	 * through 2049 are written as UTCTime, from 2050 as GeneralizedTime. */
	time_t not_before;
	time_t not_after;
	/* CA:TRUE with keyCertSign|cRLSign (Android platform keys, roots);
	 * otherwise an end-entity certificate that is only self-signed. */
	bool is_ca;
};

/* Build, sign and self-check a self-signed certificate for signer's key.
 *
 * The signer signs the TBSCertificate: a SHA-256 digest for RSA
 * (RB_SIG_RSA_PKCS1_SHA256) and P-256 (RB_SIG_ECDSA_SHA256, raw r||s), the
 * whole TBS for Ed25519 (RB_SIG_ED25519). Before returning, the result is
 * parsed with OpenSSL (the whole buffer must be consumed), its public key
 * compared with signer->pub and its signature checked with X509_verify();
 * a certificate that fails any check is never returned (RB_E_VERIFY for a
 * bad signature).
 *
 * On success *ret_der is a malloc()ed DER certificate (caller frees) of
 * *ret_len bytes. Errors: RB_E_INVAL (params), RB_E_PARSE / RB_E_TOOBIG
 * (subject), RB_E_UNSUPPORTED (key type or size), RB_E_VERIFY, RB_E_CRYPTO,
 * RB_E_NOMEM, or whatever the signer returned. */
int x509_cert_build_selfsigned(const struct rb_signer *signer, const struct x509_cert_params *p,
			       uint8_t **ret_der, size_t *ret_len);

/* Encode a subject (syntax as for x509_cert_params.subject) as a DER Name.
 * *ret_der is malloc()ed; caller frees. */
int x509_subject_to_der(const char *subject, uint8_t **ret_der, size_t *ret_len);

/* Append der as a PEM "CERTIFICATE" block (64-column base64, trailing
 * newline) to out. The bytes are not parsed: pass a certificate from
 * x509_cert_build_selfsigned(). On failure out->len is unchanged. The
 * caller owns out and frees it with rb_buf_free(). */
int x509_der_to_pem(const uint8_t *der, size_t len, struct rb_buf *out);

#endif
