/* libFuzzer target for the strict JSON parser and the canonical emitter.
 *
 * Besides memory safety (ASan/UBSan) it checks the properties audit
 * hashing depends on: whatever parses has a canonical form that parses
 * again to the same canonical form, and the pretty form describes the same
 * document. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void emit_or_abort(const struct json_value *v, enum json_style style, struct rb_buf *out)
{
	if (json_emit(v, style, out) < 0)
		abort();
}

static struct json_value *parse_or_abort(const struct rb_buf *b)
{
	struct json_value *v = NULL;

	if (json_parse(b->data, b->len, NULL, &v) < 0 || !v)
		abort();
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v = NULL, *again = NULL, *from_pretty = NULL;
	struct rb_buf c1 = RB_BUF_INIT, c2 = RB_BUF_INIT, pretty = RB_BUF_INIT, c3 = RB_BUF_INIT;
	int err;

	rb_err_clear();
	err = json_parse(data, size, NULL, &v);
	if (err < 0) {
		/* every rejection says what and where, and sets nothing */
		if (v || rb_err_detail()[0] == '\0' || (err != RB_E_PARSE && err != RB_E_TOOBIG))
			abort();
		return 0;
	}

	emit_or_abort(v, JSON_CANONICAL, &c1);
	again = parse_or_abort(&c1);
	emit_or_abort(again, JSON_CANONICAL, &c2);
	if (c1.len != c2.len || memcmp(c1.data, c2.data, c1.len) != 0)
		abort();
	/* canonical output is never longer than the input it came from:
	 * whitespace goes, escapes only ever shrink or stay */
	if (c1.len > size)
		abort();

	emit_or_abort(v, JSON_PRETTY, &pretty);
	from_pretty = parse_or_abort(&pretty);
	emit_or_abort(from_pretty, JSON_CANONICAL, &c3);
	if (c1.len != c3.len || memcmp(c1.data, c3.data, c1.len) != 0)
		abort();

	/* exercise the readers on whatever came in */
	if (json_value_type(v) == JSON_OBJECT) {
		static const char *const known[] = { "version", "name", NULL };
		const char *s;
		int64_t i;

		(void)json_object_check_keys(v, known, NULL);
		(void)json_get_string_opt(v, "name", &s);
		(void)json_get_int(v, "version", &i);
	}

	json_free(v);
	json_free(again);
	json_free(from_pretty);
	rb_buf_free(&c1);
	rb_buf_free(&c2);
	rb_buf_free(&c3);
	rb_buf_free(&pretty);
	return 0;
}
