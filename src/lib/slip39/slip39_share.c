/* One SLIP-0039 share <-> its mnemonic. The checksum is verified before
 * any field is trusted; every defect names the word position. */
#include "slip39/slip39-internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct slip39_share *, slip39_share_free);

/* Scratch space for one mnemonic, kept in locked, wiped memory. */
struct share_ws {
	uint16_t idx[SLIP39_MAX_WORDS + 1];
	uint8_t value[SLIP39_MAX_SECRET];
};

void slip39_share_free(struct slip39_share *s)
{
	if (!s)
		return;
	rb_secret_free(s->value);
	free(s);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split into word indices; *ret_n words. */
static int mnemonic_to_indices(const char *m, size_t len, uint16_t *idx, size_t *ret_n)
{
	size_t i = 0, n = 0;

	while (i < len) {
		size_t start, wlen;
		int v;

		while (i < len && is_space(m[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_space(m[i]))
			i++;
		wlen = i - start;
		if (n == SLIP39_MAX_WORDS)
			return rb_err_set(RB_E_PARSE,
					  "mnemonic: more than %d words; a SLIP-0039 share has 20 to %d words",
					  SLIP39_MAX_WORDS, SLIP39_MAX_WORDS);
		v = slip39_word_index(m + start, wlen);
		if (v < 0)
			/* the word itself is part of a secret share: name only
			 * its position */
			return rb_err_set(RB_E_PARSE,
					  "mnemonic: word %zu is not in the SLIP-0039 word list; check its spelling",
					  n + 1);
		idx[n++] = (uint16_t)v;
	}
	*ret_n = n;
	return RB_OK;
}

static uint32_t indices_to_u32(const uint16_t *idx, size_t n)
{
	uint32_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = (v << 10) | idx[i];
	return v;
}

int slip39_decode(const char *mnemonic, size_t len, struct slip39_share **ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	_cleanup_(slip39_share_freep) struct slip39_share *s = NULL;
	struct share_ws *ws;
	size_t n = 0, nval, padding, value_len, i, bitpos;
	uint32_t id_exp, params;
	bool extendable;
	int r;

	if (!mnemonic || !ret)
		return rb_err_set(RB_E_INVAL, "slip39_decode: NULL argument");
	if (len > SLIP39_MAX_MNEMONIC_LEN)
		return rb_err_set(RB_E_TOOBIG, "mnemonic: %zu bytes, over the %d-byte cap", len,
				  SLIP39_MAX_MNEMONIC_LEN);
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct share_ws *)ws_mem->data;
	r = mnemonic_to_indices(mnemonic, len, ws->idx, &n);
	if (r < 0)
		return r;
	if (n < SLIP39_MIN_WORDS)
		return rb_err_set(RB_E_PARSE, "mnemonic: %zu words; a SLIP-0039 share has 20 to %d words",
				  n, SLIP39_MAX_WORDS);
	nval = n - SLIP39_METADATA_WORDS;
	padding = (SLIP39_RADIX_BITS * nval) % 16;
	if (padding > 8)
		return rb_err_set(RB_E_PARSE, "mnemonic: %zu words is not a valid share length", n);

	id_exp = indices_to_u32(ws->idx, 2);
	extendable = (id_exp >> 4) & 1;
	if (!slip39_rs1024_verify(ws->idx, n, extendable))
		return rb_err_set(RB_E_PARSE,
				  "mnemonic: checksum mismatch (a word is wrong or words are swapped); re-enter the share");
	params = indices_to_u32(ws->idx + 2, 2);

	s = calloc(1, sizeof(*s));
	if (!s)
		return RB_E_NOMEM;
	s->identifier = (uint16_t)(id_exp >> 5);
	s->extendable = extendable;
	s->iteration_exponent = (uint8_t)(id_exp & 15);
	s->group_index = (uint8_t)((params >> 16) & 15);
	s->group_threshold = (uint8_t)(((params >> 12) & 15) + 1);
	s->group_count = (uint8_t)(((params >> 8) & 15) + 1);
	s->member_index = (uint8_t)((params >> 4) & 15);
	s->member_threshold = (uint8_t)((params & 15) + 1);
	if (s->group_threshold > s->group_count)
		return rb_err_set(RB_E_PARSE, "mnemonic: group threshold %u exceeds group count %u",
				  s->group_threshold, s->group_count);

	/* The value words hold 10*nval bits: padding zero bits, then the
	 * value big-endian. */
	value_len = (SLIP39_RADIX_BITS * nval - padding) / 8;
	if (value_len > SLIP39_MAX_SECRET)
		return rb_err_set(RB_E_PARSE, "mnemonic: share value of %zu bytes is too long", value_len);
	{
		uint8_t pad_bits = 0;

		bitpos = 0;
		memset(ws->value, 0, sizeof(ws->value));
		for (i = 0; i < SLIP39_RADIX_BITS * nval; i++) {
			uint16_t w = ws->idx[4 + i / 10];
			uint8_t bit = (uint8_t)((w >> (9 - i % 10)) & 1);

			if (i < padding) {
				pad_bits |= bit;
				continue;
			}
			ws->value[bitpos / 8] |= (uint8_t)(bit << (7 - bitpos % 8));
			bitpos++;
		}
		if (pad_bits)
			return rb_err_set(RB_E_PARSE, "mnemonic: padding bits are not zero; re-enter word 5");
	}
	r = rb_secret_new(value_len, &s->value);
	if (r < 0)
		return r;
	memcpy(s->value->data, ws->value, value_len);
	s->value->len = value_len;
	*ret = TAKE_PTR(s);
	return RB_OK;
}

int slip39_share_encode(const struct slip39_share *s, struct rb_secret *out)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	struct share_ws *ws;
	size_t vlen = s->value->len, nval, n, i, bits, padding, pos = 0;
	uint32_t id_exp, params;
	int r;

	if (vlen < SLIP39_MIN_SECRET || vlen > SLIP39_MAX_SECRET || vlen % 2)
		return rb_err_set(RB_E_INVAL, "slip39: share value of %zu bytes", vlen);
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct share_ws *)ws_mem->data;
	nval = (vlen * 8 + 9) / 10;
	n = nval + SLIP39_METADATA_WORDS;
	id_exp = ((uint32_t)(s->identifier & 0x7FFF) << 5) | ((uint32_t)s->extendable << 4) |
		 (s->iteration_exponent & 15);
	params = ((uint32_t)s->group_index << 16) | ((uint32_t)(s->group_threshold - 1) << 12) |
		 ((uint32_t)(s->group_count - 1) << 8) | ((uint32_t)s->member_index << 4) |
		 (uint32_t)(s->member_threshold - 1);
	ws->idx[0] = (uint16_t)(id_exp >> 10);
	ws->idx[1] = (uint16_t)(id_exp & 1023);
	ws->idx[2] = (uint16_t)(params >> 10);
	ws->idx[3] = (uint16_t)(params & 1023);
	bits = nval * 10;
	padding = bits - vlen * 8;
	for (i = 0; i < nval; i++)
		ws->idx[4 + i] = 0;
	for (i = 0; i < vlen * 8; i++) {
		size_t b = i + padding;
		uint16_t bit = (uint16_t)((s->value->data[i / 8] >> (7 - i % 8)) & 1);

		ws->idx[4 + b / 10] |= (uint16_t)(bit << (9 - b % 10));
	}
	slip39_rs1024_create(ws->idx, n - 3, s->extendable, ws->idx + n - 3);

	for (i = 0; i < n; i++) {
		const char *w = slip39_wordlist[ws->idx[i]];
		size_t wl = strlen(w);

		if (pos + wl + 2 > out->size)
			return rb_err_set(RB_E_TOOBIG, "slip39: mnemonic buffer too small");
		if (i)
			out->data[pos++] = ' ';
		memcpy(out->data + pos, w, wl);
		pos += wl;
	}
	out->data[pos] = '\0';
	out->len = pos;
	return RB_OK;
}
