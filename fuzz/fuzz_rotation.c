/* Fuzz the rotation statement reader (docs/formats/rotation-statement.md):
 * parsing and both signature checks must never crash or leak, verification
 * answers only "verifies" or "does not", and anything accepted by the
 * parser is canonical, so it parses again to the same keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/rotation.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rotation_statement *st = NULL, *again = NULL;
	int err;

	if (rotation_statement_parse(data, size, "fuzz", &st) == 0) {
		err = rotation_statement_verify(st);
		if (err != RB_OK && err != RB_E_VERIFY)
			abort();
		if (rotation_statement_parse(data, size, "fuzz-again", &again) != 0 ||
		    memcmp(again->old_key.spki_sha256, st->old_key.spki_sha256, 32) != 0 ||
		    memcmp(again->new_key.spki_sha256, st->new_key.spki_sha256, 32) != 0 ||
		    again->time != st->time || rotation_statement_verify(again) != err)
			abort();
	}
	rotation_statement_free(st);
	rotation_statement_free(again);
	return 0;
}
