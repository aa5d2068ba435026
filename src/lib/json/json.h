/* Strict JSON for rombsr's on-disk and wire formats.
 *
 * Every versioned rombsr format (key manifest, key-spec, signing requests
 * and responses, audit entries) is JSON read from untrusted input, so the
 * parser accepts one narrow profile of RFC 8259 (docs/formats/json.md):
 *
 *   - UTF-8 only: no byte order mark, no invalid or overlong sequences, no
 *     encoded or escaped surrogates except as a proper \uD8xx\uDCxx pair,
 *     no NUL (\u0000) and no raw control characters in strings;
 *   - numbers are integers that fit in int64_t, written without leading
 *     zeros; fractions, exponents and "-0" are rejected;
 *   - duplicate object keys are rejected (compared after unescaping);
 *   - nothing but whitespace may follow the value;
 *   - input size, nesting depth, string length, container size and the
 *     total number of values are capped (struct json_limits).
 *
 * Errors are RB_E_PARSE (malformed) or RB_E_TOOBIG (over a limit), with an
 * rb_err detail such as
 *     line 3, column 14 (offset 52): duplicate key "name"
 * Columns count code points from 1; the offset counts bytes from 0. The
 * caller prefixes the file or request name. Untrusted text quoted in a
 * detail is escaped, so a detail is always printable ASCII.
 *
 * Ownership: json_parse() and json_new_*() return a tree the caller owns
 * and frees with json_free() (which accepts NULL). json_object_set() and
 * json_array_append() take ownership of the value they are given, also when
 * they fail. Every pointer obtained from a tree (values, keys, strings) is
 * borrowed and valid until the tree's root is freed.
 *
 * The tree is opaque so that its invariants (valid UTF-8, unique keys, no
 * cycles, one owner per node) hold for built trees as well as parsed ones;
 * json_emit() relies on them to always produce parseable output.
 */
#ifndef ROMBSR_JSON_JSON_H
#define ROMBSR_JSON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

struct rb_buf;
struct json_value;

enum json_type {
	JSON_NULL = 1,
	JSON_BOOL,
	JSON_INT,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/* Parser limits. A zero field means "use the default". */
struct json_limits {
	size_t max_input;  /* bytes of input text */
	size_t max_string; /* bytes of one decoded string or key */
	size_t max_items;  /* elements of one array or members of one object */
	size_t max_values; /* values in the whole document (bounds memory) */
	unsigned max_depth; /* nested arrays/objects; at most JSON_MAX_DEPTH */
};

#define JSON_DEFAULT_MAX_INPUT  ((size_t)16 * 1024 * 1024)
#define JSON_DEFAULT_MAX_STRING ((size_t)1024 * 1024)
#define JSON_DEFAULT_MAX_ITEMS  ((size_t)65536)
#define JSON_DEFAULT_MAX_VALUES ((size_t)512 * 1024) /* 64-150 bytes each */
#define JSON_DEFAULT_MAX_DEPTH  32u
/* Hard ceiling on nesting, for parsing (a larger max_depth is RB_E_INVAL)
 * and emitting: it bounds recursion, so the stack can never run out. */
#define JSON_MAX_DEPTH 256u

/* Parse len bytes of text (need not be NUL-terminated) into a new tree.
 * lim may be NULL for the defaults. *ret is set only on success; the
 * caller frees it with json_free(). */
int json_parse(const void *text, size_t len, const struct json_limits *lim,
	       struct json_value **ret);

/* Free a whole tree. Accepts NULL. A value that belongs to a container is
 * freed with its root, so passing one here does nothing. Iterative: the
 * depth of a tree does not matter. */
void json_free(struct json_value *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_value *, json_free)
#define _cleanup_json_ _cleanup_(json_freep)

/* --- Reading a tree ---------------------------------------------------- */

/* The type of v (0 if v is NULL). */
enum json_type json_value_type(const struct json_value *v);
/* "null", "boolean", "integer", "string", "array", "object". Never NULL. */
const char *json_type_name(enum json_type t);

/* The member named key, or NULL if absent or obj is not an object. */
const struct json_value *json_object_get(const struct json_value *obj, const char *key);
/* Members in document (or insertion) order: i < json_object_size(obj).
 * Out-of-range i or a non-object gives NULL. */
size_t json_object_size(const struct json_value *obj);
const char *json_object_key_at(const struct json_value *obj, size_t i);
const struct json_value *json_object_value_at(const struct json_value *obj, size_t i);
/* Elements: NULL for out-of-range i or a non-array. */
size_t json_array_size(const struct json_value *arr);
const struct json_value *json_array_get(const struct json_value *arr, size_t i);

/* Typed reads of one value. On a type mismatch: RB_E_PARSE with a detail
 * naming where the value is, e.g.
 *     line 7, column 20 (offset 130): keys[2].algorithm: expected string, got integer
 * Strings are NUL-terminated, valid UTF-8 and contain no NUL. */
int json_expect_type(const struct json_value *v, enum json_type type);
int json_expect_string(const struct json_value *v, const char **ret);
int json_expect_int(const struct json_value *v, int64_t *ret);
int json_expect_bool(const struct json_value *v, bool *ret);

/* Typed reads of obj[key]. A missing key or a value of the wrong type is
 * RB_E_PARSE with a detail naming the key path; so is an obj that is not
 * an object. The _opt variants return RB_E_NOTFOUND, without setting a
 * detail, when the key is absent. A null value is a type mismatch, never
 * "absent". */
int json_get_string(const struct json_value *obj, const char *key, const char **ret);
int json_get_int(const struct json_value *obj, const char *key, int64_t *ret);
int json_get_bool(const struct json_value *obj, const char *key, bool *ret);
int json_get_array(const struct json_value *obj, const char *key, const struct json_value **ret);
int json_get_object(const struct json_value *obj, const char *key, const struct json_value **ret);
int json_get_string_opt(const struct json_value *obj, const char *key, const char **ret);
int json_get_int_opt(const struct json_value *obj, const char *key, int64_t *ret);
int json_get_bool_opt(const struct json_value *obj, const char *key, bool *ret);
int json_get_array_opt(const struct json_value *obj, const char *key, const struct json_value **ret);
int json_get_object_opt(const struct json_value *obj, const char *key, const struct json_value **ret);
/* json_get_int() plus min <= value <= max, else RB_E_PARSE. */
int json_get_int_range(const struct json_value *obj, const char *key, int64_t min, int64_t max,
		       int64_t *ret);

/* Validate the key set of obj: every key in required must be present and
 * every key must be in required or optional. Both lists are NULL-terminated;
 * either may be NULL for "none". RB_E_PARSE names the first unknown key, or
 * else all missing ones. */
int json_object_check_keys(const struct json_value *obj, const char *const *required,
			   const char *const *optional);

/* rb_err_set() with the location of at (line, column and key path, as far
 * as known) in front of the message, for semantic errors found by format
 * code: return json_err_set(v, RB_E_PARSE, "unknown algorithm"); */
int json_err_set(const struct json_value *at, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- Building a tree --------------------------------------------------- */

/* New values, owned by the caller until handed to a container. Strings are
 * copied and must be valid UTF-8 without NUL (RB_E_INVAL otherwise). */
int json_new_null(struct json_value **ret);
int json_new_bool(bool b, struct json_value **ret);
int json_new_int(int64_t i, struct json_value **ret);
int json_new_string(const char *s, struct json_value **ret);
int json_new_string_len(const char *s, size_t len, struct json_value **ret);
int json_new_array(struct json_value **ret);
int json_new_object(struct json_value **ret);

/* Add value to a container. The container takes ownership of value, and
 * frees it if the call fails - so json_object_set(o, "k", TAKE_PTR(v)) never
 * leaks. The exception is a value that is not the caller's to give: one
 * that already belongs to a container, or that contains the container
 * itself; those are RB_E_INVAL and nothing is changed or freed.
 * json_object_set() refuses an existing key (RB_E_EXISTS) and a key that is
 * not valid UTF-8 (RB_E_INVAL); it costs O(members) per call. */
int json_object_set(struct json_value *obj, const char *key, struct json_value *value);
int json_array_append(struct json_value *arr, struct json_value *value);
/* Shorthands for json_object_set(obj, key, json_new_...(v)). */
int json_object_set_string(struct json_value *obj, const char *key, const char *s);
int json_object_set_int(struct json_value *obj, const char *key, int64_t i);
int json_object_set_bool(struct json_value *obj, const char *key, bool b);

/* --- Writing a tree ---------------------------------------------------- */

enum json_style {
	/* RFC 8785 (JCS) for rombsr's integer-only profile: no whitespace,
	 * object keys sorted by UTF-16 code units, strings escaping only '"',
	 * '\\' and controls (\b \t \n \f \r, else \u00xx in lowercase hex),
	 * integers in plain decimal. Used for everything that is hashed or
	 * signed (audit entries). */
	JSON_CANONICAL = 1,
	/* For files people edit (manifests): two-space indentation, ": "
	 * between key and value, keys in insertion order, final newline. */
	JSON_PRETTY = 2,
};

/* Append v to out. On failure (RB_E_NOMEM, RB_E_TOOBIG from the buffer's
 * cap or nesting beyond JSON_MAX_DEPTH, RB_E_INVAL) out is left as it was. */
int json_emit(const struct json_value *v, enum json_style style, struct rb_buf *out);

/* Append s[0..len) to out as a canonical JSON string (RFC 8785 3.2.2.2):
 * in quotes, with '"', '\\' and C0 controls escaped (the short forms \b
 * \t \n \f \r where JSON has them, else \u00xx in lowercase) and every
 * other byte, '/', DEL and non-ASCII included, as it is. The one escaper
 * of every emitter; s must be valid UTF-8 without NUL, which it does not
 * check. On failure (RB_E_NOMEM, RB_E_TOOBIG from the buffer's cap) out is
 * left as it was. */
int json_emit_string(struct rb_buf *out, const char *s, size_t len);

#endif
