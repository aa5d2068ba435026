/* Signing requests: construction, the content-derived id, and freeing. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "request/capture-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"
#include "util/encode.h"

/* The id's domain string names the format version (see "Request id"). */
#define ID_DOMAIN_V1 "rombsr-capture-request-id v1"
#define ID_DOMAIN_V2 "rombsr-capture-request-id v2"

void capture_request_free(struct capture_request *r)
{
	if (!r)
		return;
	free(r->build_id);
	free(r->key_name);
	free(r->input);
	free(r->data);
	free(r->placeholder);
	free(r->tool);
	free(r);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct capture_request *, capture_request_free)

bool capture_build_id_valid(const char *build_id)
{
	size_t n;

	if (!build_id)
		return false;
	n = strlen(build_id);
	if (n == 0 || n > CAPTURE_BUILD_ID_MAX || build_id[0] == '.' || build_id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = build_id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool capture_tool_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > CAPTURE_TOOL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* Printable ASCII only, at most CAPTURE_TOOL_MAX bytes; NULL for nothing. */
static int tool_sanitize(const char *tool, char **ret)
{
	size_t n;
	char *s;

	*ret = NULL;
	if (!tool || !*tool)
		return RB_OK;
	n = strnlen(tool, CAPTURE_TOOL_MAX);
	s = malloc(n + 1);
	if (!s)
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tool[i];

		s[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
	}
	s[n] = '\0';
	*ret = s;
	return RB_OK;
}

static int put_lp(struct rb_buf *b, const void *p, size_t n)
{
	int err;

	if (n > UINT32_MAX)
		return RB_E_TOOBIG;
	if ((err = rb_buf_put_u32be(b, (uint32_t)n)) < 0)
		return err;
	return rb_buf_put(b, p, n);
}

int capture_request_compute_id(const struct capture_request_fields *f, const uint8_t spki_sha256[32],
			       uint8_t ret[CAPTURE_ID_LEN])
{
	const char *sname = rb_sig_scheme_name(f->scheme);
	const char *domain = f->version == 1 ? ID_DOMAIN_V1 : ID_DOMAIN_V2;
	struct rb_buf b = RB_BUF_INIT;
	size_t n;
	int err;

	b.cap = CAPTURE_REQUEST_MAX_BYTES;
	if ((err = put_lp(&b, domain, strlen(domain))) < 0 ||
	    (err = rb_buf_put_u32be(&b, (uint32_t)f->version)) < 0 ||
	    (err = put_lp(&b, f->build_id, strlen(f->build_id))) < 0 ||
	    (err = put_lp(&b, spki_sha256, 32)) < 0 ||
	    (err = rb_buf_put_u32be(&b, (uint32_t)f->mech)) < 0 ||
	    (err = put_lp(&b, sname, strlen(sname))) < 0 ||
	    (err = put_lp(&b, f->input, f->input_len)) < 0)
		goto out;
	/* Version 2: whether data is kept, and the data. */
	if (f->version >= 2 && ((err = rb_buf_put_u8(&b, f->data ? 1 : 0)) < 0 ||
				(f->data && (err = put_lp(&b, f->data, f->data_len)) < 0)))
		goto out;
	if ((err = rb_digest(EVP_sha256(), b.data, b.len, ret, &n)) < 0)
		err = rb_err_set(err, "request id: SHA-256 failed");
out:
	rb_buf_free(&b);
	return err;
}

int capture_placeholder_len(const struct manifest_key *key, size_t *ret)
{
	switch (key->alg) {
	case RB_KEY_RSA: {
		size_t n = (key->bits + 7) / 8;

		if (key->pub && EVP_PKEY_get_size(key->pub) > 0)
			n = (size_t)EVP_PKEY_get_size(key->pub);
		if (n < CAPTURE_RSA_MIN_BYTES || n > CAPTURE_RSA_MAX_BYTES)
			return rb_err_set(RB_E_UNSUPPORTED,
					  "key \"%s\": RSA modulus of %zu bytes is outside the "
					  "supported %d..%d bytes",
					  key->name, n, CAPTURE_RSA_MIN_BYTES, CAPTURE_RSA_MAX_BYTES);
		*ret = n;
		return RB_OK;
	}
	case RB_KEY_EC_P256:
	case RB_KEY_ED25519:
		*ret = 64;
		return RB_OK;
	}
	return rb_err_set(RB_E_UNSUPPORTED, "key \"%s\": unknown algorithm", key->name);
}

/* Version 2 data: only for a mechanism that hashes, bounded, and its hash
 * under the scheme is the input. */
static int check_data(const struct capture_request_fields *f, const char *mname)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	size_t n;
	int err;

	if (!f->data)
		return RB_OK;
	if (f->version < 2 || !capture_mech_hashes(f->mech))
		return rb_err_set(RB_E_INVAL, "%s: the tool passes a digest, so a request of version %d carries "
				  "no data", mname, f->version);
	if (f->data_len > CAPTURE_DATA_MAX)
		return rb_err_set(RB_E_TOOBIG, "%s: data of %zu bytes exceeds the %d bytes a request keeps",
				  mname, f->data_len, CAPTURE_DATA_MAX);
	if ((err = rb_digest(rb_sig_scheme_md(f->scheme), f->data, f->data_len, d, &n)) < 0)
		return rb_err_set(err, "%s: cannot hash the data", mname);
	if (n != f->input_len || memcmp(d, f->input, n) != 0)
		return rb_err_set(RB_E_VERIFY, "%s: the data does not hash to the input: the request was "
				  "altered", mname);
	return RB_OK;
}

static uint8_t *copy_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (c && n)
		memcpy(c, p, n);
	return c;
}

int capture_request_build(const struct capture_request_fields *f, const char *key_name,
			  const uint8_t spki_sha256[32], size_t placeholder_len, const char *tool,
			  int64_t created, struct capture_request **ret)
{
	_cleanup_(capture_request_freep) struct capture_request *r = NULL;
	const char *mname = capture_mech_name(f->mech);
	int err;

	if (f->version < CAPTURE_REQUEST_VERSION_MIN || f->version > CAPTURE_REQUEST_VERSION)
		return rb_err_set(RB_E_UNSUPPORTED, "capture request version %d is not supported", f->version);
	if (!capture_build_id_valid(f->build_id))
		return rb_err_set(RB_E_INVAL,
				  "build id \"%.*s\" is invalid: use 1-%d characters of [A-Za-z0-9._-], "
				  "not starting with '.' or '-'",
				  f->build_id ? CAPTURE_BUILD_ID_MAX : 0, f->build_id ? f->build_id : "",
				  CAPTURE_BUILD_ID_MAX);
	if (!key_name || !spki_sha256)
		return rb_err_set(RB_E_INVAL, "capture request: missing key");
	if (!mname)
		return rb_err_set(RB_E_UNSUPPORTED, "mechanism 0x%08x is not supported by capture",
				  (unsigned)f->mech);
	if (!capture_mech_scheme_valid(f->mech, f->scheme, f->version))
		return rb_err_set(RB_E_INVAL, "%s cannot produce a %s signature in a version %d request", mname,
				  rb_sig_scheme_name(f->scheme), f->version);
	if (!f->input && f->input_len > 0)
		return rb_err_set(RB_E_INVAL, "%s: no input", mname);
	if ((err = capture_check_input(f->scheme, f->input_len, mname)) < 0 || (err = check_data(f, mname)) < 0)
		return err;
	if (created < 0 || created > CAPTURE_TIME_MAX)
		return rb_err_set(RB_E_INVAL, "request creation time %lld is out of range",
				  (long long)created);

	r = calloc(1, sizeof(*r));
	if (!r)
		return RB_E_NOMEM;
	r->version = f->version;
	r->mechanism = f->mech;
	r->scheme = f->scheme;
	r->created = created;
	memcpy(r->key_spki_sha256, spki_sha256, 32);
	r->build_id = strdup(f->build_id);
	r->key_name = strdup(key_name);
	r->input = copy_bytes(f->input, f->input_len);
	r->placeholder = malloc(placeholder_len ? placeholder_len : 1);
	if (!r->build_id || !r->key_name || !r->input || !r->placeholder ||
	    (f->data && !(r->data = copy_bytes(f->data, f->data_len))))
		return RB_E_NOMEM;
	r->input_len = f->input_len;
	r->data_len = f->data ? f->data_len : 0;
	r->placeholder_len = placeholder_len;
	if ((err = tool_sanitize(tool, &r->tool)) < 0)
		return err;
	if ((err = capture_request_compute_id(f, spki_sha256, r->id)) < 0)
		return err;
	rb_hex_format(r->id, CAPTURE_ID_LEN, r->id_hex);
	if ((err = capture_placeholder(r->id, capture_scheme_alg(f->scheme), placeholder_len,
				       r->placeholder)) < 0)
		return err;
	*ret = TAKE_PTR(r);
	return RB_OK;
}

int capture_request_new_data(const char *build_id, const struct manifest_key *key,
			     enum capture_mech mechanism, enum rb_sig_scheme scheme,
			     const uint8_t *input, size_t input_len, const uint8_t *data,
			     size_t data_len, const char *tool, int64_t created,
			     struct capture_request **ret)
{
	const struct capture_request_fields f = { CAPTURE_REQUEST_VERSION, build_id, mechanism, scheme,
						  input, input_len, data, data_len };
	size_t plen;
	int err;

	if (!key || !key->name || !ret)
		return rb_err_set(RB_E_INVAL, "capture request: missing key or result");
	if (key->status != KEY_ACTIVE)
		return rb_err_set(RB_E_PERM,
				  "key \"%s\" is %s in the manifest and may not sign; use an active "
				  "key (rombsr keys list)",
				  key->name, key_status_name(key->status));
	if (!rb_sig_scheme_fits(scheme, key->alg))
		return rb_err_set(RB_E_UNSUPPORTED,
				  "key \"%s\" is %s and cannot sign with %s; configure the tool for "
				  "a matching algorithm",
				  key->name, rb_key_alg_name(key->alg), rb_sig_scheme_name(scheme));
	if ((err = capture_placeholder_len(key, &plen)) < 0)
		return err;
	return capture_request_build(&f, key->name, key->spki_sha256, plen, tool, created, ret);
}

int capture_request_new(const char *build_id, const struct manifest_key *key,
			enum capture_mech mechanism, enum rb_sig_scheme scheme,
			const uint8_t *input, size_t input_len, const char *tool, int64_t created,
			struct capture_request **ret)
{
	return capture_request_new_data(build_id, key, mechanism, scheme, input, input_len, NULL, 0, tool,
					created, ret);
}

bool capture_request_signed_data(const struct capture_request *r, const uint8_t **ret, size_t *ret_len)
{
	if (r->data) {
		*ret = r->data;
		*ret_len = r->data_len;
		return true;
	}
	if (r->scheme == RB_SIG_ED25519) {
		*ret = r->input;
		*ret_len = r->input_len;
		return true;
	}
	return false;
}
