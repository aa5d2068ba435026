/* JSON pieces the request, response and approval documents share: the
 * versioned envelope with its required/optional split, and strict field
 * readers (lowercase hex of an exact length, bounded base64, times). */
#include <stdio.h>
#include <string.h>

#include "request/request-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

/* A queue document holds at most REQUEST_MAX_ENTRIES entries of about ten
 * values each; a million values bounds the tree of a 16 MiB document to
 * roughly 150 MB however the bytes are spent. Strings may be a capture
 * request's base64 Ed25519 message (1 MiB before encoding). */
#define RQ_MAX_VALUES ((size_t)1024 * 1024)
#define RQ_MAX_STRING ((size_t)CAPTURE_REQUEST_MAX_BYTES)

int rq_json_parse(const char *text, size_t len, size_t max_bytes, const char *source,
		  struct json_value **ret)
{
	struct json_limits lim = {
		.max_input = max_bytes,
		.max_string = RQ_MAX_STRING,
		.max_items = REQUEST_MAX_ENTRIES,
		.max_values = RQ_MAX_VALUES,
		.max_depth = JSON_DEFAULT_MAX_DEPTH,
	};
	int err;

	if (!text && len)
		return rb_err_set(RB_E_INVAL, "%s: no text", source);
	if (len > max_bytes)
		return rb_err_set(RB_E_TOOBIG, "%s: %zu bytes is over the %zu-byte cap for this document",
				  source, len, max_bytes);
	if ((err = json_parse(text ? text : "", len, &lim, ret)) < 0)
		return rq_err_prefix(err, source);
	return RB_OK;
}

int rq_err_prefix(int err, const char *source)
{
	char detail[RB_ERR_DETAIL_MAX];

	/* Copy first: the detail is the buffer rb_err_set() writes. */
	rb_err_save(err, detail);
	return rb_err_set(err, "%s: %s", source, detail);
}

int rq_get_hex(const struct json_value *obj, const char *key, uint8_t *out, size_t n)
{
	const char *s;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	if (rb_hex_decode_lower(s, strlen(s), out, n) < 0)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE,
				    "%s must be %zu lowercase hex digits", key, 2 * n);
	return RB_OK;
}

int rq_get_b64(const struct json_value *obj, const char *key, size_t min, size_t max,
	       uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *bin = NULL;
	const char *s;
	size_t n;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	/* Refuse before decoding: base64 is 4/3 the size. */
	if (strlen(s) / 4 * 3 > max + 2)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE,
				    "%s is longer than %zu bytes", key, max);
	if (rb_base64_decode(s, strlen(s), true, &bin, &n) < 0)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE,
				    "%s is not valid padded base64", key);
	if (n < min || n > max)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE,
				    "%s is %zu bytes; expected %zu..%zu", key, n, min, max);
	*ret = TAKE_PTR(bin);
	*ret_len = n;
	return RB_OK;
}

int rq_get_time(const struct json_value *obj, const char *key, int64_t *ret)
{
	const char *s;
	int64_t t;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	if (rb_time_parse(s, &t) < 0 || t < 0 || t > REQUEST_TIME_MAX)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE,
				    "%s must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z", key);
	*ret = t;
	return RB_OK;
}

int rq_check_envelope(const struct json_value *root, const char *format, int64_t version,
		      const struct json_value **ret_required)
{
	return rq_check_envelope_range(root, format, version, version, NULL, ret_required);
}

int rq_check_envelope_range(const struct json_value *root, const char *format, int64_t min,
			    int64_t version, int64_t *ret_version, const struct json_value **ret_required)
{
	static const char *const top_required[] = { "format", "version", "required", NULL };
	static const char *const top_optional[] = { "optional", NULL };
	const struct json_value *req, *opt;
	const char *s;
	int64_t v;
	int err;

	if ((err = json_expect_type(root, JSON_OBJECT)) < 0 ||
	    (err = json_object_check_keys(root, top_required, top_optional)) < 0 ||
	    (err = json_get_string(root, "format", &s)) < 0)
		return err;
	if (strcmp(s, format) != 0)
		return json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				    "format is \"%.40s\", expected \"%s\"", s, format);
	if ((err = json_get_int(root, "version", &v)) < 0)
		return err;
	if (v < min || v > version)
		return json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				    "version %lld is not supported (this rombsr reads version %lld%s); "
				    "use the same rombsr release on build and sign nodes",
				    (long long)v, (long long)version, min < version ? " and older" : "");
	if ((err = json_get_object(root, "required", &req)) < 0)
		return err;
	/* "optional" members are ignored, but it must be an object. */
	err = json_get_object_opt(root, "optional", &opt);
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if (ret_version)
		*ret_version = v;
	*ret_required = req;
	return RB_OK;
}

int rq_set_hex(struct json_value *obj, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_hex_encode(p, n, &s)) < 0)
		return err;
	return json_object_set_string(obj, key, s);
}

int rq_set_b64(struct json_value *obj, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_base64_encode(p, n, true, &s)) < 0)
		return err;
	return json_object_set_string(obj, key, s);
}

int rq_set_time(struct json_value *obj, const char *key, int64_t t)
{
	char ts[RB_TIME_LEN + 1];

	if (t < 0 || t > REQUEST_TIME_MAX)
		return RB_E_INVAL;
	rb_time_format(t, ts);
	return json_object_set_string(obj, key, ts);
}

int rq_emit_envelope(const char *format, int64_t version, struct json_value *required,
		     struct json_value *optional, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *root = NULL, *req = required, *opt = optional;
	size_t before = out->len;
	int err;

	if (!opt && (err = json_new_object(&opt)) < 0)
		return err;
	if ((err = json_new_object(&root)) < 0 ||
	    (err = json_object_set_string(root, "format", format)) < 0 ||
	    (err = json_object_set_int(root, "version", version)) < 0 ||
	    (err = json_object_set(root, "required", TAKE_PTR(req))) < 0 ||
	    (err = json_object_set(root, "optional", TAKE_PTR(opt))) < 0)
		return err;
	if ((err = json_emit(root, JSON_CANONICAL, out)) < 0)
		return err;
	if ((err = rb_buf_put_u8(out, '\n')) < 0) {
		out->len = before;
		return err;
	}
	return RB_OK;
}

bool rq_text_valid(const char *s, size_t max, bool multiline)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > max)
		return false;
	/* The JSON layer guarantees UTF-8; only controls remain to refuse. */
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 || s[i] == 0x7f) &&
		    !(multiline && (s[i] == '\n' || s[i] == '\t')))
			return false;
	return true;
}

int rq_get_node_build(const struct json_value *req, char **ret_node, char **ret_build)
{
	const char *s;
	int err;

	if ((err = json_get_string(req, "node", &s)) < 0)
		return err;
	if (!request_node_valid(s))
		return json_err_set(json_object_get(req, "node"), RB_E_PARSE,
				    "node must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (!(*ret_node = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_string(req, "build_id", &s)) < 0)
		return err;
	if (!capture_build_id_valid(s))
		return json_err_set(json_object_get(req, "build_id"), RB_E_PARSE,
				    "build_id must be 1-%d characters of [A-Za-z0-9._-], not starting "
				    "with '.' or '-'", CAPTURE_BUILD_ID_MAX);
	if (!(*ret_build = strdup(s)))
		return RB_E_NOMEM;
	return RB_OK;
}
