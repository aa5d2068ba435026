/* libgit2 set-up and branch names: what sign.conf's loader needs of git,
 * kept apart from the queue transport (git.c) so that a program that
 * reads sign.conf without touching a repository (the key holder) links
 * none of it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/git-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

#define MAX_BRANCH_LEN 200
#define QUEUE_TREE_CACHE_MAX (16 * 1024 * 1024)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = RB_E_INVAL;

static void queue_global_shutdown(void)
{
	git_libgit2_shutdown();
}

static void queue_init_once(void)
{
	if (git_libgit2_init() < 0)
		return;
	/* libgit2 caches only trees up to 4 KiB; a queue directory with
	 * thousands of documents is larger, and each lookup of a path in it
	 * would parse it again (a batch over 30,000 responses took minutes).
	 * The cache as a whole stays bounded (256 MiB by default). */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)QUEUE_TREE_CACHE_MAX);
	atexit(queue_global_shutdown);
	init_result = RB_OK;
}

int queue_global_init(void)
{
	pthread_once(&init_once, queue_init_once);
	if (init_result < 0)
		return rb_err_set(init_result, "libgit2 failed to initialise");
	return RB_OK;
}

bool queue_branch_valid(const char *s)
{
	_cleanup_free_ char *ref = NULL;
	size_t n;
	int ok = 0;

	if (!s || (n = strlen(s)) == 0 || n > MAX_BRANCH_LEN)
		return false;
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") != n)
		return false;
	if (s[0] == '-' || s[0] == '.' || s[0] == '/' || s[n - 1] == '/' || strstr(s, "..") || strstr(s, "//") ||
	    strstr(s, "/."))
		return false;
	if (asprintf(&ref, "refs/heads/%s", s) < 0)
		return false;
	if (queue_global_init() < 0 || git_reference_name_is_valid(&ok, ref) < 0)
		return false;
	return ok != 0;
}
