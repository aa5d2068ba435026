/* Claim documents (docs/formats/claim.md): canonical emission, strict
 * parse, paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request/capture_request.h"
#include "request/claim.h"
#include "request/request-internal.h"
#include "util/err.h"

void claim_doc_free(struct claim_doc *c)
{
	free(c);
}

/* The rules a claim must meet, as a message for the first one broken
 * (NULL if none is). */
static const char *claim_rule_broken(const struct claim_doc *c)
{
	if (!request_node_valid(c->node))
		return "node must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}";
	if (!capture_build_id_valid(c->build_id))
		return "build_id must be a valid build id";
	if (c->generation < 1 || c->generation > CLAIM_MAX_GENERATION)
		return "generation must be 1-1000000";
	if (!request_node_valid(c->sign_node))
		return "sign_node must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}";
	if (!rq_text_valid(c->origin, CLAIM_ORIGIN_MAX, false) || strchr(c->origin, ' ') ||
	    strchr(c->origin, '+'))
		return "origin must be 1-255 characters without spaces, '+' or control characters";
	if (c->expires <= c->claimed || c->expires - c->claimed > CLAIM_MAX_LEASE_SECONDS)
		return "expires must be after claimed, by at most 3600 seconds";
	return NULL;
}

int claim_doc_emit(const struct claim_doc *c, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *req = NULL;
	const char *broken;
	int err;

	if (!c || !out)
		return rb_err_set(RB_E_INVAL, "claim emit: missing argument");
	if ((broken = claim_rule_broken(c)))
		return rb_err_set(RB_E_INVAL, "claim emit: %s", broken);
	if ((err = json_new_object(&req)) < 0 || (err = json_object_set_string(req, "node", c->node)) < 0 ||
	    (err = json_object_set_string(req, "build_id", c->build_id)) < 0 ||
	    (err = json_object_set_int(req, "generation", c->generation)) < 0 ||
	    (err = json_object_set_string(req, "sign_node", c->sign_node)) < 0 ||
	    (err = rq_set_hex(req, "instance", c->instance, CLAIM_INSTANCE_LEN)) < 0 ||
	    (err = json_object_set_string(req, "origin", c->origin)) < 0 ||
	    (err = rq_set_time(req, "claimed", c->claimed)) < 0 ||
	    (err = rq_set_time(req, "expires", c->expires)) < 0 ||
	    (err = rq_set_hex(req, "request_sha256", c->request_sha256, 32)) < 0 ||
	    (err = rq_emit_envelope(CLAIM_FORMAT, CLAIM_VERSION, TAKE_PTR(req), NULL, out)) < 0)
		return rb_err_set(err, "claim: cannot build JSON");
	return RB_OK;
}

static int copy_string(const struct json_value *obj, const char *key, char *out, size_t n)
{
	const char *s;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	if (strlen(s) >= n)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE, "%s is longer than %zu bytes", key,
				    n - 1);
	memcpy(out, s, strlen(s) + 1);
	return RB_OK;
}

static int parse_tree(const struct json_value *root, struct claim_doc **ret)
{
	static const char *const keys[] = { "node",   "build_id", "generation", "sign_node",      "instance",
					    "origin", "claimed",  "expires",    "request_sha256", NULL };
	_cleanup_(claim_doc_freep) struct claim_doc *c = calloc(1, sizeof(*c));
	const struct json_value *req;
	const char *broken;
	int64_t gen;
	int err;

	if (!c)
		return RB_E_NOMEM;
	if ((err = rq_check_envelope(root, CLAIM_FORMAT, CLAIM_VERSION, &req)) < 0 ||
	    (err = json_object_check_keys(req, keys, NULL)) < 0 ||
	    (err = copy_string(req, "node", c->node, sizeof(c->node))) < 0 ||
	    (err = copy_string(req, "build_id", c->build_id, sizeof(c->build_id))) < 0 ||
	    (err = json_get_int_range(req, "generation", 1, CLAIM_MAX_GENERATION, &gen)) < 0 ||
	    (err = copy_string(req, "sign_node", c->sign_node, sizeof(c->sign_node))) < 0 ||
	    (err = rq_get_hex(req, "instance", c->instance, CLAIM_INSTANCE_LEN)) < 0 ||
	    (err = copy_string(req, "origin", c->origin, sizeof(c->origin))) < 0 ||
	    (err = rq_get_time(req, "claimed", &c->claimed)) < 0 ||
	    (err = rq_get_time(req, "expires", &c->expires)) < 0 ||
	    (err = rq_get_hex(req, "request_sha256", c->request_sha256, 32)) < 0)
		return err;
	c->generation = (uint32_t)gen;
	if ((broken = claim_rule_broken(c)))
		return json_err_set(req, RB_E_PARSE, "%s", broken);
	*ret = TAKE_PTR(c);
	return RB_OK;
}

int claim_doc_parse(const char *text, size_t len, const char *source, struct claim_doc **ret)
{
	_cleanup_json_ struct json_value *root = NULL;
	int err;

	if (!source)
		source = "(unnamed claim)";
	if (!ret)
		return rb_err_set(RB_E_INVAL, "%s: missing argument", source);
	if ((err = rq_json_parse(text, len, CLAIM_MAX_BYTES, source, &root)) < 0)
		return err;
	if ((err = parse_tree(root, ret)) < 0)
		return rq_err_prefix(err, source);
	return RB_OK;
}

int claim_path(const char *node, const char *build_id, uint32_t generation, char *buf, size_t n)
{
	int len;

	if (!request_node_valid(node) || !capture_build_id_valid(build_id) || generation < 1 ||
	    generation > CLAIM_MAX_GENERATION)
		return rb_err_set(RB_E_INVAL, "claim path: invalid node, build id or generation");
	len = snprintf(buf, n, "claims/%s/%s/%u.json", node, build_id, generation);
	if (len < 0 || (size_t)len >= n)
		return rb_err_set(RB_E_INVAL, "claim path: buffer too small");
	return RB_OK;
}

bool claim_file_generation(const char *name, uint32_t *ret)
{
	uint32_t g = 0;
	size_t i = 0;

	if (!name || name[0] < '1' || name[0] > '9')
		return false;
	for (; name[i] >= '0' && name[i] <= '9'; i++) {
		if (i >= 7)
			return false;
		g = g * 10 + (uint32_t)(name[i] - '0');
	}
	if (strcmp(name + i, ".json") != 0 || g > CLAIM_MAX_GENERATION)
		return false;
	*ret = g;
	return true;
}
