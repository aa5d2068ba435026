/* The ceremony transcript (docs/formats/ceremony-transcript.md): what was
 * done, to which shares and tokens, under which fingerprint - never a
 * secret - and its record in the audit log. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "admin/lifecycle.h"
#include "audit/entry.h"
#include "audit/log.h"
#include "ceremony/ceremony.h"
#include "crypto/signer.h"
#include "json/json.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

static const char *operation_name(enum ceremony_operation op)
{
	switch (op) {
	case CEREMONY_INIT: return "init";
	case CEREMONY_RESTORE: return "restore";
	case CEREMONY_VERIFY: return "verify";
	}
	return NULL;
}

static int set_opt_string(struct json_value *o, const char *key, const char *s)
{
	struct json_value *v = NULL;
	int err;

	if (s)
		return json_object_set_string(o, key, s);
	if ((err = json_new_null(&v)) < 0)
		return err;
	return json_object_set(o, key, v);
}

static int emit_scheme(const struct ceremony_transcript *t, struct json_value *root)
{
	_cleanup_json_ struct json_value *scheme = NULL, *groups = NULL;
	int err;

	if ((err = json_new_object(&scheme)) < 0 || (err = json_new_array(&groups)) < 0)
		return err;
	for (size_t i = 0; i < t->scheme.n_groups; i++) {
		_cleanup_json_ struct json_value *g = NULL;

		if ((err = json_new_object(&g)) < 0 ||
		    (err = json_object_set_int(g, "member_threshold", t->scheme.groups[i].threshold)) < 0 ||
		    (err = json_object_set_int(g, "member_count", t->scheme.groups[i].count)) < 0 ||
		    (err = json_array_append(groups, TAKE_PTR(g))) < 0)
			return err;
	}
	if ((err = json_object_set_string(scheme, "type", "slip39")) < 0 ||
	    (err = json_object_set_int(scheme, "identifier", t->identifier)) < 0 ||
	    (err = json_object_set_int(scheme, "iteration_exponent", t->scheme.iteration_exponent)) < 0 ||
	    (err = json_object_set_bool(scheme, "extendable", t->scheme.extendable)) < 0 ||
	    (err = json_object_set_bool(scheme, "passphrase", t->passphrase)) < 0 ||
	    (err = json_object_set_int(scheme, "group_threshold", t->scheme.group_threshold)) < 0 ||
	    (err = json_object_set(scheme, "groups", TAKE_PTR(groups))) < 0)
		return err;
	return json_object_set(root, "scheme", TAKE_PTR(scheme));
}

static int emit_shares(const struct ceremony_transcript *t, struct json_value *root)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < t->n_shares; i++) {
		const struct ceremony_share_record *r = &t->shares[i];
		_cleanup_json_ struct json_value *o = NULL;

		if ((err = json_new_object(&o)) < 0 ||
		    (err = json_object_set_int(o, "group", r->group_index + 1)) < 0 ||
		    (err = json_object_set_int(o, "member", r->member_index + 1)) < 0 ||
		    (err = set_opt_string(o, "custodian", r->custodian)) < 0 ||
		    (err = set_opt_string(o, "recipient", r->recipient)) < 0 ||
		    (err = set_opt_string(o, "file", r->file)) < 0 ||
		    (err = json_array_append(arr, TAKE_PTR(o))) < 0)
			return err;
	}
	return json_object_set(root, "shares", TAKE_PTR(arr));
}

static int emit_tokens(const struct ceremony_transcript *t, struct json_value *root)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < t->n_tokens; i++) {
		_cleanup_json_ struct json_value *o = NULL;

		if ((err = json_new_object(&o)) < 0 ||
		    (err = json_object_set_string(o, "label", t->tokens[i].label ? t->tokens[i].label : "")) < 0 ||
		    (err = json_object_set_string(o, "serial", t->tokens[i].serial ? t->tokens[i].serial : "")) < 0 ||
		    (err = json_object_set_string(o, "model", t->tokens[i].model ? t->tokens[i].model : "")) < 0 ||
		    (err = json_array_append(arr, TAKE_PTR(o))) < 0)
			return err;
	}
	return json_object_set(root, "tokens", TAKE_PTR(arr));
}

int ceremony_transcript_emit(const struct ceremony_transcript *t, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_free_ char *fpr = NULL;
	char when[RB_TIME_LEN + 1];
	const char *op = t ? operation_name(t->operation) : NULL;
	int err;

	if (!op)
		return rb_err_set(RB_E_INVAL, "ceremony transcript: unknown operation");
	if (t->n_shares > CEREMONY_MAX_SHARES || t->n_tokens > 64)
		return rb_err_set(RB_E_INVAL, "ceremony transcript: %zu shares, %zu tokens", t->n_shares, t->n_tokens);
	rb_time_format(t->time, when);
	if ((err = rb_hex_encode(t->fingerprint, P11_WRAP_FPR_LEN, &fpr)) < 0 ||
	    (err = json_new_object(&root)) < 0 ||
	    (err = json_object_set_string(root, "format", CEREMONY_FORMAT)) < 0 ||
	    (err = json_object_set_int(root, "version", CEREMONY_VERSION)) < 0 ||
	    (err = json_object_set_string(root, "operation", op)) < 0 ||
	    (err = json_object_set_string(root, "time", when)) < 0 ||
	    (err = json_object_set_string(root, "wrap_key_fingerprint", fpr)) < 0 ||
	    (err = json_object_set_int(root, "subsets_checked", (int64_t)t->subsets_checked)) < 0 ||
	    (err = emit_scheme(t, root)) < 0 || (err = emit_shares(t, root)) < 0 ||
	    (err = emit_tokens(t, root)) < 0 || (err = json_emit(root, JSON_CANONICAL, out)) < 0)
		return err;
	return rb_buf_put(out, "\n", 1);
}

int ceremony_transcript_audit(const char *dir, const char *token_label, const char *actor,
			      const struct ceremony_transcript *t, const uint8_t *transcript, size_t len,
			      const struct rb_signer *audit_key, uint64_t *ret_index)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_json_ struct json_value *entry = NULL;
	_cleanup_free_ char *hex = NULL, *cp = NULL;
	const struct json_value *entries[1];
	uint8_t digest[32];
	char detail[160];
	size_t dlen = 0;
	uint64_t index;
	int err;

	if (!dir || !token_label || !actor || !t || !transcript || !operation_name(t->operation))
		return rb_err_set(RB_E_INVAL, "ceremony_transcript_audit: missing argument");
	if ((err = rb_digest(EVP_sha256(), transcript, len, digest, &dlen)) < 0 ||
	    (err = rb_hex_encode(digest, sizeof(digest), &hex)) < 0)
		return err;
	snprintf(detail, sizeof(detail), "ceremony %s transcript sha256:%s", operation_name(t->operation), hex);
	{
		struct audit_key_info info = {
			.time = t->time,
			.actor = actor,
			.key_name = P11_WRAP_KEY_LABEL,
			.key_fpr = t->fingerprint,
			.detail = detail,
		};

		if ((err = audit_entry_key(AUDIT_IMPORT, &info, &entry)) < 0)
			return err;
	}
	entries[0] = entry;
	if ((err = key_lifecycle_audit_open(dir, token_label, &log)) < 0 ||
	    (err = audit_log_append_batch(log, entries, 1, &index)) < 0)
		return err;
	if (audit_key && (err = audit_log_checkpoint(log, audit_key, &cp)) < 0)
		return err;
	if (ret_index)
		*ret_index = index;
	return RB_OK;
}
