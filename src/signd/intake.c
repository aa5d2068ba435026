/* Intake: the queue commits a batch has not seen yet. Every commit's
 * signature is verified and its signer identified before anything in it
 * is read as a document; a commit that fails is refused whole. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "request/approval.h"
#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

int signd_batch_add(struct signd_batch *b, struct signd_item **ret)
{
	if (b->n == b->alloc) {
		size_t na = b->alloc ? b->alloc * 2 : 16;
		struct signd_item *ni = realloc(b->items, na * sizeof(*ni));

		if (!ni)
			return RB_E_NOMEM;
		b->items = ni;
		b->alloc = na;
	}
	memset(&b->items[b->n], 0, sizeof(b->items[b->n]));
	*ret = &b->items[b->n++];
	return RB_OK;
}

void signd_item_clear(struct signd_item *it)
{
	size_t n = it->doc ? it->doc->n_entries : 0;

	for (size_t i = 0; i < n; i++) {
		if (it->message)
			free(it->message[i]);
		if (it->sig)
			free(it->sig[i]);
	}
	free(it->reason);
	free(it->message);
	free(it->sig);
	free(it->sig_len);
	free(it->scheme);
	free(it->leaf);
	free(it->have_leaf);
	request_doc_free(it->doc);
	free(it->data);
	memset(it, 0, sizeof(*it));
}

/* ---- approvals and pending documents (journals) ----------------------- */

static int approval_keep(struct signd *s, const char *approver, const char *node, const char *build,
			 const uint8_t sha[32], const char *keys)
{
	struct signd_approval *a;

	if (s->pol.n_approvals == s->pol.alloc_approvals) {
		size_t na = s->pol.alloc_approvals ? s->pol.alloc_approvals * 2 : 16;
		struct signd_approval *n = realloc(s->pol.approvals, na * sizeof(*n));

		if (!n)
			return RB_E_NOMEM;
		s->pol.approvals = n;
		s->pol.alloc_approvals = na;
	}
	a = &s->pol.approvals[s->pol.n_approvals];
	memset(a, 0, sizeof(*a));
	snprintf(a->approver, sizeof(a->approver), "%s", approver);
	snprintf(a->node, sizeof(a->node), "%s", node);
	snprintf(a->build_id, sizeof(a->build_id), "%s", build);
	memcpy(a->request_sha256, sha, 32);
	if (asprintf(&a->keys, ",%s,", keys) < 0)
		return RB_E_NOMEM;
	s->pol.n_approvals++;
	return RB_OK;
}

static int hex32(const char *h, uint8_t out[32])
{
	_cleanup_free_ uint8_t *b = NULL;
	size_t n;

	if (strlen(h) != 64 || rb_hex_decode(h, 64, &b, &n) < 0 || n != 32)
		return RB_E_PARSE;
	memcpy(out, b, 32);
	return RB_OK;
}

static int approvals_line(void *ctx, const char *line, size_t len)
{
	struct signd *s = ctx;
	char buf[JOURNAL_LINE_MAX + 1], approver[65], node[65], build[CAPTURE_BUILD_ID_MAX + 1],
		sha[65], keys[JOURNAL_LINE_MAX + 1];
	uint8_t d[32];

	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf, "approval %64s %64s %128s %64s %1024s", approver, node, build, sha, keys) != 5 ||
	    hex32(sha, d) < 0)
		return rb_err_set(RB_E_PARSE, "approvals journal: damaged record '%.60s'; restore it from backup", buf);
	return approval_keep(s, approver, node, build, d, keys);
}

int signd_approvals_load(struct signd *s, const char *path)
{
	return journal_open(path, "rombsr-approvals-journal 1", (size_t)64 * 1024 * 1024, approvals_line, s, &s->pol.approvals_journal);
}

int signd_pending_add(struct signd *s, const char *commit, const char *path, int64_t since)
{
	struct signd_pending *p;

	for (size_t i = 0; i < s->in.n_pending; i++)
		if (strcmp(s->in.pending[i].commit, commit) == 0 && strcmp(s->in.pending[i].path, path) == 0)
			return RB_OK;
	if (s->in.n_pending == s->in.alloc_pending) {
		size_t na = s->in.alloc_pending ? s->in.alloc_pending * 2 : 16;
		struct signd_pending *n = realloc(s->in.pending, na * sizeof(*n));

		if (!n)
			return RB_E_NOMEM;
		s->in.pending = n;
		s->in.alloc_pending = na;
	}
	p = &s->in.pending[s->in.n_pending++];
	memset(p, 0, sizeof(*p));
	snprintf(p->commit, sizeof(p->commit), "%s", commit);
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->since = since;
	return RB_OK;
}

static int pending_line(void *ctx, const char *line, size_t len)
{
	struct signd *s = ctx;
	char buf[JOURNAL_LINE_MAX + 1], commit[41], path[QUEUE_MAX_PATH + 1];
	int64_t since;

	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf, "pending %40s %" SCNd64 " %1024s", commit, &since, path) == 3)
		return signd_pending_add(s, commit, path, since);
	if (sscanf(buf, "done %40s %1024s", commit, path) == 2) {
		for (size_t i = 0; i < s->in.n_pending; i++)
			if (strcmp(s->in.pending[i].commit, commit) == 0 && strcmp(s->in.pending[i].path, path) == 0)
				s->in.pending[i].done = true;
		return RB_OK;
	}
	return rb_err_set(RB_E_PARSE, "pending journal: damaged record '%.60s'; restore it from backup", buf);
}

int signd_pending_load(struct signd *s, const char *path)
{
	return journal_open(path, "rombsr-pending-journal 1", (size_t)64 * 1024 * 1024, pending_line, s, &s->in.pending_journal);
}

/* ---- one commit --------------------------------------------------------- */

struct intake_change {
	enum queue_change_kind kind;
	char *path;
	unsigned mode;
	char blob[QUEUE_OID_HEX + 1];
	uint64_t size;               /* from the object header */
};

struct intake_commit {
	struct intake_change *c;
	size_t n, alloc;
};

static void intake_commit_clear(struct intake_commit *ic)
{
	for (size_t i = 0; i < ic->n; i++)
		free(ic->c[i].path);
	free(ic->c);
	memset(ic, 0, sizeof(*ic));
}

static int intake_change_cb(void *ctx, const struct queue_change *c)
{
	struct intake_commit *ic = ctx;
	struct intake_change *x;

	if (ic->n == ic->alloc) {
		size_t na = ic->alloc ? ic->alloc * 2 : 8;
		struct intake_change *n = realloc(ic->c, na * sizeof(*n));

		if (!n)
			return RB_E_NOMEM;
		ic->c = n;
		ic->alloc = na;
	}
	x = &ic->c[ic->n];
	memset(x, 0, sizeof(*x));
	x->kind = c->kind;
	x->mode = c->mode;
	if (!(x->path = strdup(c->path)))
		return RB_E_NOMEM;
	ic->n++;
	memcpy(x->blob, c->blob, sizeof(x->blob));
	x->size = c->size;
	return RB_OK;
}

/* "requests/<node>/<build>.json" -> build (copied into out). */
/* Whether path is a request document in node's own area. */
static bool intake_request_path(const char *path, const struct sign_node *node, struct request_path *ret)
{
	return request_path_parse(path, ret) && ret->area == REQUEST_PATH_REQUEST && strcmp(ret->node, node->name) == 0;
}

/* A whole commit refused: one audit entry per request document it adds,
 * or one naming the commit when it adds none. Nothing in it is believed,
 * so the entries carry no build id. The batch fails if an entry cannot be
 * appended: a refusal is not silent. */
static int intake_refuse_all(struct signd *s, int64_t now, struct intake_commit *ic, const char *fpr,
			     const char *commit, const char *reason)
{
	char what[64];
	size_t added = 0;
	int err;

	for (size_t i = 0; i < ic->n; i++) {
		/* A claim only the queue key may write: one in a refused commit
		 * (a hostile server let it through) holds no build. */
		if (ic->c[i].kind == QUEUE_CHANGE_ADDED && strncmp(ic->c[i].path, "claims/", 7) == 0) {
			uint8_t marker[32];

			signd_forged_claim_marker(ic->c[i].path, marker);
			if ((err = replay_db_record(s->in.replay, marker, NULL, 0)) < 0)
				return err;
		}
		if (ic->c[i].kind != QUEUE_CHANGE_ADDED || strncmp(ic->c[i].path, "requests/", 9) != 0)
			continue;
		added++;
		if ((err = signd_audit_refusal(s, now, NULL, fpr, ic->c[i].path, reason)) < 0)
			return err;
	}
	if (added)
		return RB_OK;
	snprintf(what, sizeof(what), "commit %s", commit);
	return signd_audit_refusal(s, now, NULL, fpr, what, reason);
}

static bool approval_known(const struct signd *s, const char *approver, const char *node, const char *build,
			   const uint8_t sha[32], const char *keys)
{
	for (size_t i = 0; i < s->pol.n_approvals; i++) {
		const struct signd_approval *a = &s->pol.approvals[i];
		size_t kl = strlen(a->keys);

		if (!strcmp(a->approver, approver) && !strcmp(a->node, node) && !strcmp(a->build_id, build) &&
		    !memcmp(a->request_sha256, sha, 32) && kl >= 2 && strlen(keys) == kl - 2 &&
		    !strncmp(a->keys + 1, keys, kl - 2))
			return true;
	}
	return false;
}

static int intake_approval(struct signd *s, const struct sign_approver *a, const struct intake_change *c)
{
	_cleanup_(approval_doc_freep) struct approval_doc *doc = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	char line[JOURNAL_LINE_MAX + 1];
	struct rb_buf keys = RB_BUF_INIT;
	struct request_path rp;
	const char *node, *build;
	int err, n;

	if (!request_path_parse(c->path, &rp) || rp.area != REQUEST_PATH_APPROVAL || strcmp(rp.approver, a->name) != 0)
		return rb_err_set(RB_E_PERM, "%s: not in approver %s's area approvals/%s/<node>/<build>.json",
				  c->path, a->name, a->name);
	node = rp.node;
	build = rp.build;
	if ((err = queue_read_blob(s->q, c->blob, APPROVAL_MAX_BYTES, &data, &len)) < 0 ||
	    (err = approval_doc_parse((const char *)data, len, c->path, &doc)) < 0)
		return err;
	if (strcmp(doc->approver, a->name) || strcmp(doc->node, node) || strcmp(doc->build_id, build))
		return rb_err_set(RB_E_PERM, "%s: the approval names approver %s, node %s, build %s, not its path",
				  c->path, doc->approver, doc->node, doc->build_id);
	for (size_t i = 0; i < doc->n_keys; i++) {
		const struct manifest_key *mk = manifest_find(s->m, doc->keys[i]);

		/* Approving a sign-node key would mean nothing at best; refuse it
		 * so the approver learns it. */
		if (mk && (mk->purposes & KEY_PURPOSES_SIGN_NODE)) {
			err = rb_err_set(RB_E_PERM, "%s: approves key '%s', which signs only what the sign node "
					 "composes; approve signing keys only", c->path, mk->name);
			goto out;
		}
		if ((err = rb_buf_printf(&keys, "%s%s", i ? "," : "", doc->keys[i])) < 0)
			goto out;
	}
	if ((err = rb_buf_terminate(&keys)) < 0)
		goto out;
	/* A commit read again (a batch that carried documents to the next
	 * one walks it again) must not journal its approvals twice. */
	if (approval_known(s, a->name, node, build, doc->request_sha256, (const char *)keys.data))
		goto out;
	{
		_cleanup_free_ char *sha = NULL;

		if ((err = rb_hex_encode(doc->request_sha256, 32, &sha)) < 0)
			goto out;
		n = snprintf(line, sizeof(line), "approval %s %s %s %s %s\n", a->name, node, build, sha,
			     (const char *)keys.data);
		if (n < 0 || (size_t)n >= sizeof(line)) {
			err = rb_err_set(RB_E_TOOBIG, "%s: approval lists too many keys", c->path);
			goto out;
		}
		if ((err = journal_append(s->pol.approvals_journal, line, (size_t)n)) < 0)
			goto out;
		err = approval_keep(s, a->name, node, build, doc->request_sha256, (const char *)keys.data);
	}
	signd_log(s, "event=approval approver=%s node=%s build=%s", a->name, node, build);
out:
	rb_buf_free(&keys);
	return err;
}

struct intake {
	struct signd *s;
	struct signd_batch *b;
};

static bool intake_is_pending(const struct signd *s, const char *commit, const char *path)
{
	for (size_t i = 0; i < s->in.n_pending; i++)
		if (strcmp(s->in.pending[i].commit, commit) == 0 && strcmp(s->in.pending[i].path, path) == 0)
			return true;
	return false;
}

/* The identity of a document the sign node could not read (over the
 * size cap): its blob, so that a batch that walks the commit again knows
 * it was refused already. */
static void intake_unread_sha(const char *blob, uint8_t out[32])
{
	char tag[96];

	snprintf(tag, sizeof(tag), "rombsr-unread-document-v1 %s", blob);
	SHA256((const uint8_t *)tag, strlen(tag), out);
}

void signd_processed_marker(const char *commit, const char *path, uint8_t out[32])
{
	char tag[QUEUE_OID_HEX + QUEUE_MAX_PATH + 32];
	int n = snprintf(tag, sizeof(tag), "rombsr-processed-v1\n%s\n%s", commit, path);

	SHA256((const uint8_t *)tag, n > 0 && (size_t)n < sizeof(tag) ? (size_t)n : sizeof(tag) - 1, out);
}

static void intake_carry(struct signd_batch *b, size_t seq)
{
	if (seq < b->first_carried)
		b->first_carried = seq;
}

/* Whether the batch may take one more document of node: the batch and
 * each node have a cap, so that no node can fill a batch or keep others
 * waiting. */
static bool intake_has_room(const struct signd *s, const struct signd_batch *b, const struct sign_node *node)
{
	return b->documents < s->cfg->queue.batch_documents &&
	       b->node_documents[node - s->cfg->nodes] < s->cfg->queue.batch_node_documents;
}

static int intake_take(struct signd *s, struct signd_batch *b, const struct sign_node *node, const char *path,
		       struct signd_item **ret)
{
	uint8_t psha[32];
	int err;

	SHA256((const uint8_t *)path, strlen(path), psha);
	if ((err = idset_add(&b->paths, psha)) < 0 || (err = signd_batch_add(b, ret)) < 0)
		return err;
	b->documents++;
	b->node_documents[node - s->cfg->nodes]++;
	return RB_OK;
}

static int intake_read_blob(void *ctx, const char *blob, size_t cap, uint8_t **ret, size_t *ret_len)
{
	return queue_read_blob(ctx, blob, cap, ret, ret_len);
}

int signd_intake_document(struct signd *s, struct signd_batch *b, size_t seq, const char *commit,
			  const struct sign_node *node, const char *fpr, const char *path, const char *blob,
			  uint64_t size, signd_blob_reader read, void *read_ctx)
{
	struct signd_item *it;
	struct request_path rp;
	uint8_t sha[32], psha[32], mark[32];
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	bool too_big = size > s->cfg->queue.max_request_bytes;
	int err;

	if (!intake_request_path(path, node, &rp))
		return rb_err_set(RB_E_INVAL, "%s is not a document in node %s's area", path, node->name);
	/* Once per document, whatever the batches and crashes: the
	 * pending journal owns a deferred one, and a document taken
	 * already in this batch is not taken again. */
	SHA256((const uint8_t *)path, strlen(path), psha);
	if (intake_is_pending(s, commit, path) || idset_has(&b->paths, psha))
		return RB_OK;
	/* Processed by an earlier batch that could not move last-commit
	 * past this commit (it carried a later document). The same
	 * bytes under another path are a replay, for decide. */
	signd_processed_marker(commit, path, mark);
	if (replay_db_has_document(s->in.replay, mark))
		return RB_OK;
	if (!intake_has_room(s, b, node)) {
		intake_carry(b, seq);
		if (b->documents >= s->cfg->queue.batch_documents)
			b->walk_full = true;
		return RB_OK;
	}
	if (too_big) {
		intake_unread_sha(blob, sha);
	} else {
		if ((err = read(read_ctx, blob, (size_t)s->cfg->queue.max_request_bytes, &data, &len)) < 0)
			return err;
		if (len > s->cfg->queue.max_request_bytes)
			return rb_err_set(RB_E_TOOBIG, "%s: the blob is over the cap its header passed", path);
		SHA256(data, len, sha);
	}
	if ((err = intake_take(s, b, node, path, &it)) < 0)
		return err;
	snprintf(it->commit, sizeof(it->commit), "%s", commit);
	snprintf(it->path, sizeof(it->path), "%s", path);
	it->node = node;
	snprintf(it->node_fpr, sizeof(it->node_fpr), "%s", fpr);
	snprintf(it->build_id, sizeof(it->build_id), "%s", rp.build);
	it->since = b->now;
	it->walk_seq = seq;
	memcpy(it->doc_sha256, sha, 32);
	if (too_big) {
		it->refused = true;
		it->len = (size_t)size;
		return signd_audit_refusal(s, b->now, it->build_id, fpr, path, "too-large");
	}
	it->data = TAKE_PTR(data);
	it->len = len;
	return RB_OK;
}

/* Whether an error of gpgsig_verify_detached() is a verdict on the
 * signature, for which the commit is refused for good. Anything else (gpg
 * could not run, memory) says nothing about the commit. */
static bool intake_sig_verdict(int err)
{
	return err == RB_E_KEY || err == RB_E_VERIFY || err == RB_E_PARSE || err == RB_E_UNSUPPORTED;
}

static int intake_one(void *ctx, const char *commit)
{
	struct intake *in = ctx;
	struct signd *s = in->s;
	struct signd_batch *b = in->b;
	struct intake_commit ic = { 0 };
	_cleanup_free_ uint8_t *sig = NULL, *signed_data = NULL;
	size_t siglen = 0, signed_len = 0, seq;
	const struct sign_node *node = NULL;
	const struct sign_approver *appr = NULL;
	char fpr[41] = "";
	int err;

	b->stats->commits++;
	if (b->n_walk == b->alloc_walk) {
		size_t na = b->alloc_walk ? b->alloc_walk * 2 : 64;
		char(*nw)[QUEUE_OID_HEX + 1] = realloc(b->walk, na * sizeof(*nw));

		if (!nw)
			return RB_E_NOMEM;
		b->walk = nw;
		b->alloc_walk = na;
	}
	seq = b->n_walk++;
	snprintf(b->walk[seq], sizeof(b->walk[seq]), "%s", commit);

	/* Paths and sizes only (no blob is read): enough to refuse a commit
	 * and to bound what reading it would cost. */
	if ((err = queue_commit_changes(s->q, commit, 0, intake_change_cb, &ic)) < 0)
		goto out;

	/* The signature before any content: nothing an unauthorised writer
	 * put into the queue is inflated or parsed. */
	err = queue_commit_signature(s->q, commit, &sig, &siglen, &signed_data, &signed_len);
	if (err == RB_E_NOTFOUND) {
		err = intake_refuse_all(s, b->now, &ic, NULL, commit, "unsigned-commit");
		goto out;
	}
	if (err == RB_E_TOOBIG) {
		signd_log(s, "event=refuse commit=%.12s reason=bad-signature detail=\"%s\"", commit, rb_err_message(err));
		err = intake_refuse_all(s, b->now, &ic, NULL, commit, "bad-signature");
		goto out;
	}
	if (err < 0)
		goto out;
	err = gpgsig_verify_detached(s->in.keyring, sig, siglen, signed_data, signed_len, fpr);
	if (err < 0 && !intake_sig_verdict(err)) {
		/* gpg could not say: the batch stops before last-commit moves,
		 * and the commit is looked at again. */
		err = rb_err_set(err, "queue commit %.12s: %s", commit, rb_err_message(err));
		goto out;
	}
	if (err < 0) {
		signd_log(s, "event=refuse commit=%.12s reason=%s detail=\"%s\"", commit,
			  err == RB_E_KEY ? "unknown-signer" : "bad-signature", rb_err_message(err));
		err = intake_refuse_all(s, b->now, &ic, NULL, commit,
					err == RB_E_KEY ? "unknown-signer" : "bad-signature");
		goto out;
	}
	if (strcmp(fpr, s->pub.queue_fpr) == 0) {
		/* Our own responses: the newest one must stay on the branch
		 * (a batch that crashed after its push has not recorded it). */
		snprintf(b->own_response, sizeof(b->own_response), "%s", commit);
		err = RB_OK;
		goto out;
	}
	if (!sign_config_find_fingerprint(s->cfg, fpr, &node, &appr)) {
		err = intake_refuse_all(s, b->now, &ic, fpr, commit, "unknown-signer");
		goto out;
	}

	/* The whole commit must stay inside its signer's area, or none of it
	 * is taken: a node cannot smuggle a document into another's area. */
	for (size_t i = 0; i < ic.n; i++) {
		struct intake_change *c = &ic.c[i];
		struct request_path rp;
		bool ok = c->kind == QUEUE_CHANGE_ADDED && (c->mode == 0100644 || c->mode == 0100755);

		if (ok && node)
			ok = intake_request_path(c->path, node, &rp);
		if (ok && appr)
			ok = strncmp(c->path, "approvals/", 10) == 0;
		if (!ok) {
			signd_log(s, "event=refuse commit=%.12s signer=%s reason=path path=\"%s\" change=%s", commit,
				  node ? node->name : appr->name, c->path, queue_change_kind_name(c->kind));
			err = intake_refuse_all(s, b->now, &ic, fpr, commit, "path");
			goto out;
		}
	}
	for (size_t i = 0; i < ic.n; i++) {
		struct intake_change *c = &ic.c[i];
		bool too_big = c->size > s->cfg->queue.max_request_bytes;

		if (appr) {
			if (too_big || (err = intake_approval(s, appr, c)) < 0) {
				if (err == RB_E_NOMEM)
					goto out;
				signd_log(s, "event=refuse commit=%.12s approver=%s path=\"%s\" reason=schema detail=\"%s\"",
					  commit, appr->name, c->path, too_big ? "too large" : rb_err_message(err));
				err = RB_OK;
			}
			continue;
		}
		if ((err = signd_intake_document(s, b, seq, commit, node, fpr, c->path, c->blob, c->size,
						 intake_read_blob, s->q)) < 0)
			goto out;
	}
	err = RB_OK;
out:
	intake_commit_clear(&ic);
	/* A full batch walks no further: what it did not reach is the next
	 * batch's. */
	if (err == RB_OK && b->walk_full)
		return 1;
	return err;
}

struct intake_order {
	size_t pending; /* 0 for pending documents: they come first */
	size_t rank;    /* the document's place among its node's */
	size_t index;
};

static int intake_order_cmp(const void *a, const void *b)
{
	const struct intake_order *x = a, *y = b;

	if (x->pending != y->pending)
		return x->pending < y->pending ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The batch takes the nodes' documents in turn (each node's first, then
 * each node's second, ...): when the batch fills up on requests or
 * response bytes, a node with thousands of documents has had no more
 * turns than a node with one. */
int signd_intake_interleave(struct signd *s, struct signd_batch *b)
{
	_cleanup_free_ struct intake_order *order = NULL;
	_cleanup_free_ size_t *per_node = NULL;
	struct signd_item *items;

	if (b->n < 2)
		return RB_OK;
	if (!(order = calloc(b->n, sizeof(*order))) ||
	    !(per_node = calloc(s->cfg->n_nodes ? s->cfg->n_nodes : 1, sizeof(*per_node))))
		return RB_E_NOMEM;
	for (size_t i = 0; i < b->n; i++) {
		order[i].pending = !b->items[i].from_pending;
		order[i].rank = per_node[b->items[i].node - s->cfg->nodes]++;
		order[i].index = i;
	}
	qsort(order, b->n, sizeof(*order), intake_order_cmp);
	if (!(items = malloc(b->alloc * sizeof(*items))))
		return RB_E_NOMEM;
	for (size_t i = 0; i < b->n; i++)
		items[i] = b->items[order[i].index];
	free(b->items);
	b->items = items;
	return RB_OK;
}

int signd_intake(struct signd *s, const char *tip, struct signd_batch *b)
{
	struct intake in = { s, b };
	int err;

	/* Documents still waiting for approvals come first, in their order. */
	for (size_t i = 0; i < s->in.n_pending; i++) {
		struct signd_pending *p = &s->in.pending[i];
		const struct sign_node *node = NULL;
		const struct sign_approver *appr = NULL;
		_cleanup_free_ uint8_t *sig = NULL, *sd = NULL;
		size_t sl, sdl;
		struct signd_item *it;
		struct request_path rp;
		char fpr[41];

		if (p->done)
			continue;
		/* Re-verify: the pending journal is ours, but the commit is the
		 * node's and only its verified signature authorises it. */
		if ((err = queue_commit_signature(s->q, p->commit, &sig, &sl, &sd, &sdl)) == RB_OK &&
		    (err = gpgsig_verify_detached(s->in.keyring, sig, sl, sd, sdl, fpr)) < 0 && !intake_sig_verdict(err))
			return rb_err_set(err, "queue commit %.12s (a pending document): %s", p->commit, rb_err_message(err));
		if (err < 0 || !sign_config_find_fingerprint(s->cfg, fpr, &node, &appr) || !node) {
			signd_log(s, "event=refuse commit=%.12s path=\"%s\" reason=unknown-signer detail=\"pending document no longer verifies\"",
				  p->commit, p->path);
			p->done = true;
			continue;
		}
		if (!intake_request_path(p->path, node, &rp))
			return rb_err_set(RB_E_PARSE, "pending journal: %s is not a request document of node %s; "
					  "restore the journal from backup", p->path, node->name);
		/* Taken whatever the caps: a handful of documents, and each must
		 * be looked at again until its approvals arrive. */
		if ((err = intake_take(s, b, node, p->path, &it)) < 0)
			return err;
		snprintf(it->commit, sizeof(it->commit), "%s", p->commit);
		snprintf(it->path, sizeof(it->path), "%s", p->path);
		it->node = node;
		snprintf(it->node_fpr, sizeof(it->node_fpr), "%s", fpr);
		snprintf(it->build_id, sizeof(it->build_id), "%s", rp.build);
		it->since = p->since;
		it->from_pending = true;
		it->walk_seq = SIZE_MAX;
		if ((err = queue_read_file(s->q, p->commit, p->path, (size_t)s->cfg->queue.max_request_bytes,
					   &it->data, &it->len)) < 0)
			return err;
		SHA256(it->data, it->len, it->doc_sha256);
	}
	err = queue_walk(s->q, s->in.last_commit[0] ? s->in.last_commit : NULL, tip, intake_one, &in);
	if (err < 0)
		return err;
	return signd_intake_interleave(s, b);
}
