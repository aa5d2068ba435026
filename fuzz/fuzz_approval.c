/* Fuzz the approval-document parser (dual control). Whatever is accepted
 * must list 1..APPROVAL_MAX_KEYS distinct keys and re-emit canonically to
 * a fixed point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request/approval.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct approval_doc *a = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;

	if (approval_doc_parse((const char *)data, size, "fuzz", &a) != 0) {
		if (a)
			abort();
		return 0;
	}
	if (a->n_keys == 0 || a->n_keys > APPROVAL_MAX_KEYS)
		abort();
	for (size_t i = 0; i < a->n_keys; i++)
		if (!approval_doc_has_key(a, a->keys[i]))
			abort();
	if (approval_doc_emit(a, &out) != 0)
		abort();
	if (approval_doc_parse((const char *)out.data, out.len, "fuzz-again", &again) != 0)
		abort();
	if (approval_doc_emit(again, &out2) != 0 || out.len != out2.len ||
	    memcmp(out.data, out2.data, out.len) != 0)
		abort();
	rb_buf_free(&out);
	rb_buf_free(&out2);
	approval_doc_free(a);
	approval_doc_free(again);
	return 0;
}
