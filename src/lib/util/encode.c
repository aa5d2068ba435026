#include "util/encode.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void hex_format(const uint8_t *p, size_t n, const char digits[16], char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void rb_hex_format(const uint8_t *p, size_t n, char *out)
{
	hex_format(p, n, "0123456789abcdef", out);
}

void rb_hex_format_upper(const uint8_t *p, size_t n, char *out)
{
	hex_format(p, n, "0123456789ABCDEF", out);
}

int rb_hex_encode(const uint8_t *p, size_t n, char **ret)
{
	char *s;

	if (n > (SIZE_MAX - 1) / 2)
		return RB_E_TOOBIG;
	s = malloc(2 * n + 1);
	if (!s)
		return RB_E_NOMEM;
	rb_hex_format(p, n, s);
	*ret = s;
	return RB_OK;
}

static int lower_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool rb_hex_is_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower_hexval(s[i]) < 0)
			return false;
	return true;
}

int rb_hex_decode_lower(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (n > SIZE_MAX / 2 || slen != 2 * n || !rb_hex_is_lower(s, slen))
		return RB_E_PARSE;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(lower_hexval(s[2 * i]) << 4 | lower_hexval(s[2 * i + 1]));
	return RB_OK;
}

int rb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rb_hex_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len)
{
	uint8_t *p;
	size_t i;

	if (slen % 2)
		return RB_E_PARSE;
	p = malloc(slen / 2 + 1);
	if (!p)
		return RB_E_NOMEM;
	for (i = 0; i < slen / 2; i++) {
		int hi = rb_hex_digit(s[2 * i]), lo = rb_hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(p);
			return RB_E_PARSE;
		}
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret = p;
	*ret_len = slen / 2;
	return RB_OK;
}

int rb_base64_encode(const uint8_t *p, size_t n, bool pad, char **ret)
{
	size_t i, o = 0;
	char *s;

	if (n > SIZE_MAX / 2)
		return RB_E_TOOBIG;
	s = malloc((n + 2) / 3 * 4 + 1);
	if (!s)
		return RB_E_NOMEM;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = b64[(v >> 6) & 63];
		s[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		if (pad) {
			s[o++] = '=';
			s[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = b64[(v >> 6) & 63];
		if (pad)
			s[o++] = '=';
	}
	s[o] = '\0';
	*ret = s;
	return RB_OK;
}

/* Each byte's digit value plus one, 0 for a byte that is no digit: a
 * constant table, so there is nothing to build and no thread can see it
 * half-built. */
static const uint8_t b64_value1[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
	['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

int rb_base64_digit(char c)
{
	return (int)b64_value1[(uint8_t)c] - 1;
}

bool rb_base64_check(const char *s, size_t slen, bool pad, size_t *ret_len)
{
	size_t n = slen, rem;
	int last;

	if (pad) {
		if (slen % 4)
			return false;
		if (n >= 1 && s[n - 1] == '=')
			n--;
		if (n >= 1 && s[n - 1] == '=')
			n--;
	}
	rem = n % 4;
	if (rem == 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (rb_base64_digit(s[i]) < 0)
			return false;
	/* The bits after the data in the last digit must be zero: one
	 * encoding per byte string. */
	last = n ? rb_base64_digit(s[n - 1]) : 0;
	if ((rem == 2 && (last & 15)) || (rem == 3 && (last & 3)))
		return false;
	if (ret_len)
		*ret_len = n / 4 * 3 + (rem ? rem - 1 : 0);
	return true;
}

int rb_base64_decode(const char *s, size_t slen, bool pad, uint8_t **ret, size_t *ret_len)
{
	size_t i, o = 0, n;
	uint32_t acc = 0;
	unsigned bits = 0;
	uint8_t *p;

	if (!rb_base64_check(s, slen, pad, &n))
		return RB_E_PARSE;
	p = malloc(n + 1);
	if (!p)
		return RB_E_NOMEM;
	for (i = 0; i < slen && s[i] != '='; i++) {
		acc = acc << 6 | (uint32_t)rb_base64_digit(s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (uint8_t)(acc >> bits);
		}
	}
	*ret = p;
	*ret_len = o;
	return RB_OK;
}
