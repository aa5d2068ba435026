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

static int b64val(char c)
{
	const char *q;

	if (c == '\0')
		return -1;
	q = strchr(b64, c);
	return q ? (int)(q - b64) : -1;
}

int rb_base64_decode(const char *s, size_t slen, bool pad, uint8_t **ret, size_t *ret_len)
{
	size_t i, o = 0, full, rem;
	uint8_t *p;

	if (pad) {
		if (slen % 4)
			return RB_E_PARSE;
		if (slen >= 1 && s[slen - 1] == '=')
			slen--;
		if (slen >= 1 && s[slen - 1] == '=')
			slen--;
	}
	rem = slen % 4;
	if (rem == 1)
		return RB_E_PARSE;
	full = slen - rem;
	p = malloc(slen / 4 * 3 + 3);
	if (!p)
		return RB_E_NOMEM;
	for (i = 0; i < full; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]), d = b64val(s[i + 3]);

		if (a < 0 || b < 0 || c < 0 || d < 0)
			goto bad;
		p[o++] = (uint8_t)(a << 2 | b >> 4);
		p[o++] = (uint8_t)(b << 4 | c >> 2);
		p[o++] = (uint8_t)(c << 6 | d);
	}
	if (rem == 2) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);

		if (a < 0 || b < 0 || (b & 15))
			goto bad;
		p[o++] = (uint8_t)(a << 2 | b >> 4);
	} else if (rem == 3) {
		int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]);

		if (a < 0 || b < 0 || c < 0 || (c & 3))
			goto bad;
		p[o++] = (uint8_t)(a << 2 | b >> 4);
		p[o++] = (uint8_t)(b << 4 | c >> 2);
	}
	*ret = p;
	*ret_len = o;
	return RB_OK;
bad:
	free(p);
	return RB_E_PARSE;
}
