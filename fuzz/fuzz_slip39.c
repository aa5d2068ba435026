/* libFuzzer target for src/lib/slip39: the input is up to 16 mnemonics,
 * one per line. Each is decoded; a share that decodes must re-encode to
 * the same words (the codec is a bijection on valid shares). Sets whose
 * shares all decoded with iteration exponent 0 are combined, so PBKDF2
 * stays cheap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slip39/slip39-internal.h"
#include "slip39/slip39.h"
#include "util/err.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_words(const char *a, size_t alen, const struct rb_secret *b)
{
	/* compare ignoring case and runs of whitespace */
	size_t i = 0, j = 0;

	for (;;) {
		while (i < alen && (a[i] == ' ' || a[i] == '\t' || a[i] == '\r' || a[i] == '\n'))
			i++;
		while (j < b->len && b->data[j] == ' ')
			j++;
		if (i == alen || j == b->len)
			return i == alen && j == b->len;
		while (i < alen && j < b->len && a[i] != ' ' && a[i] != '\t' && a[i] != '\r' &&
		       a[i] != '\n' && b->data[j] != ' ') {
			char c = a[i];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (c != (char)b->data[j])
				return false;
			i++;
			j++;
		}
		if ((i < alen && a[i] != ' ' && a[i] != '\t' && a[i] != '\r' && a[i] != '\n') ||
		    (j < b->len && b->data[j] != ' '))
			return false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_secret *m[16] = { 0 }, *out = NULL;
	size_t n = 0, pos = 0, i;
	bool all_cheap = true;

	while (pos <= size && n < 16) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - data - pos) : size - pos;
		struct slip39_share *s = NULL;

		if (len <= SLIP39_MAX_MNEMONIC_LEN) {
			if (rb_secret_new(len, &m[n]) < 0)
				abort();
			memcpy(m[n]->data, data + pos, len);
			m[n]->len = len;
			n++;
		}
		if (slip39_decode((const char *)data + pos, len, &s) == 0) {
			struct rb_secret *enc = NULL;

			if (rb_secret_new(SLIP39_MAX_MNEMONIC_LEN, &enc) < 0)
				abort();
			if (slip39_share_encode(s, enc) < 0 ||
			    !same_words((const char *)data + pos, len, enc))
				abort();
			if (s->iteration_exponent)
				all_cheap = false;
			rb_secret_free(enc);
			slip39_share_free(s);
		} else {
			all_cheap = false;
		}
		if (!nl)
			break;
		pos += len + 1;
	}
	if (n && all_cheap) {
		if (slip39_combine((const struct rb_secret *const *)m, n, NULL, &out) == 0 &&
		    (!out || out->len < SLIP39_MIN_SECRET))
			abort();
		rb_secret_free(out);
	}
	for (i = 0; i < n; i++)
		rb_secret_free(m[i]);
	return 0;
}
