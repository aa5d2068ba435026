/* libFuzzer target for the audit entry parser and the entry-bundle walker
 * (the bytes `rombsr audit verify` and the sign node read back from disk).
 * An accepted entry is canonical: emitting it gives the input bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "audit/tile.h"
#include "json/json.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int entry_cb(void *ctx, const uint8_t *e, size_t len)
{
	struct json_value *v = NULL;
	int err = audit_entry_parse(e, len, &v, NULL);

	(void)ctx;
	json_free(v);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v = NULL;
	enum audit_event type;
	unsigned n;
	size_t good;

	if (audit_entry_parse(data, size, &v, &type) == 0) {
		struct rb_buf out = RB_BUF_INIT;

		if (!audit_event_name(type) || audit_entry_check(v) < 0 ||
		    json_emit(v, JSON_CANONICAL, &out) < 0 || out.len != size ||
		    memcmp(out.data, data, size) != 0)
			abort();
		rb_buf_free(&out);
		json_free(v);
	}
	/* The same bytes as a bundle of length-prefixed records. */
	if (audit_bundle_walk(data, size, TILE_WIDTH, entry_cb, NULL, &n, &good) == 0 && good != size)
		abort();
	if (good > size)
		abort();
	return 0;
}
