/* The JSON tree: allocation, freeing, reading, building, and the located
 * error details that the readers produce. Parsing is in json_parse.c,
 * writing in json_emit.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json-internal.h"
#include "util/err.h"
#include "util/utf8.h"

/* How many path segments an error detail shows (the innermost ones). */
#define DETAIL_PATH_SEGMENTS 32

/* --- Error details --------------------------------------------------- */

/* A bounded string builder for details: it truncates instead of failing,
 * since a detail is best effort and capped at RB_ERR_DETAIL_MAX anyway. */
struct text {
	char *p;
	size_t size, len;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= t->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->size - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	t->len += (size_t)n;
	if (t->len >= t->size)
		t->len = t->size - 1;
}

void json_quote_for_detail(const char *s, size_t len, char out[JSON_QUOTED_SIZE])
{
	struct text t = { out, JSON_QUOTED_SIZE, 0 };
	const uint8_t *p = (const uint8_t *)s;
	const char *why;
	char one[16];
	size_t i = 0, n;
	uint32_t cp;

	out[0] = '\0';
	text_add(&t, "\"");
	while (i < len) {
		n = rb_utf8_decode(p + i, len - i, &cp, &why);
		if (n == 0) {
			snprintf(one, sizeof(one), "\\x%02x", p[i]);
			n = 1;
		} else if (cp == '"' || cp == '\\') {
			snprintf(one, sizeof(one), "\\%c", (char)cp);
		} else if (cp >= 0x20 && cp < 0x7f) {
			snprintf(one, sizeof(one), "%c", (char)cp);
		} else if (cp < 0x10000) {
			snprintf(one, sizeof(one), "\\u%04" PRIx32, cp);
		} else {
			cp -= 0x10000;
			snprintf(one, sizeof(one), "\\u%04" PRIx32 "\\u%04" PRIx32, 0xd800 + (cp >> 10),
				 0xdc00 + (cp & 0x3ff));
		}
		/* one opening quote plus at most JSON_QUOTED_MAX characters */
		if (t.len + strlen(one) > 1 + JSON_QUOTED_MAX) {
			text_add(&t, "...");
			break;
		}
		text_add(&t, "%s", one);
		i += n;
	}
	text_add(&t, "\"");
}

static bool key_is_identifier(const char *key, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void text_add_key(struct text *t, const char *key, size_t len)
{
	char quoted[JSON_QUOTED_SIZE];

	if (len <= JSON_QUOTED_MAX && key_is_identifier(key, len)) {
		text_add(t, "%s%.*s", t->len ? "." : "", (int)len, key);
		return;
	}
	json_quote_for_detail(key, len, quoted);
	text_add(t, "[%s]", quoted);
}

/* Path of v from its root, as people write it: keys[2].algorithm. */
static void text_add_path(struct text *t, const struct json_value *v)
{
	const struct json_value *chain[DETAIL_PATH_SEGMENTS];
	size_t n = 0, i;

	for (; v && v->parent; v = v->parent) {
		if (n == DETAIL_PATH_SEGMENTS) {
			text_add(t, "...");
			break;
		}
		chain[n++] = v;
	}
	for (i = n; i > 0; i--) {
		const struct json_value *c = chain[i - 1], *parent = c->parent;

		if (parent->type == JSON_ARRAY) {
			text_add(t, "[%zu]", c->index);
		} else {
			const struct json_member *m = &parent->u.object.members[c->index];

			text_add_key(t, m->key, m->key_len);
		}
	}
}

/* "line L, column C (offset O): path: " for v, at pos instead of v's own
 * position if pos is not NULL; the parts that are unknown are left out. */
static void describe(const struct json_value *v, const struct json_pos *pos, char *out,
		     size_t outsize)
{
	struct text t = { out, outsize, 0 };
	char path[RB_ERR_DETAIL_MAX];
	struct text pt = { path, sizeof(path), 0 };

	out[0] = '\0';
	path[0] = '\0';
	if (!pos && v)
		pos = &v->pos;
	if (pos && pos->line)
		text_add(&t, "line %" PRIu32 ", column %" PRIu32 " (offset %zu): ", pos->line,
			 pos->column, pos->offset);
	text_add_path(&pt, v);
	if (pt.len)
		text_add(&t, "%s: ", path);
}

int json_err_set(const struct json_value *at, int err, const char *fmt, ...)
{
	char prefix[RB_ERR_DETAIL_MAX], msg[RB_ERR_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	describe(at, NULL, prefix, sizeof(prefix));
	return rb_err_set(err, "%s%s", prefix, msg);
}

static int type_error(const struct json_value *v, enum json_type want)
{
	return json_err_set(v, RB_E_PARSE, "expected %s, got %s", json_type_name(want),
			    json_type_name(v->type));
}

/* --- Allocation and freeing ------------------------------------------ */

struct json_value *json_value_alloc(enum json_type type)
{
	struct json_value *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

/* Make room for one more entry of size elem in *items (n used, *alloc
 * allocated), doubling, never past max entries. */
static int grow(void **items, size_t n, size_t *alloc, size_t elem, size_t max)
{
	size_t want;
	void *p;

	if (n < *alloc)
		return RB_OK;
	if (n >= max)
		return RB_E_TOOBIG;
	want = *alloc ? *alloc * 2 : 4;
	if (want > max || want < *alloc)
		want = max;
	if (want > SIZE_MAX / elem)
		return RB_E_NOMEM;
	p = realloc(*items, want * elem);
	if (!p)
		return RB_E_NOMEM;
	*items = p;
	*alloc = want;
	return RB_OK;
}

int json_array_grow(struct json_value *arr, size_t max)
{
	void *items = arr->u.array.items;
	int err = grow(&items, arr->u.array.n, &arr->u.array.alloc, sizeof(arr->u.array.items[0]), max);

	arr->u.array.items = items;
	return err;
}

int json_object_grow(struct json_value *obj, size_t max)
{
	void *members = obj->u.object.members;
	int err = grow(&members, obj->u.object.n, &obj->u.object.alloc,
		       sizeof(obj->u.object.members[0]), max);

	obj->u.object.members = members;
	return err;
}

void json_free(struct json_value *v)
{
	struct json_value *cur = v, *child, *up;

	/* A value inside a container is freed with its root; freeing it here
	 * would leave the container pointing at freed memory. */
	if (!v || v->parent)
		return;
	/* Depth-first without a stack: detach the last child and descend;
	 * free a node once it is empty and climb back through parent. */
	while (cur) {
		child = NULL;
		if (cur->type == JSON_ARRAY && cur->u.array.n > 0) {
			child = cur->u.array.items[--cur->u.array.n];
		} else if (cur->type == JSON_OBJECT && cur->u.object.n > 0) {
			struct json_member *m = &cur->u.object.members[--cur->u.object.n];

			free(m->key);
			child = m->value;
		}
		if (child) {
			cur = child;
			continue;
		}
		up = cur->parent;
		if (cur->type == JSON_ARRAY)
			free(cur->u.array.items);
		else if (cur->type == JSON_OBJECT)
			free(cur->u.object.members);
		else if (cur->type == JSON_STRING)
			free(cur->u.string.data);
		free(cur);
		cur = up;
	}
}

/* --- Reading --------------------------------------------------------- */

enum json_type json_value_type(const struct json_value *v)
{
	return v ? v->type : 0;
}

const char *json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_BOOL: return "boolean";
	case JSON_INT: return "integer";
	case JSON_STRING: return "string";
	case JSON_ARRAY: return "array";
	case JSON_OBJECT: return "object";
	}
	return "invalid";
}

static const struct json_member *object_find(const struct json_value *obj, const char *key,
					     size_t key_len)
{
	size_t i;

	for (i = 0; i < obj->u.object.n; i++) {
		const struct json_member *m = &obj->u.object.members[i];

		if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
			return m;
	}
	return NULL;
}

const struct json_value *json_object_get(const struct json_value *obj, const char *key)
{
	const struct json_member *m;

	if (!obj || !key || obj->type != JSON_OBJECT)
		return NULL;
	m = object_find(obj, key, strlen(key));
	return m ? m->value : NULL;
}

size_t json_object_size(const struct json_value *obj)
{
	return obj && obj->type == JSON_OBJECT ? obj->u.object.n : 0;
}

const char *json_object_key_at(const struct json_value *obj, size_t i)
{
	return i < json_object_size(obj) ? obj->u.object.members[i].key : NULL;
}

const struct json_value *json_object_value_at(const struct json_value *obj, size_t i)
{
	return i < json_object_size(obj) ? obj->u.object.members[i].value : NULL;
}

size_t json_array_size(const struct json_value *arr)
{
	return arr && arr->type == JSON_ARRAY ? arr->u.array.n : 0;
}

const struct json_value *json_array_get(const struct json_value *arr, size_t i)
{
	return i < json_array_size(arr) ? arr->u.array.items[i] : NULL;
}

int json_expect_type(const struct json_value *v, enum json_type type)
{
	if (!v)
		return RB_E_INVAL;
	return v->type == type ? RB_OK : type_error(v, type);
}

int json_expect_string(const struct json_value *v, const char **ret)
{
	int err = json_expect_type(v, JSON_STRING);

	if (err < 0)
		return err;
	*ret = v->u.string.data;
	return RB_OK;
}

int json_expect_int(const struct json_value *v, int64_t *ret)
{
	int err = json_expect_type(v, JSON_INT);

	if (err < 0)
		return err;
	*ret = v->u.integer;
	return RB_OK;
}

int json_expect_bool(const struct json_value *v, bool *ret)
{
	int err = json_expect_type(v, JSON_BOOL);

	if (err < 0)
		return err;
	*ret = v->u.boolean;
	return RB_OK;
}

/* The common part of json_get_*(): obj[key] of the given type. */
static int get_member(const struct json_value *obj, const char *key, enum json_type type,
		      bool optional, const struct json_value **ret)
{
	const struct json_member *m;
	char prefix[RB_ERR_DETAIL_MAX], quoted[JSON_QUOTED_SIZE];

	if (!obj || !key)
		return RB_E_INVAL;
	if (obj->type != JSON_OBJECT)
		return type_error(obj, JSON_OBJECT);
	m = object_find(obj, key, strlen(key));
	if (!m) {
		/* No detail for an absent optional key: it is not an error, and
		 * describing the path is not free. */
		if (optional)
			return RB_E_NOTFOUND;
		describe(obj, NULL, prefix, sizeof(prefix));
		json_quote_for_detail(key, strlen(key), quoted);
		return rb_err_set(RB_E_PARSE, "%smissing required key %s", prefix, quoted);
	}
	if (m->value->type != type)
		return type_error(m->value, type);
	*ret = m->value;
	return RB_OK;
}

static int get_string(const struct json_value *obj, const char *key, bool optional,
		      const char **ret)
{
	const struct json_value *v;
	int err = get_member(obj, key, JSON_STRING, optional, &v);

	if (err < 0)
		return err;
	*ret = v->u.string.data;
	return RB_OK;
}

static int get_int(const struct json_value *obj, const char *key, bool optional, int64_t *ret)
{
	const struct json_value *v;
	int err = get_member(obj, key, JSON_INT, optional, &v);

	if (err < 0)
		return err;
	*ret = v->u.integer;
	return RB_OK;
}

static int get_bool(const struct json_value *obj, const char *key, bool optional, bool *ret)
{
	const struct json_value *v;
	int err = get_member(obj, key, JSON_BOOL, optional, &v);

	if (err < 0)
		return err;
	*ret = v->u.boolean;
	return RB_OK;
}

int json_get_string(const struct json_value *obj, const char *key, const char **ret)
{
	return get_string(obj, key, false, ret);
}

int json_get_string_opt(const struct json_value *obj, const char *key, const char **ret)
{
	return get_string(obj, key, true, ret);
}

int json_get_int(const struct json_value *obj, const char *key, int64_t *ret)
{
	return get_int(obj, key, false, ret);
}

int json_get_int_opt(const struct json_value *obj, const char *key, int64_t *ret)
{
	return get_int(obj, key, true, ret);
}

int json_get_bool(const struct json_value *obj, const char *key, bool *ret)
{
	return get_bool(obj, key, false, ret);
}

int json_get_bool_opt(const struct json_value *obj, const char *key, bool *ret)
{
	return get_bool(obj, key, true, ret);
}

int json_get_array(const struct json_value *obj, const char *key, const struct json_value **ret)
{
	return get_member(obj, key, JSON_ARRAY, false, ret);
}

int json_get_array_opt(const struct json_value *obj, const char *key,
		       const struct json_value **ret)
{
	return get_member(obj, key, JSON_ARRAY, true, ret);
}

int json_get_object(const struct json_value *obj, const char *key, const struct json_value **ret)
{
	return get_member(obj, key, JSON_OBJECT, false, ret);
}

int json_get_object_opt(const struct json_value *obj, const char *key,
			const struct json_value **ret)
{
	return get_member(obj, key, JSON_OBJECT, true, ret);
}

int json_get_int_range(const struct json_value *obj, const char *key, int64_t min, int64_t max,
		       int64_t *ret)
{
	const struct json_value *v;
	int err = get_member(obj, key, JSON_INT, false, &v);

	if (err < 0)
		return err;
	if (v->u.integer < min || v->u.integer > max)
		return json_err_set(v, RB_E_PARSE,
				    "%" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")",
				    v->u.integer, min, max);
	*ret = v->u.integer;
	return RB_OK;
}

static bool key_in_list(const char *key, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

int json_object_check_keys(const struct json_value *obj, const char *const *required,
			   const char *const *optional)
{
	char prefix[RB_ERR_DETAIL_MAX], quoted[JSON_QUOTED_SIZE];
	char missing[RB_ERR_DETAIL_MAX];
	struct text t = { missing, sizeof(missing), 0 };
	size_t i, nmissing = 0;

	if (!obj)
		return RB_E_INVAL;
	if (obj->type != JSON_OBJECT)
		return type_error(obj, JSON_OBJECT);
	/* Keys cannot contain NUL, so strcmp() compares them exactly. */
	for (i = 0; i < obj->u.object.n; i++) {
		const struct json_member *m = &obj->u.object.members[i];

		if (key_in_list(m->key, required) || key_in_list(m->key, optional))
			continue;
		describe(obj, &m->pos, prefix, sizeof(prefix));
		json_quote_for_detail(m->key, m->key_len, quoted);
		return rb_err_set(RB_E_PARSE, "%sunknown key %s", prefix, quoted);
	}
	missing[0] = '\0';
	for (; required && *required; required++) {
		if (object_find(obj, *required, strlen(*required)))
			continue;
		json_quote_for_detail(*required, strlen(*required), quoted);
		text_add(&t, "%s%s", nmissing ? ", " : "", quoted);
		nmissing++;
	}
	if (nmissing == 0)
		return RB_OK;
	describe(obj, NULL, prefix, sizeof(prefix));
	return rb_err_set(RB_E_PARSE, "%smissing required key%s %s", prefix,
			  nmissing > 1 ? "s" : "", missing);
}

/* --- Building -------------------------------------------------------- */

static int new_value(enum json_type type, struct json_value **ret)
{
	struct json_value *v;

	if (!ret)
		return RB_E_INVAL;
	v = json_value_alloc(type);
	if (!v)
		return RB_E_NOMEM;
	*ret = v;
	return RB_OK;
}

int json_new_null(struct json_value **ret)
{
	return new_value(JSON_NULL, ret);
}

int json_new_bool(bool b, struct json_value **ret)
{
	int err = new_value(JSON_BOOL, ret);

	if (err == RB_OK)
		(*ret)->u.boolean = b;
	return err;
}

int json_new_int(int64_t i, struct json_value **ret)
{
	int err = new_value(JSON_INT, ret);

	if (err == RB_OK)
		(*ret)->u.integer = i;
	return err;
}

int json_new_string_len(const char *s, size_t len, struct json_value **ret)
{
	_cleanup_json_ struct json_value *v = NULL;
	int err;

	if (!s || !ret)
		return RB_E_INVAL;
	/* Checked here so json_emit() can never write what json_parse()
	 * would refuse to read back. */
	if (!rb_utf8_valid(s, len))
		return rb_err_set(RB_E_INVAL, "JSON string is not valid UTF-8 or contains NUL");
	if ((err = new_value(JSON_STRING, &v)) < 0)
		return err;
	v->u.string.data = malloc(len + 1);
	if (!v->u.string.data)
		return RB_E_NOMEM;
	memcpy(v->u.string.data, s, len);
	v->u.string.data[len] = '\0';
	v->u.string.len = len;
	*ret = TAKE_PTR(v);
	return RB_OK;
}

int json_new_string(const char *s, struct json_value **ret)
{
	if (!s)
		return RB_E_INVAL;
	return json_new_string_len(s, strlen(s), ret);
}

int json_new_array(struct json_value **ret)
{
	return new_value(JSON_ARRAY, ret);
}

int json_new_object(struct json_value **ret)
{
	return new_value(JSON_OBJECT, ret);
}

/* Whether value may be put into container: it must be a root (not owned
 * by another container) and must not be container or an ancestor of it,
 * or the tree would become a cycle. Only a non-empty container can be an
 * ancestor, so the usual top-down building never pays for the walk. */
static int check_adoptable(const struct json_value *container, const struct json_value *value)
{
	const struct json_value *c;

	if (!value)
		return rb_err_set(RB_E_INVAL, "no JSON value to add");
	if (value->parent)
		return rb_err_set(RB_E_INVAL, "JSON value already belongs to a container");
	if (value == container)
		return rb_err_set(RB_E_INVAL, "JSON value cannot contain itself");
	if (json_array_size(value) == 0 && json_object_size(value) == 0)
		return RB_OK;
	for (c = container; c; c = c->parent)
		if (c == value)
			return rb_err_set(RB_E_INVAL, "JSON value cannot contain itself");
	return RB_OK;
}

int json_object_set(struct json_value *obj, const char *key, struct json_value *value)
{
	_cleanup_json_ struct json_value *owned = NULL;
	struct json_member *m;
	size_t key_len;
	char *key_copy, quoted[JSON_QUOTED_SIZE];
	int err;

	if ((err = check_adoptable(obj, value)) < 0)
		return err;
	owned = value; /* ours from here on: freed on every failure below */
	if (!obj || obj->type != JSON_OBJECT || !key)
		return RB_E_INVAL;
	key_len = strlen(key);
	if (!rb_utf8_valid(key, key_len))
		return rb_err_set(RB_E_INVAL, "JSON key is not valid UTF-8");
	if (object_find(obj, key, key_len)) {
		json_quote_for_detail(key, key_len, quoted);
		return json_err_set(obj, RB_E_EXISTS, "duplicate key %s", quoted);
	}
	if ((err = json_object_grow(obj, SIZE_MAX)) < 0)
		return err;
	key_copy = strdup(key);
	if (!key_copy)
		return RB_E_NOMEM;
	m = &obj->u.object.members[obj->u.object.n];
	*m = (struct json_member){ .key = key_copy, .key_len = key_len, .value = owned };
	owned->parent = obj;
	owned->index = obj->u.object.n++;
	owned = NULL;
	return RB_OK;
}

int json_array_append(struct json_value *arr, struct json_value *value)
{
	_cleanup_json_ struct json_value *owned = NULL;
	int err;

	if ((err = check_adoptable(arr, value)) < 0)
		return err;
	owned = value;
	if (!arr || arr->type != JSON_ARRAY)
		return RB_E_INVAL;
	if ((err = json_array_grow(arr, SIZE_MAX)) < 0)
		return err;
	arr->u.array.items[arr->u.array.n] = owned;
	owned->parent = arr;
	owned->index = arr->u.array.n++;
	owned = NULL;
	return RB_OK;
}

int json_object_set_string(struct json_value *obj, const char *key, const char *s)
{
	struct json_value *v;
	int err = json_new_string(s, &v);

	return err < 0 ? err : json_object_set(obj, key, v);
}

int json_object_set_int(struct json_value *obj, const char *key, int64_t i)
{
	struct json_value *v;
	int err = json_new_int(i, &v);

	return err < 0 ? err : json_object_set(obj, key, v);
}

int json_object_set_bool(struct json_value *obj, const char *key, bool b)
{
	struct json_value *v;
	int err = json_new_bool(b, &v);

	return err < 0 ? err : json_object_set(obj, key, v);
}
