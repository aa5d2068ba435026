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

/* ---- what an APK signing key signs -------------------------------------
 *
 * A signing key never sees an APK, only the bytes apksigner hands it for
 * one signature. These parse those bytes strictly, so that the sign node
 * can check what a capture request asks an APK key to sign
 * (docs/formats/request.md, "What the sign node checks"):
 *
 *   v2/v3 signed data  one signer's signed-data block: length-prefixed
 *                      digests, certificates, [v3 and v3.1: min SDK, max
 *                      SDK], additional attributes (apk_signed_data_parse)
 *   v4 signing data    what apksigner signs for the .idsig file
 *   v1 signature file  the JAR signature file, META-INF/<NAME>.SF
 *
 * Pointers in the results are borrowed from the input. */

/* One content digest a signed-data block claims. */
struct apk_content_digest {
	uint32_t alg;             /* enum apk_sig_alg */
	const uint8_t *digest;
	size_t len;               /* 32, or 64 for the SHA-512 algorithms */
};

struct apk_signed_data {
	size_t n_digests;         /* 1..APK_MAX_SIGNATURES */
	struct apk_content_digest digests[APK_MAX_SIGNATURES];
	size_t n_certs;           /* 1..APK_MAX_CERTS */
	const uint8_t *cert;      /* the first certificate: the signer's identity */
	size_t cert_len;
	uint32_t min_sdk;         /* v3 only; 0 in v2 */
	uint32_t max_sdk;
	bool claims_v3;           /* v2 only: the stripping-protection attribute names v3 */
};

/* Parse the signed data of one v2 (scheme 2) or v3/v3.1 (scheme 3)
 * signer: every length within its parent, at least one digest of a known
 * algorithm and of its length, at least one non-empty certificate, at
 * most APK_MAX_* of each and 64 attributes, no trailing bytes (v2 may end
 * with the one empty element apksigner writes). Nothing is verified: the
 * certificate is not parsed and nothing is signed yet. where names the
 * input in error details ("app.apk: v3 block, signer #0").
 *   RB_E_PARSE        malformed
 *   RB_E_UNSUPPORTED  a digest of an unknown algorithm
 *   RB_E_LIMIT        too many digests, certificates or attributes */
int apk_signed_data_parse(const char *where, int scheme, const uint8_t *data, size_t len,
			  struct apk_signed_data *ret);

/* The v4 signing data: u32 size (= len), u64 APK size, u32 hash
 * algorithm, u8 log2 block size, then length-prefixed salt, root hash,
 * APK digest, certificate and additional data, all little-endian. */
struct apk_v4_signing_data {
	uint64_t file_size;
	const uint8_t *root_hash; /* 32 bytes: SHA-256 Merkle tree root */
	const uint8_t *apk_digest;
	size_t apk_digest_len;    /* 32 or 64: the v3 (or v2) content digest */
	const uint8_t *cert;
	size_t cert_len;
};

/* Exactly what apksigner writes: SHA-256 (1), 4096-byte blocks (12), no
 * salt, a 32-byte root, a 32- or 64-byte APK digest, a non-empty
 * certificate, no additional data. RB_E_PARSE otherwise. */
int apk_v4_signing_data_parse(const char *where, const uint8_t *data, size_t len,
			      struct apk_v4_signing_data *ret);

/* A JAR signature file as apksigner writes it: "Signature-Version: 1.0"
 * first; then lines of at most 72 bytes, each ending in CR LF, that are
 * headers ("Name: value", the name of [A-Za-z0-9_-]), continuation lines
 * (a space, then more of the header above) or the empty line that ends
 * each section; no empty section, the last line empty; printable ASCII
 * and well-formed UTF-8 only. RB_E_PARSE otherwise. */
int apk_jar_sf_check(const char *where, const uint8_t *data, size_t len);

enum apk_signed_kind {
	APK_SIGNED_V1_SF = 1,     /* JAR signature file */
	APK_SIGNED_V2 = 2,        /* v2 signed data */
	APK_SIGNED_V3 = 3,        /* v3 or v3.1 signed data */
	APK_SIGNED_V4 = 4,        /* v4 signing data */
};

/* "v1 signature file", "v2 signed data", ...; NULL otherwise. */
const char *apk_signed_kind_name(enum apk_signed_kind k);

/* Whether data is one of the four structures above and, where it names a
 * certificate (v2, v3, v4), whether that certificate is byte for byte
 * cert: exactly the bytes apksigner may ask the key with that
 * certificate to sign. *ret_kind (may be NULL) says which.
 *   RB_E_PARSE   none of the four structures; the detail says why
 *   RB_E_VERIFY  a v2/v3/v4 structure naming another certificate */
int apk_signer_input_check(const char *where, const uint8_t *data, size_t len,
			   const uint8_t *cert, size_t cert_len, enum apk_signed_kind *ret_kind);

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
