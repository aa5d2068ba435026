/* Request documents out: canonical JSON (RFC 8785) and one newline
 * (docs/formats/request.md). */
#include <string.h>

#include "request/request-internal.h"
#include "util/err.h"

static int key_json(const struct request_entry *e, struct json_value **ret)
{
	_cleanup_json_ struct json_value *k = NULL;
	int err;

	if ((err = json_new_object(&k)) < 0 ||
	    (err = json_object_set_string(k, "name", e->key_name)) < 0 ||
	    (err = rq_set_hex(k, "spki_sha256", e->key_spki_sha256, 32)) < 0)
		return err;
	*ret = TAKE_PTR(k);
	return RB_OK;
}

/* The embedded capture request, as capture itself writes it. */
static int capture_json(const struct capture_request *r, struct json_value **ret)
{
	/* An Ed25519 message of up to 1 MiB is one base64 string. */
	const struct json_limits lim = { .max_input = CAPTURE_REQUEST_MAX_BYTES,
					 .max_string = CAPTURE_REQUEST_MAX_BYTES };
	struct rb_buf b = RB_BUF_INIT;
	int err;

	if ((err = capture_request_emit(r, &b)) == 0)
		err = json_parse(b.data, b.len, &lim, ret);
	rb_buf_free(&b);
	return err;
}

static int entry_json(const struct request_doc *doc, const struct request_entry *e,
		      struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL, *k = NULL, *sub = NULL;
	const char *artifact = doc->artifacts[e->artifact].name;
	int err;

	if ((err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "kind", request_kind_name(e->kind))) < 0 ||
	    (err = json_object_set_string(o, "artifact", artifact)) < 0)
		return err;
	switch (e->kind) {
	case REQUEST_KIND_CAPTURE:
		if ((err = capture_json(e->capture, &sub)) < 0 ||
		    (err = json_object_set(o, "request", TAKE_PTR(sub))) < 0)
			return err;
		break;
	case REQUEST_KIND_RAW:
		if ((err = json_object_set_string(o, "id", e->id_hex)) < 0 ||
		    (err = key_json(e, &k)) < 0 || (err = json_object_set(o, "key", TAKE_PTR(k))) < 0 ||
		    (err = json_object_set_string(o, "scheme", rb_sig_scheme_name(e->scheme))) < 0)
			return err;
		break;
	case REQUEST_KIND_OPENPGP:
		if ((err = json_object_set_string(o, "id", e->id_hex)) < 0 ||
		    (err = key_json(e, &k)) < 0 || (err = json_object_set(o, "key", TAKE_PTR(k))) < 0 ||
		    (err = json_object_set_string(o, "hash", hash_state_alg_name(e->hash))) < 0 ||
		    (err = json_object_set_bool(o, "armor", e->armor)) < 0 ||
		    (err = hash_state_to_json(e->state, &sub)) < 0 ||
		    (err = json_object_set(o, "state", TAKE_PTR(sub))) < 0)
			return err;
		break;
	default:
		return RB_E_INVAL;
	}
	*ret = TAKE_PTR(o);
	return RB_OK;
}

static int artifact_json(const struct request_artifact *a, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	int err;

	if ((err = json_new_object(&o)) < 0 || (err = json_object_set_string(o, "name", a->name)) < 0 ||
	    (err = json_object_set_int(o, "size", (int64_t)a->size)) < 0 ||
	    (err = rq_set_hex(o, "sha256", a->sha256, 32)) < 0 ||
	    (a->has_sha512 && (err = rq_set_hex(o, "sha512", a->sha512, 64)) < 0))
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

static int doc_json(const struct request_doc *doc, struct json_value **ret_req,
		    struct json_value **ret_opt)
{
	_cleanup_json_ struct json_value *req = NULL, *arts = NULL, *reqs = NULL, *opt = NULL;
	int err;

	if ((err = json_new_object(&req)) < 0 || (err = json_new_array(&arts)) < 0 ||
	    (err = json_new_array(&reqs)) < 0 || (err = json_new_object(&opt)) < 0 ||
	    (err = json_object_set_string(req, "node", doc->node)) < 0 ||
	    (err = json_object_set_string(req, "build_id", doc->build_id)) < 0 ||
	    (err = rq_set_time(req, "created", doc->created)) < 0 ||
	    (err = rq_set_hex(req, "manifest_sha256", doc->manifest_sha256, 32)) < 0)
		return err;
	for (size_t i = 0; i < doc->n_artifacts; i++) {
		struct json_value *a = NULL;

		if ((err = artifact_json(&doc->artifacts[i], &a)) < 0 ||
		    (err = json_array_append(arts, a)) < 0)
			return err;
	}
	for (size_t i = 0; i < doc->n_entries; i++) {
		struct json_value *e = NULL;

		if ((err = entry_json(doc, &doc->entries[i], &e)) < 0 ||
		    (err = json_array_append(reqs, e)) < 0)
			return err;
	}
	if ((err = json_object_set(req, "artifacts", TAKE_PTR(arts))) < 0 ||
	    (err = json_object_set(req, "requests", TAKE_PTR(reqs))) < 0 ||
	    (doc->comment && (err = json_object_set_string(opt, "comment", doc->comment)) < 0))
		return err;
	*ret_req = TAKE_PTR(req);
	*ret_opt = TAKE_PTR(opt);
	return RB_OK;
}

int request_doc_emit(const struct request_doc *doc, struct rb_buf *out)
{
	struct json_value *req = NULL, *opt = NULL;
	size_t before;
	int err;

	if (!doc || !out)
		return rb_err_set(RB_E_INVAL, "request emit: missing argument");
	before = out->len;
	if ((err = doc_json(doc, &req, &opt)) < 0)
		return rb_err_set(err, "request %s/%s: cannot build JSON", doc->node, doc->build_id);
	if ((err = rq_emit_envelope(REQUEST_FORMAT, REQUEST_VERSION, req, opt, out)) < 0)
		return rb_err_set(err, "request %s/%s: cannot write JSON", doc->node, doc->build_id);
	/* Never write what no sign node would read. */
	if (out->len - before > REQUEST_MAX_BYTES) {
		out->len = before;
		return rb_err_set(RB_E_TOOBIG, "request %s/%s: the document is over %zu bytes; split "
				  "the build's requests", doc->node, doc->build_id, REQUEST_MAX_BYTES);
	}
	return RB_OK;
}
