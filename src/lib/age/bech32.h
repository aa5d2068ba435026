/* Strict Bech32 (BIP-173 checksum constant 1) as age uses it: no 90-char
 * limit (age's post-quantum keys are longer; capped at BECH32_MAX_LEN),
 * a single case throughout, the human-readable part compared in lower
 * case, padding bits zero. Secret keys pass through here, so decode writes
 * into a caller buffer (an rb_secret) and nothing is allocated.
 */
#ifndef ROMBSR_AGE_BECH32_H
#define ROMBSR_AGE_BECH32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BECH32_MAX_LEN 2048

/* Encode data under hrp (lower case, 1..83 chars). uppercase selects the
 * all-upper-case form (age secret keys). *ret: caller frees; for secret
 * data pass a secret buffer instead via bech32_encode_to(). */
int bech32_encode(const char *hrp, const uint8_t *data, size_t len, bool uppercase, char **ret);
/* Encode into out (out_size bytes including the NUL); *ret_len excludes
 * the NUL. */
int bech32_encode_to(const char *hrp, const uint8_t *data, size_t len, bool uppercase, char *out,
		     size_t out_size, size_t *ret_len);

/* Decode s (slen bytes). The hrp must equal want_hrp (compared in lower
 * case). Writes the data into out (at most out_max bytes) and its length
 * to *ret_len. RB_E_PARSE on any defect (mixed case, bad character, bad
 * checksum, non-zero padding), RB_E_TOOBIG past the caps. */
int bech32_decode(const char *s, size_t slen, const char *want_hrp, uint8_t *out, size_t out_max,
		  size_t *ret_len);

#endif
