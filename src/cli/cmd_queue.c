/* rombsr queue init|verify: create the queue repository with its guard,
 * and check a queue's whole history offline. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/guard.h"
#include "util/cleanup.h"
#include "util/err.h"

static const char verb[] = "queue";

static void help(void)
{
	printf("usage: rombsr queue init --config FILE [PATH]\n"
	       "       rombsr queue verify --config FILE [--repo DIR]\n"
	       "\n"
	       "init    create the bare queue repository at PATH (default: queue.url of the\n"
	       "        configuration, if it is a local path) with the pre-receive hook\n"
	       "        'rombsr queue-guard --config FILE' and receive.denyNonFastForwards,\n"
	       "        receive.denyDeletes and receive.fsckObjects set\n"
	       "verify  apply the guard's rules to every commit of the queue branch: of the\n"
	       "        repository DIR (a clone or the bare queue), or of a fresh mirror of\n"
	       "        queue.url; reports the first violation\n"
	       "\n"
	       "  --config FILE   the sign-node configuration (default " SIGN_CONFIG_DEFAULT_PATH ")\n"
	       "  --repo DIR      verify this repository instead of fetching queue.url\n");
}

/* A local path named by a queue url: "/srv/q.git" or "file:///srv/q.git". */
static const char *url_local_path(const char *url)
{
	if (strncmp(url, "file://", 7) == 0)
		return url + 7;
	return url[0] == '/' ? url : NULL;
}

static int queue_init(const char *config, const char *path)
{
	_cleanup_sign_config_ struct sign_config *cfg = NULL;
	char exe[PATH_MAX];
	ssize_t n;
	int err;

	if ((err = sign_config_load(config, &cfg)) < 0)
		return err;
	if (!path && !(path = url_local_path(cfg->queue.url)))
		return rb_err_set(RB_E_INVAL, "queue.url %s is not a local path; give the PATH to create on the "
				  "git server", cfg->queue.url);
	/* The hook must run this very binary, wherever it was started from. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return rb_err_set(RB_E_IO, "cannot find the rombsr binary (/proc/self/exe): %s", strerror(errno));
	exe[n] = '\0';
	if ((err = queue_init_bare(path, cfg->queue.branch, cfg->path, exe)) < 0)
		return err;
	printf("created the queue %s (branch %s); its pre-receive hook runs %s queue-guard --config %s\n", path,
	       cfg->queue.branch, exe, cfg->path);
	return RB_OK;
}

static int verify_history(struct cli_queue_guard *g, struct queue *q, const char *what)
{
	char tip[QUEUE_OID_HEX + 1];
	int err;

	if ((err = queue_tip(q, tip)) < 0)
		return err;
	if (!tip[0]) {
		printf("%s: branch %s is empty; nothing to verify\n", what, g->cfg->queue.branch);
		return RB_OK;
	}
	if ((err = guard_check_history(g->guard, q, tip)) < 0)
		return err;
	printf("%s: every commit of %s up to %s follows the queue rules\n", what, g->cfg->queue.branch, tip);
	return RB_OK;
}

static int queue_verify(const char *config, const char *repo)
{
	const char *tmpbase = getenv("TMPDIR");
	_cleanup_free_ char *home = NULL, *mirror = NULL, *tmp = NULL;
	struct cli_queue_guard g;
	struct queue *q = NULL;
	int err;

	/* A throw-away keyring and mirror: verify trusts nothing it finds
	 * on this machine except the configuration and the manifest. */
	if (asprintf(&tmp, "%s/rombsr-queue-verify-XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp") < 0) {
		tmp = NULL;
		return RB_E_NOMEM;
	}
	if (!mkdtemp(tmp))
		return rb_err_set(RB_E_IO, "cannot create a temporary directory: %s", strerror(errno));
	if (asprintf(&home, "%s/gnupg", tmp) < 0 || asprintf(&mirror, "%s/queue.git", tmp) < 0) {
		err = RB_E_NOMEM;
		goto out_tmp;
	}
	if ((err = cli_queue_guard_open(config, home, &g)) < 0)
		goto out_tmp;
	if (repo)
		err = queue_open_local(repo, false, g.cfg->queue.branch, &q);
	else
		err = queue_open(g.cfg->queue.url, mirror, g.cfg->queue.branch, &q);
	if (err == RB_OK)
		err = verify_history(&g, q, repo ? repo : g.cfg->queue.url);
	queue_free(q);
	cli_queue_guard_close(&g);
out_tmp:
	/* No agent to stop: a verification keyring never starts one (gpgsig.h). */
	cli_remove_tree(tmp);
	return err;
}

int cmd_queue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = SIGN_CONFIG_DEFAULT_PATH, *repo = NULL, *sub;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'r': repo = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(verb, "missing sub-command 'init' or 'verify'");
	sub = argv[optind++];
	if (strcmp(sub, "init") == 0) {
		if (repo)
			return cli_usage_error(verb, "--repo is for 'verify'; init takes a PATH");
		if (argc - optind > 1)
			return cli_usage_error(verb, "init takes at most one PATH");
		err = queue_init(config, optind < argc ? argv[optind] : NULL);
	} else if (strcmp(sub, "verify") == 0) {
		if (optind != argc)
			return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
		err = queue_verify(config, repo);
		/* A history that breaks a rule did not verify. */
		if (err == RB_E_PERM) {
			fprintf(stderr, "rombsr queue verify: %s\n", rb_err_message(err));
			return EXIT_VERIFY;
		}
	} else {
		return cli_usage_error(verb, "unknown sub-command '%s'", sub);
	}
	return err < 0 ? cli_fail(verb, err) : EXIT_OK;
}
