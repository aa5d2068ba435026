/* Word <-> index. A mnemonic is secret, so lookup compares the input with
 * every word of the list and selects the index with masks: the time does
 * not depend on which word was typed. */
#include "slip39/slip39-internal.h"

#include <string.h>

#include "util/secret.h"

const char *slip39_word(unsigned index)
{
	return index < SLIP39_RADIX ? slip39_wordlist[index] : NULL;
}

static uint8_t ascii_lower(uint8_t c)
{
	/* branch-free: set bit 5 only for 'A'..'Z' */
	uint8_t is_upper = (uint8_t)(((unsigned)(c - 'A') <= 'Z' - 'A') ? 0x20 : 0);

	return c | is_upper;
}

int slip39_word_index(const char *word, size_t len)
{
	uint64_t w = 0, found = 0, index = 0;
	uint8_t lw[8] = { 0 };
	size_t i, k;

	/* every word of the list has 4..8 letters */
	if (len < 4 || len > 8)
		return -1;
	for (k = 0; k < len; k++) {
		lw[k] = ascii_lower((uint8_t)word[k]);
		/* only letters: a NUL would otherwise pass as the padding */
		if (lw[k] < 'a' || lw[k] > 'z') {
			rb_wipe(lw, sizeof(lw));
			return -1;
		}
	}
	memcpy(&w, lw, 8);
	for (i = 0; i < SLIP39_RADIX; i++) {
		uint64_t cand, diff, eq;

		/* the list is NUL-padded, like lw, so "acid" never matches
		 * "acidx" */
		memcpy(&cand, slip39_wordlist[i], 8);
		diff = cand ^ w;
		/* eq = 1 iff diff == 0, without a branch */
		eq = 1 ^ ((diff | (0 - diff)) >> 63);
		found |= eq;
		index |= (uint64_t)i & (0 - eq);
	}
	rb_wipe(lw, sizeof(lw));
	w = 0;
	return found ? (int)index : -1;
}
