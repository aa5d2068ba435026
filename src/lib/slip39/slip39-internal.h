/* Internals of src/lib/slip39 shared between its files (not installed). */
#ifndef ROMBSR_SLIP39_INTERNAL_H
#define ROMBSR_SLIP39_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slip39/slip39.h"

#define SLIP39_RADIX 1024
#define SLIP39_RADIX_BITS 10
#define SLIP39_ID_BITS 15
#define SLIP39_CHECKSUM_WORDS 3
/* id + extendable + exponent (2 words), group parameters (2), checksum (3) */
#define SLIP39_METADATA_WORDS 7
/* 128-bit minimum strength: 7 + ceil(128 / 10) */
#define SLIP39_MIN_WORDS 20
/* 32-byte secrets: 7 + ceil(256 / 10) */
#define SLIP39_MAX_WORDS 33
#define SLIP39_DIGEST_LEN 4
#define SLIP39_SECRET_INDEX 255
#define SLIP39_DIGEST_INDEX 254
#define SLIP39_ROUNDS 4
#define SLIP39_BASE_ITERATIONS 10000

/* zero-padded to 8 letters plus NUL, so lookup compares fixed-size words */
extern const char slip39_wordlist[SLIP39_RADIX][9];

/* GF(256) modulo x^8 + x^4 + x^3 + x + 1, constant-time. */
uint8_t slip39_gf_mul(uint8_t a, uint8_t b);
uint8_t slip39_gf_inv(uint8_t a);

struct slip39_point {
	uint8_t x;
	const uint8_t *y; /* len bytes */
};

/* out[0..len) = f(x) for the polynomial through the n points (distinct x,
 * n <= 16). The caller checks distinctness; out must be secret memory. */
void slip39_interpolate(const struct slip39_point *pts, size_t n, size_t len, uint8_t x,
			uint8_t *out);

/* RS1024 over the 10-bit values. */
void slip39_rs1024_create(const uint16_t *data, size_t n, bool extendable, uint16_t ret[3]);
bool slip39_rs1024_verify(const uint16_t *data, size_t n, bool extendable);

/* Encode share fields and value into a mnemonic in out (an rb_secret). */
int slip39_share_encode(const struct slip39_share *s, struct rb_secret *out);

/* The Feistel cipher over the master secret (len even, 16..32 bytes);
 * in and out may not overlap; out must be secret memory. */
int slip39_cipher_run(const uint8_t *in, size_t len, const struct rb_secret *passphrase,
		      uint8_t iteration_exponent, uint16_t identifier, bool extendable, bool encrypt,
		      uint8_t *out);

/* HMAC-SHA256(key=random, secret)[:4] */
int slip39_digest(const uint8_t *random, size_t rlen, const uint8_t *secret, size_t slen,
		  uint8_t out[SLIP39_DIGEST_LEN]);

/* One level of Shamir sharing: out[0..count) get the shares (x = 0..);
 * threshold 1 copies the secret. Recover checks the digest share
 * (RB_E_VERIFY on mismatch). All buffers must be secret memory. */
int slip39_sss_split(uint8_t threshold, uint8_t count, const uint8_t *secret, size_t len,
		     uint8_t out[][SLIP39_MAX_SECRET]);
int slip39_sss_recover(uint8_t threshold, const struct slip39_point *pts, size_t n, size_t len,
		       uint8_t *out);

#endif
