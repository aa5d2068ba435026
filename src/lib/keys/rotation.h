/* Rotation statements (docs/formats/rotation-statement.md): a document,
 * format "rombsr-rotation-statement" version 1, in which an old key and
 * its successor each sign the other's SubjectPublicKeyInfo - the
 * proof-of-rotation of APK Signature Scheme v3 lineages, for every key
 * kind rombsr holds. Anyone holding only the old key's certificate can
 * follow it to the new key, and the new key cannot claim an old key that
 * did not agree.
 *
 * A statement is canonical JSON (json.h JSON_CANONICAL) with the two keys
 * (name, algorithm, SPKI, certificate, SPKI SHA-256), the time, and two
 * base64 signatures over domain-separated messages that contain the whole
 * statement body, so the time, names and certificates are signed too.
 *
 * Statements are untrusted input: rotation_statement_parse() caps the
 * size, accepts only the canonical form, cross-checks fingerprints and
 * certificates against the SPKIs; rotation_statement_verify() checks both
 * signatures; rotation_statement_check_manifest() ties the two keys to a
 * manifest.
 *
 * Ownership: parse returns a statement freed with
 * rotation_statement_free() (accepts NULL); everything inside is owned by
 * it. rotation_statement_sign() appends to a caller-owned rb_buf.
 */
#ifndef ROMBSR_KEYS_ROTATION_H
#define ROMBSR_KEYS_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "util/buf.h"
#include "util/cleanup.h"

#define ROTATION_FORMAT "rombsr-rotation-statement"
#define ROTATION_VERSION 1
#define ROTATION_MAX_BYTES (64 * 1024)
#define ROTATION_SPKI_MAX 2048
#define ROTATION_CERT_MAX 16384
#define ROTATION_SIG_MAX 1024

struct rotation_statement {
	int64_t time;
	/* name, alg, bits, spki, cert and the derived fields (spki_sha256,
	 * cert_sha256, pub) are set; id, uri, status and the rest are not. */
	struct manifest_key old_key;
	struct manifest_key new_key;
	uint8_t *old_sig; /* by old_key over the new key's proof message */
	size_t old_sig_len;
	uint8_t *new_sig; /* by new_key over the old key's proof message */
	size_t new_sig_len;
};

/* Build the statement for old_key -> new_key at time t, sign it with both
 * signers (whose public keys must be those of the manifest keys,
 * RB_E_VERIFY otherwise), parse and verify the result, and only then
 * append it to out. */
int rotation_statement_sign(const struct manifest_key *old_key, const struct rb_signer *old_signer,
			    const struct manifest_key *new_key, const struct rb_signer *new_signer,
			    int64_t t, struct rb_buf *out);

/* Strict parse; source names the input in details. RB_E_PARSE,
 * RB_E_TOOBIG, RB_E_UNSUPPORTED (version) or RB_E_VERIFY (a fingerprint or
 * certificate that does not match its SPKI). Signatures are not checked. */
int rotation_statement_parse(const void *bytes, size_t len, const char *source,
			     struct rotation_statement **ret);
/* Both signatures; RB_E_VERIFY naming the one that fails. */
int rotation_statement_verify(const struct rotation_statement *st);
/* Both keys are in m under their names with the same SPKI and certificate,
 * and m links them: the old key's successor is the new key and the new
 * key's predecessor the old key. RB_E_VERIFY otherwise. */
int rotation_statement_check_manifest(const struct rotation_statement *st, const struct manifest *m);
void rotation_statement_free(struct rotation_statement *st);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rotation_statement *, rotation_statement_free)

#endif
