/* Reading one build's documents from the queue and checking who added
 * the response. */
#include <stdio.h>
#include <string.h>

#include "apply/apply.h"
#include "apply/fetch.h"
#include "request/capture_request.h"
#include "request/request.h"
#include "request/response.h"
#include "util/cleanup.h"
#include "util/err.h"

struct fetch_doc {
	const char *path;
	char added[QUEUE_OID_HEX + 1];
	unsigned n_added, n_other;
};

struct fetch_walk {
	struct queue *q;
	struct fetch_doc docs[2];
	const char *commit; /* being walked */
};

static int fetch_on_change(void *ctx, const struct queue_change *ch)
{
	struct fetch_walk *w = ctx;

	for (size_t i = 0; i < ELEMENTSOF(w->docs); i++) {
		struct fetch_doc *d = &w->docs[i];

		if (strcmp(ch->path, d->path) != 0 && strcmp(ch->old_path, d->path) != 0)
			continue;
		if (ch->kind == QUEUE_CHANGE_ADDED && strcmp(ch->path, d->path) == 0) {
			d->n_added++;
			snprintf(d->added, sizeof(d->added), "%s", w->commit);
		} else {
			d->n_other++;
		}
	}
	return 0;
}

static int fetch_on_commit(void *ctx, const char *commit)
{
	struct fetch_walk *w = ctx;

	w->commit = commit;
	return queue_commit_changes(w->q, commit, 0, fetch_on_change, w);
}

void apply_fetched_free(struct apply_fetched *f)
{
	if (!f)
		return;
	free(f->request);
	free(f->response);
	free(f);
}

static int fetch_read(struct queue *q, const char *commit, const char *path, size_t cap,
		      uint8_t **ret, size_t *ret_len)
{
	int err = queue_read_file(q, commit, path, cap, ret, ret_len);

	if (err == RB_E_TOOBIG)
		return rb_err_set(err, "%s at %s: over the %zu-byte cap of its format", path, commit,
				  cap);
	return err;
}

int apply_fetch(struct queue *q, const struct manifest *m, const char *node, const char *build_id,
		struct apply_fetched **ret)
{
	_cleanup_(apply_fetched_freep) struct apply_fetched *f = NULL;
	_cleanup_free_ char *req_path = NULL, *resp_path = NULL;
	_cleanup_free_ uint8_t *sig = NULL, *signed_data = NULL, *probe = NULL;
	struct fetch_walk w = { .q = q };
	size_t sig_len, signed_len, probe_len;
	int err;

	if (!q || !m || !node || !build_id || !ret)
		return rb_err_set(RB_E_INVAL, "apply: missing argument");
	if (!request_node_valid(node))
		return rb_err_set(RB_E_INVAL, "node name \"%s\" is not valid ([A-Za-z0-9][A-Za-z0-9._-], "
				  "at most 64)", node);
	if (!capture_build_id_valid(build_id))
		return rb_err_set(RB_E_INVAL, "build id \"%s\" is not valid (1-128 of A-Za-z0-9._-, "
				  "not starting with '.' or '-')", build_id);
	if (asprintf(&req_path, "requests/%s/%s.json", node, build_id) < 0 ||
	    asprintf(&resp_path, "responses/%s/%s.json", node, build_id) < 0)
		return RB_E_NOMEM;
	if (!(f = calloc(1, sizeof(*f))))
		return RB_E_NOMEM;
	if ((err = queue_fetch(q, f->tip)) < 0)
		return err;
	if (!f->tip[0])
		return rb_err_set(RB_E_NOTFOUND, "the queue (local mirror %s) has no commits yet; submit the build first",
				  queue_path(q));

	/* Present at the tip? This is what tells "not submitted" from "not
	 * signed yet"; the contents come from the adding commits below. */
	err = queue_read_file(q, f->tip, req_path, REQUEST_MAX_BYTES, &probe, &probe_len);
	if (err == RB_E_NOTFOUND)
		return rb_err_set(err, "%s is not in the queue; run 'rombsr submit' for build \"%s\" "
				  "first", req_path, build_id);
	if (err < 0 && err != RB_E_TOOBIG)
		return err;
	free(TAKE_PTR(probe));
	err = queue_read_file(q, f->tip, resp_path, RESPONSE_MAX_BYTES, &probe, &probe_len);
	if (err == RB_E_NOTFOUND)
		return rb_err_set(err, "no response for build \"%s\" of node \"%s\" yet (%s); run "
				  "'rombsr apply' again when the sign node has answered", build_id,
				  node, resp_path);
	if (err < 0 && err != RB_E_TOOBIG)
		return err;

	w.docs[0].path = req_path;
	w.docs[1].path = resp_path;
	if ((err = queue_walk(q, NULL, f->tip, fetch_on_commit, &w)) < 0)
		return err;
	for (size_t i = 0; i < ELEMENTSOF(w.docs); i++)
		if (w.docs[i].n_added != 1 || w.docs[i].n_other != 0)
			return rb_err_set(RB_E_VERIFY, "%s: added %u times and changed %u times in the "
					  "queue's history; documents are added once and never "
					  "changed, so this queue was tampered with", w.docs[i].path,
					  w.docs[i].n_added, w.docs[i].n_other);
	memcpy(f->request_commit, w.docs[0].added, sizeof(f->request_commit));
	memcpy(f->response_commit, w.docs[1].added, sizeof(f->response_commit));

	err = queue_commit_signature(q, f->response_commit, &sig, &sig_len, &signed_data,
				     &signed_len);
	if (err == RB_E_NOTFOUND)
		return rb_err_set(RB_E_VERIFY, "%s: added by commit %s, which is not signed; only the "
				  "sign node's queue key may publish responses, refused", resp_path,
				  f->response_commit);
	if (err < 0)
		return err;
	if ((err = apply_commit_check(m, sig, sig_len, signed_data, signed_len, &f->queue_key)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return rb_err_set(err, "%s (commit %s): %s", resp_path, f->response_commit, detail);
	}
	if ((err = fetch_read(q, f->request_commit, req_path, REQUEST_MAX_BYTES, &f->request,
			      &f->request_len)) < 0 ||
	    (err = fetch_read(q, f->response_commit, resp_path, RESPONSE_MAX_BYTES, &f->response,
			      &f->response_len)) < 0)
		return err;
	*ret = TAKE_PTR(f);
	return RB_OK;
}
