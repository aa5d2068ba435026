/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. Used by the JSON reader and writer and by the other parsers of
 * untrusted text. */
#ifndef ROMBSR_UTIL_UTF8_H
#define ROMBSR_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1-4) of the sequence at p (n > 0 bytes available), with
 * *ret_cp set, or 0 with *ret_why saying what is wrong. */
size_t rb_utf8_decode(const uint8_t *p, size_t n, uint32_t *ret_cp, const char **ret_why);
/* Check a whole buffer: valid UTF-8 and no NUL. */
bool rb_utf8_valid(const char *s, size_t len);
/* Encode a Unicode scalar value; returns 1-4. out needs 4 bytes. */
size_t rb_utf8_encode(uint32_t cp, char *out);

#endif
