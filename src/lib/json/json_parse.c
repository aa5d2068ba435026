/* The strict JSON parser: recursive descent over an rb_reader, with the
 * recursion bounded by max_depth (itself at most JSON_MAX_DEPTH).
 *
 * Every error names the position where the offending token starts, as
 * "line L, column C (offset O): what". Lines are counted at '\n'; columns
 * count code points, which is why the parser keeps line_cont: the number
 * of UTF-8 continuation bytes consumed on the current line (only strings
 * can contain them, since any other non-ASCII byte is an error). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json-internal.h"
#include "util/utf8.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"

struct parser {
	struct rb_reader r;
	const uint8_t *start;
	size_t line;       /* 1-based */
	size_t line_start; /* offset of the line's first byte */
	size_t line_cont;  /* continuation bytes consumed on this line */
	size_t values;     /* values created so far */
	struct json_limits lim;
};

static uint32_t saturate32(size_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static struct json_pos parser_pos(const struct parser *ps)
{
	size_t off = (size_t)(ps->r.p - ps->start);

	return (struct json_pos){
		.offset = off,
		.line = saturate32(ps->line),
		.column = saturate32(off - ps->line_start - ps->line_cont + 1),
	};
}

static int fail(int err, struct json_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(int err, struct json_pos pos, const char *fmt, ...)
{
	char msg[RB_ERR_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rb_err_set(err, "line %" PRIu32 ", column %" PRIu32 " (offset %zu): %s", pos.line,
			  pos.column, pos.offset, msg);
}

/* The next byte, or -1 at the end of input. */
static int peek(const struct parser *ps)
{
	uint8_t c;

	return rb_reader_peek_u8(&ps->r, &c) < 0 ? -1 : c;
}

/* Consume n bytes the caller has already looked at. */
static void advance(struct parser *ps, size_t n)
{
	int err = rb_reader_skip(&ps->r, n);

	(void)err; /* cannot fail: callers only skip bytes they have seen */
}

/* What was found where something else was expected, for a detail. */
static const char *describe_byte(int c, char *buf, size_t size)
{
	if (c < 0)
		return "end of input";
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", (unsigned)c);
	return buf;
}

static int fail_unexpected(struct parser *ps, const char *expected)
{
	char buf[16];

	return fail(RB_E_PARSE, parser_pos(ps), "expected %s, got %s", expected,
		    describe_byte(peek(ps), buf, sizeof(buf)));
}

static void skip_whitespace(struct parser *ps)
{
	for (;;) {
		int c = peek(ps);

		if (c == ' ' || c == '\t' || c == '\r') {
			advance(ps, 1);
		} else if (c == '\n') {
			advance(ps, 1);
			ps->line++;
			ps->line_start = (size_t)(ps->r.p - ps->start);
			ps->line_cont = 0;
		} else {
			return;
		}
	}
}

static bool read_hex4(const uint8_t *p, size_t n, uint32_t *ret)
{
	uint32_t v = 0;
	size_t i;

	if (n < 4)
		return false;
	for (i = 0; i < 4; i++) {
		int d = rb_hex_digit((char)p[i]);

		if (d < 0)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	*ret = v;
	return true;
}

/* Decode the escape sequence at p (p[0] == '\\', n bytes available) into
 * a Unicode scalar value, or say why it is not one. */
static size_t read_escape(const uint8_t *p, size_t n, uint32_t *ret_cp, const char **ret_why)
{
	uint32_t hi, lo;

	if (n < 2) {
		*ret_why = "unterminated escape sequence";
		return 0;
	}
	switch (p[1]) {
	case '"': *ret_cp = '"'; return 2;
	case '\\': *ret_cp = '\\'; return 2;
	case '/': *ret_cp = '/'; return 2;
	case 'b': *ret_cp = '\b'; return 2;
	case 'f': *ret_cp = '\f'; return 2;
	case 'n': *ret_cp = '\n'; return 2;
	case 'r': *ret_cp = '\r'; return 2;
	case 't': *ret_cp = '\t'; return 2;
	case 'u': break;
	default:
		*ret_why = "invalid escape sequence (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
		return 0;
	}
	if (!read_hex4(p + 2, n - 2, &hi)) {
		*ret_why = "\\u must be followed by four hex digits";
		return 0;
	}
	if (hi == 0) {
		/* Strings become C strings; an embedded NUL would truncate them. */
		*ret_why = "\\u0000 (NUL) is not allowed in strings";
		return 0;
	}
	if (hi >= 0xdc00 && hi <= 0xdfff) {
		*ret_why = "unpaired low surrogate in \\u escape";
		return 0;
	}
	if (hi < 0xd800 || hi > 0xdbff) {
		*ret_cp = hi;
		return 6;
	}
	if (n < 12 || p[6] != '\\' || p[7] != 'u' || !read_hex4(p + 8, n - 8, &lo) ||
	    lo < 0xdc00 || lo > 0xdfff) {
		*ret_why = "unpaired high surrogate in \\u escape";
		return 0;
	}
	*ret_cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	return 12;
}

/* Unescape the body of a string that parse_string() has validated. */
static void unescape(const uint8_t *in, size_t n, char *out)
{
	const char *why;
	uint32_t cp;
	size_t i = 0, run, used;

	while (i < n) {
		const uint8_t *bs = memchr(in + i, '\\', n - i);

		run = bs ? (size_t)(bs - (in + i)) : n - i;
		memcpy(out, in + i, run);
		out += run;
		i += run;
		if (i == n)
			break;
		used = read_escape(in + i, n - i, &cp, &why);
		out += rb_utf8_encode(cp, out);
		i += used;
	}
}

/* A string token (the reader is at its opening quote) into a new
 * NUL-terminated buffer. Validates first and copies second, so the buffer
 * is allocated once at its exact size. */
static int parse_string(struct parser *ps, char **ret, size_t *ret_len)
{
	struct json_pos start = parser_pos(ps);
	const uint8_t *body;
	const char *why;
	size_t decoded = 0, body_len, n;
	uint32_t cp;
	char *out;
	int c;

	advance(ps, 1);
	body = ps->r.p;
	for (;;) {
		c = peek(ps);
		if (c < 0)
			return fail(RB_E_PARSE, start, "unterminated string");
		if (c == '"')
			break;
		if (c == '\\') {
			n = read_escape(ps->r.p, ps->r.len, &cp, &why);
			if (n == 0)
				return fail(RB_E_PARSE, parser_pos(ps), "%s", why);
			advance(ps, n);
			decoded += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		} else if (c < 0x20) {
			return fail(RB_E_PARSE, parser_pos(ps),
				    "control character U+%04X in string must be escaped%s", (unsigned)c,
				    c == '\n' ? " (or is the string unterminated?)" : "");
		} else {
			n = rb_utf8_decode(ps->r.p, ps->r.len, &cp, &why);
			if (n == 0)
				return fail(RB_E_PARSE, parser_pos(ps), "invalid UTF-8 in string: %s", why);
			advance(ps, n);
			ps->line_cont += n - 1;
			decoded += n;
		}
		if (decoded > ps->lim.max_string)
			return fail(RB_E_TOOBIG, start, "string longer than %zu bytes", ps->lim.max_string);
	}
	body_len = (size_t)(ps->r.p - body);
	advance(ps, 1);
	out = malloc(decoded + 1);
	if (!out)
		return RB_E_NOMEM;
	unescape(body, body_len, out);
	out[decoded] = '\0';
	*ret = out;
	*ret_len = decoded;
	return RB_OK;
}

static int new_node(struct parser *ps, enum json_type type, struct json_value **ret)
{
	struct json_pos pos = parser_pos(ps);
	struct json_value *v;

	/* Caps memory: a value costs 64-150 bytes however short its text. */
	if (ps->values >= ps->lim.max_values)
		return fail(RB_E_TOOBIG, pos, "more than %zu values in the document",
			    ps->lim.max_values);
	v = json_value_alloc(type);
	if (!v)
		return RB_E_NOMEM;
	v->pos = pos;
	ps->values++;
	*ret = v;
	return RB_OK;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *ps, struct json_value **ret)
{
	struct json_pos start = parser_pos(ps);
	const uint8_t *p = ps->r.p;
	size_t n = ps->r.len, i = 0;
	uint64_t mag = 0, limit;
	bool neg = false;
	struct json_value *v;
	int err;

	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (i >= n || !is_digit(p[i]))
		return fail(RB_E_PARSE, start, "expected a digit after '-'");
	if (p[i] == '0') {
		i++;
		if (i < n && is_digit(p[i]))
			return fail(RB_E_PARSE, start, "leading zeros are not allowed in numbers");
	} else {
		for (; i < n && is_digit(p[i]); i++) {
			unsigned d = p[i] - '0';

			if (mag > (limit - d) / 10)
				return fail(RB_E_PARSE, start,
					    "integer out of range (must be from %" PRId64 " to %" PRId64 ")",
					    INT64_MIN, INT64_MAX);
			mag = mag * 10 + d;
		}
	}
	if (i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E'))
		return fail(RB_E_PARSE, start,
			    "only integers are supported (no fractions or exponents)");
	/* Two spellings of zero would give two byte strings for one value. */
	if (neg && mag == 0)
		return fail(RB_E_PARSE, start, "negative zero is not allowed");
	if ((err = new_node(ps, JSON_INT, &v)) < 0)
		return err;
	v->u.integer = !neg ? (int64_t)mag : mag == limit ? INT64_MIN : -(int64_t)mag;
	advance(ps, i);
	*ret = v;
	return RB_OK;
}

static int parse_literal(struct parser *ps, struct json_value **ret)
{
	static const struct {
		const char *word;
		enum json_type type;
		bool value;
	} literals[] = {
		{ "true", JSON_BOOL, true },
		{ "false", JSON_BOOL, false },
		{ "null", JSON_NULL, false },
	};
	struct json_value *v;
	size_t i, len;
	int err;

	for (i = 0; i < ELEMENTSOF(literals); i++) {
		len = strlen(literals[i].word);
		if (ps->r.len < len || memcmp(ps->r.p, literals[i].word, len) != 0)
			continue;
		if ((err = new_node(ps, literals[i].type, &v)) < 0)
			return err;
		v->u.boolean = literals[i].value;
		advance(ps, len);
		*ret = v;
		return RB_OK;
	}
	return fail(RB_E_PARSE, parser_pos(ps), "invalid literal (expected true, false or null)");
}

static int parse_value(struct parser *ps, unsigned depth, struct json_value **ret);

/* Containers: depth counts the containers around this one. */
static int check_depth(struct parser *ps, unsigned depth)
{
	if (depth + 1 > ps->lim.max_depth)
		return fail(RB_E_TOOBIG, parser_pos(ps), "nested deeper than %u levels",
			    ps->lim.max_depth);
	return RB_OK;
}

static int parse_array(struct parser *ps, unsigned depth, struct json_value **ret)
{
	_cleanup_json_ struct json_value *arr = NULL;
	struct json_value *item;
	int err;

	if ((err = check_depth(ps, depth)) < 0 || (err = new_node(ps, JSON_ARRAY, &arr)) < 0)
		return err;
	advance(ps, 1);
	skip_whitespace(ps);
	if (peek(ps) == ']') {
		advance(ps, 1);
		*ret = TAKE_PTR(arr);
		return RB_OK;
	}
	for (;;) {
		if (arr->u.array.n >= ps->lim.max_items)
			return fail(RB_E_TOOBIG, parser_pos(ps), "array has more than %zu elements",
				    ps->lim.max_items);
		if ((err = parse_value(ps, depth + 1, &item)) < 0)
			return err;
		if ((err = json_array_grow(arr, ps->lim.max_items)) < 0) {
			json_free(item);
			return err;
		}
		item->parent = arr;
		item->index = arr->u.array.n;
		arr->u.array.items[arr->u.array.n++] = item;
		skip_whitespace(ps);
		if (peek(ps) == ']')
			break;
		if (peek(ps) != ',')
			return fail_unexpected(ps, "',' or ']' after array element");
		advance(ps, 1);
		skip_whitespace(ps);
		if (peek(ps) == ']')
			return fail(RB_E_PARSE, parser_pos(ps), "trailing comma before ']'");
	}
	advance(ps, 1);
	*ret = TAKE_PTR(arr);
	return RB_OK;
}

static int compare_keys_bytewise(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	/* Members live in one array, so address order is document order. */
	return x < y ? -1 : x > y;
}

/* Reject duplicate keys, naming the first repeated one in document order.
 * Sorting keeps this O(n log n): a pairwise check of a 65536-member object
 * would be two billion comparisons. */
static int check_duplicate_keys(const struct json_value *obj)
{
	_cleanup_free_ const struct json_member **sorted = NULL;
	const struct json_member *first_dup = NULL;
	char quoted[JSON_QUOTED_SIZE];
	size_t n = obj->u.object.n, i;

	if (n < 2)
		return RB_OK;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return RB_E_NOMEM;
	for (i = 0; i < n; i++)
		sorted[i] = &obj->u.object.members[i];
	qsort(sorted, n, sizeof(*sorted), compare_keys_bytewise);
	for (i = 1; i < n; i++) {
		const struct json_member *a = sorted[i - 1], *b = sorted[i];

		if (a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0 &&
		    (!first_dup || b < first_dup))
			first_dup = b;
	}
	if (!first_dup)
		return RB_OK;
	json_quote_for_detail(first_dup->key, first_dup->key_len, quoted);
	return fail(RB_E_PARSE, first_dup->pos, "duplicate key %s", quoted);
}

static int parse_object(struct parser *ps, unsigned depth, struct json_value **ret)
{
	_cleanup_json_ struct json_value *obj = NULL;
	_cleanup_free_ char *key = NULL;
	struct json_value *value;
	struct json_member *m;
	struct json_pos key_pos;
	size_t key_len;
	int err;

	if ((err = check_depth(ps, depth)) < 0 || (err = new_node(ps, JSON_OBJECT, &obj)) < 0)
		return err;
	advance(ps, 1);
	skip_whitespace(ps);
	if (peek(ps) == '}') {
		advance(ps, 1);
		*ret = TAKE_PTR(obj);
		return RB_OK;
	}
	for (;;) {
		key_pos = parser_pos(ps);
		if (obj->u.object.n >= ps->lim.max_items)
			return fail(RB_E_TOOBIG, key_pos, "object has more than %zu members",
				    ps->lim.max_items);
		if (peek(ps) != '"')
			return fail_unexpected(ps, "a string as object key");
		if ((err = parse_string(ps, &key, &key_len)) < 0)
			return err;
		skip_whitespace(ps);
		if (peek(ps) != ':')
			return fail_unexpected(ps, "':' after object key");
		advance(ps, 1);
		skip_whitespace(ps);
		if ((err = parse_value(ps, depth + 1, &value)) < 0)
			return err;
		if ((err = json_object_grow(obj, ps->lim.max_items)) < 0) {
			json_free(value);
			return err;
		}
		m = &obj->u.object.members[obj->u.object.n];
		*m = (struct json_member){
			.key = TAKE_PTR(key), .key_len = key_len, .pos = key_pos, .value = value
		};
		value->parent = obj;
		value->index = obj->u.object.n++;
		skip_whitespace(ps);
		if (peek(ps) == '}')
			break;
		if (peek(ps) != ',')
			return fail_unexpected(ps, "',' or '}' after object member");
		advance(ps, 1);
		skip_whitespace(ps);
		if (peek(ps) == '}')
			return fail(RB_E_PARSE, parser_pos(ps), "trailing comma before '}'");
	}
	advance(ps, 1);
	if ((err = check_duplicate_keys(obj)) < 0)
		return err;
	*ret = TAKE_PTR(obj);
	return RB_OK;
}

static int parse_string_value(struct parser *ps, struct json_value **ret)
{
	_cleanup_json_ struct json_value *v = NULL;
	int err;

	/* Allocate the node first so the value count is checked up front. */
	if ((err = new_node(ps, JSON_STRING, &v)) < 0 ||
	    (err = parse_string(ps, &v->u.string.data, &v->u.string.len)) < 0)
		return err;
	*ret = TAKE_PTR(v);
	return RB_OK;
}

/* One value at the reader (whitespace already skipped); depth counts the
 * containers around it. */
static int parse_value(struct parser *ps, unsigned depth, struct json_value **ret)
{
	int c = peek(ps);

	switch (c) {
	case '{':
		return parse_object(ps, depth, ret);
	case '[':
		return parse_array(ps, depth, ret);
	case '"':
		return parse_string_value(ps, ret);
	case 't':
	case 'f':
	case 'n':
		return parse_literal(ps, ret);
	default:
		if (c == '-' || is_digit(c))
			return parse_number(ps, ret);
		return fail_unexpected(ps, "a value");
	}
}

static int resolve_limits(const struct json_limits *lim, struct json_limits *ret)
{
	struct json_limits l = {
		.max_input = JSON_DEFAULT_MAX_INPUT,
		.max_string = JSON_DEFAULT_MAX_STRING,
		.max_items = JSON_DEFAULT_MAX_ITEMS,
		.max_values = JSON_DEFAULT_MAX_VALUES,
		.max_depth = JSON_DEFAULT_MAX_DEPTH,
	};

	if (lim) {
		if (lim->max_depth > JSON_MAX_DEPTH)
			return rb_err_set(RB_E_INVAL, "JSON depth limit %u is above the maximum %u",
					  lim->max_depth, JSON_MAX_DEPTH);
		if (lim->max_input)
			l.max_input = lim->max_input;
		if (lim->max_string)
			l.max_string = lim->max_string;
		if (lim->max_items)
			l.max_items = lim->max_items;
		if (lim->max_values)
			l.max_values = lim->max_values;
		if (lim->max_depth)
			l.max_depth = lim->max_depth;
	}
	*ret = l;
	return RB_OK;
}

int json_parse(const void *text, size_t len, const struct json_limits *lim,
	       struct json_value **ret)
{
	_cleanup_json_ struct json_value *root = NULL;
	struct parser ps = { .line = 1 };
	int err;

	if (!ret || (!text && len))
		return RB_E_INVAL;
	if (!text)
		text = ""; /* keeps pointer arithmetic off NULL */
	if ((err = resolve_limits(lim, &ps.lim)) < 0)
		return err;
	if (len > ps.lim.max_input)
		return rb_err_set(RB_E_TOOBIG, "JSON input is %zu bytes, over the limit of %zu",
				  len, ps.lim.max_input);
	rb_reader_init(&ps.r, text, len);
	ps.start = ps.r.p;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		return fail(RB_E_PARSE, parser_pos(&ps), "byte order mark (U+FEFF) is not allowed");
	skip_whitespace(&ps);
	if ((err = parse_value(&ps, 0, &root)) < 0)
		return err;
	skip_whitespace(&ps);
	if (peek(&ps) >= 0)
		return fail_unexpected(&ps, "end of input after the JSON value");
	*ret = TAKE_PTR(root);
	return RB_OK;
}
