/* Writing a tree: the canonical form that rombsr hashes and signs, and a
 * pretty form for files people edit. Trees are valid by construction
 * (UTF-8 strings without NUL, unique keys), so the output always parses. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json-internal.h"
#include "util/utf8.h"
#include "util/buf.h"
#include "util/err.h"

struct emitter {
	struct rb_buf *out;
	enum json_style style;
};

static int put(struct emitter *e, const char *s, size_t n)
{
	return rb_buf_put(e->out, s, n);
}

static int put_str(struct emitter *e, const char *s)
{
	return put(e, s, strlen(s));
}

/* RFC 8785 section 3.2.2.2: escape '"', '\\' and C0 controls (the short
 * forms where JSON has them, else \u00xx in lowercase) and nothing else;
 * '/', DEL and non-ASCII go out as they are. */
int json_emit_string(struct rb_buf *out, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i, run = 0, start = out->len;
	char esc[8];
	int err;

	if ((err = rb_buf_put(out, "\"", 1)) < 0)
		goto fail;
	for (i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((err = rb_buf_put(out, s + run, i - run)) < 0)
			goto fail;
		run = i + 1;
		switch (c) {
		case '"': strcpy(esc, "\\\""); break;
		case '\\': strcpy(esc, "\\\\"); break;
		case '\b': strcpy(esc, "\\b"); break;
		case '\t': strcpy(esc, "\\t"); break;
		case '\n': strcpy(esc, "\\n"); break;
		case '\f': strcpy(esc, "\\f"); break;
		case '\r': strcpy(esc, "\\r"); break;
		default: snprintf(esc, sizeof(esc), "\\u%04x", c); break;
		}
		if ((err = rb_buf_put_str(out, esc)) < 0)
			goto fail;
	}
	if ((err = rb_buf_put(out, s + run, len - run)) < 0 || (err = rb_buf_put(out, "\"", 1)) < 0)
		goto fail;
	return RB_OK;
fail:
	out->len = start;
	return err;
}

static int emit_string(struct emitter *e, const char *s, size_t len)
{
	return json_emit_string(e->out, s, len);
}

/* The order RFC 8785 sorts keys in: by UTF-16 code units. That is code
 * point order except that U+E000-U+FFFF come after the supplementary
 * planes (whose surrogates start at 0xD800). */
static uint32_t utf16_weight(uint32_t cp)
{
	return cp >= 0xe000 && cp <= 0xffff ? cp + 0x200000 : cp;
}

static int compare_keys_utf16(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;
	const uint8_t *px = (const uint8_t *)x->key, *py = (const uint8_t *)y->key;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len, i = 0;
	uint32_t cx, cy;
	const char *why;

	while (i < n && px[i] == py[i])
		i++;
	if (i == n)
		return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
	/* Equal bytes so far and both valid UTF-8: the first differing code
	 * point starts at the same offset in both. */
	while (i > 0 && (px[i] & 0xc0) == 0x80)
		i--;
	rb_utf8_decode(px + i, x->key_len - i, &cx, &why);
	rb_utf8_decode(py + i, y->key_len - i, &cy, &why);
	cx = utf16_weight(cx);
	cy = utf16_weight(cy);
	return cx < cy ? -1 : cx > cy;
}

static int emit_indent(struct emitter *e, unsigned level)
{
	int err = RB_OK;
	unsigned i;

	for (i = 0; i < level && err == RB_OK; i++)
		err = put(e, "  ", 2);
	return err;
}

static int emit_value(struct emitter *e, const struct json_value *v, unsigned level);

/* Before element i of a container at level: "," and, in pretty style, a
 * line break and indentation. */
static int emit_separator(struct emitter *e, size_t i, unsigned level)
{
	int err;

	if (i > 0 && (err = put(e, ",", 1)) < 0)
		return err;
	if (e->style != JSON_PRETTY)
		return RB_OK;
	if ((err = put(e, "\n", 1)) < 0)
		return err;
	return emit_indent(e, level + 1);
}

static int emit_close(struct emitter *e, size_t n, unsigned level, const char *bracket)
{
	int err;

	if (e->style == JSON_PRETTY && n > 0) {
		if ((err = put(e, "\n", 1)) < 0 || (err = emit_indent(e, level)) < 0)
			return err;
	}
	return put_str(e, bracket);
}

static int emit_array(struct emitter *e, const struct json_value *arr, unsigned level)
{
	size_t i, n = arr->u.array.n;
	int err;

	if ((err = put(e, "[", 1)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		if ((err = emit_separator(e, i, level)) < 0 ||
		    (err = emit_value(e, arr->u.array.items[i], level + 1)) < 0)
			return err;
	}
	return emit_close(e, n, level, "]");
}

static int emit_object(struct emitter *e, const struct json_value *obj, unsigned level)
{
	_cleanup_free_ const struct json_member **order = NULL;
	size_t i, n = obj->u.object.n;
	int err;

	if (n > 0) {
		order = malloc(n * sizeof(*order));
		if (!order)
			return RB_E_NOMEM;
		for (i = 0; i < n; i++)
			order[i] = &obj->u.object.members[i];
		if (e->style == JSON_CANONICAL)
			qsort(order, n, sizeof(*order), compare_keys_utf16);
	}
	if ((err = put(e, "{", 1)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		if ((err = emit_separator(e, i, level)) < 0 ||
		    (err = emit_string(e, order[i]->key, order[i]->key_len)) < 0 ||
		    (err = put_str(e, e->style == JSON_PRETTY ? ": " : ":")) < 0 ||
		    (err = emit_value(e, order[i]->value, level + 1)) < 0)
			return err;
	}
	return emit_close(e, n, level, "}");
}

/* level counts the containers around v; recursion stops at JSON_MAX_DEPTH. */
static int emit_value(struct emitter *e, const struct json_value *v, unsigned level)
{
	char num[24];

	switch (v->type) {
	case JSON_NULL:
		return put_str(e, "null");
	case JSON_BOOL:
		return put_str(e, v->u.boolean ? "true" : "false");
	case JSON_INT:
		snprintf(num, sizeof(num), "%" PRId64, v->u.integer);
		return put_str(e, num);
	case JSON_STRING:
		return emit_string(e, v->u.string.data, v->u.string.len);
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (level + 1 > JSON_MAX_DEPTH)
			return json_err_set(v, RB_E_TOOBIG, "JSON nested deeper than %u levels",
					    JSON_MAX_DEPTH);
		return v->type == JSON_ARRAY ? emit_array(e, v, level) : emit_object(e, v, level);
	}
	return RB_E_INVAL;
}

int json_emit(const struct json_value *v, enum json_style style, struct rb_buf *out)
{
	struct emitter e = { out, style };
	size_t saved;
	int err;

	if (!v || !out || (style != JSON_CANONICAL && style != JSON_PRETTY))
		return RB_E_INVAL;
	saved = out->len;
	err = emit_value(&e, v, 0);
	if (err == RB_OK && style == JSON_PRETTY)
		err = put(&e, "\n", 1);
	if (err < 0)
		out->len = saved; /* all or nothing: no half-written document */
	return err;
}
