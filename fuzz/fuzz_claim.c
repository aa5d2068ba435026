/* Fuzz the claim-document parser (docs/formats/claim.md). A sign node
 * reads claims from the queue's tree; whatever is accepted must keep the
 * rules (generation, lease) and re-emit canonically to a fixed point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request/claim.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct claim_doc *c = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;

	if (claim_doc_parse((const char *)data, size, "fuzz", &c) != 0) {
		if (c)
			abort();
		return 0;
	}
	if (c->generation < 1 || c->generation > CLAIM_MAX_GENERATION || c->expires <= c->claimed ||
	    c->expires - c->claimed > CLAIM_MAX_LEASE_SECONDS)
		abort();
	if (claim_doc_emit(c, &out) != 0)
		abort();
	if (claim_doc_parse((const char *)out.data, out.len, "fuzz-again", &again) != 0)
		abort();
	if (claim_doc_emit(again, &out2) != 0 || out.len != out2.len || memcmp(out.data, out2.data, out.len) != 0)
		abort();
	rb_buf_free(&out);
	rb_buf_free(&out2);
	claim_doc_free(c);
	claim_doc_free(again);
	return 0;
}
