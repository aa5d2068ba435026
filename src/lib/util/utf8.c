#include "util/utf8.h"

size_t rb_utf8_decode(const uint8_t *p, size_t n, uint32_t *ret_cp, const char **ret_why)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len, i;
	uint32_t cp;

	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	}
	if (c < 0xc0) {
		*ret_why = "unexpected continuation byte";
		return 0;
	}
	if (c < 0xc2) {
		*ret_why = "overlong encoding";
		return 0;
	}
	if (c < 0xe0) {
		len = 2;
		cp = c & 0x1f;
	} else if (c < 0xf0) {
		len = 3;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0; /* below is overlong */
		else if (c == 0xed)
			hi = 0x9f; /* above is U+D800-U+DFFF */
	} else if (c < 0xf5) {
		len = 4;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90; /* below is overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above is past U+10FFFF */
	} else {
		*ret_why = "byte that never occurs in UTF-8";
		return 0;
	}
	for (i = 1; i < len; i++) {
		uint8_t b;

		if (i >= n || (p[i] & 0xc0) != 0x80) {
			*ret_why = "truncated multi-byte sequence";
			return 0;
		}
		b = p[i];
		if (i == 1 && (b < lo || b > hi)) {
			*ret_why = c == 0xed ? "encoded surrogate (U+D800-U+DFFF)" :
				   c == 0xf4 ? "code point above U+10FFFF" :
					       "overlong encoding";
			return 0;
		}
		cp = (cp << 6) | (b & 0x3f);
	}
	*ret_cp = cp;
	return len;
}

bool rb_utf8_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	const char *why;
	uint32_t cp;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == 0)
			return false;
		n = rb_utf8_decode(p + i, len - i, &cp, &why);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t rb_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}
