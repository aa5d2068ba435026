/* age_decrypt: armor, header, unwrap with the identities or passphrase,
 * header MAC, payload. The file key never leaves secret memory, and no
 * plaintext is returned unless every chunk authenticated. */
#include "age/age-internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct age_header *, age_header_free);

static _Thread_local enum age_failure last_failure;

enum age_failure age_last_failure(void)
{
	return last_failure;
}

const char *age_failure_name(enum age_failure f)
{
	switch (f) {
	case AGE_FAIL_NONE:
		return "success";
	case AGE_FAIL_NO_MATCH:
		return "no match";
	case AGE_FAIL_HEADER:
		return "header failure";
	case AGE_FAIL_HMAC:
		return "HMAC failure";
	case AGE_FAIL_PAYLOAD:
		return "payload failure";
	case AGE_FAIL_ARMOR:
		return "armor failure";
	case AGE_FAIL_OTHER:
		break;
	}
	return "other failure";
}

int age_fail(enum age_failure f, int err)
{
	last_failure = f;
	return err;
}

/* What decrypt_open leaves for the payload step. */
struct opened {
	uint8_t *binary; /* de-armored input, or NULL */
	const uint8_t *payload;
	size_t payload_len;
	struct rb_secret *file_key;
};

static void opened_clear(struct opened *o)
{
	free(o->binary);
	rb_secret_free(o->file_key);
	memset(o, 0, sizeof(*o));
}

static int decrypt_unwrap(const struct age_header *h, const struct age_decrypt_opts *opts,
			  uint8_t *file_key)
{
	struct age_identity *ids = NULL;
	size_t nids = 0, i, s;
	unsigned max_log_n = opts->scrypt_max_log_n ? opts->scrypt_max_log_n
						    : AGE_SCRYPT_DEFAULT_MAX_LOG_N;
	int e = RB_E_KEY;

	if (max_log_n > AGE_SCRYPT_MAX_LOG_N)
		max_log_n = AGE_SCRYPT_MAX_LOG_N;
	for (i = 0; i < opts->n_identities; i++) {
		e = age_identities_parse(opts->identities[i], &ids, &nids);
		if (e < 0) {
			age_identities_free(ids, nids);
			return age_fail(AGE_FAIL_OTHER, rb_err_set(e == RB_E_UNSUPPORTED ? e : RB_E_INVAL,
							      "identity %zu: %s", i + 1, rb_err_message(e)));
		}
	}
	e = RB_E_KEY;
	for (i = 0; i < nids && e == RB_E_KEY; i++)
		for (s = 0; s < h->n && e == RB_E_KEY; s++)
			e = age_identity_unwrap(&ids[i], &h->stanzas[s], file_key);
	for (s = 0; opts->passphrase && s < h->n && e == RB_E_KEY; s++)
		e = age_scrypt_unwrap(opts->passphrase, max_log_n, &h->stanzas[s], file_key);
	age_identities_free(ids, nids);
	if (e == RB_E_KEY)
		return age_fail(AGE_FAIL_NO_MATCH,
				rb_err_set(RB_E_KEY, "age: no identity%s opens this file",
					   opts->passphrase ? " or passphrase" : ""));
	if (e == RB_E_PARSE)
		return age_fail(AGE_FAIL_HEADER, e);
	if (e < 0)
		return age_fail(AGE_FAIL_OTHER, e);
	return RB_OK;
}

static int decrypt_open(const uint8_t *in, size_t len, const struct age_decrypt_opts *opts,
			struct opened *ret)
{
	_cleanup_(age_header_freep) struct age_header *h = NULL;
	struct opened o = { 0 };
	uint8_t mac[AGE_MAC_LEN];
	size_t i, blen;
	int e;

	last_failure = AGE_FAIL_OTHER;
	if ((!in && len) || !opts || (opts->n_identities && !opts->identities))
		return rb_err_set(RB_E_INVAL, "age_decrypt: NULL argument");
	if (len > AGE_MAX_INPUT)
		return rb_err_set(RB_E_TOOBIG, "age file: %zu bytes, over the %u-byte cap", len,
				  AGE_MAX_INPUT);
	if (opts->armored || age_armor_detect(in, len)) {
		e = age_armor_decode(in, len, &o.binary, &blen);
		if (e < 0)
			return age_fail(e == RB_E_NOMEM ? AGE_FAIL_OTHER : AGE_FAIL_ARMOR, e);
		in = o.binary;
		len = blen;
	}
	e = age_header_parse(in, len, &h);
	if (e < 0)
		goto fail_header;
	/* a passphrase file must not also open with a key: scrypt is alone */
	for (i = 0; i < h->n; i++)
		if (strcmp(h->stanzas[i].args[0], "scrypt") == 0 && h->n != 1) {
			e = rb_err_set(RB_E_PARSE, "age header: an scrypt stanza must be the only stanza");
			goto fail_header;
		}
	if (len - h->len < AGE_NONCE_LEN) {
		e = rb_err_set(RB_E_PARSE, "age file: truncated before the payload nonce");
		goto fail_header;
	}
	e = rb_secret_new(AGE_FILE_KEY_LEN, &o.file_key);
	if (e < 0)
		goto fail;
	e = decrypt_unwrap(h, opts, o.file_key->data);
	if (e < 0)
		goto fail;
	o.file_key->len = AGE_FILE_KEY_LEN;
	e = age_header_mac(o.file_key->data, in, h->mac_covered, mac);
	if (e < 0)
		goto fail;
	if (!rb_ct_equal(mac, sizeof(mac), h->mac, sizeof(h->mac))) {
		e = age_fail(AGE_FAIL_HMAC,
			     rb_err_set(RB_E_VERIFY, "age header: MAC does not verify (header was modified)"));
		goto fail;
	}
	o.payload = in + h->len;
	o.payload_len = len - h->len;
	*ret = o;
	return RB_OK;
fail_header:
	if (e == RB_E_PARSE || e == RB_E_TOOBIG)
		e = age_fail(AGE_FAIL_HEADER, RB_E_PARSE);
fail:
	opened_clear(&o);
	return e;
}

static size_t payload_bound(size_t payload_len)
{
	/* nonce plus at least one tag */
	return payload_len >= AGE_NONCE_LEN + AGE_TAG_LEN ? payload_len - AGE_NONCE_LEN - AGE_TAG_LEN : 0;
}

static int decrypt_payload(struct opened *o, uint8_t *out, size_t cap, size_t *ret_len)
{
	int e = age_stream_open(o->file_key->data, o->payload, o->payload_len, out, cap, ret_len);

	if (e == RB_E_CRYPTO)
		return age_fail(AGE_FAIL_PAYLOAD, e);
	if (e < 0)
		return age_fail(AGE_FAIL_OTHER, e);
	last_failure = AGE_FAIL_NONE;
	return RB_OK;
}

int age_decrypt(const uint8_t *in, size_t len, const struct age_decrypt_opts *opts, uint8_t **ret,
		size_t *ret_len)
{
	struct opened o = { 0 };
	uint8_t *out;
	size_t cap, n = 0;
	int e;

	if (!ret || !ret_len)
		return rb_err_set(RB_E_INVAL, "age_decrypt: NULL argument");
	e = decrypt_open(in, len, opts, &o);
	if (e < 0)
		return e;
	cap = payload_bound(o.payload_len);
	if (cap > AGE_MAX_PLAINTEXT)
		cap = AGE_MAX_PLAINTEXT;
	out = malloc(cap + 1);
	if (!out) {
		opened_clear(&o);
		return age_fail(AGE_FAIL_OTHER, RB_E_NOMEM);
	}
	e = decrypt_payload(&o, out, cap, &n);
	opened_clear(&o);
	if (e < 0) {
		free(out);
		return e;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return RB_OK;
}

int age_decrypt_secret(const uint8_t *in, size_t len, const struct age_decrypt_opts *opts,
		       struct rb_secret **ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *out = NULL;
	struct opened o = { 0 };
	size_t cap, n = 0;
	int e;

	if (!ret)
		return rb_err_set(RB_E_INVAL, "age_decrypt_secret: NULL argument");
	e = decrypt_open(in, len, opts, &o);
	if (e < 0)
		return e;
	cap = payload_bound(o.payload_len);
	if (cap > AGE_MAX_SECRET_PLAINTEXT)
		cap = AGE_MAX_SECRET_PLAINTEXT;
	e = rb_secret_new(cap, &out);
	if (e < 0) {
		opened_clear(&o);
		return age_fail(AGE_FAIL_OTHER, e);
	}
	e = decrypt_payload(&o, out->data, cap, &n);
	opened_clear(&o);
	if (e < 0)
		return e;
	out->len = n;
	out->data[n] = '\0';
	*ret = TAKE_PTR(out);
	return RB_OK;
}
