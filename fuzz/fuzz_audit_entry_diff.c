/* libFuzzer target: the fast entry validator (audit_entry_validate, what
 * `rombsr audit verify` and the sign node's recovery run on every entry)
 * must accept exactly the inputs the strict reader (audit_entry_parse:
 * strict JSON, field table, canonical re-emission) accepts, and read the
 * same type, request id, signature and intent request ids from them. Any disagreement aborts.
 * An accepted entry must also come out of the log's own emitter
 * unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "json/json.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_span(const struct json_value *v, const char *key, const char *p, size_t n)
{
	const char *s;

	if (json_get_string(v, key, &s) < 0)
		return p == NULL;
	return p && strlen(s) == n && memcmp(s, p, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v = NULL;
	struct audit_entry_view view;
	enum audit_event type = 0;
	int strict = audit_entry_parse(data, size, &v, &type);
	int fast = audit_entry_validate(data, size, &view);

	if ((strict == 0) != (fast == 0))
		abort();
	if (strict == 0) {
		struct rb_buf out = RB_BUF_INIT;

		if (view.type != type || !same_span(v, "time", view.time, view.time ? 20 : 0))
			abort();
		if ((type == AUDIT_SIGN || type == AUDIT_REJECT) &&
		    !same_span(v, "request_id", view.request_id, view.request_id_len))
			abort();
		if (type == AUDIT_SIGN && !same_span(v, "signature", view.signature, view.signature_len))
			abort();
		if (type == AUDIT_INTENT) {
			const struct json_value *ids = json_object_get(v, "request_ids");
			size_t pos = 0, k = 0, n;
			const char *id, *want;

			while (audit_entry_view_next_id(&view, &pos, &id, &n)) {
				if (k >= json_array_size(ids) ||
				    json_expect_string(json_array_get(ids, k), &want) < 0 ||
				    strlen(want) != n || memcmp(want, id, n) != 0)
					abort();
				k++;
			}
			if (k != json_array_size(ids))
				abort();
		}
		if (audit_entry_emit(v, &out) < 0 || out.len != size || memcmp(out.data, data, size) != 0)
			abort();
		rb_buf_free(&out);
	}
	json_free(v);
	return 0;
}
