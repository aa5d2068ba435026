/* Packet-level helpers shared by the OpenPGP writer's files and its unit
 * tests; not installed. Writers append to an rb_buf; readers take an
 * rb_reader and leave it unchanged on failure where noted. */
#ifndef ROMBSR_PGP_INTERNAL_H
#define ROMBSR_PGP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgp/pgp.h"

enum pgp_tag {
	PGP_TAG_SIGNATURE = 2,
	PGP_TAG_PUBLIC_KEY = 6,
	PGP_TAG_USER_ID = 13,
};

enum pgp_subpacket_type {
	PGP_SUB_CREATION_TIME = 2,
	PGP_SUB_ISSUER_KEYID = 16,
	PGP_SUB_PREF_HASH = 21,
	PGP_SUB_KEY_FLAGS = 27,
	PGP_SUB_FEATURES = 30,
	PGP_SUB_ISSUER_FPR = 33,
};

#define PGP_SUB_CRITICAL 0x80
/* Largest MPI rombsr writes or reads: RSA-16384. */
#define PGP_MPI_MAX_BITS 16384u

static inline void pgp_md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}
#define _cleanup_md_ctx_ _cleanup_(pgp_md_ctx_freep)

/* packet.c --------------------------------------------------------------- */

/* New-format length (RFC 4880 4.2.2): 1, 2 or 5 octets. Subpacket lengths
 * use the same encoding for every value rombsr writes. */
int pgp_put_length(struct rb_buf *b, size_t len);
int pgp_put_packet(struct rb_buf *b, enum pgp_tag tag, const uint8_t *body, size_t len);
/* MPI from a big-endian unsigned integer; leading zero bits are dropped
 * from both the bit count and the bytes (zero is 0x0000). */
int pgp_put_mpi(struct rb_buf *b, const uint8_t *be, size_t len);
int pgp_put_subpacket(struct rb_buf *b, uint8_t type, bool critical, const uint8_t *data,
		      size_t len);

/* Read one packet (new or old format, definite length only). *ret_body
 * points into the reader's buffer. */
int pgp_get_packet(struct rb_reader *r, uint8_t *ret_tag, const uint8_t **ret_body,
		   size_t *ret_len);
/* Subpacket length: 1, 2 (first octet 192..254) or 5 octets. */
int pgp_get_subpacket_length(struct rb_reader *r, size_t *ret);
/* A canonical MPI (no leading zero bits, at most PGP_MPI_MAX_BITS). */
int pgp_get_mpi(struct rb_reader *r, const uint8_t **ret, size_t *ret_len);

/* armor.c ---------------------------------------------------------------- */

/* CRC-24 as in RFC 4880 6.1. */
uint32_t pgp_crc24(const uint8_t *p, size_t n);

/* sig.c ------------------------------------------------------------------ */

const EVP_MD *pgp_hash_md(enum pgp_hash_algo hash);
/* The signer scheme for key+hash: RSA PKCS#1 v1.5 with the hash's
 * DigestInfo, or Ed25519 over the digest bytes (EdDSALegacy). */
int pgp_key_scheme(const struct pgp_key *key, enum pgp_hash_algo hash, enum rb_sig_scheme *ret);
int pgp_check_time(int64_t t, const char *what, uint32_t *ret);

/* Like pgp_sig_init for any type, with extra hashed subpackets (already
 * encoded) after creation time and issuer fingerprint. The ctx's md is
 * then fed directly by the caller (e.g. key and user ID for 0x13). */
int pgp_sig_start(struct pgp_sig_ctx *ctx, const struct pgp_key *key, enum pgp_sig_type type,
		  enum pgp_hash_algo hash, int64_t sig_time, const uint8_t *extra,
		  size_t extra_len);

/* Finish md: hash the hashed part of the packet (version .. hashed
 * subpackets), then the v4 trailer 0x04 0xff len32; digest needs
 * EVP_MAX_MD_SIZE bytes. */
int pgp_sig_hash_trailer(EVP_MD_CTX *md, const uint8_t *hashed, size_t hashed_len,
			 uint8_t *digest, size_t *ret_len);

/* verify.c --------------------------------------------------------------- */

/* A v4 signature packet, parsed; pointers point into the packet. */
struct pgp_sig_parsed {
	uint8_t type, pk_algo, hash_algo;
	const uint8_t *hashed; /* version .. end of hashed subpackets */
	size_t hashed_len;
	uint8_t left16[2];
	const uint8_t *mpi[2];
	size_t mpi_len[2];
	unsigned n_mpi;
	uint32_t created;
	bool has_issuer_fpr, has_issuer_keyid;
	uint8_t issuer_fpr[PGP_FPR_LEN];
	uint8_t issuer_keyid[PGP_KEYID_LEN];
};

/* Parse exactly one signature packet (header included), nothing after. */
int pgp_sig_parse(const uint8_t *pkt, size_t len, struct pgp_sig_parsed *ret);

/* Verify a parsed signature by key. state holds what precedes the
 * trailer (document, or key+user ID) and is not modified. */
int pgp_sig_check(const struct pgp_key *key, const struct pgp_sig_parsed *sig,
		  const EVP_MD_CTX *state);

/* Hash text-mode data: LF becomes CRLF, CRLF stays, a lone CR is
 * RB_E_INVAL. *cr carries a trailing CR across calls. */
int pgp_text_update(EVP_MD_CTX *md, bool *cr, const uint8_t *p, size_t n);

#endif
