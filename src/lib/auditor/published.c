/* What the sign node published of its audit log, read back from the
 * queue, and whether its log still extends it (auditor/crosscheck.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/apply.h"
#include "auditor/crosscheck.h"
#include "request/response.h"
#include "util/cleanup.h"
#include "util/err.h"

void audit_published_clear(struct audit_published *p)
{
	free(p->path);
	memset(p, 0, sizeof(*p));
}

/* The responses one commit adds: paths and blob ids (read by id, not by
 * path: a flood of responses makes the directory large). */
struct added {
	char **paths;
	char (*blobs)[QUEUE_OID_HEX + 1];
	size_t n, cap;
};

static int on_added(void *ctx, const struct queue_change *ch)
{
	struct added *a = ctx;

	if (ch->kind != QUEUE_CHANGE_ADDED || strncmp(ch->path, "responses/", 10) != 0)
		return 0;
	if (!ch->blob[0])
		return 0; /* not a regular file */
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		char **n = realloc(a->paths, cap * sizeof(*n));
		char (*b)[QUEUE_OID_HEX + 1];

		if (!n)
			return RB_E_NOMEM;
		a->paths = n;
		if (!(b = realloc(a->blobs, cap * sizeof(*b))))
			return RB_E_NOMEM;
		a->blobs = b;
		a->cap = cap;
	}
	if (!(a->paths[a->n] = strdup(ch->path)))
		return RB_E_NOMEM;
	memcpy(a->blobs[a->n], ch->blob, sizeof(a->blobs[a->n]));
	a->n++;
	return 0;
}

static void added_clear(struct added *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->paths[i]);
	free(a->paths);
	free(a->blobs);
	memset(a, 0, sizeof(*a));
}

/* The checkpoint in the responses commit adds, if the commit is the queue
 * key's: 1 found (in *ret), 0 none. The sign node publishes a batch's
 * responses in one commit with one checkpoint, so the first found is the
 * commit's. */
static int commit_checkpoint(struct queue *q, const struct manifest *m, const struct note_verifier *v,
			     const char *commit, struct audit_published *ret)
{
	_cleanup_free_ uint8_t *sig = NULL, *signed_data = NULL;
	struct added a = { 0 };
	size_t sig_len, signed_len;
	int err;

	if ((err = queue_commit_changes(q, commit, 0, on_added, &a)) < 0)
		goto out;
	if (a.n == 0)
		goto out;
	/* Only the queue key's commits are the sign node's: anything else in
	 * responses/ (a hostile server's) proves nothing about its log. */
	err = queue_commit_signature(q, commit, &sig, &sig_len, &signed_data, &signed_len);
	if (err == RB_E_NOTFOUND || (err == 0 && apply_commit_check(m, sig, sig_len, signed_data,
								    signed_len, NULL) < 0)) {
		rb_err_clear();
		err = 0;
		goto out;
	}
	if (err < 0)
		goto out;
	for (size_t i = 0; i < a.n; i++) {
		_cleanup_free_ uint8_t *text = NULL;
		_cleanup_(response_doc_freep) struct response_doc *doc = NULL;
		size_t len;

		/* Responses with no signature (empty or rejected documents: a
		 * flood of them is cheap to send) carry no checkpoint; they are
		 * passed over without a parse. The one that is used is parsed. */
		err = queue_read_blob(q, a.blobs[i], RESPONSE_MAX_BYTES, &text, &len);
		if (err == 0 && !memmem(text, len, "\"checkpoint\"", 12))
			continue;
		if (err == 0)
			err = response_doc_parse((const char *)text, len, a.paths[i], &doc);
		if (err < 0) {
			err = rb_err_prefix(err, "%s (commit %s), signed by the queue key", a.paths[i], commit);
			goto out;
		}
		for (size_t k = 0; k < doc->n_entries; k++) {
			const char *cp = doc->entries[k].audit.checkpoint;
			_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;

			if (doc->entries[k].status != RESPONSE_SIGNED || !cp)
				continue;
			/* Another sign node's log (docs/formats/claim.md): its
			 * checkpoints say nothing about this one. */
			if (!checkpoint_origin_is(cp, v->name))
				break;
			if ((err = checkpoint_verify(cp, strlen(cp), v, &c)) < 0) {
				err = rb_err_prefix(rb_err_recode(err, RB_E_VERIFY), "%s (commit %s), signed by the queue key, "
						    "carries a checkpoint that does not verify with the "
						    "manifest's audit key", a.paths[i], commit);
				goto out;
			}
			if (!(ret->path = strdup(a.paths[i]))) {
				err = RB_E_NOMEM;
				goto out;
			}
			ret->size = c->size;
			memcpy(ret->root, c->root, MERKLE_HASH_LEN);
			snprintf(ret->commit, sizeof(ret->commit), "%s", commit);
			ret->found = true;
			err = 1;
			goto out;
		}
	}
	err = 0;
out:
	added_clear(&a);
	return err;
}

int audit_published_find(struct queue *q, const struct manifest *m, const char *origin,
			 struct audit_published *ret)
{
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
	const struct manifest_key *ak = manifest_find(m, "audit");
	char commit[QUEUE_OID_HEX + 1];
	int err;

	memset(ret, 0, sizeof(*ret));
	if (!ak)
		return rb_err_set(RB_E_KEY, "the manifest has no 'audit' key to check the published "
				  "checkpoints with");
	if ((err = note_verifier_from_pkey(origin, ak->pub, &v)) < 0 || (err = queue_tip(q, commit)) < 0)
		return err;
	/* Newest first: the sign node publishes in order, so the first
	 * commit of the queue key with a checkpoint has the largest. */
	while (commit[0]) {
		struct queue_commit_info info;

		if ((err = commit_checkpoint(q, m, v, commit, ret)) != 0) {
			if (err < 0)
				audit_published_clear(ret);
			return err < 0 ? err : RB_OK;
		}
		if ((err = queue_commit_info(q, commit, &info)) < 0)
			return err;
		memcpy(commit, info.parent, sizeof(commit));
	}
	return RB_OK;
}

int audit_published_check(struct audit_log *log, const char *dir, const struct audit_published *p)
{
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	struct merkle_proof proof = { 0 };
	int err;

	if (!p->found)
		return RB_OK;
	if (!log)
		return rb_err_set(RB_E_ROLLBACK, "%s: the audit log is missing, but this sign node published "
				  "a checkpoint of %" PRIu64 " entries (%s, commit %.12s): restore the "
				  "directory from a backup that holds at least those %" PRIu64 " entries; "
				  "a new log would fork from what was published, so none is made",
				  dir, p->size, p->path, p->commit, p->size);
	size = audit_log_size(log);
	if (size < p->size)
		return rb_err_set(RB_E_ROLLBACK, "%s: the audit log has %" PRIu64 " entries, but this sign "
				  "node published a checkpoint of %" PRIu64 " entries (%s, commit "
				  "%.12s): the log was rolled back (restored from an older copy?); "
				  "restore it from a backup that holds at least %" PRIu64 " entries",
				  dir, size, p->size, p->path, p->commit, p->size);
	/* The proof an auditor would check: the published tree is a prefix
	 * of this one. */
	if ((err = audit_log_root(log, size, root)) < 0 ||
	    (err = audit_log_consistency_proof(log, p->size, size, &proof)) < 0)
		return err;
	if (merkle_consistency_verify(p->size, size, p->root, MERKLE_HASH_LEN, root, MERKLE_HASH_LEN,
				      &proof) < 0)
		return rb_err_set(RB_E_ROLLBACK, "%s: the audit log (%" PRIu64 " entries) does not extend "
				  "the checkpoint of %" PRIu64 " entries this sign node published (%s, "
				  "commit %.12s): its first %" PRIu64 " entries differ (a replaced or "
				  "forked log); restore the log that was published from backup",
				  dir, size, p->size, p->path, p->commit, p->size);
	return RB_OK;
}
