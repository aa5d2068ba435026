/* Pieces shared by the APK verifier's files; not installed.
 *
 *   source.c    the APK bytes, from memory or streamed from a file
 *   zip.c       End of Central Directory and central directory bounds
 *   sigblock.c  the APK Signing Block and its ID-value pairs
 *   signer.c    v2/v3 signer records: parse, verify signatures and certs
 *   signed_data.c  a signer's signed data (apk.h: apk_signed_data_parse)
 *   signing_input.c  v4 signing data, v1 .SF files, apk_signer_input_check
 *   digest.c    the chunked content digests
 *   verify.c    the public entry points
 */
#ifndef ROMBSR_APK_INTERNAL_H
#define ROMBSR_APK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "apk/apk.h"
#include "util/buf.h"

#define APK_EOCD_MIN 22
#define APK_EOCD_MAX (APK_EOCD_MIN + 65535)
#define APK_CHUNK_BYTES (1024u * 1024)
#define APK_SIG_BLOCK_FOOTER 24 /* u64 size + 16-byte magic */

/* ---- source ------------------------------------------------------------ */

/* The APK being verified: exactly one of mem (borrowed) or fd (borrowed,
 * read with pread) is used. */
struct apk_source {
	const char *name; /* path or caller's label, for error details */
	uint64_t size;
	const uint8_t *mem;
	int fd;
};

/* Point *ret at len bytes at off: into mem, or read into scratch (at least
 * len bytes) from fd. RB_E_IO on a failed or short read. */
int apk_source_view(const struct apk_source *s, uint64_t off, size_t len, uint8_t *scratch,
		    const uint8_t **ret);

/* ---- ZIP --------------------------------------------------------------- */

struct apk_zip {
	uint64_t cd_offset;
	uint64_t cd_size;
	uint64_t eocd_offset;
	size_t eocd_len;              /* 22 + comment */
	uint8_t eocd[APK_EOCD_MAX];   /* copy of the record, comment included */
};

/* Find the EoCD (the last record whose comment length reaches exactly the
 * end of the file), refuse ZIP64 and multi-disk archives, and check the
 * central directory lies immediately before the EoCD. */
int apk_zip_find(const struct apk_source *s, struct apk_zip *ret);

/* ---- APK Signing Block ------------------------------------------------- */

struct apk_sig_block {
	uint64_t offset;        /* file offset of the block's first size field */
	uint8_t *data;          /* the whole block; owned */
	size_t len;
	const uint8_t *v2;      /* value of the v2 pair, into data; NULL if absent */
	size_t v2_len;
	const uint8_t *v3;
	size_t v3_len;
};

/* Read and parse the APK Signing Block ending at z->cd_offset.
 * RB_E_NOTFOUND if the magic is not there. Free with apk_sig_block_clear. */
int apk_sig_block_read(const struct apk_source *s, const struct apk_zip *z,
		       struct apk_sig_block *ret);
void apk_sig_block_clear(struct apk_sig_block *b);

/* ---- algorithms -------------------------------------------------------- */

struct apk_alg {
	uint32_t id;
	const char *name;
	bool rsa;     /* RSA key, else EC */
	bool pss;
	bool sha512;  /* SHA-512 for the signature and the content digest */
};

/* The algorithm for id, or NULL for an unsupported one. */
const struct apk_alg *apk_alg_find(uint32_t id);

/* ---- signers ----------------------------------------------------------- */

/* Room for an error-detail prefix such as "app.apk: v3 block, signer #0". */
#define APK_WHERE_MAX 320

/* A u32le length-prefixed element as its own reader; r is unchanged on
 * failure. */
int apk_get_lp(struct rb_reader *r, struct rb_reader *ret);

/* A content digest a signer claims, to be checked against the file. */
struct apk_claimed_digest {
	const struct apk_alg *alg;
	uint8_t digest[64];
	size_t len;
};

struct apk_signer {
	struct apk_signer_info info;
	struct apk_claimed_digest digests[APK_MAX_SIGNATURES];
	size_t n_digests;
	bool claims_v3;  /* v2 only: the stripping-protection attribute names v3 */
};

/* Parse a v2 (scheme 2) or v3 (scheme 3) block value, verify every
 * signer's signatures over its signed data, its certificate against its
 * public key and its algorithm lists. *ret_n signers land in ret[]. The
 * content digests are not checked here (see apk_digest_check). */
int apk_signers_verify(const char *source, int scheme, const uint8_t *value, size_t len,
		       struct apk_signer ret[APK_MAX_SIGNERS], size_t *ret_n);

/* ---- content digests --------------------------------------------------- */

/* The chunked content digests of the file with the signing block at
 * sig_block_offset: SHA-256 into out256 if want256, SHA-512 into out512 if
 * want512. The file is streamed in 1 MiB chunks. */
int apk_digest_compute(const struct apk_source *s, const struct apk_zip *z,
		       uint64_t sig_block_offset, bool want256, bool want512, uint8_t out256[32],
		       uint8_t out512[64]);

#endif
