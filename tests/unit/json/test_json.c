/* Unit tests for src/lib/json: every rejection class of the strict
 * profile, the limits, exact canonical and pretty bytes, the accessors'
 * error details, and the builder's ownership rules (ASan checks leaks and
 * double frees). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "json/json.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"

HARNESS_GLOBALS;

static void fail_at(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_at(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", __FILE__, line, t_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	t_failed_checks++;
}

/* Parse must fail with want, and the detail must contain needle. */
static void check_parse_err(int line, const char *text, size_t len, const struct json_limits *lim,
			    int want, const char *needle)
{
	struct json_value *v = NULL;
	int r;

	rb_err_clear();
	r = json_parse(text, len, lim, &v);
	if (r != want)
		fail_at(line, "parse returned %d, want %d (detail: %s)", r, want, rb_err_detail());
	if (v) {
		fail_at(line, "ret set on failure");
		json_free(v);
	}
	if (needle && !strstr(rb_err_detail(), needle))
		fail_at(line, "detail \"%s\" lacks \"%s\"", rb_err_detail(), needle);
}

#define PARSE_ERR(text, want, needle) \
	check_parse_err(__LINE__, text, sizeof(text) - 1, NULL, want, needle)
#define PARSE_ERR_LIM(text, lim, want, needle) \
	check_parse_err(__LINE__, text, sizeof(text) - 1, lim, want, needle)

static struct json_value *parse_ok(int line, const char *text, size_t len,
				   const struct json_limits *lim)
{
	struct json_value *v = NULL;
	int r = json_parse(text, len, lim, &v);

	if (r != 0 || !v)
		fail_at(line, "parse failed: %s", rb_err_detail());
	return v;
}

#define PARSE_OK(text) parse_ok(__LINE__, text, sizeof(text) - 1, NULL)
#define PARSE_OK_LIM(text, lim) parse_ok(__LINE__, text, sizeof(text) - 1, lim)

/* Emit v in style into a new NUL-terminated string (caller frees). */
static char *emit(const struct json_value *v, enum json_style style)
{
	struct rb_buf b = RB_BUF_INIT;

	if (json_emit(v, style, &b) < 0 || rb_buf_terminate(&b) < 0) {
		rb_buf_free(&b);
		return NULL;
	}
	return (char *)rb_buf_steal(&b, NULL);
}

/* in parses, its canonical form is exactly want, and want is a fixed point. */
static void check_canonical(int line, const char *in, size_t inlen, const char *want,
			    size_t wantlen)
{
	_cleanup_json_ struct json_value *v = parse_ok(line, in, inlen, NULL);
	_cleanup_json_ struct json_value *again = NULL;
	_cleanup_free_ char *out = NULL, *out2 = NULL;

	if (!v)
		return;
	out = emit(v, JSON_CANONICAL);
	if (!out || strlen(out) != wantlen || memcmp(out, want, wantlen) != 0) {
		fail_at(line, "canonical form \"%s\", want \"%s\"", out ? out : "(error)", want);
		return;
	}
	again = parse_ok(line, out, strlen(out), NULL);
	out2 = again ? emit(again, JSON_CANONICAL) : NULL;
	if (!out2 || strcmp(out, out2) != 0)
		fail_at(line, "canonical form not stable: \"%s\" vs \"%s\"", out, out2 ? out2 : "");
}

#define CANON(in, want) check_canonical(__LINE__, in, sizeof(in) - 1, want, sizeof(want) - 1)

static void test_scalars(void)
{
	_cleanup_json_ struct json_value *v = NULL;
	const char *s;
	int64_t i;
	bool b;

	v = PARSE_OK(" \t\r\n null \n");
	CHECK(json_value_type(v) == JSON_NULL);
	json_free(v);
	v = PARSE_OK("true");
	CHECK_OK(json_expect_bool(v, &b));
	CHECK(b == true);
	json_free(v);
	v = PARSE_OK("false");
	CHECK_OK(json_expect_bool(v, &b));
	CHECK(b == false);
	json_free(v);
	v = PARSE_OK("9223372036854775807");
	CHECK_OK(json_expect_int(v, &i));
	CHECK(i == INT64_MAX);
	json_free(v);
	v = PARSE_OK("-9223372036854775808");
	CHECK_OK(json_expect_int(v, &i));
	CHECK(i == INT64_MIN);
	json_free(v);
	v = PARSE_OK("0");
	CHECK_OK(json_expect_int(v, &i));
	CHECK(i == 0);
	json_free(v);
	v = PARSE_OK("-17");
	CHECK_OK(json_expect_int(v, &i));
	CHECK(i == -17);
	json_free(v);
	v = PARSE_OK("\"a\\\"\\\\\\/\\b\\f\\n\\r\\tz\"");
	CHECK_OK(json_expect_string(v, &s));
	CHECK(strcmp(s, "a\"\\/\b\f\n\r\tz") == 0);
	/* a string is not an integer */
	CHECK_ERR(json_expect_int(v, &i), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "line 1, column 1 (offset 0): expected integer, got string"));
	json_free(v);
	v = PARSE_OK("\"\"");
	CHECK_OK(json_expect_string(v, &s));
	CHECK(s[0] == '\0');
}

static void test_canonical_roundtrip(void)
{
	CANON("{ \"b\" : [ 1 , -2 , true , false , null , { } , [ ] ] ,\n\t\"a\" : \"x\" }",
	      "{\"a\":\"x\",\"b\":[1,-2,true,false,null,{},[]]}");
	CANON("{\"z\":{\"y\":1,\"x\":{\"b\":2,\"a\":3}},\"aa\":0,\"a\":0,\"\":0}",
	      "{\"\":0,\"a\":0,\"aa\":0,\"z\":{\"x\":{\"a\":3,\"b\":2},\"y\":1}}");
	CANON("[9223372036854775807,-9223372036854775808]",
	      "[9223372036854775807,-9223372036854775808]");
	CANON("  \"top-level string\"  ", "\"top-level string\"");
	CANON("42", "42");
	/* \/ and \u escapes of printable characters are not kept */
	CANON("\"\\/\\u0041\\u00e9\"", "\"/A\xc3\xa9\"");
}

/* RFC 8785 section 3.2.3: property sorting by UTF-16 code units. */
static void test_canonical_order_rfc8785(void)
{
	CANON("{\n"
	      "  \"\\u20ac\": \"Euro Sign\",\n"
	      "  \"\\r\": \"Carriage Return\",\n"
	      "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
	      "  \"1\": \"One\",\n"
	      "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
	      "  \"\\u0080\": \"Control\",\n"
	      "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
	      "}",
	      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
	      "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
	      "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
	      "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
	/* bytewise UTF-8 order would put U+E000 before U+1F600 */
	CANON("{\"\\ue000\":1,\"\\ud83d\\ude00\":2}",
	      "{\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}");
	/* a prefix sorts first */
	CANON("{\"ab\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"ab\":1,\"b\":3}");
}

static void test_canonical_escaping(void)
{
	/* RFC 8785 section 3.2.2.2 example */
	CANON("\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"",
	      "\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
	/* every C0 control: short forms where JSON has them, else lowercase
	 * \u00xx; DEL and non-ASCII stay raw */
	CANON("\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008\\u0009\\u000a\\u000b"
	      "\\u000c\\u000d\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016"
	      "\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\u007f\"",
	      "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e"
	      "\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019"
	      "\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f\"");
	/* keys are escaped the same way */
	CANON("{\"a\\nb\":1,\"\\\"\":2}", "{\"\\\"\":2,\"a\\nb\":1}");
}

/* json_emit_string is the escaper of json_emit and of the audit log's fast
 * emitter: every C0 control, '"' and '\\' escaped, nothing else; a buffer
 * cap leaves the buffer as it was. */
static void test_emit_string(void)
{
	struct rb_buf b = RB_BUF_INIT;
	static const char in[] = "a\"\\/\x01\x1f\x7f\b\t\n\f\r\xc3\xa9";
	static const char want[] = "\"a\\\"\\\\/\\u0001\\u001f\x7f\\b\\t\\n\\f\\r\xc3\xa9\"";

	CHECK_OK(rb_buf_put(&b, "x", 1));
	CHECK_OK(json_emit_string(&b, in, sizeof(in) - 1));
	CHECK(b.len == 1 + sizeof(want) - 1 && memcmp(b.data + 1, want, sizeof(want) - 1) == 0);
	rb_buf_free(&b);
	CHECK_OK(json_emit_string(&b, "", 0));
	CHECK(b.len == 2 && memcmp(b.data, "\"\"", 2) == 0);
	rb_buf_free(&b);
	/* Over the cap half way: nothing of it stays. */
	b.cap = 8;
	CHECK_OK(rb_buf_put(&b, "ab", 2));
	CHECK(json_emit_string(&b, "\n\n\n\n", 4) < 0);
	CHECK(b.len == 2);
	rb_buf_free(&b);
}

static void test_pretty(void)
{
	_cleanup_json_ struct json_value *v = NULL, *again = NULL;
	_cleanup_free_ char *out = NULL, *c1 = NULL, *c2 = NULL;
	static const char want[] =
		"{\n"
		"  \"version\": 1,\n"
		"  \"keys\": [\n"
		"    {\n"
		"      \"name\": \"release\\n\",\n"
		"      \"usage\": [],\n"
		"      \"extra\": {}\n"
		"    },\n"
		"    2\n"
		"  ],\n"
		"  \"b\": true\n"
		"}\n";

	v = PARSE_OK("{\"version\":1,\"keys\":[{\"name\":\"release\\n\",\"usage\":[],\"extra\":{}},2],"
		     "\"b\":true}");
	out = emit(v, JSON_PRETTY);
	CHECK(out && strcmp(out, want) == 0);
	/* pretty and canonical describe the same document */
	again = PARSE_OK(want);
	c1 = emit(v, JSON_CANONICAL);
	c2 = emit(again, JSON_CANONICAL);
	CHECK(c1 && c2 && strcmp(c1, c2) == 0);
	json_free(again);
	free(out);
	again = PARSE_OK("[]");
	out = emit(again, JSON_PRETTY);
	CHECK(out && strcmp(out, "[]\n") == 0);
	json_free(again);
	free(out);
	again = PARSE_OK("-5");
	out = emit(again, JSON_PRETTY);
	CHECK(out && strcmp(out, "-5\n") == 0);
}

static void test_duplicate_keys(void)
{
	PARSE_ERR("{\"a\":1,\"a\":2}", RB_E_PARSE,
		  "line 1, column 8 (offset 7): duplicate key \"a\"");
	/* compared after unescaping */
	PARSE_ERR("{\"a\":1,\"\\u0061\":2}", RB_E_PARSE, "column 8 (offset 7): duplicate key \"a\"");
	PARSE_ERR("{\n  \"name\": 1,\n  \"x\": {},\n  \"name\": 2\n}", RB_E_PARSE,
		  "line 4, column 3 (offset 28): duplicate key \"name\"");
	/* the first repeat in document order is named */
	PARSE_ERR("{\"b\":1,\"a\":1,\"b\":2,\"a\":2}", RB_E_PARSE,
		  "column 14 (offset 13): duplicate key \"b\"");
	/* nested objects are checked too, and keys in sibling objects may repeat */
	PARSE_ERR("[{\"k\":1},{\"k\":{\"z\":1,\"z\":1}}]", RB_E_PARSE, "duplicate key \"z\"");
	json_free(PARSE_OK("[{\"k\":1},{\"k\":2}]"));
	/* keys differing only in normalization or case are distinct */
	json_free(PARSE_OK("{\"\\u00e9\":1,\"e\\u0301\":2,\"A\":3,\"a\":4}"));
}

static void test_duplicate_key_large_object(void)
{
	struct rb_buf b = RB_BUF_INIT;
	struct json_value *v = NULL;
	int i;

	/* 5000 distinct keys, then a repeat of key 1234 */
	CHECK_OK(rb_buf_put_str(&b, "{"));
	for (i = 0; i < 5000; i++)
		CHECK_OK(rb_buf_printf(&b, "\"k%d\":%d,", i, i));
	CHECK_OK(rb_buf_put_str(&b, "\"k1234\":0}"));
	rb_err_clear();
	CHECK_ERR(json_parse(b.data, b.len, NULL, &v), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "duplicate key \"k1234\""));
	CHECK(v == NULL);
	/* without the repeat it parses, and lookups find the right member */
	b.data[b.len - 11] = '}';
	b.len -= 10;
	CHECK_OK(json_parse(b.data, b.len, NULL, &v));
	CHECK(json_object_size(v) == 5000);
	CHECK(json_value_type(json_object_get(v, "k4999")) == JSON_INT);
	json_free(v);
	rb_buf_free(&b);
}

static void test_depth(void)
{
	char deep[2 * 40 + 1];
	struct json_limits lim = { .max_depth = 2 };
	struct rb_buf bomb = RB_BUF_INIT;
	struct json_value *v = NULL;
	int i;

	/* exactly the default limit (32) is fine, one more is not */
	for (i = 0; i < 32; i++) {
		deep[i] = '[';
		deep[32 + i] = ']';
	}
	CHECK_OK(json_parse(deep, 64, NULL, &v));
	json_free(v);
	v = NULL;
	for (i = 0; i < 33; i++) {
		deep[i] = '[';
		deep[33 + i] = ']';
	}
	rb_err_clear();
	CHECK_ERR(json_parse(deep, 66, NULL, &v), RB_E_TOOBIG);
	CHECK(strstr(rb_err_detail(), "line 1, column 33 (offset 32): nested deeper than 32 levels"));
	CHECK(v == NULL);
	/* objects count as well as arrays */
	PARSE_ERR_LIM("{\"a\":{\"b\":[]}}", &lim, RB_E_TOOBIG, "column 11 (offset 10): nested deeper");
	json_free(PARSE_OK_LIM("{\"a\":{\"b\":1}}", &lim));
	/* a bomb of a million brackets fails at the limit, not the stack */
	for (i = 0; i < 1000000; i++)
		CHECK_OK(rb_buf_put_u8(&bomb, '['));
	CHECK_ERR(json_parse(bomb.data, bomb.len, NULL, &v), RB_E_TOOBIG);
	rb_buf_free(&bomb);
	/* the ceiling on the limit itself */
	lim.max_depth = JSON_MAX_DEPTH + 1;
	CHECK_ERR(json_parse("1", 1, &lim, &v), RB_E_INVAL);
	lim.max_depth = JSON_MAX_DEPTH;
	CHECK_OK(json_parse("1", 1, &lim, &v));
	json_free(v);
}

static void test_trailing_data(void)
{
	PARSE_ERR("{} x", RB_E_PARSE,
		  "line 1, column 4 (offset 3): expected end of input after the JSON value, got 'x'");
	PARSE_ERR("1 2", RB_E_PARSE, "offset 2): expected end of input");
	PARSE_ERR("{}}", RB_E_PARSE, "offset 2)");
	PARSE_ERR("[]\0", RB_E_PARSE, "got byte 0x00");
	PARSE_ERR("nullx", RB_E_PARSE, "offset 4)");
	PARSE_ERR("\"a\"\"b\"", RB_E_PARSE, "offset 3)");
	PARSE_ERR("{}\n\n  ,", RB_E_PARSE, "line 3, column 3 (offset 6)");
	json_free(PARSE_OK("{}  \n\t\r\n"));
}

static void test_bad_utf8(void)
{
	PARSE_ERR("\"\xc0\x80\"", RB_E_PARSE, "offset 1): invalid UTF-8 in string: overlong encoding");
	PARSE_ERR("\"\xc1\xbf\"", RB_E_PARSE, "overlong encoding");
	PARSE_ERR("\"\xe0\x80\x80\"", RB_E_PARSE, "overlong encoding");
	PARSE_ERR("\"\xe0\x9f\xbf\"", RB_E_PARSE, "overlong encoding");
	PARSE_ERR("\"\xf0\x80\x80\x80\"", RB_E_PARSE, "overlong encoding");
	PARSE_ERR("\"\xf0\x8f\xbf\xbf\"", RB_E_PARSE, "overlong encoding");
	PARSE_ERR("\"\xed\xa0\x80\"", RB_E_PARSE, "encoded surrogate");
	PARSE_ERR("\"\xed\xbf\xbf\"", RB_E_PARSE, "encoded surrogate");
	PARSE_ERR("\"\xf4\x90\x80\x80\"", RB_E_PARSE, "above U+10FFFF");
	PARSE_ERR("\"\xf5\x80\x80\x80\"", RB_E_PARSE, "never occurs in UTF-8");
	PARSE_ERR("\"\xff\"", RB_E_PARSE, "never occurs in UTF-8");
	PARSE_ERR("\"\x80\"", RB_E_PARSE, "unexpected continuation byte");
	PARSE_ERR("\"\xe2\x82\"", RB_E_PARSE, "truncated");
	PARSE_ERR("\"\xe2\x82", RB_E_PARSE, "truncated");
	PARSE_ERR("\"a\xe2\x82" "a\"", RB_E_PARSE, "offset 2): invalid UTF-8 in string: truncated");
	/* keys are strings too */
	PARSE_ERR("{\"\xc0\xaf\":1}", RB_E_PARSE, "overlong");
	/* non-ASCII outside strings */
	PARSE_ERR("[\xc3\xa9]", RB_E_PARSE, "expected a value, got byte 0xc3");
	PARSE_ERR("\xef\xbb\xbf{}", RB_E_PARSE, "offset 0): byte order mark");
	PARSE_ERR("\xfe\xff{}", RB_E_PARSE, "got byte 0xfe");
	/* the boundaries that are valid */
	CANON("[\"\xc2\x80\",\"\xdf\xbf\",\"\xe0\xa0\x80\",\"\xed\x9f\xbf\",\"\xee\x80\x80\","
	      "\"\xef\xbf\xbf\",\"\xf0\x90\x80\x80\",\"\xf4\x8f\xbf\xbf\"]",
	      "[\"\xc2\x80\",\"\xdf\xbf\",\"\xe0\xa0\x80\",\"\xed\x9f\xbf\",\"\xee\x80\x80\","
	      "\"\xef\xbf\xbf\",\"\xf0\x90\x80\x80\",\"\xf4\x8f\xbf\xbf\"]");
}

static void test_surrogates(void)
{
	PARSE_ERR("\"\\ud800\"", RB_E_PARSE, "offset 1): unpaired high surrogate");
	PARSE_ERR("\"\\udbff\\u0041\"", RB_E_PARSE, "unpaired high surrogate");
	PARSE_ERR("\"\\ud800\\ud800\"", RB_E_PARSE, "unpaired high surrogate");
	PARSE_ERR("\"\\ud800x\"", RB_E_PARSE, "unpaired high surrogate");
	PARSE_ERR("\"\\ud800\\", RB_E_PARSE, "unpaired high surrogate");
	PARSE_ERR("\"\\udc00\"", RB_E_PARSE, "unpaired low surrogate");
	PARSE_ERR("\"x\\ude00\\ud83d\"", RB_E_PARSE, "offset 2): unpaired low surrogate");
	CANON("\"\\ud83d\\ude00\\uD800\\uDC00\\udbff\\udfff\"",
	      "\"\xf0\x9f\x98\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}

static void test_numbers(void)
{
	PARSE_ERR("01", RB_E_PARSE, "offset 0): leading zeros");
	PARSE_ERR("-01", RB_E_PARSE, "leading zeros");
	PARSE_ERR("[00]", RB_E_PARSE, "offset 1): leading zeros");
	PARSE_ERR("-0", RB_E_PARSE, "negative zero");
	PARSE_ERR("1.0", RB_E_PARSE, "only integers are supported");
	PARSE_ERR("0.5", RB_E_PARSE, "only integers are supported");
	PARSE_ERR("1e3", RB_E_PARSE, "only integers are supported");
	PARSE_ERR("1E+3", RB_E_PARSE, "only integers are supported");
	PARSE_ERR("-0.0", RB_E_PARSE, "only integers are supported");
	PARSE_ERR("[1, 2.5]", RB_E_PARSE, "offset 4): only integers");
	PARSE_ERR("-", RB_E_PARSE, "expected a digit after '-'");
	PARSE_ERR("-a", RB_E_PARSE, "expected a digit after '-'");
	PARSE_ERR("+1", RB_E_PARSE, "expected a value, got '+'");
	PARSE_ERR(".5", RB_E_PARSE, "expected a value, got '.'");
	PARSE_ERR("0x10", RB_E_PARSE, "expected end of input");
	PARSE_ERR("1.", RB_E_PARSE, "only integers");
	PARSE_ERR("9223372036854775808", RB_E_PARSE, "offset 0): integer out of range");
	PARSE_ERR("-9223372036854775809", RB_E_PARSE, "integer out of range");
	PARSE_ERR("18446744073709551616", RB_E_PARSE, "integer out of range");
	PARSE_ERR("[1,123456789012345678901234567890]", RB_E_PARSE, "offset 3): integer out of range");
	PARSE_ERR("NaN", RB_E_PARSE, "expected a value");
	PARSE_ERR("Infinity", RB_E_PARSE, "expected a value");
	PARSE_ERR("-Infinity", RB_E_PARSE, "expected a digit");
	CANON("[0,-1,10,-9223372036854775807,922337203685477580]",
	      "[0,-1,10,-9223372036854775807,922337203685477580]");
}

static void test_strings(void)
{
	PARSE_ERR("\"abc", RB_E_PARSE, "line 1, column 1 (offset 0): unterminated string");
	PARSE_ERR("[\n \"abc]", RB_E_PARSE, "line 2, column 2 (offset 3): unterminated string");
	PARSE_ERR("{\"key", RB_E_PARSE, "offset 1): unterminated string");
	PARSE_ERR("\"a\tb\"", RB_E_PARSE, "offset 2): control character U+0009 in string must be escaped");
	PARSE_ERR("\"a\nb\"", RB_E_PARSE, "U+000A");
	PARSE_ERR("\"\x1f\"", RB_E_PARSE, "U+001F");
	PARSE_ERR("\"a\0b\"", RB_E_PARSE, "offset 2): control character U+0000");
	PARSE_ERR("\"\\u0000\"", RB_E_PARSE, "offset 1): \\u0000 (NUL) is not allowed");
	PARSE_ERR("{\"a\\u0000\":1}", RB_E_PARSE, "NUL");
	PARSE_ERR("\"\\x41\"", RB_E_PARSE, "invalid escape sequence");
	PARSE_ERR("\"\\U0041\"", RB_E_PARSE, "invalid escape sequence");
	PARSE_ERR("\"\\'\"", RB_E_PARSE, "invalid escape sequence");
	PARSE_ERR("\"\\u12\"", RB_E_PARSE, "four hex digits");
	PARSE_ERR("\"\\u12G4\"", RB_E_PARSE, "four hex digits");
	PARSE_ERR("\"\\", RB_E_PARSE, "unterminated escape");
	PARSE_ERR("'single'", RB_E_PARSE, "expected a value, got '''");
	/* DEL is not a control character in JSON */
	CANON("\"\x7f\"", "\"\x7f\"");
}

static void test_syntax(void)
{
	PARSE_ERR("", RB_E_PARSE, "line 1, column 1 (offset 0): expected a value, got end of input");
	PARSE_ERR(" \n ", RB_E_PARSE, "line 2, column 2 (offset 3): expected a value, got end of input");
	PARSE_ERR("[1,]", RB_E_PARSE, "offset 3): trailing comma before ']'");
	PARSE_ERR("{\"a\":1,}", RB_E_PARSE, "offset 7): trailing comma before '}'");
	PARSE_ERR("[,1]", RB_E_PARSE, "expected a value, got ','");
	PARSE_ERR("[1 2]", RB_E_PARSE, "offset 3): expected ',' or ']' after array element, got '2'");
	PARSE_ERR("[1", RB_E_PARSE, "got end of input");
	PARSE_ERR("{\"a\" 1}", RB_E_PARSE, "expected ':' after object key, got '1'");
	PARSE_ERR("{\"a\":1 \"b\":2}", RB_E_PARSE, "expected ',' or '}' after object member");
	PARSE_ERR("{a:1}", RB_E_PARSE, "expected a string as object key, got 'a'");
	PARSE_ERR("{1:1}", RB_E_PARSE, "expected a string as object key");
	PARSE_ERR("{\"a\":}", RB_E_PARSE, "expected a value, got '}'");
	PARSE_ERR("{\"a\"", RB_E_PARSE, "got end of input");
	PARSE_ERR("tru", RB_E_PARSE, "invalid literal");
	PARSE_ERR("True", RB_E_PARSE, "got 'T'");
	PARSE_ERR("nul", RB_E_PARSE, "invalid literal");
	PARSE_ERR("[1] // comment", RB_E_PARSE, "got '/'");
	PARSE_ERR("/* c */ 1", RB_E_PARSE, "got '/'");
	PARSE_ERR("\f1", RB_E_PARSE, "got byte 0x0c");
	PARSE_ERR("\v1", RB_E_PARSE, "got byte 0x0b");
	PARSE_ERR("\xc2\xa0" "1", RB_E_PARSE, "got byte 0xc2");
}

static void test_bad_arguments(void)
{
	struct json_value *v = NULL;

	CHECK_ERR(json_parse(NULL, 1, NULL, &v), RB_E_INVAL);
	CHECK_ERR(json_parse("1", 1, NULL, NULL), RB_E_INVAL);
	CHECK_ERR(json_parse(NULL, 0, NULL, &v), RB_E_PARSE);
	CHECK(v == NULL);
	CHECK_ERR(json_emit(NULL, JSON_CANONICAL, NULL), RB_E_INVAL);
}

static void test_error_position_columns(void)
{
	/* columns count code points, the offset counts bytes */
	PARSE_ERR("[\n  \"\xc3\xa4\xc3\xb6\xc3\xbc\", x]", RB_E_PARSE,
		  "line 2, column 10 (offset 14): expected a value, got 'x'");
	PARSE_ERR("{\"\xf0\x9f\x98\x80\": 1, \"\xe2\x82\xac\": tru}", RB_E_PARSE,
		  "line 1, column 15 (offset 19): invalid literal");
	/* CRLF line ends count one line each */
	PARSE_ERR("{\r\n\"a\": 1,\r\n\"a\": 2}", RB_E_PARSE, "line 3, column 1 (offset 12)");
	/* escapes count as the characters they are written with */
	PARSE_ERR("[\"\\u00e9\\n\", 01]", RB_E_PARSE, "line 1, column 14 (offset 13): leading zeros");
}

static void test_limits(void)
{
	struct json_limits lim = { .max_input = 10 };
	struct json_value *v = NULL;

	/* input size: the cap is checked before any parsing */
	CHECK_OK(json_parse("[1,2,3,44]", 10, &lim, &v));
	json_free(v);
	v = NULL;
	rb_err_clear();
	CHECK_ERR(json_parse("[1,2,3,444]", 11, &lim, &v), RB_E_TOOBIG);
	CHECK(strstr(rb_err_detail(), "11 bytes, over the limit of 10"));
	/* string length counts decoded bytes, for keys and values */
	lim = (struct json_limits){ .max_string = 4 };
	json_free(PARSE_OK_LIM("[\"abcd\",\"\\u00e9\\u00e9\"]", &lim));
	PARSE_ERR_LIM("[\"abcde\"]", &lim, RB_E_TOOBIG, "offset 1): string longer than 4 bytes");
	PARSE_ERR_LIM("[\"\\u00e9\\u00e9a\"]", &lim, RB_E_TOOBIG, "string longer than 4 bytes");
	PARSE_ERR_LIM("{\"abcde\":1}", &lim, RB_E_TOOBIG, "string longer than 4 bytes");
	/* elements per array, members per object */
	lim = (struct json_limits){ .max_items = 3 };
	json_free(PARSE_OK_LIM("[1,2,3]", &lim));
	PARSE_ERR_LIM("[1,2,3,4]", &lim, RB_E_TOOBIG, "offset 7): array has more than 3 elements");
	json_free(PARSE_OK_LIM("{\"a\":1,\"b\":2,\"c\":3}", &lim));
	PARSE_ERR_LIM("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", &lim, RB_E_TOOBIG,
		      "offset 19): object has more than 3 members");
	/* values in the whole document (containers included) */
	lim = (struct json_limits){ .max_values = 4 };
	json_free(PARSE_OK_LIM("[[1],2]", &lim));
	PARSE_ERR_LIM("[[1],2,3]", &lim, RB_E_TOOBIG, "offset 7): more than 4 values");
	PARSE_ERR_LIM("{\"a\":[1,{},2]}", &lim, RB_E_TOOBIG, "offset 11): more than 4 values");
	/* the default string cap */
	{
		struct rb_buf b = RB_BUF_INIT;

		CHECK_OK(rb_buf_put_u8(&b, '"'));
		for (size_t i = 0; i < JSON_DEFAULT_MAX_STRING + 1; i++)
			CHECK_OK(rb_buf_put_u8(&b, 'a'));
		CHECK_OK(rb_buf_put_u8(&b, '"'));
		CHECK_ERR(json_parse(b.data, b.len, NULL, &v), RB_E_TOOBIG);
		b.data[b.len - 2] = '"';
		CHECK_OK(json_parse(b.data, b.len - 1, NULL, &v));
		json_free(v);
		rb_buf_free(&b);
	}
}

static const char manifest[] =
	"{\n"
	"  \"version\": 1,\n"
	"  \"keys\": [\n"
	"    {\"name\": \"release\", \"size\": 4096, \"hsm\": true},\n"
	"    {\"name\": 7, \"size\": -1, \"weird key\": {}}\n"
	"  ]\n"
	"}\n";

static void test_getters(void)
{
	_cleanup_json_ struct json_value *root = PARSE_OK(manifest);
	const struct json_value *keys = NULL, *k0, *k1, *o;
	const char *s = "unchanged";
	int64_t i = 12345;
	bool b = false;

	CHECK_OK(json_get_int(root, "version", &i));
	CHECK(i == 1);
	CHECK_OK(json_get_array(root, "keys", &keys));
	CHECK(json_array_size(keys) == 2);
	k0 = json_array_get(keys, 0);
	k1 = json_array_get(keys, 1);
	CHECK(json_array_get(keys, 2) == NULL);
	CHECK_OK(json_get_string(k0, "name", &s));
	CHECK(strcmp(s, "release") == 0);
	CHECK_OK(json_get_bool(k0, "hsm", &b));
	CHECK(b);
	CHECK_OK(json_get_int_range(k0, "size", 1024, 8192, &i));
	CHECK(i == 4096);

	/* type mismatch: names the path and the value's position */
	s = "unchanged";
	rb_err_clear();
	CHECK_ERR(json_get_string(k1, "name", &s), RB_E_PARSE);
	CHECK(strcmp(s, "unchanged") == 0);
	CHECK(strcmp(rb_err_detail(),
		     "line 5, column 14 (offset 95): keys[1].name: expected string, got integer") == 0);
	CHECK_ERR(json_get_int_range(k1, "size", 1024, 8192, &i), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "keys[1].size: -1 is out of range (1024 to 8192)"));
	CHECK(i == 4096);
	CHECK_ERR(json_get_object(root, "version", &o), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "line 2, column 14 (offset 15): version: expected object, got integer"));
	CHECK_ERR(json_get_array(k1, "weird key", &o), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "keys[1][\"weird key\"]: expected array, got object"));
	/* missing required key: names the object and the key */
	CHECK_ERR(json_get_bool(k1, "hsm", &b), RB_E_PARSE);
	CHECK(strcmp(rb_err_detail(),
		     "line 5, column 5 (offset 86): keys[1]: missing required key \"hsm\"") == 0);
	CHECK_ERR(json_get_string(root, "name", &s), RB_E_PARSE);
	CHECK(strcmp(rb_err_detail(), "line 1, column 1 (offset 0): missing required key \"name\"") == 0);
	/* optional variants: absent is RB_E_NOTFOUND and leaves ret alone */
	CHECK_ERR(json_get_bool_opt(k1, "hsm", &b), RB_E_NOTFOUND);
	CHECK(b == true);
	CHECK_ERR(json_get_string_opt(root, "comment", &s), RB_E_NOTFOUND);
	CHECK_ERR(json_get_int_opt(root, "nope", &i), RB_E_NOTFOUND);
	CHECK_ERR(json_get_array_opt(root, "nope", &o), RB_E_NOTFOUND);
	CHECK_ERR(json_get_object_opt(root, "nope", &o), RB_E_NOTFOUND);
	/* ... but present with the wrong type is still an error */
	CHECK_ERR(json_get_string_opt(k1, "name", &s), RB_E_PARSE);
	CHECK_OK(json_get_int_opt(root, "version", &i));
	CHECK(i == 1);
	CHECK_OK(json_get_object_opt(k1, "weird key", &o));
	CHECK(json_object_size(o) == 0);
	/* a non-object is a parse error, not a crash */
	CHECK_ERR(json_get_string(keys, "name", &s), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "line 3, column 11 (offset 28): keys: expected object, got array"));
	CHECK_ERR(json_get_string(NULL, "name", &s), RB_E_INVAL);
	/* member iteration in document order */
	CHECK(json_object_size(k0) == 3);
	CHECK(strcmp(json_object_key_at(k0, 1), "size") == 0);
	CHECK(json_value_type(json_object_value_at(k0, 2)) == JSON_BOOL);
	CHECK(json_object_key_at(k0, 3) == NULL);
	CHECK(json_object_get(keys, "x") == NULL);
	CHECK(json_object_size(keys) == 0 && json_array_size(k0) == 0);
	/* format code attaches its own semantic errors to a value */
	CHECK_ERR(json_err_set(json_object_get(k0, "name"), RB_E_UNSUPPORTED, "no such key %s", "x"),
		  RB_E_UNSUPPORTED);
	CHECK(strcmp(rb_err_detail(),
		     "line 4, column 14 (offset 43): keys[0].name: no such key x") == 0);
}

static void test_check_keys(void)
{
	static const char *const required[] = { "version", "keys", NULL };
	static const char *const optional[] = { "comment", NULL };
	_cleanup_json_ struct json_value *v = NULL;

	v = PARSE_OK("{\"version\":1,\"keys\":[]}");
	CHECK_OK(json_object_check_keys(v, required, optional));
	CHECK_OK(json_object_check_keys(v, required, NULL));
	json_free(v);
	v = PARSE_OK("{\"version\":1,\"keys\":[],\"comment\":\"\"}");
	CHECK_OK(json_object_check_keys(v, required, optional));
	/* unknown key: named, at its own position */
	CHECK_ERR(json_object_check_keys(v, required, NULL), RB_E_PARSE);
	CHECK(strcmp(rb_err_detail(), "line 1, column 24 (offset 23): unknown key \"comment\"") == 0);
	json_free(v);
	v = PARSE_OK("{\"inner\":{\n \"version\":1,\n \"Keys\":[]}}");
	CHECK_ERR(json_object_check_keys(json_object_get(v, "inner"), required, optional),
		  RB_E_PARSE);
	CHECK(strcmp(rb_err_detail(), "line 3, column 2 (offset 26): inner: unknown key \"Keys\"") == 0);
	json_free(v);
	/* missing keys: all of them are listed */
	v = PARSE_OK("{}");
	CHECK_ERR(json_object_check_keys(v, required, optional), RB_E_PARSE);
	CHECK(strcmp(rb_err_detail(),
		     "line 1, column 1 (offset 0): missing required keys \"version\", \"keys\"") == 0);
	CHECK_OK(json_object_check_keys(v, NULL, NULL));
	json_free(v);
	v = PARSE_OK("{\"keys\":1}");
	CHECK_ERR(json_object_check_keys(v, required, optional), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "missing required key \"version\""));
	CHECK_ERR(json_object_check_keys(v, NULL, NULL), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "unknown key \"keys\""));
	json_free(v);
	v = PARSE_OK("[]");
	CHECK_ERR(json_object_check_keys(v, required, optional), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "expected object, got array"));
}

/* An attacker-chosen key is quoted in details in printable ASCII only, so
 * it cannot inject terminal escapes or bidi overrides into the CLI output. */
static void test_detail_sanitized(void)
{
	const char *d;
	size_t i;

	PARSE_ERR("{\"\\u001b[2J\\u202e\":1,\"\\u001b[2J\\u202e\":2}", RB_E_PARSE,
		  "duplicate key \"\\u001b[2J\\u202e\"");
	d = rb_err_detail();
	for (i = 0; d[i]; i++)
		CHECK(d[i] >= 0x20 && d[i] < 0x7f);
	PARSE_ERR("{\"\xf0\x9f\x98\x80\\\"\":1,\"\xf0\x9f\x98\x80\\\"\":2}", RB_E_PARSE,
		  "duplicate key \"\\ud83d\\ude00\\\"\"");
	/* a long key is cut short: 64 characters of it are shown */
#define A10 "aaaaaaaaaa"
	PARSE_ERR("{\"" A10 A10 A10 A10 A10 A10 A10 A10 "\":1,\"" A10 A10 A10 A10 A10 A10 A10 A10 "\":2}",
		  RB_E_PARSE, "offset 86): duplicate key \"" A10 A10 A10 A10 A10 A10 "aaaa...\"");
	CHECK(strlen(rb_err_detail()) == strlen("line 1, column 87 (offset 86): duplicate key \"") + 64 + 4);
	/* escapes count at their printed length and are never split */
	PARSE_ERR("{\"" A10 A10 A10 A10 A10 A10 "\\\"\\u00e9\":1,\"" A10 A10 A10 A10 A10 A10 "\\\"\\u00e9\":2}",
		  RB_E_PARSE, A10 "\\\"...\"");
#undef A10
}

static void test_builder(void)
{
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_free_ char *canon = NULL, *pretty = NULL;
	struct json_value *arr = NULL, *sub = NULL, *v = NULL;

	CHECK_OK(json_new_object(&root));
	CHECK_OK(json_object_set_int(root, "version", 1));
	CHECK_OK(json_object_set_string(root, "event", "sign"));
	CHECK_OK(json_new_array(&arr));
	CHECK_OK(json_new_int(INT64_MIN, &v));
	CHECK_OK(json_array_append(arr, v));
	CHECK_OK(json_new_null(&v));
	CHECK_OK(json_array_append(arr, v));
	CHECK_OK(json_new_string_len("a\0b", 1, &v));
	CHECK_OK(json_array_append(arr, v));
	CHECK_OK(json_object_set(root, "args", arr));
	CHECK_OK(json_new_object(&sub));
	CHECK_OK(json_object_set_bool(sub, "ok", false));
	CHECK_OK(json_object_set_string(sub, "msg", "tab\there \xe2\x82\xac"));
	CHECK_OK(json_object_set(root, "result", sub));
	CHECK_OK(json_object_set_string(root, "\xf0\x9f\x98\x80", "emoji key"));
	CHECK_OK(json_object_set_string(root, "\xee\x80\x80", "private use key"));

	canon = emit(root, JSON_CANONICAL);
	CHECK(canon && strcmp(canon,
			      "{\"args\":[-9223372036854775808,null,\"a\"],\"event\":\"sign\","
			      "\"result\":{\"msg\":\"tab\\there \xe2\x82\xac\",\"ok\":false},"
			      "\"version\":1,\"\xf0\x9f\x98\x80\":\"emoji key\","
			      "\"\xee\x80\x80\":\"private use key\"}") == 0);
	pretty = emit(root, JSON_PRETTY);
	CHECK(pretty && strcmp(pretty,
			       "{\n"
			       "  \"version\": 1,\n"
			       "  \"event\": \"sign\",\n"
			       "  \"args\": [\n"
			       "    -9223372036854775808,\n"
			       "    null,\n"
			       "    \"a\"\n"
			       "  ],\n"
			       "  \"result\": {\n"
			       "    \"ok\": false,\n"
			       "    \"msg\": \"tab\\there \xe2\x82\xac\"\n"
			       "  },\n"
			       "  \"\xf0\x9f\x98\x80\": \"emoji key\",\n"
			       "  \"\xee\x80\x80\": \"private use key\"\n"
			       "}\n") == 0);

	/* builder keeps the parser's invariants */
	CHECK_ERR(json_object_set_int(root, "version", 2), RB_E_EXISTS);
	CHECK(strstr(rb_err_detail(), "duplicate key \"version\""));
	CHECK_ERR(json_object_set_int(root, "\xc0\x80", 2), RB_E_INVAL);
	CHECK_ERR(json_object_set_string(root, "bad", "\xed\xa0\x80"), RB_E_INVAL);
	CHECK_ERR(json_new_string_len("a\0b", 3, &v), RB_E_INVAL);
	CHECK_ERR(json_new_string_len("\xe2\x82", 2, &v), RB_E_INVAL);
	CHECK_ERR(json_new_string(NULL, &v), RB_E_INVAL);
	CHECK(json_object_size(root) == 6);
}

static void test_builder_ownership(void)
{
	_cleanup_json_ struct json_value *obj = NULL, *arr = NULL;
	struct json_value *v = NULL, *inner = NULL;

	CHECK_OK(json_new_object(&obj));
	CHECK_OK(json_new_array(&arr));
	/* a failed set still consumes the value (ASan reports a leak if not) */
	CHECK_OK(json_new_int(1, &v));
	CHECK_OK(json_object_set(obj, "a", v));
	CHECK_OK(json_new_int(2, &v));
	CHECK_ERR(json_object_set(obj, "a", v), RB_E_EXISTS);
	CHECK_OK(json_new_int(3, &v));
	CHECK_ERR(json_object_set(arr, "a", v), RB_E_INVAL);
	CHECK_OK(json_new_int(4, &v));
	CHECK_ERR(json_array_append(obj, v), RB_E_INVAL);
	CHECK_OK(json_new_int(5, &v));
	CHECK_ERR(json_object_set(obj, NULL, v), RB_E_INVAL);
	CHECK_ERR(json_object_set(obj, "x", NULL), RB_E_INVAL);
	CHECK_ERR(json_array_append(arr, NULL), RB_E_INVAL);
	/* a value already in a tree is not the caller's to give: refused, not
	 * freed (ASan reports a double free if it were) */
	v = (struct json_value *)json_object_get(obj, "a");
	CHECK_ERR(json_array_append(arr, v), RB_E_INVAL);
	CHECK(json_object_get(obj, "a") == v);
	/* freeing a value inside a tree does nothing */
	json_free(v);
	CHECK(json_value_type(json_object_get(obj, "a")) == JSON_INT);
	/* no cycles: a container cannot go into itself or its descendants */
	CHECK_ERR(json_array_append(arr, arr), RB_E_INVAL);
	CHECK_OK(json_new_array(&inner));
	CHECK_OK(json_array_append(arr, inner));
	CHECK_OK(json_object_set(obj, "arr", arr));
	CHECK_ERR(json_array_append(inner, obj), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "cannot contain itself"));
	arr = NULL; /* owned by obj now */
	CHECK(json_array_size(json_object_get(obj, "arr")) == 1);
	json_free(NULL);
}

static void test_emit_errors(void)
{
	_cleanup_json_ struct json_value *v = PARSE_OK("{\"key\":\"a long enough value\"}");
	struct json_value *deep = NULL, *cur, *next;
	struct rb_buf b = RB_BUF_INIT;
	int i;

	/* the buffer's cap: failure leaves the buffer as it was */
	b.cap = 16;
	CHECK_OK(rb_buf_put_str(&b, "prefix"));
	CHECK_ERR(json_emit(v, JSON_CANONICAL, &b), RB_E_TOOBIG);
	CHECK(b.len == 6 && memcmp(b.data, "prefix", 6) == 0);
	CHECK_ERR(json_emit(v, (enum json_style)7, &b), RB_E_INVAL);
	b.cap = 0;
	CHECK_OK(json_emit(v, JSON_CANONICAL, &b));
	CHECK(b.len == 6 + 29 && memcmp(b.data, "prefix{\"key\":\"a long enough value\"}", 35) == 0);
	rb_buf_free(&b);

	/* a built tree deeper than JSON_MAX_DEPTH is refused by the emitter,
	 * and freeing a very deep tree needs no stack */
	CHECK_OK(json_new_array(&deep));
	cur = deep;
	for (i = 1; i < (int)JSON_MAX_DEPTH; i++) {
		CHECK_OK(json_new_array(&next));
		CHECK_OK(json_array_append(cur, next));
		cur = next;
	}
	CHECK_OK(json_emit(deep, JSON_CANONICAL, &b));
	CHECK(b.len == 2 * JSON_MAX_DEPTH);
	rb_buf_free(&b);
	CHECK_OK(json_new_array(&next));
	CHECK_OK(json_array_append(cur, next));
	cur = next;
	CHECK_ERR(json_emit(deep, JSON_PRETTY, &b), RB_E_TOOBIG);
	CHECK(b.len == 0);
	for (i = 0; i < 200000; i++) {
		CHECK_OK(json_new_array(&next));
		CHECK_OK(json_array_append(cur, next));
		cur = next;
	}
	CHECK_ERR(json_emit(deep, JSON_CANONICAL, &b), RB_E_TOOBIG);
	json_free(deep);
	rb_buf_free(&b);
}

int main(void)
{
	RUN(test_scalars);
	RUN(test_canonical_roundtrip);
	RUN(test_canonical_order_rfc8785);
	RUN(test_canonical_escaping);
	RUN(test_emit_string);
	RUN(test_pretty);
	RUN(test_duplicate_keys);
	RUN(test_duplicate_key_large_object);
	RUN(test_depth);
	RUN(test_trailing_data);
	RUN(test_bad_utf8);
	RUN(test_surrogates);
	RUN(test_numbers);
	RUN(test_strings);
	RUN(test_syntax);
	RUN(test_bad_arguments);
	RUN(test_error_position_columns);
	RUN(test_limits);
	RUN(test_getters);
	RUN(test_check_keys);
	RUN(test_detail_sanitized);
	RUN(test_builder);
	RUN(test_builder_ownership);
	RUN(test_emit_errors);
	TEST_MAIN_END();
}
