/* Fuzz the response-document parser: what the build node reads back from
 * the queue. Whatever is accepted must have unique ids findable through
 * response_doc_find, signatures within the documented sizes, and must
 * re-emit canonically to a fixed point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request/response.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct response_doc *doc = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;

	if (response_doc_parse((const char *)data, size, "fuzz", &doc) != 0) {
		if (doc)
			abort();
		return 0;
	}
	for (size_t i = 0; i < doc->n_entries; i++) {
		const struct response_entry *e = &doc->entries[i];

		if (response_doc_find(doc, e->id) != e)
			abort();
		if (e->status == RESPONSE_SIGNED &&
		    (!e->signature || e->signature_len == 0 || e->signature_len > RESPONSE_PGP_SIG_MAX ||
		     e->audit.n_proof > RESPONSE_PROOF_MAX))
			abort();
		if (e->status == RESPONSE_REJECTED && (!e->message || !response_reason_name(e->reason)))
			abort();
	}
	if (response_doc_emit(doc, &out) != 0)
		abort();
	if (response_doc_parse((const char *)out.data, out.len, "fuzz-again", &again) != 0)
		abort();
	if (response_doc_emit(again, &out2) != 0 || out.len != out2.len ||
	    memcmp(out.data, out2.data, out.len) != 0)
		abort();
	rb_buf_free(&out);
	rb_buf_free(&out2);
	response_doc_free(doc);
	response_doc_free(again);
	return 0;
}
