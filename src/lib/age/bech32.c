/* Bech32 for age keys. Strictness matters because a recipient string is
 * copied between people: a mixed-case or mistyped key must fail, not
 * silently decode to something else. */
#include "age/bech32.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3 };
	uint32_t b = chk >> 25;
	int i;

	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (i = 0; i < 5; i++)
		chk ^= gen[i] & (uint32_t)-((b >> i) & 1);
	return chk;
}

static uint32_t hrp_polymod(const char *hrp, size_t n)
{
	uint32_t chk = 1;
	size_t i;

	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)((uint8_t)hrp[i] >> 5));
	chk = polymod_step(chk, 0);
	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)((uint8_t)hrp[i] & 31));
	return chk;
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static char to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

int bech32_encode_to(const char *hrp, const uint8_t *data, size_t len, bool uppercase, char *out,
		     size_t out_size, size_t *ret_len)
{
	size_t hlen = hrp ? strlen(hrp) : 0, nwords = (len * 8 + 4) / 5, total, pos = 0, i;
	uint32_t chk, acc = 0;
	int bits = 0;

	if (hlen < 1 || hlen > 83)
		return rb_err_set(RB_E_INVAL, "bech32: human-readable part of %zu characters", hlen);
	total = hlen + 1 + nwords + 6;
	if (total > BECH32_MAX_LEN || total + 1 > out_size)
		return rb_err_set(RB_E_TOOBIG, "bech32: %zu characters do not fit", total);
	for (i = 0; i < hlen; i++) {
		if (hrp[i] < 33 || hrp[i] > 126 || (hrp[i] >= 'A' && hrp[i] <= 'Z'))
			return rb_err_set(RB_E_INVAL, "bech32: human-readable part must be lower case");
		out[pos++] = uppercase ? to_upper(hrp[i]) : hrp[i];
	}
	out[pos++] = '1';
	chk = hrp_polymod(hrp, hlen);
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			uint8_t v = (uint8_t)((acc >> (bits - 5)) & 31);

			bits -= 5;
			chk = polymod_step(chk, v);
			out[pos++] = uppercase ? to_upper(charset[v]) : charset[v];
		}
	}
	if (bits > 0) {
		uint8_t v = (uint8_t)((acc << (5 - bits)) & 31);

		chk = polymod_step(chk, v);
		out[pos++] = uppercase ? to_upper(charset[v]) : charset[v];
	}
	for (i = 0; i < 6; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;
	for (i = 0; i < 6; i++) {
		char c = charset[(chk >> (5 * (5 - i))) & 31];

		out[pos++] = uppercase ? to_upper(c) : c;
	}
	out[pos] = '\0';
	acc = 0;
	*ret_len = pos;
	return RB_OK;
}

int bech32_encode(const char *hrp, const uint8_t *data, size_t len, bool uppercase, char **ret)
{
	size_t size = (hrp ? strlen(hrp) : 0) + (len * 8 + 4) / 5 + 8, n;
	char *s;
	int r;

	if (size > BECH32_MAX_LEN + 1)
		return rb_err_set(RB_E_TOOBIG, "bech32: %zu bytes of data is too long", len);
	s = malloc(size);
	if (!s)
		return RB_E_NOMEM;
	r = bech32_encode_to(hrp, data, len, uppercase, s, size, &n);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return RB_OK;
}

/* Secret keys are Bech32 too, so the lookup scans the whole alphabet and
 * selects with masks instead of stopping at the match. */
static int charset_value(char c)
{
	uint32_t found = 0, value = 0, i;

	c = to_lower(c);
	for (i = 0; i < 32; i++) {
		uint32_t d = (uint32_t)(uint8_t)(charset[i] ^ c);
		uint32_t eq = ((d - 1) >> 31) & 1; /* 1 iff d == 0 */

		found |= eq;
		value |= i & (0u - eq);
	}
	return found ? (int)value : -1;
}

int bech32_decode(const char *s, size_t slen, const char *want_hrp, uint8_t *out, size_t out_max,
		  size_t *ret_len)
{
	size_t sep = 0, i, hlen, pos = 0, nd;
	bool lower = false, upper = false;
	uint32_t chk, acc = 0;
	int bits = 0;

	if (slen > BECH32_MAX_LEN)
		return rb_err_set(RB_E_TOOBIG, "bech32: %zu characters, over %d", slen, BECH32_MAX_LEN);
	for (i = 0; i < slen; i++) {
		if (s[i] < 33 || s[i] > 126)
			return rb_err_set(RB_E_PARSE, "bech32: character %zu is not printable ASCII", i + 1);
		if (s[i] >= 'a' && s[i] <= 'z')
			lower = true;
		if (s[i] >= 'A' && s[i] <= 'Z')
			upper = true;
		if (s[i] == '1')
			sep = i;
	}
	if (lower && upper)
		return rb_err_set(RB_E_PARSE, "bech32: mixed upper and lower case");
	hlen = sep;
	if (hlen < 1 || slen - hlen - 1 < 6)
		return rb_err_set(RB_E_PARSE, "bech32: no separator or checksum");
	if (strlen(want_hrp) != hlen)
		return rb_err_set(RB_E_PARSE, "bech32: wrong prefix; expected \"%s1...\"", want_hrp);
	for (i = 0; i < hlen; i++)
		if (to_lower(s[i]) != want_hrp[i])
			return rb_err_set(RB_E_PARSE, "bech32: wrong prefix; expected \"%s1...\"", want_hrp);
	chk = hrp_polymod(want_hrp, hlen);
	nd = slen - hlen - 1 - 6;
	for (i = hlen + 1; i < slen; i++) {
		int v = charset_value(s[i]);

		if (v < 0)
			return rb_err_set(RB_E_PARSE, "bech32: character %zu is not in the Bech32 alphabet",
					  i + 1);
		chk = polymod_step(chk, (uint8_t)v);
		if (i >= hlen + 1 + nd)
			continue;
		acc = ((acc << 5) | (uint32_t)v) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (pos == out_max)
				return rb_err_set(RB_E_TOOBIG, "bech32: data longer than %zu bytes", out_max);
			out[pos++] = (uint8_t)(acc >> bits);
		}
	}
	/* leftover bits are padding: fewer than 5 and all zero */
	if (chk != 1 || bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
		acc = 0;
		return rb_err_set(RB_E_PARSE, chk != 1 ? "bech32: checksum mismatch (mistyped key?)"
						       : "bech32: non-zero padding");
	}
	acc = 0;
	*ret_len = pos;
	return RB_OK;
}
