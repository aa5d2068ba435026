/* Unfinalized SHA-256 / SHA-512 states that can travel between machines.
 *
 * An OpenPGP signature hashes the document and then its own trailer, so a
 * sign node that must not receive a whole (possibly huge) file needs the
 * file's hash *before* finalization: the chaining words, the byte count
 * and the bytes of the last incomplete block. The build node exports that
 * state, the sign node imports it (strictly, it is untrusted), continues
 * hashing the trailer itself and signs. JSON encoding and rules:
 * docs/formats/request.md, "Hash state".
 *
 * hash_state_md_ctx() turns a state into an EVP_MD_CTX whose digest
 * reports NID_sha256 / NID_sha512, so pgp_sig_init_from_state() can copy
 * it and keep hashing. The digest behind it is rombsr's own EVP_MD over
 * OpenSSL's SHA256_CTX / SHA512_CTX (the only OpenSSL API that lets a
 * chaining value be loaded); it produces exactly SHA-256 / SHA-512.
 *
 * Ownership: hash_state_new/copy/from_json return a state the caller frees
 * with hash_state_free() (accepts NULL). hash_state_md_ctx() returns an
 * EVP_MD_CTX the caller frees with EVP_MD_CTX_free().
 */
#ifndef ROMBSR_REQUEST_HASH_STATE_H
#define ROMBSR_REQUEST_HASH_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "util/cleanup.h"

struct json_value;
struct hash_state;

enum hash_state_alg {
	HASH_STATE_SHA256 = 1,
	HASH_STATE_SHA512 = 2,
};

/* Longest input a state may describe, in bytes: SHA-256 is defined for
 * fewer than 2^64 bits, i.e. under 2^61 bytes, which also keeps the bit
 * count of either in one 64-bit word. Far beyond any artifact. */
#define HASH_STATE_MAX_LENGTH (((uint64_t)1 << 61) - 1)

/* "sha256" / "sha512"; NULL for anything else. */
const char *hash_state_alg_name(enum hash_state_alg alg);
/* RB_E_PARSE for a name other than "sha256" / "sha512". */
int hash_state_alg_from_name(const char *name, enum hash_state_alg *ret);
/* 32 or 64; 0 for an unknown alg. */
size_t hash_state_digest_len(enum hash_state_alg alg);
/* 64 or 128; 0 for an unknown alg. */
size_t hash_state_block_len(enum hash_state_alg alg);

/* A fresh state (nothing hashed yet). */
int hash_state_new(enum hash_state_alg alg, struct hash_state **ret);
/* Hash more bytes. RB_E_TOOBIG past HASH_STATE_MAX_LENGTH (the state is
 * then unchanged). */
int hash_state_update(struct hash_state *st, const void *data, size_t len);
/* Hash everything readable from fd until EOF (fd is not closed). */
int hash_state_update_fd(struct hash_state *st, int fd);
int hash_state_copy(const struct hash_state *st, struct hash_state **ret);
void hash_state_free(struct hash_state *st);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct hash_state *, hash_state_free)

enum hash_state_alg hash_state_get_alg(const struct hash_state *st);
/* Bytes hashed so far. */
uint64_t hash_state_get_length(const struct hash_state *st);

/* The digest of what was hashed so far, finalizing a copy: st itself can
 * still be updated. out holds at least hash_state_digest_len() bytes. */
int hash_state_final(const struct hash_state *st, uint8_t *out, size_t *ret_len);

/* The JSON encoding: {"alg","h","length","tail"} (docs/formats/request.md).
 * *ret is a new object the caller owns (json_free). */
int hash_state_to_json(const struct hash_state *st, struct json_value **ret);
/* Import an untrusted encoding: exactly those four keys, alg known, h of
 * the right length in lowercase hex, 0 <= length <= HASH_STATE_MAX_LENGTH,
 * tail padded base64 shorter than one block with length mod block ==
 * tail length, and h the initial value while length is under one block.
 * RB_E_PARSE (with the JSON location) otherwise. */
int hash_state_from_json(const struct json_value *v, struct hash_state **ret);

/* An EVP_MD_CTX holding st, ready for EVP_DigestUpdate/EVP_DigestFinal_ex
 * or pgp_sig_init_from_state(); EVP_MD_get_type() of its digest is
 * NID_sha256 or NID_sha512. Copies of it (EVP_MD_CTX_copy_ex) keep
 * working; the digest object lives for the whole process. */
int hash_state_md_ctx(const struct hash_state *st, EVP_MD_CTX **ret);

#endif
