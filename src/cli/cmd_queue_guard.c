/* rombsr queue-guard --config FILE: the queue's pre-receive hook.
 *
 * git runs it in the queue repository with the pushed objects in a
 * quarantine directory named by the environment, and "<old> <new> <ref>"
 * lines on stdin. Any refusal rejects the whole push. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keys/manifest.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "queue/guard.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/encode.h"

static const char verb[] = "queue-guard";

static void help(void)
{
	printf("usage: rombsr queue-guard --config FILE\n"
	       "\n"
	       "The queue's git pre-receive hook (installed by 'rombsr queue init'): reads\n"
	       "\"<old> <new> <ref>\" lines on stdin and refuses every update that breaks a\n"
	       "rule of docs/QUEUE.md, one line per refusal on stderr.\n"
	       "\n"
	       "  --config FILE   the sign-node configuration (default " SIGN_CONFIG_DEFAULT_PATH ")\n");
}

int cli_queue_guard_open(const char *config_path, const char *gnupg_home, struct cli_queue_guard *ret)
{
	_cleanup_free_ char *home = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	if ((err = sign_config_load(config_path, &ret->cfg)) < 0)
		return err;
	if ((err = manifest_load(ret->cfg->manifest, &ret->manifest)) < 0)
		goto fail;
	if (!gnupg_home) {
		if (asprintf(&home, "%s/guard-gnupg", ret->cfg->state_dir) < 0) {
			home = NULL;
			err = RB_E_NOMEM;
			goto fail;
		}
		gnupg_home = home;
	}
	if ((err = gpgsig_open_keyring(gnupg_home, ret->cfg, ret->manifest, &ret->keyring)) < 0 ||
	    (err = guard_new(ret->cfg, ret->manifest, ret->keyring, &ret->guard)) < 0)
		goto fail;
	return RB_OK;
fail:
	cli_queue_guard_close(ret);
	return err;
}

void cli_queue_guard_close(struct cli_queue_guard *g)
{
	guard_free(g->guard);
	gpgsig_free(g->keyring);
	manifest_free(g->manifest);
	sign_config_free(g->cfg);
	memset(g, 0, sizeof(*g));
}

/* One "<old> <new> <ref>" line (without its newline) into its parts. */
static bool update_parse(char *line, size_t len, char **old, char **new, char **ref)
{
	if (len < 2 * QUEUE_OID_HEX + 3 || line[QUEUE_OID_HEX] != ' ' || line[2 * QUEUE_OID_HEX + 1] != ' ')
		return false;
	line[QUEUE_OID_HEX] = line[2 * QUEUE_OID_HEX + 1] = '\0';
	*old = line;
	*new = line + QUEUE_OID_HEX + 1;
	*ref = line + 2 * QUEUE_OID_HEX + 2;
	if (!rb_hex_is_lower(*old, QUEUE_OID_HEX) || !rb_hex_is_lower(*new, QUEUE_OID_HEX))
		return false;
	for (const char *p = *ref; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return **ref != '\0';
}

int cmd_queue_guard(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = SIGN_CONFIG_DEFAULT_PATH;
	struct cli_queue_guard g;
	_cleanup_queue_ struct queue *q = NULL;
	_cleanup_free_ uint8_t *input = NULL;
	size_t len, n_updates = 0;
	unsigned refused = 0;
	char *p, *end;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	/* The whole input is bounded before anything is parsed. */
	err = rb_fd_read_all(0, (size_t)GUARD_MAX_LINE * GUARD_MAX_UPDATES, &input, &len);
	if (err < 0) {
		fprintf(stderr, "rombsr queue-guard: refused: the update list on stdin is unreadable or longer than "
			"%d lines of %d bytes\n", GUARD_MAX_UPDATES, GUARD_MAX_LINE);
		return rb_exit_code(err);
	}
	if ((err = cli_queue_guard_open(config, NULL, &g)) < 0) {
		fprintf(stderr, "rombsr queue-guard: refused: the guard cannot start: %s\n",
			rb_err_message(err));
		return rb_exit_code(err);
	}
	if ((err = queue_open_local(NULL, true, g.cfg->queue.branch, &q)) < 0) {
		fprintf(stderr, "rombsr queue-guard: refused: %s\n", rb_err_message(err));
		cli_queue_guard_close(&g);
		return rb_exit_code(err);
	}
	for (p = (char *)input, end = p + len; p < end; n_updates++) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *old, *new, *ref;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (nl)
			*nl = '\0';
		if (n >= GUARD_MAX_LINE || n_updates >= GUARD_MAX_UPDATES || !nl || !update_parse(p, n, &old, &new, &ref)) {
			fprintf(stderr, "rombsr queue-guard: refused: malformed update line %zu on stdin\n", n_updates + 1);
			refused++;
			break;
		}
		rb_err_clear();
		if ((err = guard_check_update(g.guard, q, old, new, ref)) < 0) {
			fprintf(stderr, "rombsr queue-guard: refused %s: %s\n", ref,
				rb_err_message(err));
			refused++;
		}
		p = nl + 1;
	}
	cli_queue_guard_close(&g);
	return refused ? EXIT_AUTH : EXIT_OK;
}
