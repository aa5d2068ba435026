/* rombsr's own verifier for APK Signature Scheme v2 and v3
 * (docs/formats/apk-verify.md says exactly what is checked).
 *
 *   apk_verify_file / apk_verify_buffer
 *       locate the ZIP End of Central Directory, the central directory and
 *       the APK Signing Block before it; verify every v2 and v3 signer
 *       (signature over the signed data with the signer's public key, first
 *       certificate == public key, algorithm lists agree, v3 SDK range) and
 *       the chunked content digests of the whole file.
 *   apk_check_against_manifest
 *       map the verified signers to keys of the key manifest; unknown
 *       signers and revoked keys are refused.
 *
 * An APK is untrusted input: every length is bounds-checked through
 * rb_reader, every size capped, and nothing is accepted unless every
 * present v2/v3 signer verifies. An APK with neither block is refused.
 *
 * Ownership: struct apk_result is plain data with no heap pointers; the
 * caller provides it and nothing needs freeing. It is written only on
 * success. apk_check_against_manifest returns a key borrowed from the
 * manifest (valid while the manifest lives).
 */
#ifndef ROMBSR_APK_APK_H
#define ROMBSR_APK_APK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/manifest.h"

/* ZIP offsets are 32-bit without ZIP64 (which is refused). */
#define APK_MAX_FILE_BYTES ((uint64_t)4 * 1024 * 1024 * 1024)
/* The whole APK Signing Block, both size fields and the magic included. */
#define APK_SIG_BLOCK_MAX_BYTES (16u * 1024 * 1024)
/* Signers per scheme block; apksigner writes one per signing key. */
#define APK_MAX_SIGNERS 8
/* Signatures per signer, digests and certificates per signed data. */
#define APK_MAX_SIGNATURES 8
#define APK_MAX_CERTS 8

#define APK_BLOCK_ID_V2 0x7109871au
#define APK_BLOCK_ID_V3 0xf05368c0u

/* Signature algorithm ids of the v2/v3 signer records. Any other id is
 * refused with RB_E_UNSUPPORTED. */
enum apk_sig_alg {
	APK_SIG_RSA_PSS_SHA256 = 0x0101,
	APK_SIG_RSA_PSS_SHA512 = 0x0102,
	APK_SIG_RSA_PKCS1_SHA256 = 0x0103,
	APK_SIG_RSA_PKCS1_SHA512 = 0x0104,
	APK_SIG_ECDSA_SHA256 = 0x0201,
	APK_SIG_ECDSA_SHA512 = 0x0202,
};

/* "rsa-pss-sha256", "rsa-pkcs1-sha512", "ecdsa-sha256", ...; NULL for an
 * id outside enum apk_sig_alg. */
const char *apk_sig_alg_name(uint32_t id);

struct apk_signer_info {
	uint8_t spki_sha256[32];  /* SHA-256 of the signer's DER SPKI (manifest fingerprint) */
	uint8_t cert_sha256[32];  /* SHA-256 of the first certificate (what apksigner prints) */
	uint32_t alg;             /* strongest verified algorithm (enum apk_sig_alg) */
	uint32_t min_sdk;         /* v3 only; 0 in v2 */
	uint32_t max_sdk;         /* v3 only; 0 in v2 */
};

struct apk_scheme_info {
	bool present;             /* the block is in the APK Signing Block */
	bool verified;            /* every signer and every content digest verified */
	size_t n_signers;
	struct apk_signer_info signers[APK_MAX_SIGNERS];
};

struct apk_result {
	uint64_t file_size;
	uint64_t sig_block_offset; /* start of the APK Signing Block */
	uint64_t cd_offset;        /* start of the central directory */
	uint64_t cd_size;
	uint64_t eocd_offset;
	struct apk_scheme_info v2;
	struct apk_scheme_info v3;
};

/* Verify the APK at path (a regular file of at most APK_MAX_FILE_BYTES),
 * streamed from disk: the file is read once for the digests, never held in
 * memory whole.
 *
 * Returns 0 with *ret_result filled when a v2 and/or v3 block is present
 * and every present block verifies. Errors, each with a detail naming the
 * offset, block and signer index:
 *   RB_E_PARSE        malformed ZIP/EoCD/signing block/signer record
 *   RB_E_NOTFOUND     no EoCD, no APK Signing Block, or neither v2 nor v3
 *   RB_E_UNSUPPORTED  ZIP64, multi-disk archive, unknown signature algorithm
 *   RB_E_TOOBIG       file or signing block over its cap
 *   RB_E_VERIFY       bad signature, certificate/key mismatch, algorithm
 *                     lists disagree, content digest mismatch, v3 stripped
 *   RB_E_IO           read failure
 *   RB_E_CRYPTO, RB_E_NOMEM */
int apk_verify_file(const char *path, struct apk_result *ret_result);

/* The same for an APK in memory; source names it in error details. */
int apk_verify_buffer(const uint8_t *data, size_t len, const char *source,
		      struct apk_result *ret_result);

/* Map a verified result to the manifest: every signer of every present
 * scheme must be a manifest key (by SPKI SHA-256) that is active or
 * retired. *ret_key is the key of the first v3 signer, or of the first v2
 * signer when there is no v3 block (borrowed from m).
 *   RB_E_KEY   a signer is not in the manifest
 *   RB_E_PERM  a signer's key is revoked
 *   RB_E_INVAL result has no verified scheme */
int apk_check_against_manifest(const struct apk_result *result, const struct manifest *m,
			       const struct manifest_key **ret_key);

#endif
