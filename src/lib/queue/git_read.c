/* Reading the queue: files, directories, the first-parent line, the
 * changes of one commit, and commit signatures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/git-internal.h"
#include "util/err.h"

/* A walk this long is not a queue any more; it bounds the oid array. */
#define QUEUE_MAX_WALK ((size_t)50 * 1000 * 1000)

static int commit_tree(struct queue *q, const char *commit, git_tree **ret)
{
	_cleanup_(git_commit_freep) git_commit *c = NULL;
	int err;

	if ((err = queue_commit_lookup(q, commit, &c)) < 0)
		return err;
	if (git_commit_tree(ret, c) < 0)
		return queue_git_fail(RB_E_IO, "reading a commit's tree", q->path);
	return RB_OK;
}

static bool mode_is_file(git_filemode_t m)
{
	return m == GIT_FILEMODE_BLOB || m == GIT_FILEMODE_BLOB_EXECUTABLE;
}

/* The size of a blob from its object header: a loose object's first
 * bytes, a packed object's header. Nothing of the content is inflated,
 * so a highly compressible blob (a "zip bomb" of zeros) costs nothing
 * until its size has been checked against a cap. */
static int blob_size(struct queue *q, const git_oid *id, uint64_t *ret)
{
	_cleanup_(git_odb_freep) git_odb *odb = NULL;
	git_object_t type;
	size_t len;

	if (git_repository_odb(&odb, q->repo) < 0 || git_odb_read_header(&len, &type, odb, id) < 0)
		return queue_git_fail(RB_E_IO, "reading an object header", q->path);
	if (type != GIT_OBJECT_BLOB)
		return rb_err_set(RB_E_PARSE, "%s: object %.12s is not a blob", q->path, git_oid_tostr_s(id));
	*ret = len;
	return RB_OK;
}

/* Read a blob whose header says it is at most cap bytes. */
static int blob_read_capped(struct queue *q, const git_oid *id, const char *what, size_t cap, uint8_t **ret,
			    size_t *ret_len)
{
	_cleanup_(git_blob_freep) git_blob *blob = NULL;
	uint64_t size;
	uint8_t *data;
	int err;

	if ((err = blob_size(q, id, &size)) < 0)
		return err;
	if (size > cap)
		return rb_err_set(RB_E_TOOBIG, "%s: %s is %llu bytes, more than the cap of %zu", q->path, what,
				  (unsigned long long)size, cap);
	if (git_blob_lookup(&blob, q->repo, id) < 0)
		return queue_git_fail(RB_E_IO, "reading a blob", q->path);
	if (git_blob_rawsize(blob) != size)
		return rb_err_set(RB_E_PARSE, "%s: %s: the blob's size differs from its header", q->path, what);
	if (!(data = malloc((size_t)size + 1)))
		return RB_E_NOMEM;
	memcpy(data, git_blob_rawcontent(blob), (size_t)size);
	data[size] = '\0';
	*ret = data;
	*ret_len = (size_t)size;
	return RB_OK;
}

int queue_read_file(struct queue *q, const char *commit, const char *path, size_t cap, uint8_t **ret,
		    size_t *ret_len)
{
	_cleanup_(git_tree_freep) git_tree *tree = NULL;
	_cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
	char what[QUEUE_MAX_PATH + 64];
	int err;

	if (!q || !path || !*path || !ret || !ret_len)
		return RB_E_INVAL;
	if ((err = commit_tree(q, commit, &tree)) < 0)
		return err;
	err = git_tree_entry_bypath(&e, tree, path);
	if (err == GIT_ENOTFOUND || (err == 0 && !mode_is_file(git_tree_entry_filemode(e))))
		return rb_err_set(RB_E_NOTFOUND, "%s: no file %s in commit %.12s", q->path, path, commit);
	if (err < 0)
		return queue_git_fail(RB_E_IO, "reading a tree entry", q->path);
	snprintf(what, sizeof(what), "%.1024s in commit %.12s", path, commit);
	return blob_read_capped(q, git_tree_entry_id(e), what, cap, ret, ret_len);
}

int queue_has_file(struct queue *q, const char *commit, const char *path, bool *ret)
{
	_cleanup_(git_tree_freep) git_tree *tree = NULL;
	_cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
	int err;

	if (!q || !path || !*path || !ret)
		return RB_E_INVAL;
	if ((err = commit_tree(q, commit, &tree)) < 0)
		return err;
	err = git_tree_entry_bypath(&e, tree, path);
	if (err < 0 && err != GIT_ENOTFOUND)
		return queue_git_fail(RB_E_IO, "reading a tree entry", q->path);
	*ret = err == 0 && mode_is_file(git_tree_entry_filemode(e));
	return RB_OK;
}

int queue_read_blob(struct queue *q, const char *blob, size_t cap, uint8_t **ret, size_t *ret_len)
{
	git_oid id;
	char what[64];
	int err;

	if (!q || !ret || !ret_len)
		return RB_E_INVAL;
	if ((err = queue_oid_parse(blob, &id)) < 0)
		return err;
	snprintf(what, sizeof(what), "blob %.12s", blob);
	return blob_read_capped(q, &id, what, cap, ret, ret_len);
}

int queue_list_dir(struct queue *q, const char *commit, const char *dir, queue_dir_cb cb, void *ctx)
{
	_cleanup_(git_tree_freep) git_tree *root = NULL, *sub = NULL;
	const git_tree *t;
	int err;

	if (!q || !dir || !cb)
		return RB_E_INVAL;
	if ((err = commit_tree(q, commit, &root)) < 0)
		return err;
	t = root;
	if (*dir) {
		_cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;

		err = git_tree_entry_bypath(&e, root, dir);
		if (err == GIT_ENOTFOUND || (err == 0 && git_tree_entry_type(e) != GIT_OBJECT_TREE))
			return rb_err_set(RB_E_NOTFOUND, "%s: no directory %s in commit %.12s", q->path, dir, commit);
		if (err < 0 || git_tree_lookup(&sub, q->repo, git_tree_entry_id(e)) < 0)
			return queue_git_fail(RB_E_IO, "reading a directory", q->path);
		t = sub;
	}
	for (size_t i = 0; i < git_tree_entrycount(t); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);

		if ((err = cb(ctx, git_tree_entry_name(e), git_tree_entry_type(e) == GIT_OBJECT_TREE)) != 0)
			return err;
	}
	return RB_OK;
}

int queue_is_ancestor(struct queue *q, const char *ancestor, const char *descendant, bool *ret)
{
	git_oid a, d;
	int err;

	if (!q || !ret)
		return RB_E_INVAL;
	if ((err = queue_oid_parse(ancestor, &a)) < 0 || (err = queue_oid_parse(descendant, &d)) < 0)
		return err;
	if (git_oid_equal(&a, &d)) {
		*ret = true;
		return RB_OK;
	}
	if ((err = queue_commit_size_check(q, &d)) < 0)
		return err;
	err = git_graph_descendant_of(q->repo, &d, &a);
	if (err < 0)
		return queue_git_fail(RB_E_IO, "comparing commits", q->path);
	*ret = err == 1;
	return RB_OK;
}

int queue_walk(struct queue *q, const char *from, const char *to, queue_walk_cb cb, void *ctx)
{
	_cleanup_free_ git_oid *line = NULL;
	size_t n = 0, alloc = 0;
	git_oid stop, cur;
	bool have_stop = from && *from, found = false;
	int err;

	if (!q || !cb)
		return RB_E_INVAL;
	if ((have_stop && (err = queue_oid_parse(from, &stop)) < 0) || (err = queue_oid_parse(to, &cur)) < 0)
		return err;
	for (;;) {
		_cleanup_(git_commit_freep) git_commit *c = NULL;

		if (have_stop && git_oid_equal(&cur, &stop)) {
			found = true;
			break;
		}
		if ((err = queue_commit_size_check(q, &cur)) < 0)
			return err;
		if ((err = git_commit_lookup(&c, q->repo, &cur)) < 0)
			return err == GIT_ENOTFOUND ? rb_err_set(RB_E_NOTFOUND, "%s: commit %.12s is missing", q->path,
								 git_oid_tostr_s(&cur))
						    : queue_git_fail(RB_E_IO, "walking the queue", q->path);
		if (n == alloc) {
			git_oid *nl;

			if (n >= QUEUE_MAX_WALK)
				return rb_err_set(RB_E_LIMIT, "%s: more than %zu commits on the queue line", q->path,
						  QUEUE_MAX_WALK);
			alloc = alloc ? alloc * 2 : 64;
			if (!(nl = realloc(line, alloc * sizeof(*nl))))
				return RB_E_NOMEM;
			line = nl;
		}
		line[n++] = cur;
		if (git_commit_parentcount(c) == 0)
			break;
		git_oid_cpy(&cur, git_commit_parent_id(c, 0));
	}
	if (have_stop && !found)
		return rb_err_set(RB_E_STATE, "%s: commit %.12s is not an ancestor of %.12s on the queue line: the "
				  "history was rewritten", q->path, from, to);
	while (n > 0) {
		char hex[QUEUE_OID_HEX + 1];

		queue_oid_format(&line[--n], hex);
		if ((err = cb(ctx, hex)) != 0)
			return err;
	}
	return RB_OK;
}

const char *queue_change_kind_name(enum queue_change_kind k)
{
	switch (k) {
	case QUEUE_CHANGE_ADDED: return "added";
	case QUEUE_CHANGE_MODIFIED: return "modified";
	case QUEUE_CHANGE_DELETED: return "deleted";
	case QUEUE_CHANGE_RENAMED: return "renamed";
	case QUEUE_CHANGE_TYPECHANGE: return "changed type";
	}
	return "changed";
}

static int change_report(struct queue *q, const git_diff_delta *d, size_t cap, queue_change_cb cb, void *ctx)
{
	_cleanup_(git_blob_freep) git_blob *blob = NULL;
	struct queue_change c = { 0 };
	int err;

	c.path = d->new_file.path ? d->new_file.path : d->old_file.path;
	c.old_path = d->old_file.path ? d->old_file.path : c.path;
	c.mode = d->new_file.mode;
	switch (d->status) {
	case GIT_DELTA_ADDED:
		c.kind = QUEUE_CHANGE_ADDED;
		if (mode_is_file(d->new_file.mode)) {
			/* The size first, from the object header: only a blob
			 * within the cap is inflated. */
			queue_oid_format(&d->new_file.id, c.blob);
			if ((err = blob_size(q, &d->new_file.id, &c.size)) < 0)
				return err;
			if (cap && c.size <= cap) {
				if (git_blob_lookup(&blob, q->repo, &d->new_file.id) < 0)
					return queue_git_fail(RB_E_IO, "reading an added file", q->path);
				if (git_blob_rawsize(blob) != c.size)
					return rb_err_set(RB_E_PARSE, "%s: %s: the blob's size differs from its header",
							  q->path, c.path);
				c.data = git_blob_rawcontent(blob);
			}
		}
		break;
	case GIT_DELTA_DELETED:
		c.kind = QUEUE_CHANGE_DELETED;
		c.path = d->old_file.path;
		c.mode = d->old_file.mode;
		break;
	case GIT_DELTA_RENAMED: c.kind = QUEUE_CHANGE_RENAMED; break;
	case GIT_DELTA_TYPECHANGE: c.kind = QUEUE_CHANGE_TYPECHANGE; break;
	default: c.kind = QUEUE_CHANGE_MODIFIED; break;
	}
	return cb(ctx, &c);
}

int queue_commit_changes(struct queue *q, const char *commit, size_t cap, queue_change_cb cb, void *ctx)
{
	_cleanup_(git_commit_freep) git_commit *c = NULL, *parent = NULL;
	_cleanup_(git_tree_freep) git_tree *tree = NULL, *old = NULL;
	_cleanup_(git_diff_freep) git_diff *diff = NULL;
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	git_diff_find_options find = GIT_DIFF_FIND_OPTIONS_INIT;
	int err;

	if (!q || !cb)
		return RB_E_INVAL;
	if ((err = queue_commit_lookup(q, commit, &c)) < 0)
		return err;
	if (git_commit_tree(&tree, c) < 0 ||
	    (git_commit_parentcount(c) > 0 && (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&old, parent) < 0)))
		return queue_git_fail(RB_E_IO, "reading a commit and its parent", q->path);
	/* Type changes are reported as such, never as a delete plus an add
	 * that could hide a replaced file. */
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(&diff, q->repo, old, tree, &opts) < 0)
		return queue_git_fail(RB_E_IO, "comparing a commit with its parent", q->path);
	/* Exact renames only: they cost a hash compare, not content diffs. */
	find.flags = GIT_DIFF_FIND_RENAMES | GIT_DIFF_FIND_EXACT_MATCH_ONLY;
	if (git_diff_find_similar(diff, &find) < 0)
		return queue_git_fail(RB_E_IO, "finding renames", q->path);
	for (size_t i = 0; i < git_diff_num_deltas(diff); i++)
		if ((err = change_report(q, git_diff_get_delta(diff, i), cap, cb, ctx)) != 0)
			return err;
	return RB_OK;
}

static int buf_copy(const git_buf *b, uint8_t **ret, size_t *ret_len)
{
	uint8_t *p = malloc(b->size + 1);

	if (!p)
		return RB_E_NOMEM;
	memcpy(p, b->ptr, b->size);
	p[b->size] = '\0';
	*ret = p;
	*ret_len = b->size;
	return RB_OK;
}

int queue_commit_signature(struct queue *q, const char *commit, uint8_t **ret_sig, size_t *ret_siglen,
			   uint8_t **ret_signed, size_t *ret_signed_len)
{
	_cleanup_git_buf_ git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	_cleanup_free_ uint8_t *s = NULL;
	size_t slen;
	git_oid oid;
	int err;

	if (!q || !ret_sig || !ret_siglen || !ret_signed || !ret_signed_len)
		return RB_E_INVAL;
	if ((err = queue_oid_parse(commit, &oid)) < 0)
		return err;
	if ((err = queue_commit_size_check(q, &oid)) < 0)
		return err == RB_E_NOTFOUND ? rb_err_set(err, "commit %s is not in %s", commit, q->path) : err;
	err = git_commit_extract_signature(&sig, &data, q->repo, &oid, NULL);
	if (err == GIT_ENOTFOUND && !queue_has_commit(q, commit))
		return rb_err_set(RB_E_NOTFOUND, "commit %s is not in %s", commit, q->path);
	if (err == GIT_ENOTFOUND)
		return rb_err_set(RB_E_NOTFOUND, "commit %.12s is not signed", commit);
	if (err < 0)
		return queue_git_fail(RB_E_PARSE, "reading a commit signature", q->path);
	if (sig.size > QUEUE_MAX_SIGNATURE_BYTES)
		return rb_err_set(RB_E_TOOBIG, "commit %.12s: its signature is %zu bytes, more than %d; not handed to gpg",
				  commit, sig.size, QUEUE_MAX_SIGNATURE_BYTES);
	if ((err = buf_copy(&sig, &s, &slen)) < 0 || (err = buf_copy(&data, ret_signed, ret_signed_len)) < 0)
		return err;
	*ret_sig = TAKE_PTR(s);
	*ret_siglen = slen;
	return RB_OK;
}
