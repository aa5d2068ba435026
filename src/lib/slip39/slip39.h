/* SLIP-0039 Shamir mnemonic shares (docs/formats/slip39.md).
 *
 * Two-level sharing of a master secret (16..32 bytes, even length): the
 * encrypted master secret is split into group shares with the group
 * threshold, each group share into member shares with the member
 * threshold. Each member share is a mnemonic of 10-bit words from the
 * SLIP-0039 list with an RS1024 checksum. The master secret is encrypted
 * with a passphrase (may be empty) by a 4-round Feistel network over
 * PBKDF2-HMAC-SHA256 with 2500 << e iterations; the extendable flag decides
 * whether the share identifier is mixed into the salt.
 *
 * GF(256) arithmetic is bitwise and constant-time; no table is indexed by a
 * secret byte. Mnemonics, shares, passphrases and the master secret are
 * held in rb_secret buffers and wiped on every path.
 *
 * Errors: RB_E_PARSE for a malformed mnemonic (the detail names the word
 * position, "word 7: \"foo\" is not in the SLIP-0039 word list", or the
 * checksum), RB_E_VERIFY for a set that fails the digest check (wrong or
 * corrupted shares), RB_E_INVAL for bad split parameters or mixed /
 * insufficient / duplicate share sets (the detail says which).
 */
#ifndef ROMBSR_SLIP39_SLIP39_H
#define ROMBSR_SLIP39_SLIP39_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rb_secret;

#define SLIP39_MIN_SECRET 16
#define SLIP39_MAX_SECRET 32
#define SLIP39_MAX_SHARES 16
#define SLIP39_MAX_ITERATION_EXPONENT 15
/* A mnemonic's text is at most 33 words of at most 8 letters. */
#define SLIP39_MAX_MNEMONIC_LEN 512

struct slip39_group_spec {
	uint8_t threshold; /* members needed, 1..count; 1 only if count == 1 */
	uint8_t count;     /* members in the group, 1..16 */
};

/* One decoded share. value is the share value (an rb_secret, len bytes). */
struct slip39_share {
	uint16_t identifier; /* 15 bits */
	bool extendable;
	uint8_t iteration_exponent;
	uint8_t group_index;
	uint8_t group_threshold;
	uint8_t group_count;
	uint8_t member_index;
	uint8_t member_threshold;
	struct rb_secret *value;
};

/* Split master (16..32 bytes, even) into mnemonics. groups[i] describes
 * group i; group_threshold of the n_groups groups are needed. passphrase
 * may be NULL (empty) and must be printable ASCII. *ret_mnemonics is an
 * array of *ret_n rb_secret mnemonics (space-separated words), group 0's
 * members first, then group 1's, ...; free with slip39_mnemonics_free(). */
int slip39_split(const struct rb_secret *master, uint8_t group_threshold,
		 const struct slip39_group_spec *groups, size_t n_groups,
		 const struct rb_secret *passphrase, uint8_t iteration_exponent, bool extendable,
		 struct rb_secret ***ret_mnemonics, size_t *ret_n);
/* Free an array from slip39_split(). Accepts NULL. */
void slip39_mnemonics_free(struct rb_secret **mnemonics, size_t n);

/* Recover the master secret from mnemonics (each an rb_secret holding
 * the words separated by single spaces; surrounding or repeated
 * whitespace is tolerated, case is ignored). Every checksum is verified
 * before anything is combined. *ret: rb_secret_free(). */
int slip39_combine(const struct rb_secret *const *mnemonics, size_t n,
		   const struct rb_secret *passphrase, struct rb_secret **ret);

/* Decode and check one mnemonic (words, checksum, padding, parameters).
 * *ret: slip39_share_free(). */
int slip39_decode(const char *mnemonic, size_t len, struct slip39_share **ret);
void slip39_share_free(struct slip39_share *s);

/* The word list: index 0..1023 to word, and word to index (-1 if absent;
 * case-insensitive). */
const char *slip39_word(unsigned index);
int slip39_word_index(const char *word, size_t len);

#endif
