/* Fuzz the wrapped key metadata parser: it must never crash or leak, and
 * whatever it accepts must satisfy the invariants the signing core relies
 * on and survive an emit/parse round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11/wrap.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wrap_meta *m = NULL, *m2 = NULL;
	struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;

	if (wrap_meta_parse((const char *)data, size, "fuzz", &m) == 0) {
		if (!wrap_name_valid(m->name) || !m->pub || m->blob_len < 16 || m->blob_len > WRAP_BLOB_MAX ||
		    m->blob_len % 8 != 0 || m->id_len == 0 || m->id_len > WRAP_ID_MAX ||
		    m->spki_len == 0 || m->spki_len > WRAP_SPKI_MAX)
			abort();
		if (wrap_meta_emit(m, &out) != 0 ||
		    wrap_meta_parse((const char *)out.data, out.len, "fuzz-rt", &m2) != 0 ||
		    wrap_meta_emit(m2, &out2) != 0 || out.len != out2.len ||
		    memcmp(out.data, out2.data, out.len) != 0 || EVP_PKEY_eq(m->pub, m2->pub) != 1)
			abort();
	}
	rb_buf_free(&out);
	rb_buf_free(&out2);
	wrap_meta_free(m);
	wrap_meta_free(m2);
	return 0;
}
