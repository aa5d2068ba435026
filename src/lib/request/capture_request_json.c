/* Request files: canonical JSON out, strict and self-checking JSON in
 * (docs/formats/capture-request.md). A request comes from an untrusted
 * build node, so the parser recomputes the id and the placeholder from the
 * fields that define them and refuses any disagreement. */
#include <stdio.h>
#include <string.h>

#include "request/capture-internal.h"
#include "json/json.h"
#include "keys/keyspec.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct capture_request *, capture_request_free)

static int set_b64(struct json_value *o, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_base64_encode(p, n, true, &s)) < 0)
		return err;
	return json_object_set_string(o, key, s);
}

int capture_request_emit(const struct capture_request *r, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *root = NULL, *key = NULL;
	_cleanup_free_ char *fpr = NULL;
	const char *mname;
	char ts[RB_TIME_LEN + 1];
	int err;

	if (!r || !out)
		return rb_err_set(RB_E_INVAL, "capture request emit: missing argument");
	mname = capture_mech_name(r->mechanism);
	if (!mname || r->created < 0 || r->created > CAPTURE_TIME_MAX ||
	    r->version < CAPTURE_REQUEST_VERSION_MIN || r->version > CAPTURE_REQUEST_VERSION ||
	    (r->data && r->version < 2))
		return rb_err_set(RB_E_INVAL, "capture request %s: not a valid request", r->id_hex);
	rb_time_format(r->created, ts);
	if ((err = rb_hex_encode(r->key_spki_sha256, 32, &fpr)) < 0 ||
	    (err = json_new_object(&root)) < 0 || (err = json_new_object(&key)) < 0 ||
	    (err = json_object_set_string(root, "format", CAPTURE_REQUEST_FORMAT)) < 0 ||
	    (err = json_object_set_int(root, "version", r->version)) < 0 ||
	    (err = json_object_set_string(root, "id", r->id_hex)) < 0 ||
	    (err = json_object_set_string(root, "build_id", r->build_id)) < 0 ||
	    (err = json_object_set_string(key, "name", r->key_name)) < 0 ||
	    (err = json_object_set_string(key, "spki_sha256", fpr)) < 0 ||
	    (err = json_object_set(root, "key", TAKE_PTR(key))) < 0 ||
	    (err = json_object_set_string(root, "mechanism", mname)) < 0 ||
	    (err = json_object_set_string(root, "scheme", rb_sig_scheme_name(r->scheme))) < 0 ||
	    (err = set_b64(root, "input", r->input, r->input_len)) < 0 ||
	    (r->data && (err = set_b64(root, "data", r->data, r->data_len)) < 0) ||
	    (err = set_b64(root, "placeholder", r->placeholder, r->placeholder_len)) < 0 ||
	    (r->tool && (err = json_object_set_string(root, "tool", r->tool)) < 0) ||
	    (err = json_object_set_string(root, "created", ts)) < 0)
		return rb_err_set(err, "capture request %s: cannot build JSON", r->id_hex);
	if ((err = json_emit(root, JSON_CANONICAL, out)) < 0)
		return rb_err_set(err, "capture request %s: cannot write JSON", r->id_hex);
	return RB_OK;
}

/* Exactly 64 lowercase hex digits, decoded into out. */
static int get_hex32(const struct json_value *o, const char *key, uint8_t out[32])
{
	const char *s;
	int err;

	if ((err = json_get_string(o, key, &s)) < 0)
		return err;
	if (rb_hex_decode_lower(s, strlen(s), out, 32) < 0)
		return json_err_set(json_object_get(o, key), RB_E_PARSE,
				    "%s must be 64 lowercase hex digits", key);
	return RB_OK;
}

static int get_b64(const struct json_value *o, const char *key, uint8_t **ret, size_t *ret_len)
{
	const char *s;
	int err;

	if ((err = json_get_string(o, key, &s)) < 0)
		return err;
	if (rb_base64_decode(s, strlen(s), true, ret, ret_len) < 0)
		return json_err_set(json_object_get(o, key), RB_E_PARSE,
				    "%s is not valid padded base64", key);
	return RB_OK;
}

/* Without a manifest, the recorded placeholder itself says how long a
 * signature is; it must still have the shape capture_placeholder() gives. */
static int check_placeholder_shape(const struct json_value *root, enum rb_key_alg alg,
				   const uint8_t *p, size_t n)
{
	const struct json_value *at = json_object_get(root, "placeholder");

	switch (alg) {
	case RB_KEY_RSA:
		if (n < CAPTURE_RSA_MIN_BYTES || n > CAPTURE_RSA_MAX_BYTES)
			return json_err_set(at, RB_E_PARSE, "RSA placeholder of %zu bytes is outside "
					    "%d..%d bytes", n, CAPTURE_RSA_MIN_BYTES, CAPTURE_RSA_MAX_BYTES);
		if (p[0] == 0 || p[0] >= 0x40)
			return json_err_set(at, RB_E_VERIFY, "RSA placeholder top byte 0x%02x is not "
					    "in 0x01..0x3f", p[0]);
		return RB_OK;
	case RB_KEY_EC_P256:
		if (n != 64)
			return json_err_set(at, RB_E_PARSE, "ECDSA placeholder is %zu bytes, not 64", n);
		if (!capture_ecdsa_sig_fits(p))
			return json_err_set(at, RB_E_VERIFY, "ECDSA placeholder does not have "
					    "the 70-byte DER shape");
		return RB_OK;
	case RB_KEY_ED25519:
		if (n != 64)
			return json_err_set(at, RB_E_PARSE, "Ed25519 placeholder is %zu bytes, not 64", n);
		return RB_OK;
	}
	return json_err_set(at, RB_E_PARSE, "unknown key algorithm");
}

static int parse_tree(const struct json_value *root, const struct manifest *m,
		      struct capture_request **ret)
{
	static const char *const required[] = { "format", "version", "id", "build_id", "key",
						"mechanism", "scheme", "input", "placeholder",
						"created", NULL };
	static const char *const optional_v1[] = { "tool", NULL };
	static const char *const optional_v2[] = { "tool", "data", NULL };
	static const char *const key_required[] = { "name", "spki_sha256", NULL };
	_cleanup_(capture_request_freep) struct capture_request *r = NULL;
	_cleanup_free_ uint8_t *input = NULL, *placeholder = NULL, *data = NULL;
	struct capture_request_fields f = { 0 };
	bool have_data = false;
	const struct json_value *key;
	const char *s, *build_id, *key_name, *tool = NULL;
	uint8_t id[CAPTURE_ID_LEN], fpr[32];
	size_t input_len, placeholder_len, want_len, data_len = 0;
	enum capture_mech mech;
	enum rb_sig_scheme scheme;
	enum rb_key_alg alg;
	int64_t version, created;
	int err;

	if ((err = json_get_string(root, "format", &s)) < 0)
		return err;
	if (strcmp(s, CAPTURE_REQUEST_FORMAT) != 0)
		return json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				    "format is \"%.40s\", expected \"" CAPTURE_REQUEST_FORMAT "\"", s);
	if ((err = json_get_int(root, "version", &version)) < 0)
		return err;
	if (version < CAPTURE_REQUEST_VERSION_MIN || version > CAPTURE_REQUEST_VERSION)
		return json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				    "version %lld is not supported (this rombsr reads versions %d to %d); "
				    "use the same rombsr release on build and sign nodes",
				    (long long)version, CAPTURE_REQUEST_VERSION_MIN, CAPTURE_REQUEST_VERSION);
	/* Unknown fields are refused; "data" is one only from version 2 on. */
	if ((err = json_object_check_keys(root, required, version == 1 ? optional_v1 : optional_v2)) < 0)
		return err;
	if ((err = get_hex32(root, "id", id)) < 0 ||
	    (err = json_get_string(root, "build_id", &build_id)) < 0)
		return err;
	if (!capture_build_id_valid(build_id))
		return json_err_set(json_object_get(root, "build_id"), RB_E_PARSE,
				    "build_id must be 1-%d characters of [A-Za-z0-9._-], not starting "
				    "with '.' or '-'", CAPTURE_BUILD_ID_MAX);
	if ((err = json_get_object(root, "key", &key)) < 0 ||
	    (err = json_object_check_keys(key, key_required, NULL)) < 0 ||
	    (err = json_get_string(key, "name", &key_name)) < 0)
		return err;
	if (!key_name_valid(key_name))
		return json_err_set(json_object_get(key, "name"), RB_E_PARSE, "invalid key name");
	if ((err = get_hex32(key, "spki_sha256", fpr)) < 0 ||
	    (err = json_get_string(root, "mechanism", &s)) < 0)
		return err;
	if (capture_mech_from_name(s, &mech) < 0)
		return json_err_set(json_object_get(root, "mechanism"), RB_E_PARSE,
				    "unknown mechanism \"%.40s\"", s);
	if ((err = json_get_string(root, "scheme", &s)) < 0)
		return err;
	if (rb_sig_scheme_from_name(s, &scheme) < 0)
		return json_err_set(json_object_get(root, "scheme"), RB_E_PARSE,
				    "unknown scheme \"%.40s\"", s);
	if (!capture_mech_scheme_valid(mech, scheme, (int)version))
		return json_err_set(json_object_get(root, "scheme"), RB_E_PARSE,
				    "%s cannot produce a %s signature", capture_mech_name(mech),
				    rb_sig_scheme_name(scheme));
	alg = capture_scheme_alg(scheme);
	if ((err = get_b64(root, "input", &input, &input_len)) < 0)
		return err;
	if ((err = capture_check_input(scheme, input_len, "input")) < 0)
		return json_err_set(json_object_get(root, "input"), err == RB_E_INVAL ? RB_E_PARSE : err,
				    "%s", rb_err_message(err));
	if ((err = get_b64(root, "placeholder", &placeholder, &placeholder_len)) < 0)
		return err;
	if (json_object_get(root, "data")) {
		if (!capture_mech_hashes(mech))
			return json_err_set(json_object_get(root, "data"), RB_E_PARSE,
					    "%s passes a digest: a request for it carries no data",
					    capture_mech_name(mech));
		if ((err = get_b64(root, "data", &data, &data_len)) < 0)
			return err;
		have_data = true;
	}
	err = json_get_string_opt(root, "tool", &tool);
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if (err == RB_OK && !capture_tool_valid(tool))
		return json_err_set(json_object_get(root, "tool"), RB_E_PARSE,
				    "tool must be 1-%d printable ASCII characters", CAPTURE_TOOL_MAX);
	if ((err = json_get_string(root, "created", &s)) < 0)
		return err;
	if (rb_time_parse(s, &created) < 0 || created < 0 || created > CAPTURE_TIME_MAX)
		return json_err_set(json_object_get(root, "created"), RB_E_PARSE,
				    "created must look like 2026-01-31T12:00:00Z");

	if (m) {
		const struct manifest_key *k = manifest_find(m, key_name);

		if (!k)
			return json_err_set(key, RB_E_KEY, "key \"%s\" is not in the manifest; the "
					    "build node used a different manifest", key_name);
		if (memcmp(k->spki_sha256, fpr, 32) != 0)
			return json_err_set(key, RB_E_VERIFY, "key \"%s\": spki_sha256 does not match "
					    "the manifest's fingerprint for this key", key_name);
		if (k->status != KEY_ACTIVE)
			return json_err_set(key, RB_E_PERM, "key \"%s\" is %s and may not sign",
					    key_name, key_status_name(k->status));
		if (k->alg != alg)
			return json_err_set(json_object_get(root, "scheme"), RB_E_PARSE,
					    "key \"%s\" is %s and cannot sign with %s", key_name,
					    rb_key_alg_name(k->alg), rb_sig_scheme_name(scheme));
		if ((err = capture_placeholder_len(k, &want_len)) < 0)
			return err;
		if (placeholder_len != want_len)
			return json_err_set(json_object_get(root, "placeholder"), RB_E_VERIFY,
					    "placeholder is %zu bytes; key \"%s\" makes %zu-byte "
					    "signatures", placeholder_len, key_name, want_len);
	} else {
		if ((err = check_placeholder_shape(root, alg, placeholder, placeholder_len)) < 0)
			return err;
		want_len = placeholder_len;
	}

	f = (struct capture_request_fields){ (int)version, build_id, mech, scheme, input, input_len,
					     have_data ? (data ? data : (const uint8_t *)"") : NULL, data_len };
	if ((err = capture_request_build(&f, key_name, fpr, want_len, tool, created, &r)) < 0)
		return json_err_set(have_data && err != RB_E_INVAL ? json_object_get(root, "data") : root,
				    err == RB_E_INVAL ? RB_E_PARSE : err, "%s", rb_err_message(err));
	if (memcmp(r->id, id, CAPTURE_ID_LEN) != 0)
		return json_err_set(json_object_get(root, "id"), RB_E_VERIFY,
				    "id does not match the request's content (expected %s); the "
				    "request was altered", r->id_hex);
	if (memcmp(r->placeholder, placeholder, placeholder_len) != 0)
		return json_err_set(json_object_get(root, "placeholder"), RB_E_VERIFY,
				    "placeholder does not match the one derived from the id; the "
				    "request was altered");
	*ret = TAKE_PTR(r);
	return RB_OK;
}

int capture_request_parse(const char *text, size_t len, const char *source,
			  const struct manifest *m, struct capture_request **ret)
{
	const struct json_limits lim = {
		.max_input = CAPTURE_REQUEST_MAX_BYTES,
		.max_string = CAPTURE_REQUEST_MAX_BYTES,
		.max_items = 16,
		.max_values = 64,
		.max_depth = 3,
	};
	_cleanup_json_ struct json_value *root = NULL;
	char detail[RB_ERR_DETAIL_MAX];
	int err;

	if (!source)
		source = "(unnamed)";
	if (!ret || (!text && len > 0))
		return rb_err_set(RB_E_INVAL, "capture request %s: missing argument", source);
	if (len > CAPTURE_REQUEST_MAX_BYTES) {
		err = rb_err_set(RB_E_TOOBIG, "%zu bytes exceeds the limit of %d bytes", len,
				 CAPTURE_REQUEST_MAX_BYTES);
		goto bad;
	}
	if ((err = json_parse(text ? text : "", len, &lim, &root)) < 0 ||
	    (err = json_expect_type(root, JSON_OBJECT)) < 0 ||
	    (err = parse_tree(root, m, ret)) < 0)
		goto bad;
	return RB_OK;
bad:
	rb_err_save(err, detail);
	return rb_err_set(err, "capture request %s: %s", source, detail);
}
