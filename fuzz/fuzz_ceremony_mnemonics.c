/* libFuzzer target for src/lib/ceremony's mnemonic file reader: the input
 * is the text of a mnemonic file or a decrypted share file. Whatever
 * parses must be 1..CEREMONY_MAX_SHARES mnemonics that each decode again;
 * a set of iteration exponent 0 is also run through ceremony_recover, so
 * PBKDF2 stays cheap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ceremony/ceremony.h"
#include "util/err.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_secret *text = NULL, **m = NULL, *key = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	bool cheap = true;
	size_t n = 0;

	if (size > CEREMONY_MNEMONIC_FILE_MAX || rb_secret_new(size, &text) < 0)
		return 0;
	memcpy(text->data, data, size);
	text->len = size;
	if (ceremony_mnemonics_parse(text, "fuzz", &m, &n) == RB_OK) {
		if (n == 0 || n > CEREMONY_MAX_SHARES)
			abort();
		for (size_t i = 0; i < n; i++) {
			struct slip39_share *sh = NULL;

			if (slip39_decode((const char *)m[i]->data, m[i]->len, &sh) < 0)
				abort();
			cheap = cheap && sh->iteration_exponent == 0;
			slip39_share_free(sh);
		}
		if (cheap && ceremony_recover((const struct rb_secret *const *)m, n, NULL, &key, fpr) == RB_OK &&
		    key->len != CEREMONY_KEY_LEN)
			abort();
		rb_secret_free(key);
		slip39_mnemonics_free(m, n);
	}
	rb_secret_free(text);
	return 0;
}
