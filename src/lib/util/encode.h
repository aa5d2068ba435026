/* Hex and base64 (RFC 4648) encoding. Decoders are strict: they reject
 * invalid characters, bad padding and non-canonical trailing bits. */
#ifndef ROMBSR_UTIL_ENCODE_H
#define ROMBSR_UTIL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of n bytes into a new string; caller frees. */
int rb_hex_encode(const uint8_t *p, size_t n, char **ret);
/* Decode exactly 2*n hex chars (either case); caller frees *ret. */
int rb_hex_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len);

/* Base64 with padding (pad=true) or without; caller frees. */
int rb_base64_encode(const uint8_t *p, size_t n, bool pad, char **ret);
/* Decode; padding is required iff pad is true. Caller frees *ret. */
int rb_base64_decode(const char *s, size_t slen, bool pad, uint8_t **ret, size_t *ret_len);

#endif
