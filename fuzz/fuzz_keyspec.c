/* Fuzz the key spec parser: it must never crash, leak, or accept a spec
 * that violates its own invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyspec.h"
#include "keys/purpose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyspec *ks = NULL;

	if (keyspec_parse((const char *)data, size, "fuzz", &ks) == 0) {
		if (ks->n_keys == 0 || ks->n_keys > KEYSPEC_MAX_KEYS)
			abort();
		for (size_t i = 0; i < ks->n_keys; i++) {
			if (!key_name_valid(ks->keys[i].name) || !ks->keys[i].subject || !ks->keys[i].purpose)
				abort();
			/* no accepted key breaks the purpose rules (no OpenPGP key
			 * that also signs node-chosen digests, sign-node purposes alone) */
			if (key_purposes_check(ks->keys[i].purposes, ks->keys[i].alg, ks->keys[i].name) != 0)
				abort();
			for (size_t j = 0; j < i; j++)
				if (strcmp(ks->keys[i].name, ks->keys[j].name) == 0)
					abort();
		}
	}
	keyspec_free(ks);
	return 0;
}
