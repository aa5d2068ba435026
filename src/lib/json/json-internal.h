/* Private to src/lib/json: the tree layout and helpers shared by the
 * parser (json_parse.c), the emitter (json_emit.c) and the tree API
 * (json.c). Not installed. */
#ifndef ROMBSR_JSON_INTERNAL_H
#define ROMBSR_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

/* Shared between the module's files but not part of the library's ABI. */
#define JSON_HIDDEN __attribute__((visibility("hidden")))

/* Where a value (or key) started in the input. line == 0: built, not parsed. */
struct json_pos {
	size_t offset;   /* bytes from the start, 0-based */
	uint32_t line;   /* 1-based, saturating */
	uint32_t column; /* code points from the line start, 1-based, saturating */
};

struct json_member {
	char *key; /* NUL-terminated, valid UTF-8, no NUL inside */
	size_t key_len;
	struct json_pos pos;
	struct json_value *value;
};

struct json_value {
	enum json_type type;
	struct json_pos pos;
	/* The owning container and our slot in it, kept so an error can name
	 * the key path in O(depth), json_free() needs no stack, and the
	 * builder can refuse to put one value in two places. */
	struct json_value *parent;
	size_t index;
	union {
		bool boolean;
		int64_t integer;
		struct {
			char *data; /* NUL-terminated; no NUL inside */
			size_t len;
		} string;
		struct {
			struct json_value **items;
			size_t n, alloc;
		} array;
		struct {
			struct json_member *members;
			size_t n, alloc;
		} object;
	} u;
};

/* Allocate a value of the given type with no position and no parent. */
JSON_HIDDEN struct json_value *json_value_alloc(enum json_type type);

/* Grow a container's storage so it can take one more entry, never past
 * max entries. RB_E_TOOBIG at max, RB_E_NOMEM on allocation failure. */
JSON_HIDDEN int json_array_grow(struct json_value *arr, size_t max);
JSON_HIDDEN int json_object_grow(struct json_value *obj, size_t max);

/* Write s as a quoted, printable-ASCII rendition for an error detail, so
 * untrusted text can never put terminal escapes or bidi overrides on the
 * user's screen: '"' and '\\' are escaped, other characters outside
 * 0x20-0x7e become \uXXXX (or \xHH if not valid UTF-8), and what does not
 * fit in JSON_QUOTED_MAX characters is cut off with "...". */
#define JSON_QUOTED_MAX 64
#define JSON_QUOTED_SIZE (JSON_QUOTED_MAX + 8) /* quotes, "...", NUL */
JSON_HIDDEN void json_quote_for_detail(const char *s, size_t len, char out[JSON_QUOTED_SIZE]);

#endif
