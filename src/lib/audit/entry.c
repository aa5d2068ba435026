/* Audit entries: builders and the strict reader (docs/formats/audit-entry.md). */
#include <string.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

static const char *const event_names[] = {
	[AUDIT_SIGN] = "sign",
	[AUDIT_REJECT] = "reject",
	[AUDIT_KEYGEN] = "keygen",
	[AUDIT_IMPORT] = "import",
	[AUDIT_UNWRAP] = "unwrap",
	[AUDIT_REVOKE] = "revoke",
	[AUDIT_ROTATE] = "rotate",
	[AUDIT_PROVISION] = "provision",
	[AUDIT_POLICY_CHANGE] = "policy-change",
	[AUDIT_LOGIN_FAILURE] = "login-failure",
	[AUDIT_INTENT] = "intent",
	[AUDIT_HSM_OUTAGE] = "hsm-outage",
};

const char *audit_event_name(enum audit_event e)
{
	if ((size_t)e >= ELEMENTSOF(event_names))
		return NULL;
	return event_names[e];
}

int audit_event_parse(const char *s, enum audit_event *ret)
{
	for (size_t i = 1; i < ELEMENTSOF(event_names); i++)
		if (strcmp(s, event_names[i]) == 0) {
			*ret = (enum audit_event)i;
			return RB_OK;
		}
	return RB_E_NOTFOUND;
}

/* --- the format: audit_keys and audit_key_masks_of (entry_schema.c) ------ */

static int lower_hex(const char *s, size_t min, size_t max)
{
	return audit_lower_hex(s, strlen(s), min, max);
}

static int check_str(const struct json_value *v, const char *key, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AUDIT_FIELD_MAX)
		return json_err_set(v, RB_E_PARSE, "%s: must be 1..%u bytes", key, AUDIT_FIELD_MAX);
	return RB_OK;
}

static int check_field(const struct json_value *v, const struct audit_key_def *f)
{
	const char *s;
	int err;

	if (f->kind == AUDIT_S_LIST) {
		if ((err = json_expect_type(v, JSON_ARRAY)) < 0)
			return err;
		if (json_array_size(v) > AUDIT_APPROVALS_MAX)
			return json_err_set(v, RB_E_PARSE, "%s: more than %u", f->name, AUDIT_APPROVALS_MAX);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if ((err = json_expect_string(json_array_get(v, i), &s)) < 0 ||
			    (err = check_str(json_array_get(v, i), f->name, s)) < 0)
				return err;
		}
		return RB_OK;
	}
	if (f->kind == AUDIT_S_IDLIST) {
		size_t n;

		if ((err = json_expect_type(v, JSON_ARRAY)) < 0)
			return err;
		n = json_array_size(v);
		if (n == 0 || n > AUDIT_INTENT_IDS_MAX)
			return json_err_set(v, RB_E_PARSE, "%s: expected 1..%u request ids", f->name,
					    AUDIT_INTENT_IDS_MAX);
		for (size_t i = 0; i < n; i++) {
			if ((err = json_expect_string(json_array_get(v, i), &s)) < 0)
				return err;
			if (!lower_hex(s, 2, 128))
				return json_err_set(json_array_get(v, i), RB_E_PARSE, "%s: expected 2..128 "
						    "lowercase hex digits", f->name);
		}
		return RB_OK;
	}
	if ((err = json_expect_string(v, &s)) < 0)
		return err;
	switch (f->kind) {
	case AUDIT_S_STR:
		return check_str(v, f->name, s);
	case AUDIT_S_FPR:
		if (!lower_hex(s, 64, 64))
			return json_err_set(v, RB_E_PARSE, "%s: expected 64 lowercase hex digits", f->name);
		return RB_OK;
	case AUDIT_S_NODE:
		if (!lower_hex(s, 2 * AUDIT_NODE_FPR_LEN, 2 * AUDIT_NODE_FPR_LEN))
			return json_err_set(v, RB_E_PARSE, "%s: expected %u lowercase hex digits (an OpenPGP fingerprint)",
					    f->name, 2 * AUDIT_NODE_FPR_LEN);
		return RB_OK;
	case AUDIT_S_ID:
		if (!lower_hex(s, 2, 128))
			return json_err_set(v, RB_E_PARSE, "%s: expected 2..128 lowercase hex digits", f->name);
		return RB_OK;
	case AUDIT_S_DIGEST:
		if (!lower_hex(s, 2, 2 * AUDIT_DIGEST_MAX))
			return json_err_set(v, RB_E_PARSE, "%s: expected lowercase hex of at most %u bytes",
					    f->name, AUDIT_DIGEST_MAX);
		return RB_OK;
	case AUDIT_S_SIG: {
		size_t len;

		if (!rb_base64_check(s, strlen(s), true, &len) || len == 0 || len > AUDIT_SIG_MAX)
			return json_err_set(v, RB_E_PARSE, "%s: expected base64 of 1..%u bytes", f->name,
					    AUDIT_SIG_MAX);
		return RB_OK;
	}
	case AUDIT_S_SCHEME: {
		enum rb_sig_scheme sc;

		if (rb_sig_scheme_from_name(s, &sc) < 0)
			return json_err_set(v, RB_E_PARSE, "%s: unknown signature scheme", f->name);
		return RB_OK;
	}
	default:
		return RB_OK;
	}
}

int audit_entry_check(const struct json_value *e)
{
	const char *s;
	struct audit_key_mask masks;
	uint32_t seen = 0;
	enum audit_event type;
	int64_t version, t;
	int err;

	if ((err = json_expect_type(e, JSON_OBJECT)) < 0)
		return err;
	if ((err = json_get_string(e, "format", &s)) < 0)
		return err;
	if (strcmp(s, AUDIT_ENTRY_FORMAT) != 0)
		return json_err_set(json_object_get(e, "format"), RB_E_PARSE,
				    "format: expected \"" AUDIT_ENTRY_FORMAT "\"");
	if ((err = json_get_int(e, "version", &version)) < 0)
		return err;
	if (version != AUDIT_ENTRY_VERSION)
		return json_err_set(json_object_get(e, "version"), RB_E_UNSUPPORTED,
				    "version %lld: this rombsr reads audit entries of version %d",
				    (long long)version, AUDIT_ENTRY_VERSION);
	if ((err = json_get_string(e, "type", &s)) < 0)
		return err;
	if (audit_event_parse(s, &type) < 0)
		return json_err_set(json_object_get(e, "type"), RB_E_PARSE, "type: unknown event type");
	if ((err = json_get_string(e, "time", &s)) < 0)
		return err;
	if (rb_time_parse(s, &t) < 0)
		return json_err_set(json_object_get(e, "time"), RB_E_PARSE,
				    "time: expected an RFC 3339 UTC time like 2026-11-22T08:30:00Z");
	masks = audit_key_masks_of(type);
	/* One pass over the members: each must be a key of this type. */
	for (size_t i = 0; i < json_object_size(e); i++) {
		const char *key = json_object_key_at(e, i);
		int k = audit_key_lookup((const uint8_t *)key, strlen(key));
		enum audit_key_kind kind;

		if (k < 0 || !(masks.allowed & AUDIT_KEY_BIT(k)))
			return json_err_set(json_object_value_at(e, i), RB_E_PARSE,
					    "unknown key \"%.64s\" in a %s entry", key,
					    audit_event_name(type));
		seen |= AUDIT_KEY_BIT(k);
		kind = audit_keys[k].kind;
		/* format, version, type and time are checked above. */
		if (kind != AUDIT_S_FORMAT && kind != AUDIT_S_VERSION && kind != AUDIT_S_TYPE &&
		    kind != AUDIT_S_TIME && (err = check_field(json_object_value_at(e, i), &audit_keys[k])) < 0)
			return err;
	}
	for (int k = 0; k < AUDIT_KEY_COUNT; k++)
		if (masks.required & ~seen & AUDIT_KEY_BIT(k))
			return json_err_set(e, RB_E_PARSE, "missing key \"%s\" in a %s entry", audit_keys[k].name,
					    audit_event_name(type));
	return RB_OK;
}

int audit_entry_parse(const void *bytes, size_t len, struct json_value **ret,
		      enum audit_event *ret_type)
{
	static const struct json_limits lim = {
		.max_input = AUDIT_ENTRY_MAX,
		.max_string = AUDIT_ENTRY_MAX,
		/* An intent's request ids are the longest array. */
		.max_items = AUDIT_INTENT_IDS_MAX,
		.max_values = AUDIT_INTENT_IDS_MAX + 64,
		.max_depth = 3,
	};
	_cleanup_json_ struct json_value *v = NULL;
	struct rb_buf canon = RB_BUF_INIT;
	enum audit_event type;
	const char *s;
	int err;

	if (len > AUDIT_ENTRY_MAX)
		return rb_err_set(RB_E_TOOBIG, "entry is %zu bytes, more than %u", len, AUDIT_ENTRY_MAX);
	if ((err = json_parse(bytes, len, &lim, &v)) < 0)
		return err;
	if ((err = audit_entry_check(v)) < 0)
		return err;
	/* Only the canonical form is an entry: one meaning, one byte string,
	 * one leaf hash. */
	canon.cap = AUDIT_ENTRY_MAX + 1;
	if ((err = json_emit(v, JSON_CANONICAL, &canon)) < 0)
		return err;
	if (canon.len != len || memcmp(canon.data, bytes, len) != 0) {
		rb_buf_free(&canon);
		return rb_err_set(RB_E_PARSE, "entry is not in canonical JSON form");
	}
	rb_buf_free(&canon);
	if (ret_type) {
		json_get_string(v, "type", &s);
		audit_event_parse(s, &type);
		*ret_type = type;
	}
	*ret = TAKE_PTR(v);
	return RB_OK;
}

/* --- builders ------------------------------------------------------------ */

static int entry_new(enum audit_event type, int64_t time, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	char ts[RB_TIME_LEN + 1];
	int err;

	if (time < 0)
		return rb_err_set(RB_E_INVAL, "audit entry time %lld is before 1970", (long long)time);
	rb_time_format(time, ts);
	if ((err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "format", AUDIT_ENTRY_FORMAT)) < 0 ||
	    (err = json_object_set_int(o, "version", AUDIT_ENTRY_VERSION)) < 0 ||
	    (err = json_object_set_string(o, "type", audit_event_name(type))) < 0 ||
	    (err = json_object_set_string(o, "time", ts)) < 0)
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

static int set_str(struct json_value *o, const char *key, const char *s)
{
	if (!s)
		return rb_err_set(RB_E_INVAL, "audit entry: %s is missing", key);
	return json_object_set_string(o, key, s);
}

/* key: an array of the n strings at ss. */
static int set_str_array(struct json_value *o, const char *key, const char *const *ss, size_t n)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		struct json_value *v;

		if ((err = json_new_string(ss[i], &v)) < 0 || (err = json_array_append(arr, v)) < 0)
			return err;
	}
	return json_object_set(o, key, TAKE_PTR(arr));
}

static int set_hex(struct json_value *o, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *hex = NULL;
	int err;

	if (!p || n == 0)
		return rb_err_set(RB_E_INVAL, "audit entry: %s is missing", key);
	if ((err = rb_hex_encode(p, n, &hex)) < 0)
		return err;
	return json_object_set_string(o, key, hex);
}

/* Every builder ends here: what it built must read back. */
static int entry_finish(struct json_value **o, struct json_value **ret)
{
	int err;

	if ((err = audit_entry_check(*o)) < 0) {
		json_free(*o);
		*o = NULL;
		return err == RB_E_PARSE ? rb_err_prefix(rb_err_recode(err, RB_E_INVAL), "audit entry") : err;
	}
	*ret = TAKE_PTR(*o);
	return RB_OK;
}

int audit_entry_sign(const struct audit_sign_info *in, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	_cleanup_free_ char *sig = NULL;
	const char *scheme = rb_sig_scheme_name(in->scheme);
	int err;

	if (!in->sig || in->sig_len == 0 || in->sig_len > AUDIT_SIG_MAX)
		return rb_err_set(RB_E_INVAL, "audit entry: signature of %zu bytes (1..%u)", in->sig_len,
				  AUDIT_SIG_MAX);
	if (in->digest_len > AUDIT_DIGEST_MAX || in->n_approvals > AUDIT_APPROVALS_MAX)
		return rb_err_set(RB_E_INVAL, "audit entry: digest over %u bytes or more than %u "
				  "approvals", AUDIT_DIGEST_MAX, AUDIT_APPROVALS_MAX);
	if ((err = entry_new(AUDIT_SIGN, in->time, &o)) < 0 ||
	    (err = set_str(o, "request_id", in->request_id)) < 0 ||
	    (err = set_str(o, "build_id", in->build_id)) < 0 ||
	    (err = set_hex(o, "node", in->node_fpr, AUDIT_NODE_FPR_LEN)) < 0 ||
	    (err = set_str(o, "key", in->key_name)) < 0 ||
	    (err = set_hex(o, "key_fingerprint", in->key_fpr, 32)) < 0 ||
	    (err = set_str(o, "scheme", scheme)) < 0 ||
	    (err = set_str(o, "artifact", in->artifact_name)) < 0 ||
	    (err = set_hex(o, "artifact_sha256", in->artifact_sha256, 32)) < 0 ||
	    (err = set_hex(o, "digest", in->digest, in->digest_len)) < 0 ||
	    (err = rb_base64_encode(in->sig, in->sig_len, true, &sig)) < 0 ||
	    (err = json_object_set_string(o, "signature", sig)) < 0 ||
	    (err = set_str_array(o, "approvals", in->approvals, in->n_approvals)) < 0)
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_intent(const struct audit_intent_info *in, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if (!in->request_ids || in->n_request_ids == 0 || in->n_request_ids > AUDIT_INTENT_IDS_MAX)
		return rb_err_set(RB_E_INVAL, "audit entry: an intent names 1..%u requests, not %zu",
				  AUDIT_INTENT_IDS_MAX, in->n_request_ids);
	if ((err = entry_new(AUDIT_INTENT, in->time, &o)) < 0 ||
	    (err = set_str(o, "key", in->key_name)) < 0 ||
	    (err = set_hex(o, "key_fingerprint", in->key_fpr, 32)) < 0 ||
	    (err = set_str_array(o, "request_ids", in->request_ids, in->n_request_ids)) < 0)
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_reject(const struct audit_reject_info *in, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = entry_new(AUDIT_REJECT, in->time, &o)) < 0 ||
	    (err = set_str(o, "request_id", in->request_id)) < 0 ||
	    (in->build_id && (err = set_str(o, "build_id", in->build_id)) < 0) ||
	    (err = set_str(o, "reason", in->reason)) < 0 ||
	    (in->node_fpr && (err = set_hex(o, "node", in->node_fpr, AUDIT_NODE_FPR_LEN)) < 0) ||
	    (in->key_name && (err = set_str(o, "key", in->key_name)) < 0) ||
	    (in->artifact_name && (err = set_str(o, "artifact", in->artifact_name)) < 0))
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_key(enum audit_event event, const struct audit_key_info *in,
		    struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if (event < AUDIT_KEYGEN || event > AUDIT_ROTATE)
		return rb_err_set(RB_E_INVAL, "audit_entry_key: event %d is not a key event", (int)event);
	if ((err = entry_new(event, in->time, &o)) < 0 ||
	    (err = set_str(o, "actor", in->actor)) < 0 ||
	    (err = set_str(o, "key", in->key_name)) < 0 ||
	    (err = set_hex(o, "key_fingerprint", in->key_fpr, 32)) < 0 ||
	    (in->detail && (err = set_str(o, "detail", in->detail)) < 0))
		return err;
	if (event == AUDIT_ROTATE &&
	    ((err = set_str(o, "new_key", in->new_key_name)) < 0 ||
	     (err = set_hex(o, "new_key_fingerprint", in->new_key_fpr, 32)) < 0))
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_provision(int64_t time, const char *actor, const char *token_label,
			  const uint8_t manifest_sha256[32], struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = entry_new(AUDIT_PROVISION, time, &o)) < 0 ||
	    (err = set_str(o, "actor", actor)) < 0 || (err = set_str(o, "token", token_label)) < 0 ||
	    (err = set_hex(o, "manifest_sha256", manifest_sha256, 32)) < 0)
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_policy_change(int64_t time, const char *actor, const uint8_t config_sha256[32],
			      struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = entry_new(AUDIT_POLICY_CHANGE, time, &o)) < 0 ||
	    (err = set_str(o, "actor", actor)) < 0 ||
	    (err = set_hex(o, "config_sha256", config_sha256, 32)) < 0)
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_login_failure(int64_t time, const char *role, const char *token_label,
			      const char *reason, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = entry_new(AUDIT_LOGIN_FAILURE, time, &o)) < 0 ||
	    (err = set_str(o, "role", role)) < 0 || (err = set_str(o, "token", token_label)) < 0 ||
	    (err = set_str(o, "reason", reason)) < 0)
		return err;
	return entry_finish(&o, ret);
}

int audit_entry_hsm_outage(int64_t time, const char *token_label, const char *reason, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = entry_new(AUDIT_HSM_OUTAGE, time, &o)) < 0 || (err = set_str(o, "token", token_label)) < 0 ||
	    (err = set_str(o, "reason", reason)) < 0)
		return err;
	return entry_finish(&o, ret);
}
