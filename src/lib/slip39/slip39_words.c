/* Word <-> index. A mnemonic is secret, so lookup compares the input with
 * every word of the list and selects the index with masks: the time does
 * not depend on which word was typed. */
#include "slip39/slip39-internal.h"

#include <string.h>

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
	uint32_t found = 0, index = 0;
	uint8_t w[8];
	size_t i, k;

	/* every word of the list has 4..8 letters */
	if (len < 4 || len > 8)
		return -1;
	for (k = 0; k < 8; k++)
		w[k] = k < len ? ascii_lower((uint8_t)word[k]) : 0;
	for (i = 0; i < SLIP39_RADIX; i++) {
		const char *cand = slip39_wordlist[i];
		size_t clen = strlen(cand);
		uint8_t diff = 0;
		uint32_t eq;

		for (k = 0; k < 8; k++) {
			/* past its end a list word compares as zero, like the
			 * padding of w, so "acid" never matches "acidx" */
			uint8_t c = k < clen ? (uint8_t)cand[k] : 0;

			diff |= (uint8_t)(c ^ w[k]);
		}
		eq = (uint32_t)(((unsigned)diff - 1) >> 8) & 1; /* 1 iff diff == 0 */
		found |= eq;
		index |= (uint32_t)i & (uint32_t)-eq;
	}
	for (k = 0; k < 8; k++)
		((volatile uint8_t *)w)[k] = 0;
	return found ? (int)index : -1;
}
