/* Approval documents (docs/formats/request.md, "Approvals"): build,
 * canonical emission, strict parse. */
#include <string.h>

#include "keys/keyspec.h"
#include "request/approval.h"
#include "request/request-internal.h"
#include "util/err.h"

void approval_doc_free(struct approval_doc *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_keys; i++)
		free(a->keys[i]);
	free(a->keys);
	free(a->approver);
	free(a->node);
	free(a->build_id);
	free(a);
}

bool approval_doc_has_key(const struct approval_doc *a, const char *key_name)
{
	for (size_t i = 0; a && key_name && i < a->n_keys; i++)
		if (strcmp(a->keys[i], key_name) == 0)
			return true;
	return false;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Keys valid and unique; *ret_bad is the offending index. Sorting a copy
 * keeps the check O(n log n) and the document order intact. */
static int check_keys(char *const *keys, size_t n, size_t *ret_bad, bool *ret_dup)
{
	_cleanup_free_ char **sorted = NULL;

	*ret_dup = false;
	if (n == 0 || n > APPROVAL_MAX_KEYS) {
		*ret_bad = 0;
		return RB_E_INVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!keys[i] || !key_name_valid(keys[i])) {
			*ret_bad = i;
			return RB_E_INVAL;
		}
	if (!(sorted = malloc(n * sizeof(*sorted))))
		return RB_E_NOMEM;
	memcpy(sorted, keys, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			for (size_t j = 0; j < n; j++)
				if (strcmp(keys[j], sorted[i]) == 0)
					*ret_bad = j;
			*ret_dup = true;
			return RB_E_INVAL;
		}
	return RB_OK;
}

static struct approval_doc *approval_alloc(const char *approver, const char *node,
					   const char *build_id, size_t n_keys)
{
	struct approval_doc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	if (!(a->approver = strdup(approver)) || !(a->node = strdup(node)) ||
	    !(a->build_id = strdup(build_id)) || !(a->keys = calloc(n_keys, sizeof(*a->keys)))) {
		approval_doc_free(a);
		return NULL;
	}
	return a;
}

int approval_doc_new(const char *approver, const char *node, const char *build_id,
		     const uint8_t request_sha256[32], const char *const *keys, size_t n_keys,
		     struct approval_doc **ret)
{
	_cleanup_(approval_doc_freep) struct approval_doc *a = NULL;
	size_t bad;
	bool dup;
	int err;

	if (!ret || !request_sha256 || (!keys && n_keys))
		return rb_err_set(RB_E_INVAL, "approval: missing argument");
	if (!request_node_valid(approver) || !request_node_valid(node))
		return rb_err_set(RB_E_INVAL, "approval: approver and node names must match "
				  "[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (!capture_build_id_valid(build_id))
		return rb_err_set(RB_E_INVAL, "approval: invalid build id");
	if ((err = check_keys((char *const *)keys, n_keys, &bad, &dup)) < 0)
		return err == RB_E_INVAL ? rb_err_set(err, "approval: list 1-%d distinct, valid key "
						       "names (entry %zu is %s)", APPROVAL_MAX_KEYS,
						       bad, dup ? "a repeat" : "invalid") : err;
	if (!(a = approval_alloc(approver, node, build_id, n_keys)))
		return RB_E_NOMEM;
	for (size_t i = 0; i < n_keys; i++) {
		if (!(a->keys[i] = strdup(keys[i])))
			return RB_E_NOMEM;
		a->n_keys++;
	}
	memcpy(a->request_sha256, request_sha256, 32);
	*ret = TAKE_PTR(a);
	return RB_OK;
}

int approval_doc_emit(const struct approval_doc *a, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *req = NULL, *keys = NULL;
	int err;

	if (!a || !out)
		return rb_err_set(RB_E_INVAL, "approval emit: missing argument");
	if ((err = json_new_object(&req)) < 0 || (err = json_new_array(&keys)) < 0 ||
	    (err = json_object_set_string(req, "approver", a->approver)) < 0 ||
	    (err = json_object_set_string(req, "node", a->node)) < 0 ||
	    (err = json_object_set_string(req, "build_id", a->build_id)) < 0 ||
	    (err = rq_set_hex(req, "request_sha256", a->request_sha256, 32)) < 0)
		return rb_err_set(err, "approval: cannot build JSON");
	for (size_t i = 0; i < a->n_keys; i++) {
		struct json_value *v = NULL;

		if ((err = json_new_string(a->keys[i], &v)) < 0 || (err = json_array_append(keys, v)) < 0)
			return rb_err_set(err, "approval: cannot build JSON");
	}
	if ((err = json_object_set(req, "keys", TAKE_PTR(keys))) < 0 ||
	    (err = rq_emit_envelope(APPROVAL_FORMAT, APPROVAL_VERSION, TAKE_PTR(req), NULL, out)) < 0)
		return rb_err_set(err, "approval: cannot write JSON");
	return RB_OK;
}

static int parse_tree(const struct json_value *root, struct approval_doc **ret)
{
	static const char *const keys[] = { "approver", "node", "build_id", "request_sha256", "keys",
					    NULL };
	_cleanup_(approval_doc_freep) struct approval_doc *a = NULL;
	const struct json_value *req, *karr;
	const char *approver, *node, *build_id;
	size_t n, bad;
	bool dup;
	int err;

	if ((err = rq_check_envelope(root, APPROVAL_FORMAT, APPROVAL_VERSION, &req)) < 0 ||
	    (err = json_object_check_keys(req, keys, NULL)) < 0 ||
	    (err = json_get_string(req, "approver", &approver)) < 0 ||
	    (err = json_get_string(req, "node", &node)) < 0 ||
	    (err = json_get_string(req, "build_id", &build_id)) < 0)
		return err;
	if (!request_node_valid(approver))
		return json_err_set(json_object_get(req, "approver"), RB_E_PARSE,
				    "approver must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (!request_node_valid(node))
		return json_err_set(json_object_get(req, "node"), RB_E_PARSE,
				    "node must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (!capture_build_id_valid(build_id))
		return json_err_set(json_object_get(req, "build_id"), RB_E_PARSE,
				    "build_id must be 1-%d characters of [A-Za-z0-9._-], not starting "
				    "with '.' or '-'", CAPTURE_BUILD_ID_MAX);
	if ((err = json_get_array(req, "keys", &karr)) < 0)
		return err;
	n = json_array_size(karr);
	if (n == 0 || n > APPROVAL_MAX_KEYS)
		return json_err_set(karr, RB_E_PARSE, "keys must list 1-%d key names", APPROVAL_MAX_KEYS);
	if (!(a = approval_alloc(approver, node, build_id, n)))
		return RB_E_NOMEM;
	if ((err = rq_get_hex(req, "request_sha256", a->request_sha256, 32)) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		const char *s;

		if ((err = json_expect_string(json_array_get(karr, i), &s)) < 0)
			return err;
		if (!(a->keys[i] = strdup(s)))
			return RB_E_NOMEM;
		a->n_keys++;
	}
	if ((err = check_keys(a->keys, a->n_keys, &bad, &dup)) < 0)
		return err == RB_E_INVAL ? json_err_set(json_array_get(karr, bad), RB_E_PARSE,
							"key name \"%.64s\" is %s", a->keys[bad],
							dup ? "listed twice" : "invalid") : err;
	*ret = TAKE_PTR(a);
	return RB_OK;
}

int approval_doc_parse(const char *text, size_t len, const char *source,
		       struct approval_doc **ret)
{
	_cleanup_json_ struct json_value *root = NULL;
	int err;

	if (!source)
		source = "(unnamed approval)";
	if (!ret)
		return rb_err_set(RB_E_INVAL, "%s: missing argument", source);
	if ((err = rq_json_parse(text, len, APPROVAL_MAX_BYTES, source, &root)) < 0)
		return err;
	if ((err = parse_tree(root, ret)) < 0)
		return rq_err_prefix(err, source);
	return RB_OK;
}
