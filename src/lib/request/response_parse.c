/* Response documents in (docs/formats/response.md). The build node reads
 * them from an untrusted queue: strict shape, closed reason set, bounded
 * signatures and audit records, unique ids. Whether a signature is valid
 * is the caller's check against the manifest, not this parser's. */
#include <string.h>

#include "keys/keyspec.h"
#include "request/request-internal.h"
#include "request/response-internal.h"
#include "util/encode.h"
#include "util/err.h"

static int parse_audit(const struct json_value *e, struct response_audit *a)
{
	static const char *const required[] = { "leaf", NULL };
	static const char *const optional[] = { "checkpoint", "proof", NULL };
	const struct json_value *o, *proof;
	const char *s;
	int64_t leaf;
	int err;

	if ((err = json_get_object(e, "audit", &o)) < 0 ||
	    (err = json_object_check_keys(o, required, optional)) < 0 ||
	    (err = json_get_int_range(o, "leaf", 0, INT64_MAX, &leaf)) < 0)
		return err;
	a->leaf = (uint64_t)leaf;
	err = json_get_string_opt(o, "checkpoint", &s);
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if (err == RB_OK) {
		if (!rq_text_valid(s, RESPONSE_CHECKPOINT_MAX, true))
			return json_err_set(json_object_get(o, "checkpoint"), RB_E_PARSE,
					    "checkpoint must be 1-%d bytes of text",
					    RESPONSE_CHECKPOINT_MAX);
		if (!(a->checkpoint = strdup(s)))
			return RB_E_NOMEM;
	}
	err = json_get_array_opt(o, "proof", &proof);
	if (err == RB_E_NOTFOUND)
		return RB_OK;
	if (err < 0)
		return err;
	if (json_array_size(proof) > RESPONSE_PROOF_MAX)
		return json_err_set(proof, RB_E_PARSE, "proof has more than %d hashes",
				    RESPONSE_PROOF_MAX);
	a->n_proof = json_array_size(proof);
	if (a->n_proof && !(a->proof = calloc(a->n_proof, RESPONSE_HASH_LEN)))
		return RB_E_NOMEM;
	for (size_t i = 0; i < a->n_proof; i++) {
		const struct json_value *v = json_array_get(proof, i);
		_cleanup_free_ uint8_t *h = NULL;
		size_t n;

		if ((err = json_expect_string(v, &s)) < 0)
			return err;
		if (rb_base64_decode(s, strlen(s), true, &h, &n) < 0 || n != RESPONSE_HASH_LEN)
			return json_err_set(v, RB_E_PARSE, "a proof hash is padded base64 of %d bytes",
					    RESPONSE_HASH_LEN);
		memcpy(a->proof[i], h, RESPONSE_HASH_LEN);
	}
	return RB_OK;
}

static int parse_signed(const struct json_value *o, struct response_entry *e)
{
	static const char *const keys[] = { "id", "status", "kind", "key", "scheme", "signature",
					    "audit", NULL };
	static const char *const key_keys[] = { "name", "spki_sha256", NULL };
	const struct json_value *k;
	const char *s;
	int err;

	if ((err = json_object_check_keys(o, keys, NULL)) < 0 ||
	    (err = json_get_string(o, "kind", &s)) < 0)
		return err;
	if (request_kind_from_name(s, &e->kind) < 0)
		return json_err_set(json_object_get(o, "kind"), RB_E_PARSE,
				    "kind must be \"capture\", \"raw\" or \"openpgp\"");
	if ((err = json_get_object(o, "key", &k)) < 0 ||
	    (err = json_object_check_keys(k, key_keys, NULL)) < 0 ||
	    (err = json_get_string(k, "name", &s)) < 0)
		return err;
	if (!key_name_valid(s))
		return json_err_set(json_object_get(k, "name"), RB_E_PARSE, "invalid key name");
	if (!(e->key_name = strdup(s)))
		return RB_E_NOMEM;
	if ((err = rq_get_hex(k, "spki_sha256", e->key_spki_sha256, 32)) < 0 ||
	    (err = json_get_string(o, "scheme", &s)) < 0)
		return err;
	if (rb_sig_scheme_from_name(s, &e->scheme) < 0)
		return json_err_set(json_object_get(o, "scheme"), RB_E_PARSE,
				    "unknown scheme \"%.40s\"", s);
	if ((err = rq_get_b64(o, "signature", 1, RESPONSE_PGP_SIG_MAX, &e->signature,
			      &e->signature_len)) < 0)
		return err;
	if (response_check_signature(e->kind, e->scheme, e->signature_len) < 0)
		return json_err_set(json_object_get(o, "signature"), RB_E_PARSE,
				    "a %zu-byte signature does not fit a %s request under %s",
				    e->signature_len, request_kind_name(e->kind),
				    rb_sig_scheme_name(e->scheme));
	return parse_audit(o, &e->audit);
}

static int parse_rejected(const struct json_value *o, int64_t version, struct response_entry *e)
{
	static const char *const required[] = { "id", "status", "reason", "message", NULL };
	static const char *const optional[] = { "kind", NULL };
	const char *s;
	int err;

	if ((err = json_object_check_keys(o, required, optional)) < 0)
		return err;
	err = json_get_string_opt(o, "kind", &s);
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if (err == RB_OK && request_kind_from_name(s, &e->kind) < 0)
		return json_err_set(json_object_get(o, "kind"), RB_E_PARSE,
				    "kind must be \"capture\", \"raw\" or \"openpgp\"");
	if ((err = json_get_string(o, "reason", &s)) < 0)
		return err;
	if (response_reason_from_name(s, &e->reason) < 0 || response_reason_version(e->reason) > version)
		return json_err_set(json_object_get(o, "reason"), RB_E_PARSE,
				    "unknown reason \"%.40s\" in a version %lld response (see docs/formats/response.md)",
				    s, (long long)version);
	if ((err = json_get_string(o, "message", &s)) < 0)
		return err;
	if (!rq_text_valid(s, RESPONSE_MESSAGE_MAX, false))
		return json_err_set(json_object_get(o, "message"), RB_E_PARSE,
				    "message must be 1-%d bytes without control characters",
				    RESPONSE_MESSAGE_MAX);
	if (!(e->message = strdup(s)))
		return RB_E_NOMEM;
	return RB_OK;
}

static int parse_entry(const struct json_value *o, int64_t version, struct response_entry *e)
{
	const char *s;
	int err;

	if ((err = json_expect_type(o, JSON_OBJECT)) < 0 ||
	    (err = rq_get_hex(o, "id", e->id, REQUEST_ID_LEN)) < 0 ||
	    (err = json_get_string(o, "status", &s)) < 0)
		return err;
	response_id_hex(e->id, e->id_hex);
	if (strcmp(s, "signed") == 0) {
		e->status = RESPONSE_SIGNED;
		return parse_signed(o, e);
	}
	if (strcmp(s, "rejected") == 0) {
		e->status = RESPONSE_REJECTED;
		return parse_rejected(o, version, e);
	}
	return json_err_set(json_object_get(o, "status"), RB_E_PARSE,
			    "status must be \"signed\" or \"rejected\"");
}

static int parse_tree(const struct json_value *root, struct response_doc *doc)
{
	static const char *const keys[] = { "node", "build_id", "request_commit", "request_sha256",
					    "signed_at", "entries", NULL };
	const struct json_value *req, *entries;
	const char *s;
	int64_t version;
	size_t n, dup;
	int err;

	if ((err = rq_check_envelope_range(root, RESPONSE_FORMAT, RESPONSE_VERSION_MIN, RESPONSE_VERSION,
					   &version, &req)) < 0 ||
	    (err = json_object_check_keys(req, keys, NULL)) < 0 ||
	    (err = rq_get_node_build(req, &doc->node, &doc->build_id)) < 0)
		return err;
	if ((err = json_get_string(req, "request_commit", &s)) < 0)
		return err;
	if (strlen(s) != 40 || !rb_hex_is_lower(s, 40))
		return json_err_set(json_object_get(req, "request_commit"), RB_E_PARSE,
				    "request_commit must be 40 lowercase hex digits");
	memcpy(doc->request_commit, s, 41);
	if ((err = rq_get_hex(req, "request_sha256", doc->request_sha256, 32)) < 0 ||
	    (err = rq_get_time(req, "signed_at", &doc->signed_at)) < 0 ||
	    (err = json_get_array(req, "entries", &entries)) < 0)
		return err;
	n = json_array_size(entries);
	if (n > RESPONSE_MAX_ENTRIES)
		return json_err_set(entries, RB_E_TOOBIG, "%zu entries; at most %d", n,
				    RESPONSE_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		if ((err = rq_array_grow(&doc->entries, i, sizeof(*doc->entries))) < 0)
			return err;
		doc->n_entries++;
		if ((err = parse_entry(json_array_get(entries, i), version, &doc->entries[i])) < 0)
			return err;
	}
	if ((err = response_index_build(doc, &dup)) < 0) {
		if (err != RB_E_EXISTS)
			return err;
		return json_err_set(json_array_get(entries, dup), RB_E_PARSE,
				    "request %s has two entries", doc->entries[dup].id_hex);
	}
	return RB_OK;
}

int response_doc_parse(const char *text, size_t len, const char *source,
		       struct response_doc **ret)
{
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_(response_doc_freep) struct response_doc *doc = NULL;
	int err;

	if (!source)
		source = "(unnamed response)";
	if (!ret)
		return rb_err_set(RB_E_INVAL, "%s: missing argument", source);
	if ((err = rq_json_parse(text, len, RESPONSE_MAX_BYTES, source, &root)) < 0)
		return err;
	if (!(doc = calloc(1, sizeof(*doc))))
		return RB_E_NOMEM;
	if ((err = parse_tree(root, doc)) < 0)
		return rq_err_prefix(err, source);
	*ret = TAKE_PTR(doc);
	return RB_OK;
}
