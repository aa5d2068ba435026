/* Response documents (docs/formats/response.md): names of the closed
 * reason set, building, canonical emission, lookups. */
#include <ctype.h>
#include <string.h>

#include "keys/keyspec.h"
#include "request/request-internal.h"
#include "request/response-internal.h"
#include "util/encode.h"
#include "util/err.h"

static const char *const reason_names[] = {
	[RESPONSE_REASON_UNSIGNED_COMMIT] = "unsigned-commit",
	[RESPONSE_REASON_UNKNOWN_SIGNER] = "unknown-signer",
	[RESPONSE_REASON_KEY_NOT_ALLOWED] = "key-not-allowed",
	[RESPONSE_REASON_KEY_REVOKED] = "key-revoked",
	[RESPONSE_REASON_KEY_RETIRED] = "key-retired",
	[RESPONSE_REASON_KEY_UNKNOWN] = "key-unknown",
	[RESPONSE_REASON_QUOTA_HOUR] = "quota-hour",
	[RESPONSE_REASON_QUOTA_BUILD] = "quota-build",
	[RESPONSE_REASON_REPLAY] = "replay",
	[RESPONSE_REASON_HASH_MISMATCH] = "hash-mismatch",
	[RESPONSE_REASON_SCHEMA] = "schema",
	[RESPONSE_REASON_APPROVAL_MISSING] = "approval-missing",
	[RESPONSE_REASON_TOO_LARGE] = "too-large",
	[RESPONSE_REASON_PATH] = "path",
	[RESPONSE_REASON_HSM_ERROR] = "hsm-error",
	[RESPONSE_REASON_KEY_PURPOSE] = "key-purpose",
	[RESPONSE_REASON_STRUCTURE] = "structure",
};

int response_reason_version(enum response_reason r)
{
	if ((int)r < 1 || r > RESPONSE_REASON_MAX)
		return 0;
	return r == RESPONSE_REASON_STRUCTURE ? 3 : r == RESPONSE_REASON_KEY_PURPOSE ? 2 : 1;
}

const char *response_reason_name(enum response_reason r)
{
	if ((int)r < 1 || r > RESPONSE_REASON_MAX)
		return NULL;
	return reason_names[r];
}

int response_reason_from_name(const char *name, enum response_reason *ret)
{
	for (int r = 1; name && r <= RESPONSE_REASON_MAX; r++)
		if (strcmp(name, reason_names[r]) == 0) {
			*ret = (enum response_reason)r;
			return RB_OK;
		}
	return RB_E_PARSE;
}

const char *response_status_name(enum response_status s)
{
	return s == RESPONSE_SIGNED ? "signed" : s == RESPONSE_REJECTED ? "rejected" : NULL;
}

int response_check_signature(enum request_kind kind, enum rb_sig_scheme scheme, size_t len)
{
	switch (kind) {
	case REQUEST_KIND_RAW:
	case REQUEST_KIND_CAPTURE:
		switch (scheme) {
		case RB_SIG_RSA_PKCS1_SHA256:
		case RB_SIG_RSA_PKCS1_SHA512:
		case RB_SIG_RSA_PSS_SHA256:
		case RB_SIG_RSA_PSS_SHA512:
			return len >= 256 && len <= 1024 ? RB_OK : RB_E_INVAL;
		case RB_SIG_ECDSA_SHA256:
		case RB_SIG_ED25519:
			return len == 64 ? RB_OK : RB_E_INVAL;
		}
		return RB_E_INVAL;
	case REQUEST_KIND_OPENPGP:
		/* rombsr's OpenPGP writer signs with PKCS#1 v1.5 or EdDSA. */
		if (scheme != RB_SIG_RSA_PKCS1_SHA256 && scheme != RB_SIG_RSA_PKCS1_SHA512 &&
		    scheme != RB_SIG_ED25519)
			return RB_E_INVAL;
		return len >= 1 && len <= RESPONSE_PGP_SIG_MAX ? RB_OK : RB_E_INVAL;
	}
	return RB_E_INVAL;
}

/* ---- the id index ------------------------------------------------------ */

static size_t lower_bound(const struct response_doc *doc, size_t n, const uint8_t *id, bool *found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(doc->entries[doc->by_id[mid]].id, id, REQUEST_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n && memcmp(doc->entries[doc->by_id[lo]].id, id, REQUEST_ID_LEN) == 0;
	return lo;
}

const struct response_entry *response_doc_find(const struct response_doc *doc,
					       const uint8_t id[REQUEST_ID_LEN])
{
	bool found;
	size_t pos;

	if (!doc || !id || !doc->by_id)
		return NULL;
	pos = lower_bound(doc, doc->n_entries, id, &found);
	return found ? &doc->entries[doc->by_id[pos]] : NULL;
}

static int cmp_idx(const void *a, const void *b, void *ctx)
{
	const struct response_doc *doc = ctx;

	return memcmp(doc->entries[*(const size_t *)a].id, doc->entries[*(const size_t *)b].id,
		      REQUEST_ID_LEN);
}

int response_index_build(struct response_doc *doc, size_t *ret_dup)
{
	free(doc->by_id);
	doc->by_id = NULL;
	for (size_t i = 0; i < doc->n_entries; i++) {
		int err = rq_array_grow(&doc->by_id, i, sizeof(*doc->by_id));

		if (err < 0)
			return err;
		doc->by_id[i] = i;
	}
	if (doc->n_entries)
		qsort_r(doc->by_id, doc->n_entries, sizeof(size_t), cmp_idx, doc);
	for (size_t k = 1; k < doc->n_entries; k++)
		if (cmp_idx(&doc->by_id[k - 1], &doc->by_id[k], doc) == 0) {
			*ret_dup = doc->by_id[k];
			return RB_E_EXISTS;
		}
	return RB_OK;
}

void response_entry_clear(struct response_entry *e)
{
	if (!e)
		return;
	free(e->key_name);
	free(e->signature);
	free(e->audit.checkpoint);
	free(e->audit.proof);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

void response_doc_free(struct response_doc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->n_entries; i++)
		response_entry_clear(&doc->entries[i]);
	free(doc->entries);
	free(doc->by_id);
	free(doc->node);
	free(doc->build_id);
	free(doc);
}

/* ---- building ------------------------------------------------------------ */

void response_id_hex(const uint8_t id[REQUEST_ID_LEN], char out[REQUEST_ID_HEX_LEN + 1])
{
	rb_hex_format(id, REQUEST_ID_LEN, out);
}

int response_doc_new(const char *node, const char *build_id, const char *request_commit,
		     const uint8_t request_sha256[32], int64_t signed_at,
		     struct response_doc **ret)
{
	_cleanup_(response_doc_freep) struct response_doc *doc = NULL;
	size_t i;

	if (!ret || !request_sha256 || !request_commit)
		return rb_err_set(RB_E_INVAL, "response: missing argument");
	if (!request_node_valid(node) || !capture_build_id_valid(build_id))
		return rb_err_set(RB_E_INVAL, "response: invalid node name or build id");
	for (i = 0; i < 40 && isxdigit((unsigned char)request_commit[i]); i++)
		;
	if (i != 40 || request_commit[40])
		return rb_err_set(RB_E_INVAL, "response: request commit must be 40 hex digits");
	if (signed_at < 0 || signed_at > REQUEST_TIME_MAX)
		return rb_err_set(RB_E_INVAL, "response: signing time out of range");
	if (!(doc = calloc(1, sizeof(*doc))) || !(doc->node = strdup(node)) ||
	    !(doc->build_id = strdup(build_id)))
		return RB_E_NOMEM;
	for (i = 0; i < 40; i++)
		doc->request_commit[i] = (char)tolower((unsigned char)request_commit[i]);
	memcpy(doc->request_sha256, request_sha256, 32);
	doc->signed_at = signed_at;
	*ret = TAKE_PTR(doc);
	return RB_OK;
}

/* Append e (taken, cleared on failure) and index it. */
static int add_entry(struct response_doc *doc, struct response_entry *e)
{
	size_t n = doc->n_entries, pos;
	bool found;
	int err;

	if (n >= RESPONSE_MAX_ENTRIES) {
		response_entry_clear(e);
		return rb_err_set(RB_E_LIMIT, "response: more than %d entries", RESPONSE_MAX_ENTRIES);
	}
	pos = doc->by_id ? lower_bound(doc, n, e->id, &found) : (found = false, 0);
	if (found) {
		err = rb_err_set(RB_E_EXISTS, "response: request %s already has an entry", e->id_hex);
		response_entry_clear(e);
		return err;
	}
	if ((err = rq_array_grow(&doc->entries, n, sizeof(*doc->entries))) < 0 ||
	    (err = rq_array_grow(&doc->by_id, n, sizeof(*doc->by_id))) < 0) {
		response_entry_clear(e);
		return err;
	}
	doc->entries[n] = *e;
	memset(e, 0, sizeof(*e));
	memmove(doc->by_id + pos + 1, doc->by_id + pos, (n - pos) * sizeof(*doc->by_id));
	doc->by_id[pos] = n;
	doc->n_entries++;
	return RB_OK;
}

int response_check_audit(const struct response_audit *a)
{
	if (a->leaf > (uint64_t)INT64_MAX || a->n_proof > RESPONSE_PROOF_MAX ||
	    (a->n_proof && !a->proof))
		return RB_E_INVAL;
	if (a->checkpoint && !rq_text_valid(a->checkpoint, RESPONSE_CHECKPOINT_MAX, true))
		return RB_E_INVAL;
	return RB_OK;
}

int response_add_signed(struct response_doc *doc, const uint8_t id[REQUEST_ID_LEN],
			enum request_kind kind, const char *key_name,
			const uint8_t spki_sha256[32], enum rb_sig_scheme scheme,
			const uint8_t *sig, size_t sig_len, const struct response_audit *audit)
{
	struct response_entry e = { 0 };
	static const struct response_audit none = { 0 };

	if (!doc || !id || !spki_sha256 || !sig || !key_name || !key_name_valid(key_name))
		return rb_err_set(RB_E_INVAL, "response: missing or invalid argument");
	if (!audit)
		audit = &none;
	if (response_check_signature(kind, scheme, sig_len) < 0)
		return rb_err_set(RB_E_INVAL, "response: a %zu-byte signature does not fit a %s "
				  "request under %s", sig_len, request_kind_name(kind) ?
				  request_kind_name(kind) : "?", rb_sig_scheme_name(scheme) ?
				  rb_sig_scheme_name(scheme) : "?");
	if (response_check_audit(audit) < 0)
		return rb_err_set(RB_E_INVAL, "response: invalid audit record");
	memcpy(e.id, id, REQUEST_ID_LEN);
	response_id_hex(id, e.id_hex);
	e.status = RESPONSE_SIGNED;
	e.kind = kind;
	e.scheme = scheme;
	memcpy(e.key_spki_sha256, spki_sha256, 32);
	e.audit.leaf = audit->leaf;
	e.audit.n_proof = audit->n_proof;
	if (!(e.key_name = strdup(key_name)) || !(e.signature = malloc(sig_len)) ||
	    (audit->checkpoint && !(e.audit.checkpoint = strdup(audit->checkpoint))) ||
	    (audit->n_proof && !(e.audit.proof = malloc(audit->n_proof * RESPONSE_HASH_LEN)))) {
		response_entry_clear(&e);
		return RB_E_NOMEM;
	}
	memcpy(e.signature, sig, sig_len);
	e.signature_len = sig_len;
	if (audit->n_proof)
		memcpy(e.audit.proof, audit->proof, audit->n_proof * RESPONSE_HASH_LEN);
	return add_entry(doc, &e);
}

int response_add_rejected(struct response_doc *doc, const uint8_t id[REQUEST_ID_LEN],
			  enum request_kind kind, enum response_reason reason,
			  const char *message)
{
	struct response_entry e = { 0 };

	if (!doc || !id || !response_reason_name(reason) ||
	    (kind != 0 && !request_kind_name(kind)))
		return rb_err_set(RB_E_INVAL, "response: missing or invalid argument");
	if (!rq_text_valid(message, RESPONSE_MESSAGE_MAX, false))
		return rb_err_set(RB_E_INVAL, "response: a rejection message is 1-%d bytes without "
				  "control characters", RESPONSE_MESSAGE_MAX);
	memcpy(e.id, id, REQUEST_ID_LEN);
	response_id_hex(id, e.id_hex);
	e.status = RESPONSE_REJECTED;
	e.kind = kind;
	e.reason = reason;
	if (!(e.message = strdup(message)))
		return RB_E_NOMEM;
	return add_entry(doc, &e);
}

/* ---- emitting ------------------------------------------------------------ */

static int audit_json(const struct response_audit *a, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL, *proof = NULL;
	int err;

	if ((err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_int(o, "leaf", (int64_t)a->leaf)) < 0 ||
	    (a->checkpoint && (err = json_object_set_string(o, "checkpoint", a->checkpoint)) < 0))
		return err;
	if (a->n_proof) {
		if ((err = json_new_array(&proof)) < 0)
			return err;
		for (size_t i = 0; i < a->n_proof; i++) {
			_cleanup_free_ char *s = NULL;
			struct json_value *v = NULL;

			if ((err = rb_base64_encode(a->proof[i], RESPONSE_HASH_LEN, true, &s)) < 0 ||
			    (err = json_new_string(s, &v)) < 0 || (err = json_array_append(proof, v)) < 0)
				return err;
		}
		if ((err = json_object_set(o, "proof", TAKE_PTR(proof))) < 0)
			return err;
	}
	*ret = TAKE_PTR(o);
	return RB_OK;
}

static int entry_json(const struct response_entry *e, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL, *k = NULL, *au = NULL;
	int err;

	if ((err = json_new_object(&o)) < 0 || (err = json_object_set_string(o, "id", e->id_hex)) < 0 ||
	    (err = json_object_set_string(o, "status", response_status_name(e->status))) < 0 ||
	    (e->kind && (err = json_object_set_string(o, "kind", request_kind_name(e->kind))) < 0))
		return err;
	if (e->status == RESPONSE_SIGNED) {
		if ((err = json_new_object(&k)) < 0 ||
		    (err = json_object_set_string(k, "name", e->key_name)) < 0 ||
		    (err = rq_set_hex(k, "spki_sha256", e->key_spki_sha256, 32)) < 0 ||
		    (err = json_object_set(o, "key", TAKE_PTR(k))) < 0 ||
		    (err = json_object_set_string(o, "scheme", rb_sig_scheme_name(e->scheme))) < 0 ||
		    (err = rq_set_b64(o, "signature", e->signature, e->signature_len)) < 0 ||
		    (err = audit_json(&e->audit, &au)) < 0 ||
		    (err = json_object_set(o, "audit", TAKE_PTR(au))) < 0)
			return err;
	} else {
		if ((err = json_object_set_string(o, "reason", response_reason_name(e->reason))) < 0 ||
		    (err = json_object_set_string(o, "message", e->message)) < 0)
			return err;
	}
	*ret = TAKE_PTR(o);
	return RB_OK;
}

int response_doc_emit(const struct response_doc *doc, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *req = NULL, *entries = NULL;
	int64_t version = RESPONSE_VERSION_MIN;
	size_t before;
	int err;

	if (!doc || !out)
		return rb_err_set(RB_E_INVAL, "response emit: missing argument");
	before = out->len;
	if ((err = json_new_object(&req)) < 0 || (err = json_new_array(&entries)) < 0 ||
	    (err = json_object_set_string(req, "node", doc->node)) < 0 ||
	    (err = json_object_set_string(req, "build_id", doc->build_id)) < 0 ||
	    (err = json_object_set_string(req, "request_commit", doc->request_commit)) < 0 ||
	    (err = rq_set_hex(req, "request_sha256", doc->request_sha256, 32)) < 0 ||
	    (err = rq_set_time(req, "signed_at", doc->signed_at)) < 0)
		return rb_err_set(err, "response %s/%s: cannot build JSON", doc->node, doc->build_id);
	for (size_t i = 0; i < doc->n_entries; i++) {
		struct json_value *e = NULL;

		if ((err = entry_json(&doc->entries[i], &e)) < 0 ||
		    (err = json_array_append(entries, e)) < 0)
			return rb_err_set(err, "response %s/%s: cannot build JSON", doc->node,
					  doc->build_id);
	}
	for (size_t i = 0; i < doc->n_entries; i++)
		if (doc->entries[i].status == RESPONSE_REJECTED &&
		    response_reason_version(doc->entries[i].reason) > version)
			version = response_reason_version(doc->entries[i].reason);
	if ((err = json_object_set(req, "entries", TAKE_PTR(entries))) < 0 ||
	    (err = rq_emit_envelope(RESPONSE_FORMAT, version, TAKE_PTR(req), NULL, out)) < 0)
		return rb_err_set(err, "response %s/%s: cannot write JSON", doc->node, doc->build_id);
	if (out->len - before > RESPONSE_MAX_BYTES) {
		out->len = before;
		return rb_err_set(RB_E_TOOBIG, "response %s/%s: over %zu bytes", doc->node,
				  doc->build_id, RESPONSE_MAX_BYTES);
	}
	return RB_OK;
}
