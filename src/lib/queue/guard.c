/* The queue guard: docs/QUEUE.md "Rules the guard enforces", in order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/manifest.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "queue/guard.h"
#include "request/approval.h"
#include "request/capture_request.h"
#include "request/claim.h"
#include "request/request.h"
#include "request/response.h"
#include "util/err.h"
#include "util/encode.h"

#define ZERO_OID "0000000000000000000000000000000000000000"
#define ABBREV 12

struct guard {
	const struct sign_config *cfg;
	struct gpgsig *keyring;
	char queue_fpr[GPGSIG_FPR_HEX + 1]; /* "" if the manifest has no queue OpenPGP key */
	char ref[300];                      /* refs/heads/<branch> */
};

enum area { AREA_REQUESTS, AREA_APPROVALS, AREA_RESPONSES };

/* Who signed one commit, and so where it may write. */
struct signer {
	enum area area;
	const char *name; /* node or approver; NULL for the queue key */
};

struct walk {
	struct guard *g;
	struct queue *q;
	bool creating;
	size_t seen;
};

struct commit_check {
	struct guard *g;
	struct queue *q;
	const char *commit;
	struct signer who;
};

int guard_new(const struct sign_config *cfg, const struct manifest *m, struct gpgsig *keyring,
	      struct guard **ret)
{
	struct guard *g;

	if (!cfg || !keyring || !ret)
		return RB_E_INVAL;
	if (!(g = calloc(1, sizeof(*g))))
		return RB_E_NOMEM;
	g->cfg = cfg;
	g->keyring = keyring;
	snprintf(g->ref, sizeof(g->ref), "refs/heads/%s", cfg->queue.branch);
	if (m) {
		const struct manifest_key *k = manifest_find(m, "queue");

		if (k && k->openpgp)
			rb_hex_format_upper(k->openpgp_fpr, 20, g->queue_fpr);
	}
	*ret = g;
	return RB_OK;
}

void guard_free(struct guard *g)
{
	free(g);
}

static int refuse(const char *commit, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(const char *commit, const char *fmt, ...)
{
	char reason[RB_ERR_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (commit)
		return rb_err_set(RB_E_PERM, "commit %.*s: %s", ABBREV, commit, reason);
	return rb_err_set(RB_E_PERM, "%s", reason);
}

/* ---- rule 3: the signature and the allow-list ---------------------------- */

static int signer_identify(struct guard *g, struct queue *q, const char *commit, struct signer *ret)
{
	_cleanup_free_ uint8_t *sig = NULL, *data = NULL;
	const struct sign_node *node = NULL;
	const struct sign_approver *approver = NULL;
	char fpr[GPGSIG_FPR_HEX + 1];
	size_t siglen, len;
	int err;

	err = queue_commit_signature(q, commit, &sig, &siglen, &data, &len);
	if (err == RB_E_NOTFOUND)
		return refuse(commit, "is not signed; every queue commit must carry an OpenPGP signature "
			      "(git commit -S, rombsr submit)");
	if (err < 0)
		return refuse(commit, "has an unreadable signature: %s", rb_err_message(err));
	err = gpgsig_verify_detached(g->keyring, sig, siglen, data, len, fpr);
	if (err == RB_E_KEY)
		return refuse(commit, "%s, which is not on the allow-list", rb_err_message(err));
	if (err < 0)
		return refuse(commit, "signature does not verify: %s", rb_err_message(err));
	if (g->queue_fpr[0] && strcmp(fpr, g->queue_fpr) == 0) {
		*ret = (struct signer){ AREA_RESPONSES, NULL };
		return RB_OK;
	}
	if (sign_config_find_fingerprint(g->cfg, fpr, &node, &approver)) {
		if (node)
			*ret = (struct signer){ AREA_REQUESTS, node->name };
		else
			*ret = (struct signer){ AREA_APPROVALS, approver->name };
		return RB_OK;
	}
	return refuse(commit, "signed by key %s, which is not on the allow-list (no configured node, approver "
		      "or the queue key)", fpr);
}

/* ---- rules 5 and 6: what a commit adds ----------------------------------- */

struct doc_path {
	char approver[REQUEST_ARTIFACT_NAME_MAX + 1];
	char node[REQUEST_ARTIFACT_NAME_MAX + 1];
	char build[REQUEST_ARTIFACT_NAME_MAX + 1];
	uint32_t generation; /* a claim's; 0 for every other document */
};

static const char *area_name(const struct signer *w, char *buf, size_t n)
{
	switch (w->area) {
	case AREA_REQUESTS: snprintf(buf, n, "requests/%s/", w->name); break;
	case AREA_APPROVALS: snprintf(buf, n, "approvals/%s/", w->name); break;
	case AREA_RESPONSES: snprintf(buf, n, "responses/ or claims/"); break;
	}
	return buf;
}

static int path_check(const struct commit_check *cc, const char *path, struct doc_path *dp)
{
	const struct signer *w = &cc->who;
	struct request_path rp;
	char area[128];
	bool ok = request_path_parse(path, &rp);

	switch (w->area) {
	case AREA_REQUESTS:
		ok = ok && rp.area == REQUEST_PATH_REQUEST && strcmp(rp.node, w->name) == 0;
		break;
	case AREA_APPROVALS:
		ok = ok && rp.area == REQUEST_PATH_APPROVAL && strcmp(rp.approver, w->name) == 0;
		break;
	case AREA_RESPONSES:
		/* The queue key writes responses and the sign nodes' claims. */
		ok = ok && (rp.area == REQUEST_PATH_RESPONSE || rp.area == REQUEST_PATH_CLAIM);
		break;
	}
	if (ok) {
		snprintf(dp->approver, sizeof(dp->approver), "%s", rp.approver);
		snprintf(dp->node, sizeof(dp->node), "%s", rp.node);
		snprintf(dp->build, sizeof(dp->build), "%s", rp.build);
		dp->generation = rp.generation;
	}
	if (!ok)
		return refuse(cc->commit, "adds %.200s outside its signer's area %s%s", path,
			      area_name(w, area, sizeof(area)),
			      w->area == AREA_REQUESTS	   ? "<build-id>.json"
			      : w->area == AREA_RESPONSES ? "<node>/<build-id>.json or claims/<node>/<build-id>/<generation>.json"
							   : "<node>/<build-id>.json");
	if (w->area != AREA_REQUESTS && !sign_config_find_node(cc->g->cfg, dp->node))
		return refuse(cc->commit, "adds %.200s for node \"%s\", which is not configured", path, dp->node);
	return RB_OK;
}

/* The largest document any path of the signer's area may hold (what is
 * inflated at all); path_cap() is the one for one path. */
static size_t doc_cap(const struct commit_check *cc)
{
	switch (cc->who.area) {
	case AREA_REQUESTS: return (size_t)cc->g->cfg->queue.max_request_bytes;
	case AREA_APPROVALS: return APPROVAL_MAX_BYTES;
	case AREA_RESPONSES: return RESPONSE_MAX_BYTES;
	}
	return 0;
}

static size_t path_cap(const struct commit_check *cc, const struct doc_path *dp)
{
	return dp->generation ? CLAIM_MAX_BYTES : doc_cap(cc);
}

static int mismatch(const struct commit_check *cc, const char *path, const char *what, const char *doc_value,
		    const char *path_value)
{
	return refuse(cc->commit, "%.200s names %s \"%.64s\" but its path says \"%.64s\"", path, what, doc_value,
		      path_value);
}

/* A claim: valid, for the build and generation its path names, the
 * generation after one already on the branch (or the first), and for a
 * build not answered yet. */
static int claim_check(const struct commit_check *cc, const struct queue_change *c, const struct doc_path *dp)
{
	_cleanup_(claim_doc_freep) struct claim_doc *d = NULL;
	char prev[QUEUE_MAX_PATH + 1], resp[QUEUE_MAX_PATH + 1], gen[16], doc_gen[16];
	bool exists = false;
	int err;

	if ((err = claim_doc_parse((const char *)c->data, (size_t)c->size, c->path, &d)) < 0)
		return err == RB_E_NOMEM ? err
					 : refuse(cc->commit, "%.200s is not a valid document: %s", c->path,
						  rb_err_message(err));
	if (strcmp(d->node, dp->node) != 0)
		return mismatch(cc, c->path, "node", d->node, dp->node);
	if (strcmp(d->build_id, dp->build) != 0)
		return mismatch(cc, c->path, "build id", d->build_id, dp->build);
	if (d->generation != dp->generation) {
		snprintf(gen, sizeof(gen), "%u", dp->generation);
		snprintf(doc_gen, sizeof(doc_gen), "%u", d->generation);
		return mismatch(cc, c->path, "generation", doc_gen, gen);
	}
	if (dp->generation > 1) {
		if ((err = claim_path(dp->node, dp->build, dp->generation - 1, prev, sizeof(prev))) < 0 ||
		    (err = queue_has_file(cc->q, cc->commit, prev, &exists)) < 0)
			return err;
		if (!exists)
			return refuse(cc->commit, "adds claim generation %u of %s/%s without generation %u; "
				      "claims of a build are numbered from 1 without gaps", dp->generation,
				      dp->node, dp->build, dp->generation - 1);
	}
	snprintf(resp, sizeof(resp), "responses/%s/%s.json", dp->node, dp->build);
	if ((err = queue_has_file(cc->q, cc->commit, resp, &exists)) < 0)
		return err;
	if (exists)
		return refuse(cc->commit, "claims %s/%s, which is answered already (%s)", dp->node, dp->build, resp);
	return RB_OK;
}

static int schema_check(const struct commit_check *cc, const struct queue_change *c, const struct doc_path *dp)
{
	const char *text = (const char *)c->data;
	size_t len = (size_t)c->size;
	int err = RB_E_PARSE;

	switch (cc->who.area) {
	case AREA_REQUESTS: {
		_cleanup_(request_doc_freep) struct request_doc *d = NULL;

		if ((err = request_doc_parse(text, len, c->path, NULL, doc_cap(cc), &d)) < 0)
			break;
		if (strcmp(d->node, dp->node) != 0)
			return mismatch(cc, c->path, "node", d->node, dp->node);
		if (strcmp(d->build_id, dp->build) != 0)
			return mismatch(cc, c->path, "build id", d->build_id, dp->build);
		return RB_OK;
	}
	case AREA_APPROVALS: {
		_cleanup_(approval_doc_freep) struct approval_doc *d = NULL;

		if ((err = approval_doc_parse(text, len, c->path, &d)) < 0)
			break;
		if (strcmp(d->approver, dp->approver) != 0)
			return mismatch(cc, c->path, "approver", d->approver, dp->approver);
		if (strcmp(d->node, dp->node) != 0)
			return mismatch(cc, c->path, "node", d->node, dp->node);
		if (strcmp(d->build_id, dp->build) != 0)
			return mismatch(cc, c->path, "build id", d->build_id, dp->build);
		return RB_OK;
	}
	case AREA_RESPONSES: {
		_cleanup_(response_doc_freep) struct response_doc *d = NULL;

		if (dp->generation)
			return claim_check(cc, c, dp);
		if ((err = response_doc_parse(text, len, c->path, &d)) < 0)
			break;
		if (strcmp(d->node, dp->node) != 0)
			return mismatch(cc, c->path, "node", d->node, dp->node);
		if (strcmp(d->build_id, dp->build) != 0)
			return mismatch(cc, c->path, "build id", d->build_id, dp->build);
		return RB_OK;
	}
	}
	if (err == RB_E_NOMEM)
		return err;
	return refuse(cc->commit, "%.200s is not a valid document: %s", c->path, rb_err_message(err));
}

static int change_check(void *ctx, const struct queue_change *c)
{
	const struct commit_check *cc = ctx;
	struct doc_path dp = { 0 };
	int err;

	if (c->kind != QUEUE_CHANGE_ADDED)
		return refuse(cc->commit, "%s existing file %.200s; queue files are added once and never changed "
			      "or removed", c->kind == QUEUE_CHANGE_DELETED ? "deletes"
					    : c->kind == QUEUE_CHANGE_RENAMED ? "renames"
					    : c->kind == QUEUE_CHANGE_TYPECHANGE ? "changes the type of"
					    : "modifies",
			      c->old_path);
	if (c->mode != 0100644)
		return refuse(cc->commit, "adds %.200s as mode %06o; documents are regular files (100644)", c->path,
			      c->mode);
	if ((err = path_check(cc, c->path, &dp)) < 0)
		return err;
	if (!c->data || c->size > path_cap(cc, &dp))
		return refuse(cc->commit, "%.200s is %llu bytes, over the cap of %zu", c->path,
			      (unsigned long long)c->size, path_cap(cc, &dp));
	return schema_check(cc, c, &dp);
}

/* ---- rules 3-6 for one commit -------------------------------------------- */

struct change_count {
	const char *commit;
	size_t n;
};

/* Every added document is parsed: bound the work one commit can ask for
 * before any of it is done. */
static int change_count(void *ctx, const struct queue_change *c)
{
	struct change_count *cc = ctx;

	(void)c;
	if (++cc->n > QUEUE_MAX_FILES_PER_COMMIT)
		return refuse(cc->commit, "changes more than %d files; a build is one commit of a few documents",
			      QUEUE_MAX_FILES_PER_COMMIT);
	return RB_OK;
}

static int commit_check(void *ctx, const char *commit)
{
	struct walk *w = ctx;
	struct queue_commit_info info;
	struct commit_check cc = { w->g, w->q, commit, { AREA_REQUESTS, NULL } };
	struct change_count count = { commit, 0 };
	int err;

	if (++w->seen > GUARD_MAX_COMMITS)
		return refuse(NULL, "more than %d new commits in one update; push in smaller steps", GUARD_MAX_COMMITS);
	if ((err = queue_commit_info(w->q, commit, &info)) < 0)
		return err;
	if (info.n_parents > 1)
		return refuse(commit, "is a merge (%u parents); the queue is a line: rebase onto the queue tip",
			      info.n_parents);
	if (info.n_parents == 0 && !(w->creating && w->seen == 1))
		return refuse(commit, "is a root commit; only the commit that creates the branch may have no parent");
	if ((err = signer_identify(w->g, w->q, commit, &cc.who)) < 0)
		return err;
	if ((err = queue_commit_changes(w->q, commit, 0, change_count, &count)) < 0)
		return err;
	return queue_commit_changes(w->q, commit, doc_cap(&cc), change_check, &cc);
}

/* ---- rules 1 and 2 -------------------------------------------------------- */

static bool oid_is_zero(const char *s)
{
	return strcmp(s, ZERO_OID) == 0;
}

int guard_check_update(struct guard *g, struct queue *q, const char *old, const char *new, const char *ref)
{
	struct walk w = { g, q, false, 0 };
	bool ff;
	int err;

	if (!g || !q || !old || !new || !ref)
		return RB_E_INVAL;
	if (strlen(old) != QUEUE_OID_HEX || strlen(new) != QUEUE_OID_HEX ||
	    !rb_hex_is_lower(old, QUEUE_OID_HEX) || !rb_hex_is_lower(new, QUEUE_OID_HEX))
		return refuse(NULL, "malformed update \"%.50s %.50s\"", old, new);
	if (oid_is_zero(new))
		return refuse(NULL, "deletes %.200s; the queue is append-only", ref);
	if (strcmp(ref, g->ref) != 0)
		return refuse(NULL, "only %s may be updated; %.200s is not the queue branch", g->ref, ref);
	if (!queue_has_commit(q, new))
		return refuse(NULL, "%.12s is not a commit", new);
	w.creating = oid_is_zero(old);
	if (!w.creating) {
		if ((err = queue_is_ancestor(q, old, new, &ff)) < 0)
			return err;
		if (!ff)
			return refuse(NULL, "not a fast-forward: %.12s is not an ancestor of %.12s (the history may "
				      "not be rewritten)", old, new);
	}
	err = queue_walk(q, w.creating ? NULL : old, new, commit_check, &w);
	if (err == RB_E_STATE)
		return refuse(NULL, "not a fast-forward along the first-parent line from %.12s to %.12s", old, new);
	return err;
}

int guard_check_history(struct guard *g, struct queue *q, const char *tip)
{
	if (!g)
		return RB_E_INVAL;
	return guard_check_update(g, q, ZERO_OID, tip, g->ref);
}
