/* Canonical bytes of an entry tree, fast: the same bytes json_emit(v,
 * JSON_CANONICAL) writes, for the shapes entries have (an object whose
 * ASCII keys are sorted by bytes - RFC 8785 order for ASCII - with string,
 * integer and array-of-string values). Any other shape goes to json_emit
 * itself. The log appends what this writes only after the reader's own
 * check (audit_entry_validate) accepted the bytes, and the unit tests
 * compare both emitters. Appending is dominated by emission otherwise:
 * json_emit sorts with a UTF-16 comparator and escapes byte by byte. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit-internal.h"
#include "util/err.h"

#define EMIT_MAX_MEMBERS 64

/* Bytes json_emit writes as they are inside a string: not '"', '\\' or a
 * C0 control. */
static int plain_byte(uint8_t c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

/* sep (0 for none), then the string s in quotes. */
static int emit_str(struct rb_buf *out, char sep, const char *s, char after)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i, len;
	int err;

	/* Nearly every string needs no escape: one reserve and a copy. */
	len = strlen(s);
	for (i = 0; len - i >= 8; i += 8) {
		uint64_t x;

		memcpy(&x, p + i, 8);
		if (audit_word_special(x))
			break;
	}
	while (i < len && plain_byte(p[i]))
		i++;
	if (i == len) {
		uint8_t *d;

		if ((err = rb_buf_reserve(out, i + 4)) < 0)
			return err;
		d = out->data + out->len;
		if (sep)
			*d++ = (uint8_t)sep;
		*d++ = '"';
		memcpy(d, p, i);
		d += i;
		*d++ = '"';
		if (after)
			*d++ = (uint8_t)after;
		out->len = (size_t)(d - out->data);
		return RB_OK;
	}
	/* One escaper for every canonical string (RFC 8785). */
	if ((sep && (err = rb_buf_put_u8(out, (uint8_t)sep)) < 0) || (err = json_emit_string(out, s, len)) < 0)
		return err;
	return after ? rb_buf_put_u8(out, (uint8_t)after) : RB_OK;
}

static int emit_int(struct rb_buf *out, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	return rb_buf_put(out, num, (size_t)n);
}

/* 1 if v was written, 0 if it has a shape left to json_emit. */
static int emit_fast(const struct json_value *v, struct rb_buf *out)
{
	size_t n = json_object_size(v), order[EMIT_MAX_MEMBERS];
	size_t slot[AUDIT_KEY_COUNT];
	int err;

	if (n > EMIT_MAX_MEMBERS)
		return 0;
	/* The format's keys in their canonical (byte) order: a member's
	 * rank is its place. Any other key is left to json_emit. */
	for (size_t r = 0; r < AUDIT_KEY_COUNT; r++)
		slot[r] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		const char *k = json_object_key_at(v, i);
		int r = audit_key_rank(k, strlen(k));

		if (r < 0 || slot[r] != SIZE_MAX)
			return 0;
		slot[r] = i;
	}
	n = 0;
	for (size_t r = 0; r < AUDIT_KEY_COUNT; r++)
		if (slot[r] != SIZE_MAX)
			order[n++] = slot[r];
	if ((err = rb_buf_put_u8(out, '{')) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		const struct json_value *m = json_object_value_at(v, order[i]);
		const char *s;
		int64_t iv;

		if ((err = emit_str(out, i ? ',' : 0, json_object_key_at(v, order[i]), ':')) < 0)
			return err;
		switch (json_value_type(m)) {
		case JSON_STRING:
			json_expect_string(m, &s);
			if ((err = emit_str(out, 0, s, 0)) < 0)
				return err;
			break;
		case JSON_INT:
			json_expect_int(m, &iv);
			if ((err = emit_int(out, iv)) < 0)
				return err;
			break;
		case JSON_ARRAY:
			if ((err = rb_buf_put_u8(out, '[')) < 0)
				return err;
			for (size_t j = 0; j < json_array_size(m); j++) {
				const struct json_value *a = json_array_get(m, j);

				if (json_value_type(a) != JSON_STRING)
					return 0;
				json_expect_string(a, &s);
				if ((err = emit_str(out, j ? ',' : 0, s, 0)) < 0)
					return err;
			}
			if ((err = rb_buf_put_u8(out, ']')) < 0)
				return err;
			break;
		default:
			return 0;
		}
	}
	if ((err = rb_buf_put_u8(out, '}')) < 0)
		return err;
	return 1;
}

int audit_entry_emit(const struct json_value *v, struct rb_buf *out)
{
	size_t start = out->len;
	int r = json_value_type(v) == JSON_OBJECT ? emit_fast(v, out) : 0;

	if (r == 1)
		return RB_OK;
	out->len = start;
	if (r < 0)
		return r;
	return json_emit(v, JSON_CANONICAL, out);
}
