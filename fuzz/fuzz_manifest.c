/* Fuzz the key manifest parser, the document build nodes receive: it must
 * never crash or leak, and whatever it accepts must re-emit and re-parse to
 * the same keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT;

	if (manifest_parse((const char *)data, size, "fuzz", &m) == 0) {
		if (manifest_emit(m, &out) != 0)
			abort();
		if (manifest_parse((const char *)out.data, out.len, "fuzz-again", &again) != 0)
			abort();
		if (again->n_keys != m->n_keys)
			abort();
		for (size_t i = 0; i < m->n_keys; i++)
			if (memcmp(again->keys[i].spki_sha256, m->keys[i].spki_sha256, 32) != 0 ||
			    again->keys[i].status != m->keys[i].status ||
			    again->keys[i].purposes != m->keys[i].purposes ||
			    key_purposes_check(m->keys[i].purposes, m->keys[i].alg, m->keys[i].name) != 0)
				abort();
	}
	rb_buf_free(&out);
	manifest_free(m);
	manifest_free(again);
	return 0;
}
