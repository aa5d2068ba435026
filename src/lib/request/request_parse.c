/* Request documents in: strict, capped and self-checking
 * (docs/formats/request.md, "Checks a reader performs"). The document is
 * written by an untrusted build node; nothing in it is taken on trust that
 * can be recomputed: ids are rederived, hash states are finalized and
 * compared with the artifact's digests, embedded capture requests go
 * through capture's own parser. */
#include <stdio.h>
#include <string.h>

#include "keys/keyspec.h"
#include "request/request-internal.h"
#include "util/err.h"
#include "util/encode.h"

static int parse_artifact(const struct json_value *v, struct request_artifact *a)
{
	static const char *const required[] = { "name", "size", "sha256", NULL };
	static const char *const optional[] = { "sha512", NULL };
	const char *name;
	int64_t size;
	int err;

	if ((err = json_expect_type(v, JSON_OBJECT)) < 0 ||
	    (err = json_object_check_keys(v, required, optional)) < 0 ||
	    (err = json_get_string(v, "name", &name)) < 0)
		return err;
	if (!request_artifact_name_valid(name))
		return json_err_set(json_object_get(v, "name"), RB_E_PARSE,
				    "artifact name must be a relative path of 1-%d bytes: components "
				    "of [A-Za-z0-9._+-], none empty, \".\" or \"..\"",
				    REQUEST_ARTIFACT_NAME_MAX);
	if ((err = json_get_int_range(v, "size", 0, (int64_t)HASH_STATE_MAX_LENGTH, &size)) < 0 ||
	    (err = rq_get_hex(v, "sha256", a->sha256, 32)) < 0)
		return err;
	if (json_object_get(v, "sha512")) {
		if ((err = rq_get_hex(v, "sha512", a->sha512, 64)) < 0)
			return err;
		a->has_sha512 = true;
	}
	if (!(a->name = strdup(name)))
		return RB_E_NOMEM;
	a->size = (uint64_t)size;
	return RB_OK;
}

static int parse_key(const struct json_value *o, struct request_entry *e)
{
	static const char *const keys[] = { "name", "spki_sha256", NULL };
	const struct json_value *k;
	const char *name;
	int err;

	if ((err = json_get_object(o, "key", &k)) < 0 ||
	    (err = json_object_check_keys(k, keys, NULL)) < 0 ||
	    (err = json_get_string(k, "name", &name)) < 0)
		return err;
	if (!key_name_valid(name))
		return json_err_set(json_object_get(k, "name"), RB_E_PARSE, "invalid key name");
	if ((err = rq_get_hex(k, "spki_sha256", e->key_spki_sha256, 32)) < 0)
		return err;
	if (!(e->key_name = strdup(name)))
		return RB_E_NOMEM;
	return RB_OK;
}

static int parse_artifact_ref(const struct request_doc *doc, const struct json_value *o,
			      struct request_entry *e)
{
	const char *name;
	long i;
	int err;

	if ((err = json_get_string(o, "artifact", &name)) < 0)
		return err;
	i = rq_find_artifact(doc, name);
	if (i < 0)
		return json_err_set(json_object_get(o, "artifact"), RB_E_PARSE,
				    "no artifact named \"%.80s\" in this document", name);
	e->artifact = (size_t)i;
	return RB_OK;
}

/* With a manifest: the key exists with this fingerprint, is active, and
 * its algorithm fits (fits() is the kind's rule). */
static int check_manifest_key(const struct manifest *m, const struct json_value *o,
			      const struct request_entry *e, bool (*fits)(const struct request_entry *,
									  enum rb_key_alg))
{
	const struct json_value *at = json_object_get(o, "key");
	int err;
	const struct manifest_key *k = manifest_find(m, e->key_name);

	if (!k)
		return json_err_set(at, RB_E_KEY, "key \"%s\" is not in the manifest; the build "
				    "node used a different manifest", e->key_name);
	if (memcmp(k->spki_sha256, e->key_spki_sha256, 32) != 0)
		return json_err_set(at, RB_E_VERIFY, "key \"%s\": spki_sha256 does not match the "
				    "manifest's fingerprint for this key", e->key_name);
	if (k->status != KEY_ACTIVE)
		return json_err_set(at, RB_E_PERM, "key \"%s\" is %s and may not sign", e->key_name,
				    key_status_name(k->status));
	if ((err = request_key_purpose_check(e->kind, k)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return json_err_set(at, RB_E_PERM, "%s", detail);
	}
	if (!fits(e, k->alg))
		return json_err_set(at, RB_E_UNSUPPORTED, "key \"%s\" is %s and cannot make a %s "
				    "signature", e->key_name, rb_key_alg_name(k->alg),
				    e->kind == REQUEST_KIND_RAW ? rb_sig_scheme_name(e->scheme) :
				    "OpenPGP");
	return RB_OK;
}

static bool raw_fits(const struct request_entry *e, enum rb_key_alg alg)
{
	return rb_sig_scheme_fits(e->scheme, alg);
}

static bool openpgp_fits(const struct request_entry *e, enum rb_key_alg alg)
{
	(void)e;
	return alg == RB_KEY_RSA || alg == RB_KEY_ED25519;
}

static int check_id(const struct json_value *o, const struct request_entry *e,
		    const uint8_t id[REQUEST_ID_LEN])
{
	if (memcmp(e->id, id, REQUEST_ID_LEN) != 0)
		return json_err_set(json_object_get(o, "id"), RB_E_VERIFY,
				    "id does not match the request's content; the request was altered");
	return RB_OK;
}

static int parse_raw(const struct request_doc *doc, const struct json_value *o,
		     const struct manifest *m, struct request_entry *e)
{
	static const char *const keys[] = { "kind", "id", "artifact", "key", "scheme", NULL };
	const struct request_artifact *a;
	const char *s;
	uint8_t id[REQUEST_ID_LEN];
	const uint8_t *digest;
	size_t dlen;
	int err;

	if ((err = json_object_check_keys(o, keys, NULL)) < 0 ||
	    (err = rq_get_hex(o, "id", e->id, REQUEST_ID_LEN)) < 0 ||
	    (err = parse_artifact_ref(doc, o, e)) < 0 || (err = parse_key(o, e)) < 0 ||
	    (err = json_get_string(o, "scheme", &s)) < 0)
		return err;
	if (rb_sig_scheme_from_name(s, &e->scheme) < 0)
		return json_err_set(json_object_get(o, "scheme"), RB_E_PARSE,
				    "unknown scheme \"%.40s\"", s);
	a = &doc->artifacts[e->artifact];
	dlen = e->scheme == RB_SIG_ED25519 ? 32 : rb_sig_scheme_digest_len(e->scheme);
	if (dlen == 64 && !a->has_sha512)
		return json_err_set(json_object_get(o, "scheme"), RB_E_PARSE,
				    "%s needs the artifact's SHA-512, and artifact \"%s\" has no sha512",
				    s, a->name);
	digest = dlen == 64 ? a->sha512 : a->sha256;
	if ((err = request_direct_id(doc->build_id, REQUEST_KIND_RAW, e->key_spki_sha256, s, a->name,
				     digest, dlen, id)) < 0 ||
	    (err = check_id(o, e, id)) < 0)
		return err;
	if (m && (err = check_manifest_key(m, o, e, raw_fits)) < 0)
		return err;
	if (!(e->input = malloc(dlen)))
		return RB_E_NOMEM;
	memcpy(e->input, digest, dlen);
	e->input_len = dlen;
	return RB_OK;
}

static int parse_openpgp(const struct request_doc *doc, const struct json_value *o,
			 const struct manifest *m, struct request_entry *e)
{
	static const char *const keys[] = { "kind", "id", "artifact", "key", "hash", "armor",
					    "state", NULL };
	const struct request_artifact *a;
	const struct json_value *sv;
	const char *s;
	uint8_t id[REQUEST_ID_LEN], fin[64];
	const uint8_t *want;
	size_t dlen;
	int err;

	if ((err = json_object_check_keys(o, keys, NULL)) < 0 ||
	    (err = rq_get_hex(o, "id", e->id, REQUEST_ID_LEN)) < 0 ||
	    (err = parse_artifact_ref(doc, o, e)) < 0 || (err = parse_key(o, e)) < 0 ||
	    (err = json_get_string(o, "hash", &s)) < 0)
		return err;
	if (hash_state_alg_from_name(s, &e->hash) < 0)
		return json_err_set(json_object_get(o, "hash"), RB_E_PARSE,
				    "hash must be \"sha256\" or \"sha512\"");
	if ((err = json_get_bool(o, "armor", &e->armor)) < 0 ||
	    (err = json_get_object(o, "state", &sv)) < 0 ||
	    (err = hash_state_from_json(sv, &e->state)) < 0)
		return err;
	a = &doc->artifacts[e->artifact];
	if (hash_state_get_alg(e->state) != e->hash)
		return json_err_set(sv, RB_E_PARSE, "state is %s, but hash is %s",
				    hash_state_alg_name(hash_state_get_alg(e->state)), s);
	if (e->hash == HASH_STATE_SHA512 && !a->has_sha512)
		return json_err_set(json_object_get(o, "hash"), RB_E_PARSE,
				    "a sha512 signature needs the artifact's SHA-512, and artifact "
				    "\"%s\" has no sha512", a->name);
	/* The state must be the hash of exactly the artifact recorded: same
	 * length, and finalizing it gives the recorded digest. Otherwise the
	 * sign node would sign something the artifact list does not show. */
	if (hash_state_get_length(e->state) != a->size)
		return json_err_set(sv, RB_E_VERIFY, "state covers %llu bytes, but artifact \"%s\" "
				    "is %llu bytes", (unsigned long long)hash_state_get_length(e->state),
				    a->name, (unsigned long long)a->size);
	want = e->hash == HASH_STATE_SHA512 ? a->sha512 : a->sha256;
	if ((err = hash_state_final(e->state, fin, &dlen)) < 0)
		return err;
	if (memcmp(fin, want, dlen) != 0)
		return json_err_set(sv, RB_E_VERIFY, "state does not finalize to the %s of artifact "
				    "\"%s\"; the hash state or the artifact list was altered", s,
				    a->name);
	if ((err = request_direct_id(doc->build_id, REQUEST_KIND_OPENPGP, e->key_spki_sha256, s,
				     a->name, fin, dlen, id)) < 0 ||
	    (err = check_id(o, e, id)) < 0)
		return err;
	if (m && (err = check_manifest_key(m, o, e, openpgp_fits)) < 0)
		return err;
	return RB_OK;
}

static int parse_capture(const struct request_doc *doc, const struct json_value *o,
			 const struct manifest *m, size_t index, struct request_entry *e)
{
	static const char *const keys[] = { "kind", "artifact", "request", NULL };
	const struct json_value *rv;
	struct capture_request *r;
	struct rb_buf text = RB_BUF_INIT;
	char source[64];
	int err;

	if ((err = json_object_check_keys(o, keys, NULL)) < 0 ||
	    (err = parse_artifact_ref(doc, o, e)) < 0 ||
	    (err = json_get_object(o, "request", &rv)) < 0)
		return err;
	/* capture's parser is the one authority on capture requests: hand
	 * it the embedded object as text. */
	snprintf(source, sizeof(source), "requests[%zu].request", index);
	if ((err = json_emit(rv, JSON_CANONICAL, &text)) == 0)
		err = capture_request_parse((const char *)text.data, text.len, source, m, &e->capture);
	rb_buf_free(&text);
	if (err < 0)
		return err;
	r = e->capture;
	if (strcmp(r->build_id, doc->build_id) != 0)
		return json_err_set(rv, RB_E_PARSE, "capture request %s belongs to build \"%s\", not "
				    "to this document's build \"%s\"", r->id_hex, r->build_id,
				    doc->build_id);
	memcpy(e->id, r->id, REQUEST_ID_LEN);
	memcpy(e->key_spki_sha256, r->key_spki_sha256, 32);
	e->scheme = r->scheme;
	if (!(e->key_name = strdup(r->key_name)) || !(e->input = malloc(r->input_len)))
		return RB_E_NOMEM;
	memcpy(e->input, r->input, r->input_len);
	e->input_len = r->input_len;
	return RB_OK;
}

static int parse_entry(const struct request_doc *doc, const struct json_value *o,
		       const struct manifest *m, size_t index, struct request_entry *e)
{
	const char *s;
	int err;

	if ((err = json_expect_type(o, JSON_OBJECT)) < 0 ||
	    (err = json_get_string(o, "kind", &s)) < 0)
		return err;
	if (request_kind_from_name(s, &e->kind) < 0)
		return json_err_set(json_object_get(o, "kind"), RB_E_PARSE,
				    "kind must be \"capture\", \"raw\" or \"openpgp\"");
	switch (e->kind) {
	case REQUEST_KIND_CAPTURE:
		err = parse_capture(doc, o, m, index, e);
		break;
	case REQUEST_KIND_RAW:
		err = parse_raw(doc, o, m, e);
		break;
	case REQUEST_KIND_OPENPGP:
		err = parse_openpgp(doc, o, m, e);
		break;
	}
	if (err < 0)
		return err;
	rb_hex_format(e->id, REQUEST_ID_LEN, e->id_hex);
	return RB_OK;
}

static int parse_optional(const struct json_value *root, struct request_doc *doc)
{
	const struct json_value *opt = json_object_get(root, "optional");
	const struct json_value *c = json_object_get(opt, "comment");
	const char *s;
	int err;

	/* Unknown optional members are ignored; known ones are checked. */
	if (!c)
		return RB_OK;
	if ((err = json_expect_string(c, &s)) < 0)
		return err;
	if (!rq_text_valid(s, REQUEST_COMMENT_MAX, true))
		return json_err_set(c, RB_E_PARSE, "comment must be 1-%d bytes without control "
				    "characters other than tab and newline", REQUEST_COMMENT_MAX);
	if (!(doc->comment = strdup(s)))
		return RB_E_NOMEM;
	return RB_OK;
}

static int parse_tree(const struct json_value *root, const struct manifest *m,
		      struct request_doc *doc)
{
	static const char *const keys[] = { "node", "build_id", "created", "manifest_sha256",
					    "artifacts", "requests", NULL };
	const struct json_value *req, *arts, *reqs;
	size_t n, dup;
	bool dup_entry;
	int err;

	if ((err = rq_check_envelope(root, REQUEST_FORMAT, REQUEST_VERSION, &req)) < 0 ||
	    (err = json_object_check_keys(req, keys, NULL)) < 0 ||
	    (err = rq_get_node_build(req, &doc->node, &doc->build_id)) < 0)
		return err;
	if ((err = rq_get_time(req, "created", &doc->created)) < 0 ||
	    (err = rq_get_hex(req, "manifest_sha256", doc->manifest_sha256, 32)) < 0 ||
	    (err = json_get_array(req, "artifacts", &arts)) < 0 ||
	    (err = json_get_array(req, "requests", &reqs)) < 0)
		return err;

	n = json_array_size(arts);
	if (n > REQUEST_MAX_ARTIFACTS)
		return json_err_set(arts, RB_E_TOOBIG, "%zu artifacts; at most %d", n,
				    REQUEST_MAX_ARTIFACTS);
	for (size_t i = 0; i < n; i++) {
		if ((err = rq_array_grow(&doc->artifacts, i, sizeof(*doc->artifacts))) < 0)
			return err;
		doc->n_artifacts++;
		if ((err = parse_artifact(json_array_get(arts, i), &doc->artifacts[i])) < 0)
			return err;
	}
	if ((err = rq_index_build(doc, &dup, &dup_entry)) < 0) {
		if (err != RB_E_EXISTS)
			return err;
		return json_err_set(json_array_get(arts, dup), RB_E_PARSE,
				    "artifact \"%s\" is listed twice", doc->artifacts[dup].name);
	}

	n = json_array_size(reqs);
	if (n > REQUEST_MAX_ENTRIES)
		return json_err_set(reqs, RB_E_TOOBIG, "%zu requests; at most %d", n,
				    REQUEST_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		if ((err = rq_array_grow(&doc->entries, i, sizeof(*doc->entries))) < 0)
			return err;
		doc->n_entries++;
		if ((err = parse_entry(doc, json_array_get(reqs, i), m, i, &doc->entries[i])) < 0)
			return err;
	}
	if ((err = rq_index_build(doc, &dup, &dup_entry)) < 0) {
		if (err != RB_E_EXISTS)
			return err;
		return json_err_set(json_array_get(reqs, dup), RB_E_PARSE,
				    "request %s is listed twice", doc->entries[dup].id_hex);
	}
	return parse_optional(root, doc);
}

int request_doc_parse(const char *text, size_t len, const char *source, const struct manifest *m,
		      size_t max_bytes, struct request_doc **ret)
{
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_(request_doc_freep) struct request_doc *doc = NULL;
	int err;

	if (!source)
		source = "(unnamed request)";
	if (!ret)
		return rb_err_set(RB_E_INVAL, "%s: missing argument", source);
	if (max_bytes == 0 || max_bytes > REQUEST_MAX_BYTES)
		max_bytes = REQUEST_MAX_BYTES;
	if ((err = rq_json_parse(text, len, max_bytes, source, &root)) < 0)
		return err;
	if (!(doc = calloc(1, sizeof(*doc))))
		return RB_E_NOMEM;
	if ((err = parse_tree(root, m, doc)) < 0)
		return rq_err_prefix(err, source);
	*ret = TAKE_PTR(doc);
	return RB_OK;
}
