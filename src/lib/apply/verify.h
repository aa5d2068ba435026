/* Verifying what `rombsr apply` and `rombsr sign-file` write, against the
 * key manifest (docs/formats/detached-signatures.md):
 *
 *   FILE.asc  armored OpenPGP v4 detached signature
 *   FILE.sig  binary OpenPGP v4 detached signature, or a raw signature:
 *             RSA PKCS#1 v1.5 / PSS over SHA-256 or SHA-512 of FILE,
 *             ECDSA P-256 as DER over SHA-256 of FILE,
 *             Ed25519 over the whole FILE (sign-file) or over the 32-byte
 *             SHA-256 digest of FILE as the message (the queue's form)
 *   *.apk     APK Signature Scheme v2/v3, through src/lib/apk
 *
 * The signature files and artifacts are untrusted. A signature is accepted
 * only if it verifies with a manifest key that is active or retired; a
 * signature that verifies with a revoked key is RB_E_PERM.
 *
 * Ownership: struct apply_verify_result is plain data; its key points into
 * the manifest (borrowed, valid while the manifest lives). It is written
 * only on success.
 */
#ifndef ROMBSR_APPLY_VERIFY_H
#define ROMBSR_APPLY_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "keys/manifest.h"

/* Detached signature files are small; anything bigger is not one. */
#define APPLY_DETACHED_MAX_BYTES (64u * 1024)

enum apply_sig_form {
	APPLY_FORM_OPENPGP = 1,        /* OpenPGP v4 signature packet (binary or armored) */
	APPLY_FORM_RAW_DIGEST = 2,     /* RSA or ECDSA over the file's digest (scheme says which) */
	APPLY_FORM_ED25519_FILE = 3,   /* Ed25519 over the whole file (rombsr sign-file) */
	APPLY_FORM_ED25519_DIGEST = 4, /* Ed25519 over SHA-256(file) as the message (queue) */
	APPLY_FORM_APK = 5,            /* APK Signature Scheme v2/v3 */
};

/* "openpgp", "raw", "ed25519-file", "ed25519-sha256-digest", "apk"; NULL otherwise. */
const char *apply_sig_form_name(enum apply_sig_form f);

struct apply_verify_result {
	const struct manifest_key *key; /* borrowed from the manifest */
	enum apply_sig_form form;
	enum rb_sig_scheme scheme;      /* raw forms; 0 for OpenPGP and APK */
	bool armored;                   /* OpenPGP: the file was ASCII-armored */
};

/* Verify sig (the contents of a .sig/.asc file, at most
 * APPLY_DETACHED_MAX_BYTES) over data with the manifest's keys. An
 * armored or tag-2 packet is tried as OpenPGP with every RSA and Ed25519
 * key; otherwise (or if that does not parse) as raw with every key whose
 * algorithm and signature length fit. source names the file in details.
 * Errors: RB_E_VERIFY no manifest key verifies it; RB_E_PERM it verifies
 * only with a revoked key; RB_E_TOOBIG sig over the cap; RB_E_INVAL. */
int apply_verify_detached(const struct manifest *m, const uint8_t *data, size_t len,
			  const uint8_t *sig, size_t siglen, const char *source,
			  struct apply_verify_result *ret);

/* Verify an APK in memory: every v2/v3 signer verifies and is a manifest
 * key that is active or retired (apk_verify_buffer +
 * apk_check_against_manifest). ret->key is the v3 signer's key (else v2).
 * Errors as apk_verify_buffer; RB_E_KEY unknown signer; RB_E_PERM revoked. */
int apply_verify_apk_buffer(const struct manifest *m, const uint8_t *data, size_t len,
			    const char *source, struct apply_verify_result *ret);

/* `rombsr verify` for one path: an .apk through the APK verifier
 * (streamed from disk); otherwise PATH.asc, else PATH.sig, over PATH.
 * PATH and its signature must be regular files, not symbolic links
 * (RB_E_INVAL). RB_E_NOTFOUND: PATH is missing, or it has neither .asc
 * nor .sig. */
int apply_verify_path(const struct manifest *m, const char *path, struct apply_verify_result *ret);

#endif
