/* Publishing one commit: tip tree + new files, signed, pushed without
 * force, rebuilt on the new tip when another writer was faster. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/git-internal.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

#define PUBLISH_REF "refs/rombsr/publish"
#define REMOTE_MSG_MAX 4096
#define GIT_OUTPUT_MAX (256 * 1024)

extern char **environ;

/* ---- pushing with the git command (local remotes) ------------------------ */

static int fd_drain(int out_fd, int err_fd, struct rb_buf *out, struct rb_buf *err)
{
	struct pollfd p[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	struct rb_buf *dst[2] = { out, err };
	int open_fds = 2;

	while (open_fds > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return RB_E_IO;
		}
		for (int i = 0; i < 2; i++) {
			char buf[4096];
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			/* Output beyond the cap is dropped, not an error: the
			 * first lines carry the reason. */
			if (dst[i]->len + (size_t)n <= GIT_OUTPUT_MAX)
				(void)rb_buf_put(dst[i], buf, (size_t)n);
		}
	}
	return RB_OK;
}

int queue_git_cli_run(char *const argv[], struct rb_buf *out, struct rb_buf *err, int *ret_status)
{
	posix_spawn_file_actions_t fa;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, status = 0, rc;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		rc = rb_err_set(RB_E_IO, "cannot create a pipe for git: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	rc = posix_spawnp(&pid, "git", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (rc == EAGAIN || rc == ENOMEM) {
		/* Out of processes or memory for a moment: nothing was run. */
		rc = rb_err_set(RB_E_AGAIN, "cannot start git: %s; nothing was done, try again", strerror(rc));
		goto fail;
	}
	if (rc != 0) {
		rc = rb_err_set(RB_E_NOTFOUND, "cannot run git: %s; install git", strerror(rc));
		goto fail;
	}
	rc = fd_drain(po[0], pe[0], out, err);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == RB_OK)
		*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
fail:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return rc;
}

/* The remote's own lines ("remote: ...") are what the guard said. */
static void remote_lines(const struct rb_buf *err, struct rb_buf *msg)
{
	const char *p = (const char *)err->data, *end = p + err->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 8 && memcmp(p, "remote: ", 8) == 0 && msg->len + n < REMOTE_MSG_MAX) {
			if (msg->len)
				(void)rb_buf_put_str(msg, "; ");
			(void)rb_buf_put(msg, p + 8, n - 8);
		}
		p += n + 1;
	}
	(void)rb_buf_terminate(msg);
}

/* A ref status (git push --porcelain's line for our ref, or libgit2's
 * status) that means "someone else moved the branch first": fetch, build
 * again and retry. The status is git's own, never the guard's: a hook's
 * refusal is "pre-receive hook declined", whatever the hook printed, and
 * git's "remote: error: cannot lock ref ..." beside a lost race is not a
 * refusal. */
static bool status_is_race(const char *s)
{
	if (!s || strstr(s, "hook declined"))
		return false;
	return strstr(s, "non-fast-forward") || strstr(s, "fetch first") || strstr(s, "failed to update ref") ||
	       strstr(s, "cannot lock ref") || strstr(s, "incorrect old value") || strstr(s, "stale info") ||
	       strstr(s, "failed to lock");
}

/* The porcelain line of the rejected ref ("!\t<src>:<dst>\t[...] (...)"),
 * NUL-terminated in place; NULL if there is none. */
static char *porcelain_rejected_line(char *out)
{
	for (char *line = out; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '!' && line[1] == '\t')
			return line;
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int push_with_git(struct queue *q, const char *ref)
{
	_cleanup_free_ char *gitdir = NULL, *spec = NULL;
	struct rb_buf out = RB_BUF_INIT, err = RB_BUF_INIT, msg = RB_BUF_INIT;
	int status = 0, rc;

	if (asprintf(&gitdir, "--git-dir=%s", q->path) < 0 ||
	    asprintf(&spec, "%s:refs/heads/%s", ref, q->branch) < 0)
		return RB_E_NOMEM;
	{
		char *argv[] = { "git", gitdir, "-c", "core.askPass=true", "push", "--porcelain", "--quiet",
				 q->url, spec, NULL };

		rc = queue_git_cli_run(argv, &out, &err, &status);
	}
	if (rc == RB_OK && status != 0) {
		const char *line;

		(void)rb_buf_terminate(&out);
		(void)rb_buf_terminate(&err);
		remote_lines(&err, &msg);
		line = out.data ? porcelain_rejected_line((char *)out.data) : NULL;
		if (line && status_is_race(line))
			rc = GIT_ENONFASTFORWARD;
		else if (line && strstr(line, "[remote rejected]"))
			rc = rb_err_set(RB_E_PERM, "the queue %s refused the commit: %s", q->url,
					msg.len ? (const char *)msg.data : "no reason given");
		else
			rc = rb_err_set(RB_E_IO, "git push to %s failed: %.300s", q->url,
					err.data ? (const char *)err.data : "no output");
	}
	rb_buf_free(&out);
	rb_buf_free(&err);
	rb_buf_free(&msg);
	return rc;
}

/* ---- pushing with libgit2 (network remotes) ------------------------------ */

struct push_state {
	struct rb_buf remote_msg;
	char *status; /* first rejection status of our ref */
};

static int push_sideband(const char *str, int len, void *payload)
{
	struct push_state *s = payload;

	if (len > 0 && s->remote_msg.len + (size_t)len < REMOTE_MSG_MAX)
		(void)rb_buf_put(&s->remote_msg, str, (size_t)len);
	return 0;
}

static int push_update_ref(const char *refname, const char *status, void *payload)
{
	struct push_state *s = payload;

	(void)refname;
	if (status && !s->status)
		s->status = strdup(status);
	return 0;
}

static int cred_from_agent(git_credential **out, const char *url, const char *user, unsigned int allowed,
			   void *payload)
{
	(void)url;
	(void)payload;
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && user)
		return git_credential_ssh_key_from_agent(out, user);
	return GIT_PASSTHROUGH;
}

static int push_with_libgit2(struct queue *q, const char *ref)
{
	_cleanup_(git_remote_freep) git_remote *remote = NULL;
	_cleanup_free_ char *spec = NULL;
	git_push_options opts = GIT_PUSH_OPTIONS_INIT;
	struct push_state st = { RB_BUF_INIT, NULL };
	char *specs[1];
	git_strarray refspecs = { specs, 1 };
	int e, rc = RB_OK;

	/* No '+': the remote decides whether this is a fast-forward. */
	if (asprintf(&spec, "%s:refs/heads/%s", ref, q->branch) < 0)
		return RB_E_NOMEM;
	specs[0] = spec;
	opts.callbacks.sideband_progress = push_sideband;
	opts.callbacks.push_update_reference = push_update_ref;
	opts.callbacks.credentials = cred_from_agent;
	opts.callbacks.payload = &st;
	if ((rc = queue_remote_open(q, &remote)) < 0)
		return rc;
	e = git_remote_push(remote, &refspecs, &opts);
	(void)rb_buf_terminate(&st.remote_msg);
	if (e == GIT_ENONFASTFORWARD || status_is_race(st.status))
		rc = GIT_ENONFASTFORWARD;
	else if (st.status)
		rc = rb_err_set(RB_E_PERM, "the queue %s refused the commit (%s): %s", q->url, st.status,
				st.remote_msg.len ? (const char *)st.remote_msg.data : "no reason given");
	else if (e < 0)
		rc = queue_git_fail(RB_E_IO, "pushing to the queue", q->url);
	rb_buf_free(&st.remote_msg);
	free(st.status);
	return rc;
}

int queue_push_ref(struct queue *q, const char *ref)
{
	return q->url_is_local ? push_with_git(q, ref) : push_with_libgit2(q, ref);
}

/* ---- building the commit ------------------------------------------------- */

static bool path_valid(const char *p)
{
	size_t n = strlen(p);
	const char *s = p;

	if (n == 0 || n > QUEUE_MAX_PATH)
		return false;
	if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") != n)
		return false;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!slash)
			return true;
		s = slash + 1;
	}
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int files_check(const struct queue_file *files, size_t n)
{
	_cleanup_free_ const char **sorted = NULL;

	if (n == 0 || n > QUEUE_MAX_FILES_PER_COMMIT)
		return rb_err_set(RB_E_INVAL, "a queue commit adds 1..%d files, not %zu", QUEUE_MAX_FILES_PER_COMMIT, n);
	if (!(sorted = calloc(n, sizeof(*sorted))))
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!files[i].path || !path_valid(files[i].path) || (!files[i].data && files[i].len))
			return rb_err_set(RB_E_INVAL, "\"%.128s\" is not a valid queue path (components of "
					  "A-Za-z0-9._-, no \".\" or \"..\")", files[i].path ? files[i].path : "");
		sorted[i] = files[i].path;
	}
	/* Sorted, a duplicate is next to its twin: O(n log n) for a batch
	 * of tens of thousands of responses. */
	qsort(sorted, n, sizeof(*sorted), path_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			return rb_err_set(RB_E_INVAL, "%s is given twice", sorted[i]);
	return RB_OK;
}

/* O(depth log n): every parent directory of path must not be a file,
 * and path must not be a directory. */
static int path_conflict(git_index *idx, const char *path)
{
	char buf[QUEUE_MAX_PATH + 2];
	size_t plen = strlen(path), pos;

	memcpy(buf, path, plen + 1);
	for (size_t i = 0; i < plen; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (git_index_get_bypath(idx, buf, 0))
			return rb_err_set(RB_E_EXISTS, "%s conflicts with the file %s in the queue", path, buf);
		buf[i] = '/';
	}
	buf[plen] = '/';
	buf[plen + 1] = '\0';
	if (git_index_find_prefix(&pos, idx, buf) == 0)
		return rb_err_set(RB_E_EXISTS, "%s is a directory in the queue", path);
	return RB_OK;
}

static int tree_build(struct queue *q, const git_oid *tip, bool have_tip, const struct queue_file *files,
		      size_t n, git_oid *ret_tree)
{
	int err;

	_cleanup_(git_index_freep) git_index *idx = NULL;
	_cleanup_(git_commit_freep) git_commit *c = NULL;
	_cleanup_(git_tree_freep) git_tree *t = NULL;

	if (git_index_new(&idx) < 0)
		return queue_git_fail(RB_E_NOMEM, "creating an index", q->path);
	/* The tip comes from the server: sized before it is parsed, as
	 * every queue commit is (a hostile server's commit bomb). */
	if (have_tip && (err = queue_commit_size_check(q, tip)) < 0)
		return err;
	if (have_tip && (git_commit_lookup(&c, q->repo, tip) < 0 || git_commit_tree(&t, c) < 0 ||
			 git_index_read_tree(idx, t) < 0))
		return queue_git_fail(RB_E_IO, "reading the queue tip", q->path);
	for (size_t i = 0; i < n; i++) {
		git_index_entry e = { 0 };

		if (git_index_get_bypath(idx, files[i].path, 0))
			return rb_err_set(RB_E_EXISTS, "%s is already in the queue; files are never replaced",
					  files[i].path);
		/* A file where the new path needs a directory, or a directory
		 * where it needs a file, would replace something too. */
		if ((err = path_conflict(idx, files[i].path)) < 0)
			return err;
		if (git_blob_create_from_buffer(&e.id, q->repo, files[i].data ? files[i].data : (const void *)"",
						files[i].len) < 0)
			return queue_git_fail(RB_E_IO, "storing a file", q->path);
		e.mode = GIT_FILEMODE_BLOB;
		e.path = files[i].path;
		if (git_index_add(idx, &e) < 0)
			return queue_git_fail(RB_E_IO, "adding a file", q->path);
	}
	if (git_index_write_tree_to(ret_tree, idx, q->repo) < 0)
		return queue_git_fail(RB_E_IO, "writing the tree", q->path);
	return RB_OK;
}

static int commit_build(struct queue *q, const git_oid *tip, bool have_tip, const git_oid *tree_id,
			const char *message, const char *name, const char *email, queue_sign_cb sign,
			void *sign_ctx, git_oid *ret)
{
	_cleanup_(git_signature_freep) git_signature *who = NULL;
	_cleanup_(git_tree_freep) git_tree *tree = NULL;
	_cleanup_(git_commit_freep) git_commit *parent = NULL;
	_cleanup_git_buf_ git_buf buf = GIT_BUF_INIT;
	_cleanup_free_ char *armored = NULL;
	const git_commit *parents[1];
	int err;

	if (git_signature_now(&who, name, email) < 0)
		return queue_git_fail(RB_E_INVAL, "the author name or e-mail", q->path);
	if (git_tree_lookup(&tree, q->repo, tree_id) < 0 ||
	    (have_tip && git_commit_lookup(&parent, q->repo, tip) < 0))
		return queue_git_fail(RB_E_IO, "reading the new tree", q->path);
	parents[0] = parent;
	if (git_commit_create_buffer(&buf, q->repo, who, who, NULL, message, tree, have_tip ? 1 : 0, parents) < 0)
		return queue_git_fail(RB_E_IO, "creating the commit", q->path);
	if ((err = sign(sign_ctx, (const uint8_t *)buf.ptr, buf.size, &armored)) < 0)
		return err;
	if (!armored || !*armored)
		return rb_err_set(RB_E_CRYPTO, "the signing callback returned no signature");
	if (git_commit_create_with_signature(ret, q->repo, buf.ptr, armored, NULL) < 0)
		return queue_git_fail(RB_E_IO, "storing the signed commit", q->path);
	return RB_OK;
}

/* One publisher at a time per local mirror. Builds running side by side
 * on one node share the mirror (--cache), and the commit to push is kept
 * under one ref there: without the lock one process pushes another's
 * commit, and both then fail. The lock is released when fd closes, also
 * when the process dies. */
static int mirror_lock(struct queue *q, int *ret_fd)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/rombsr-publish.lock", q->path) < 0)
		return RB_E_NOMEM;
	return rb_file_lock(path, ret_fd);
}

int queue_publish_with(struct queue *q, queue_files_cb files_cb, void *files_ctx, const char *message,
		       const char *author_name, const char *author_email, queue_sign_cb sign, void *sign_ctx,
		       char ret_commit[QUEUE_OID_HEX + 1])
{
	char tip_hex[QUEUE_OID_HEX + 1];
	_cleanup_close_ int lock_fd = -1;
	int64_t deadline;
	int err;

	if (!q || !files_cb || !message || !*message || !author_name || !author_email || !sign || !ret_commit)
		return RB_E_INVAL;
	if (!q->url)
		return rb_err_set(RB_E_INVAL, "queue_publish: the queue was not opened with a remote");
	if ((err = mirror_lock(q, &lock_fd)) < 0)
		return err;
	deadline = queue_now_ms() + (int64_t)q->publish_seconds * 1000;
	q->publish_races = 0;
	ret_commit[0] = '\0';
	for (unsigned attempt = 0;; attempt++) {
		_cleanup_(git_reference_freep) git_reference *ref = NULL, *track = NULL;
		const struct queue_file *files = NULL;
		git_oid tip, tree, commit;
		size_t n_files = 0;
		bool have_tip;

		if ((err = queue_fetch(q, tip_hex)) < 0 || (err = queue_tip_oid(q, &tip, &have_tip)) < 0)
			return err;
		/* What to add is decided again on every tip: another publisher
		 * may have added some of it. */
		if ((err = files_cb(files_ctx, tip_hex, &files, &n_files)) < 0)
			return err;
		if (n_files == 0)
			return RB_OK;
		if ((err = files_check(files, n_files)) < 0)
			return err;
		if ((err = tree_build(q, &tip, have_tip, files, n_files, &tree)) < 0 ||
		    (err = commit_build(q, &tip, have_tip, &tree, message, author_name, author_email, sign, sign_ctx,
					&commit)) < 0)
			return err;
		if (git_reference_create(&ref, q->repo, PUBLISH_REF, &commit, 1, "rombsr publish") < 0)
			return queue_git_fail(RB_E_IO, "recording the commit to push", q->path);
		err = queue_push_ref(q, PUBLISH_REF);
		if (err == RB_OK) {
			/* The mirror now knows the tip it just published. */
			if (git_reference_create(&track, q->repo, q->tip_ref, &commit, 1, "rombsr publish") < 0)
				return queue_git_fail(RB_E_IO, "updating the local tip", q->path);
			queue_oid_format(&commit, ret_commit);
			return RB_OK;
		}
		if (err != GIT_ENONFASTFORWARD)
			return err;
		q->publish_races++;
		if (queue_now_ms() >= deadline)
			return rb_err_set(RB_E_AGAIN, "the queue %s moved on %u times in %u s while publishing (other "
					  "publishers won the race each time); nothing of this one landed; run it again",
					  q->url, attempt + 1, q->publish_seconds);
		queue_backoff(attempt);
	}
}

struct fixed_files {
	const struct queue_file *files;
	size_t n;
};

static int fixed_files(void *ctx, const char *tip, const struct queue_file **ret, size_t *ret_n)
{
	const struct fixed_files *f = ctx;

	(void)tip;
	*ret = f->files;
	*ret_n = f->n;
	return RB_OK;
}

int queue_publish(struct queue *q, const struct queue_file *files, size_t n_files, const char *message,
		  const char *author_name, const char *author_email, queue_sign_cb sign, void *sign_ctx,
		  char ret_commit[QUEUE_OID_HEX + 1])
{
	struct fixed_files f = { files, n_files };
	int err;

	if (!files)
		return RB_E_INVAL;
	/* Checked before the first fetch, so a bad path costs no network. */
	if ((err = files_check(files, n_files)) < 0)
		return err;
	return queue_publish_with(q, fixed_files, &f, message, author_name, author_email, sign, sign_ctx,
				  ret_commit);
}
