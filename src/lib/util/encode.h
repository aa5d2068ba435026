/* Hex and base64 (RFC 4648) encoding. Decoders are strict: they reject
 * invalid characters, bad padding and non-canonical trailing bits. */
#ifndef ROMBSR_UTIL_ENCODE_H
#define ROMBSR_UTIL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of n bytes into a new string; caller frees. */
int rb_hex_encode(const uint8_t *p, size_t n, char **ret);
/* Lowercase hex of n bytes into out, which holds 2*n + 1 chars (the
 * caller's buffer, NUL-terminated). For ids and digests of a fixed size. */
void rb_hex_format(const uint8_t *p, size_t n, char *out);
/* The same in uppercase: OpenPGP fingerprints as gpg prints them. */
void rb_hex_format_upper(const uint8_t *p, size_t n, char *out);
/* Decode exactly 2*n hex chars (either case); caller frees *ret. */
int rb_hex_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len);

/* The value of one hex digit of either case (the four digits of a JSON \u escape), or -1. */
int rb_hex_digit(char c);

/* Whether s[0..n) is n lowercase hex digits, the only hex rombsr's
 * formats accept (ids, digests, commit ids, fingerprints, temp-file
 * tags). Uppercase, a NUL or anything else before n is false; n == 0 is
 * true. Reads at most n chars. */
bool rb_hex_is_lower(const char *s, size_t n);
/* Decode s[0..slen), which must be exactly 2*n lowercase hex digits, into
 * out[0..n) (the caller's buffer). RB_E_PARSE, with out untouched, for
 * another length, uppercase or any other char; no detail is set, since
 * only the caller can name the field. */
int rb_hex_decode_lower(const char *s, size_t slen, uint8_t *out, size_t n);

/* Base64 with padding (pad=true) or without; caller frees. */
int rb_base64_encode(const uint8_t *p, size_t n, bool pad, char **ret);
/* Whether s[0..slen) is strict base64: only the 64 digits, padding
 * required iff pad is true (then at most two '=' and a length that is a
 * multiple of 4), never a lone digit in a final group, and zero bits after
 * the data in the last digit (one encoding per byte string). "" is valid
 * and empty. *ret_len (if not NULL) is the decoded length. Decodes
 * nothing: for checking a large value where it stands. */
bool rb_base64_check(const char *s, size_t slen, bool pad, size_t *ret_len);
/* Decode what rb_base64_check() accepts (RB_E_PARSE for anything else).
 * *ret is malloc()ed (a byte more than *ret_len); caller frees. */
int rb_base64_decode(const char *s, size_t slen, bool pad, uint8_t **ret, size_t *ret_len);
/* The value of one base64 digit, or -1 ('=' and anything else). */
int rb_base64_digit(char c);

#endif
