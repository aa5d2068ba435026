/* The queue repository: creating the bare queue, opening mirrors,
 * fetching, tips and commit metadata (libgit2 set-up and branch names:
 * libgit.c). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <dirent.h>

#include "queue/git-internal.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

#define MAX_URL_LEN 4096

int queue_git_fail(int err, const char *what, const char *repo)
{
	const git_error *e = git_error_last();

	return rb_err_set(err, "%s (%s): %s", what, repo ? repo : "queue",
			  e && e->message ? e->message : "libgit2 failed");
}

int queue_oid_parse(const char *hex, git_oid *oid)
{
	if (!hex || strlen(hex) != QUEUE_OID_HEX || strspn(hex, "0123456789abcdefABCDEF") != QUEUE_OID_HEX)
		return rb_err_set(RB_E_INVAL, "\"%.64s\" is not a 40-digit commit id", hex ? hex : "(null)");
	if (git_oid_fromstrn(oid, hex, QUEUE_OID_HEX) < 0)
		return rb_err_set(RB_E_INVAL, "\"%.64s\" is not a 40-digit commit id", hex);
	return RB_OK;
}

void queue_oid_format(const git_oid *oid, char out[QUEUE_OID_HEX + 1])
{
	git_oid_tostr(out, QUEUE_OID_HEX + 1, oid);
}

int queue_commit_lookup(struct queue *q, const char *hex, git_commit **ret)
{
	git_oid oid;
	int err;

	if ((err = queue_oid_parse(hex, &oid)) < 0 || (err = queue_commit_size_check(q, &oid)) < 0)
		return err;
	if ((err = git_commit_lookup(ret, q->repo, &oid)) < 0)
		return err == GIT_ENOTFOUND ? rb_err_set(RB_E_NOTFOUND, "commit %s is not in %s", hex, q->path)
					    : queue_git_fail(RB_E_IO, "reading a commit", q->path);
	return RB_OK;
}

const char *queue_branch(const struct queue *q)
{
	return q ? q->branch : NULL;
}

const char *queue_path(const struct queue *q)
{
	return q ? q->path : NULL;
}

unsigned queue_publish_races(const struct queue *q)
{
	return q ? q->publish_races : 0;
}

int queue_set_publish_deadline(struct queue *q, unsigned seconds)
{
	if (!q || seconds > QUEUE_MAX_PUBLISH_SECONDS)
		return rb_err_set(RB_E_INVAL, "the publish deadline must be 0..%d seconds", QUEUE_MAX_PUBLISH_SECONDS);
	q->publish_seconds = seconds;
	return RB_OK;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	git_repository_free(q->repo);
	free(q->path);
	free(q->url);
	free(q->branch);
	free(q->tip_ref);
	free(q);
}

static bool dir_is_empty_or_missing(const char *path, bool *ret_exists)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	*ret_exists = d != NULL || errno != ENOENT;
	if (!d)
		return errno == ENOENT;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/* The hook runs through /bin/sh: paths go in single quotes, so a quote
 * in a path is refused rather than escaped. */
static int hook_write(const char *repo_path, const char *config_path, const char *rombsr_path)
{
	_cleanup_free_ char *cfg = realpath(config_path, NULL), *bin = realpath(rombsr_path, NULL);
	_cleanup_free_ char *hooks = NULL, *hook = NULL;
	struct rb_buf b = RB_BUF_INIT;
	int err;

	if (!cfg)
		return rb_err_set(RB_E_NOTFOUND, "%s: %s; the hook needs the sign.conf path", config_path,
				  strerror(errno));
	if (!bin)
		return rb_err_set(RB_E_NOTFOUND, "%s: %s; the hook needs the rombsr binary", rombsr_path,
				  strerror(errno));
	if (strchr(cfg, '\'') || strchr(bin, '\'') || strchr(cfg, '\n') || strchr(bin, '\n'))
		return rb_err_set(RB_E_INVAL, "the config or rombsr path contains a quote or newline; move it");
	if (asprintf(&hooks, "%s/hooks", repo_path) < 0 || asprintf(&hook, "%s/pre-receive", hooks) < 0)
		return RB_E_NOMEM;
	if ((err = rb_mkdir_p(hooks, 0755)) < 0)
		return err;
	err = rb_buf_printf(&b, "#!/bin/sh\n"
			  "# rombsr queue guard: every pushed ref update is checked against the rules\n"
			  "# of docs/QUEUE.md; installed by 'rombsr queue init'.\n"
			  "exec '%s' queue-guard --config '%s'\n", bin, cfg);
	if (err == RB_OK)
		err = rb_file_write_atomic(hook, b.data, b.len, 0755);
	rb_buf_free(&b);
	return err;
}

int queue_init_bare(const char *path, const char *branch, const char *config_path, const char *rombsr_path)
{
	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	_cleanup_(git_repository_freep) git_repository *repo = NULL;
	_cleanup_(git_config_freep) git_config *cfg = NULL;
	bool exists;
	int err;

	if (!path || !branch)
		return RB_E_INVAL;
	if ((err = queue_global_init()) < 0)
		return err;
	if (!queue_branch_valid(branch))
		return rb_err_set(RB_E_INVAL, "\"%.64s\" is not a usable branch name", branch);
	if (!dir_is_empty_or_missing(path, &exists))
		return rb_err_set(RB_E_EXISTS, "%s already exists and is not empty; choose a new path", path);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	opts.initial_head = branch;
	if (git_repository_init_ext(&repo, path, &opts) < 0)
		return queue_git_fail(RB_E_IO, "creating the queue repository", path);
	/* Defence in depth next to the guard: git itself refuses rewrites
	 * and deletions, and checks every pushed object. */
	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_bool(cfg, "receive.denyNonFastForwards", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.denyDeletes", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0 ||
	    /* git streams blobs over this size instead of inflating them
	     * whole: when it receives a push, and when it sends a fetch (the
	     * fetching side's own setting does not reach a local remote). */
	    git_config_set_string(cfg, "core.bigFileThreshold", "1m") < 0)
		return queue_git_fail(RB_E_IO, "configuring the queue repository", path);
	if (config_path && rombsr_path)
		return hook_write(path, config_path, rombsr_path);
	return RB_OK;
}

static bool url_local(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');

	if (strncmp(url, "file://", 7) == 0)
		return true;
	if (strstr(url, "://"))
		return false;
	return !colon || (slash && slash < colon);
}

static int queue_alloc(const char *path, const char *branch, struct queue **ret)
{
	struct queue *q = calloc(1, sizeof(*q));

	if (!q)
		return RB_E_NOMEM;
	q->publish_seconds = QUEUE_DEFAULT_PUBLISH_SECONDS;
	if (!(q->path = strdup(path)) || !(q->branch = strdup(branch))) {
		queue_free(q);
		return RB_E_NOMEM;
	}
	*ret = q;
	return RB_OK;
}

/* The remote is kept as plain config (remote.origin.*) and used as an
 * anonymous remote: git_remote_lookup in libgit2 1.5 leaks a regex match
 * per call (pcre2), which a long-running sign node would feel. */
static int origin_check(struct queue *q)
{
	_cleanup_(git_config_freep) git_config *cfg = NULL;
	_cleanup_git_buf_ git_buf have = GIT_BUF_INIT;

	if (git_repository_config_snapshot(&cfg, q->repo) < 0)
		return queue_git_fail(RB_E_IO, "reading the local queue's configuration", q->path);
	if (git_config_get_string_buf(&have, cfg, "remote.origin.url") < 0)
		return rb_err_set(RB_E_STATE, "%s has no remote 'origin'; it is not a queue mirror (remove it or use "
				  "another directory)", q->path);
	if (strcmp(have.ptr, q->url) != 0)
		return rb_err_set(RB_E_STATE, "%s mirrors %s, not %s; remove it or use another directory", q->path,
				  have.ptr, q->url);
	return RB_OK;
}

static int origin_add(struct queue *q)
{
	_cleanup_(git_config_freep) git_config *cfg = NULL;
	_cleanup_free_ char *spec = NULL;

	if (asprintf(&spec, "refs/heads/%s:refs/remotes/origin/%s", q->branch, q->branch) < 0) {
		spec = NULL;
		return RB_E_NOMEM;
	}
	if (git_repository_config(&cfg, q->repo) < 0 || git_config_set_string(cfg, "remote.origin.url", q->url) < 0 ||
	    git_config_set_string(cfg, "remote.origin.fetch", spec) < 0)
		return queue_git_fail(RB_E_IO, "adding the queue remote", q->path);
	return RB_OK;
}

int queue_remote_open(struct queue *q, git_remote **ret)
{
	git_remote_create_options opts = GIT_REMOTE_CREATE_OPTIONS_INIT;

	/* The url is used exactly as configured: no url.*.insteadOf
	 * rewriting (which is also where the regex leak sits). */
	opts.repository = q->repo;
	opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(ret, q->url, &opts) < 0)
		return queue_git_fail(RB_E_IO, "opening the queue remote", q->url);
	return RB_OK;
}

int queue_open(const char *url, const char *local_dir, const char *branch, struct queue **ret)
{
	_cleanup_queue_ struct queue *q = NULL;
	struct stat st;
	int err;

	if (!url || !local_dir || !branch || !ret)
		return RB_E_INVAL;
	if ((err = queue_global_init()) < 0)
		return err;
	if (!*url || strlen(url) > MAX_URL_LEN)
		return rb_err_set(RB_E_INVAL, "the queue url is empty or too long");
	if (!queue_branch_valid(branch))
		return rb_err_set(RB_E_INVAL, "\"%.64s\" is not a usable branch name", branch);
	if ((err = queue_alloc(local_dir, branch, &q)) < 0)
		return err;
	q->url_is_local = url_local(url);
	/* A relative path would change meaning with the working directory
	 * of the later git commands. */
	if (q->url_is_local && url[0] != '/' && strncmp(url, "file://", 7) != 0) {
		if (!(q->url = realpath(url, NULL)))
			return rb_err_set(RB_E_NOTFOUND, "queue %s: %s", url, strerror(errno));
	} else if (!(q->url = strdup(url))) {
		return RB_E_NOMEM;
	}
	if (asprintf(&q->tip_ref, "refs/remotes/origin/%s", branch) < 0) {
		q->tip_ref = NULL;
		return RB_E_NOMEM;
	}
	if (stat(local_dir, &st) == 0) {
		if (git_repository_open_ext(&q->repo, local_dir, GIT_REPOSITORY_OPEN_NO_SEARCH |
					    GIT_REPOSITORY_OPEN_BARE, NULL) < 0)
			return queue_git_fail(RB_E_STATE, "opening the local queue", local_dir);
		if ((err = origin_check(q)) < 0)
			return err;
	} else {
		git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;

		opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
		opts.mode = 0700;
		if (git_repository_init_ext(&q->repo, local_dir, &opts) < 0)
			return queue_git_fail(RB_E_IO, "creating the local queue", local_dir);
		if ((err = origin_add(q)) < 0)
			return err;
		if ((err = queue_fetch(q, (char[QUEUE_OID_HEX + 1]){ 0 })) < 0)
			return err;
	}
	*ret = TAKE_PTR(q);
	return RB_OK;
}

int queue_open_local(const char *path, bool from_env, const char *branch, struct queue **ret)
{
	_cleanup_queue_ struct queue *q = NULL;
	_cleanup_(git_reference_freep) git_reference *ref = NULL;
	const char *where;
	int err;

	if ((!path && !from_env) || !branch || !ret)
		return RB_E_INVAL;
	if ((err = queue_global_init()) < 0)
		return err;
	if (!queue_branch_valid(branch))
		return rb_err_set(RB_E_INVAL, "\"%.64s\" is not a usable branch name", branch);
	if ((err = queue_alloc(path ? path : "(GIT_DIR)", branch, &q)) < 0)
		return err;
	/* In a pre-receive hook the pushed objects sit in a quarantine
	 * directory that only the environment names. */
	if (git_repository_open_ext(&q->repo, from_env ? NULL : path,
				    from_env ? GIT_REPOSITORY_OPEN_FROM_ENV : GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return queue_git_fail(RB_E_NOTFOUND, "opening the queue repository", q->path);
	where = git_repository_path(q->repo);
	if (where) {
		free(q->path);
		if (!(q->path = strdup(where)))
			return RB_E_NOMEM;
	}
	if (asprintf(&q->tip_ref, "refs/heads/%s", branch) < 0) {
		q->tip_ref = NULL;
		return RB_E_NOMEM;
	}
	if (git_reference_lookup(&ref, q->repo, q->tip_ref) == GIT_ENOTFOUND) {
		_cleanup_free_ char *remote = NULL;
		_cleanup_(git_reference_freep) git_reference *rref = NULL;

		if (asprintf(&remote, "refs/remotes/origin/%s", branch) < 0)
			return RB_E_NOMEM;
		if (git_reference_lookup(&rref, q->repo, remote) == 0) {
			free(q->tip_ref);
			q->tip_ref = TAKE_PTR(remote);
		}
	}
	*ret = TAKE_PTR(q);
	return RB_OK;
}

int queue_tip_oid(struct queue *q, git_oid *ret, bool *ret_found)
{
	_cleanup_(git_reference_freep) git_reference *ref = NULL, *resolved = NULL;
	int e;

	memset(ret, 0, sizeof(*ret));
	*ret_found = false;
	e = git_reference_lookup(&ref, q->repo, q->tip_ref);
	if (e == GIT_ENOTFOUND)
		return RB_OK;
	if (e < 0 || git_reference_resolve(&resolved, ref) < 0)
		return queue_git_fail(RB_E_IO, "reading the queue tip", q->path);
	git_oid_cpy(ret, git_reference_target(resolved));
	*ret_found = true;
	return RB_OK;
}

int queue_tip(struct queue *q, char ret_tip[QUEUE_OID_HEX + 1])
{
	git_oid oid;
	bool found;
	int err;

	if (!q || !ret_tip)
		return RB_E_INVAL;
	if ((err = queue_tip_oid(q, &oid, &found)) < 0)
		return err;
	if (found)
		queue_oid_format(&oid, ret_tip);
	else
		ret_tip[0] = '\0';
	return RB_OK;
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

int64_t queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 20 ms doubling to 1.28 s, each plus up to as much again at random:
 * the jitter keeps publishers that collided from colliding again, and
 * the cap keeps a loser close behind when the branch goes quiet. */
void queue_backoff(unsigned attempt)
{
	uint32_t r = 0;
	unsigned ms = 20u << (attempt < 6 ? attempt : 6);
	struct timespec ts;

	(void)rb_random_bytes(&r, sizeof(r));
	ms += r % ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int fetch_once(struct queue *q, char ret_tip[QUEUE_OID_HEX + 1])
{
	git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
	_cleanup_(git_remote_freep) git_remote *remote = NULL;
	_cleanup_free_ char *spec = NULL;
	char *specs[1];
	git_strarray refspecs = { specs, 1 };
	int err;

	if (!q || !ret_tip || !q->url)
		return rb_err_set(RB_E_INVAL, "queue_fetch: the queue was not opened with a remote");
	/* Forced: the mirror must show what the remote says now, rewritten
	 * or not. Deciding whether a rewrite is acceptable is the caller's
	 * job (the sign node halts, apply re-walks); a mirror that silently
	 * kept the old tip would hide the attack. */
	if (asprintf(&spec, "+refs/heads/%s:refs/remotes/origin/%s", q->branch, q->branch) < 0)
		return RB_E_NOMEM;
	specs[0] = spec;
	opts.callbacks.credentials = cred_from_agent;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	if (q->url_is_local) {
		/* libgit2's local transport builds a pack in memory from whole
		 * objects: a blob bomb in the queue would be inflated here.
		 * git streams every blob over core.bigFileThreshold instead. */
		_cleanup_free_ char *gitdir = NULL;
		struct rb_buf out = RB_BUF_INIT, errb = RB_BUF_INIT;
		int status = 0;

		if (asprintf(&gitdir, "--git-dir=%s", q->path) < 0)
			return RB_E_NOMEM;
		{
			char *argv[] = { "git", gitdir, "-c", "core.askPass=true", "-c", "core.bigFileThreshold=1m",
					 "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", q->url, spec, NULL };

			err = queue_git_cli_run(argv, &out, &errb, &status);
		}
		if (err == RB_OK && status != 0) {
			(void)rb_buf_terminate(&errb);
			/* An empty queue has no branch yet: its tip is "none". */
			if (errb.data && strstr((const char *)errb.data, "couldn't find remote ref")) {
				rb_buf_free(&out);
				rb_buf_free(&errb);
				return queue_tip(q, ret_tip);
			}
			/* Another git is updating this mirror's ref right now
			 * (one left running by a killed process, or a build
			 * beside this one): not a verdict on the queue. */
			err = rb_err_set(errb.data && strstr((const char *)errb.data, "cannot lock ref") ? RB_E_AGAIN : RB_E_IO,
					 "fetching the queue (%s): git fetch failed: %.300s", q->url,
					 errb.data ? (const char *)errb.data : "no output");
		}
		rb_buf_free(&out);
		rb_buf_free(&errb);
		if (err < 0)
			return err;
		return queue_tip(q, ret_tip);
	}
	if ((err = queue_remote_open(q, &remote)) < 0)
		return err;
	if ((err = git_remote_fetch(remote, &refspecs, &opts, NULL)) < 0)
		return queue_git_fail(err == GIT_ELOCKED ? RB_E_AGAIN : RB_E_IO, "fetching the queue", q->url);
	return queue_tip(q, ret_tip);
}

int queue_fetch(struct queue *q, char ret_tip[QUEUE_OID_HEX + 1])
{
	int64_t deadline = queue_now_ms() + QUEUE_FETCH_LOCK_SECONDS * 1000;
	int err;

	for (unsigned attempt = 0;; attempt++) {
		err = fetch_once(q, ret_tip);
		if (err != RB_E_AGAIN || queue_now_ms() >= deadline)
			return err;
		queue_backoff(attempt);
	}
}

/* A commit object is parsed whole (its message, its signature): one of
 * a gigabyte of zeros, a few kilobytes pushed, would be inflated by every
 * reader. Its size comes from the object header first, as a blob's does. */
int queue_commit_size_check(struct queue *q, const git_oid *id)
{
	_cleanup_(git_odb_freep) git_odb *odb = NULL;
	git_object_t type;
	size_t len;

	if (git_repository_odb(&odb, q->repo) < 0)
		return queue_git_fail(RB_E_IO, "opening the object database", q->path);
	if (git_odb_read_header(&len, &type, odb, id) < 0)
		return rb_err_set(RB_E_NOTFOUND, "%s: commit %.12s is missing", q->path, git_oid_tostr_s(id));
	if (type != GIT_OBJECT_COMMIT)
		return rb_err_set(RB_E_PARSE, "%s: object %.12s is not a commit", q->path, git_oid_tostr_s(id));
	if (len > QUEUE_MAX_COMMIT_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: commit %.12s is %zu bytes, more than the %d a queue commit may have; "
				  "it was not read", q->path, git_oid_tostr_s(id), len, QUEUE_MAX_COMMIT_BYTES);
	return RB_OK;
}

bool queue_has_commit(struct queue *q, const char *commit)
{
	git_oid oid;

	_cleanup_(git_odb_freep) git_odb *odb = NULL;
	git_object_t type;
	size_t len;

	/* From the header: a commit too large to read is still a commit. */
	if (!q || queue_oid_parse(commit, &oid) < 0 || git_repository_odb(&odb, q->repo) < 0 ||
	    git_odb_read_header(&len, &type, odb, &oid) < 0)
		return false;
	return type == GIT_OBJECT_COMMIT;
}

int queue_commit_info(struct queue *q, const char *commit, struct queue_commit_info *ret)
{
	_cleanup_(git_commit_freep) git_commit *c = NULL;
	struct queue_commit_info info = { 0 };
	int err;

	if (!q || !ret)
		return RB_E_INVAL;
	if ((err = queue_commit_lookup(q, commit, &c)) < 0)
		return err;
	queue_oid_format(git_commit_id(c), info.id);
	info.n_parents = git_commit_parentcount(c);
	if (info.n_parents > 0)
		queue_oid_format(git_commit_parent_id(c, 0), info.parent);
	info.time = (int64_t)git_commit_time(c);
	*ret = info;
	return RB_OK;
}
