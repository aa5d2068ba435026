/* rombsr hsm-provision: create a token, role credentials, keys, manifest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/provision.h"
#include "cli_hsm.h"
#include "fsutil.h"
#include "keys/keyspec.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

static const char verb[] = "hsm-provision";

static void help(void)
{
	printf("usage: rombsr hsm-provision [--label L] [--keyspec FILE] [--escrow-dir DIR]\n"
	       "\n"
	       "Initialise a token for rombsr: random credentials for the admin (SO),\n"
	       "operator, backup and audit roles are written to DIR (0600 files, to be\n"
	       "split between custodians); every key of the key spec is generated on the\n"
	       "token with X.509 and OpenPGP certificates; the key manifest is written to\n"
	       "STATE/manifest.json. With the default SoftHSM2 module, the token lives in\n"
	       "STATE/tokens with its own STATE/softhsm2.conf.\n"
	       "\n"
	       "  --label L                 token label (default: rombsr)\n"
	       "  --keyspec FILE            key spec (default: built-in, see --print-default-keyspec)\n"
	       "  --escrow-dir DIR          where role credentials go (default: ./rombsr-escrow)\n"
	       "  --print-default-keyspec   print the built-in key spec and exit\n"
	       CLI_COMMON_HELP);
}

static void progress(const char *name, size_t done, size_t total, void *userdata)
{
	(void)userdata;
	printf("  [%zu/%zu] %s\n", done, total, name);
	fflush(stdout);
}

/* Create STATE/, STATE/tokens/ and STATE/softhsm2.conf for SoftHSM2. */
static int softhsm_state_prepare(const char *state_dir)
{
	_cleanup_free_ char *tokens = NULL, *conf = NULL, *text = NULL;
	char abs_tokens[4096];
	int err;

	if (asprintf(&tokens, "%s/tokens", state_dir) < 0)
		return RB_E_NOMEM;
	if ((err = rb_mkdir_p(tokens, 0700)) < 0)
		return err;
	if (!realpath(tokens, abs_tokens))
		return rb_err_set(RB_E_IO, "%s: %s", tokens, strerror(errno));
	if ((err = cli_softhsm_conf_path(state_dir, &conf)) < 0)
		return err;
	if (asprintf(&text, "# SoftHSM2 configuration written by rombsr hsm-provision\n"
			    "directories.tokendir = %s\n"
			    "objectstore.backend = file\n"
			    "log.level = ERROR\n"
			    "slots.removable = false\n", abs_tokens) < 0)
		return RB_E_NOMEM;
	if ((err = rb_file_write_atomic(conf, text, strlen(text), 0600)) < 0)
		return err;
	return setenv("SOFTHSM2_CONF", conf, 1) == 0 ? RB_OK : RB_E_NOMEM;
}

int cmd_hsm_provision(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "keyspec", required_argument, NULL, 'k' },
		{ "escrow-dir", required_argument, NULL, 'e' },
		{ "print-default-keyspec", no_argument, NULL, 'P' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	const char *label = "rombsr", *keyspec_path = NULL, *escrow = "rombsr-escrow";
	struct keyspec *spec = NULL;
	struct p11_module *mod = NULL;
	struct provision_report report = { 0 };
	struct provision_params params;
	bool created_state = false, created_escrow = false, own_softhsm_conf;
	struct stat st;
	int opt, err, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'l': label = optarg; break;
		case 'k': keyspec_path = optarg; break;
		case 'e': escrow = optarg; break;
		case 'P': fputs(keyspec_default_text(), stdout); return EXIT_OK;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	/* A SOFTHSM2_CONF the caller exported names their own token store;
	 * otherwise the state directory gets one of its own. */
	own_softhsm_conf = cli_module_is_softhsm(c.module) && !getenv("SOFTHSM2_CONF");
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);

	err = keyspec_path ? keyspec_load(keyspec_path, &spec) : keyspec_default(&spec);
	if (err < 0) {
		rc = cli_fail(verb, err);
		goto out;
	}
	if (access(c.manifest, F_OK) == 0) {
		fprintf(stderr, "rombsr %s: %s exists: this state directory is already provisioned; "
			"use a new --state-dir (or rotate keys with hsm-rotate-keys)\n", verb, c.manifest);
		rc = EXIT_EXISTS;
		goto out;
	}
	if (stat(escrow, &st) != 0)
		created_escrow = true;
	if (stat(c.state_dir, &st) != 0)
		created_state = true;
	if (own_softhsm_conf) {
		if ((err = softhsm_state_prepare(c.state_dir)) < 0) {
			rc = cli_fail(verb, err);
			goto undo;
		}
	} else if ((err = rb_mkdir_p(c.state_dir, 0700)) < 0) {
		rc = cli_fail(verb, err);
		goto out;
	}
	if ((err = p11_module_load(c.module, &mod)) < 0) {
		rc = cli_fail(verb, err);
		goto undo;
	}
	params = (struct provision_params){
		.module = mod,
		.label = label,
		.spec = spec,
		.escrow_dir = escrow,
		.manifest_path = c.manifest,
		.now = (int64_t)time(NULL),
	};
	printf("rombsr: provisioning token '%s' with %zu keys (%s)\n", label, spec->n_keys, c.module);
	if ((err = provision_token(&params, progress, NULL, &report)) < 0) {
		rc = cli_fail(verb, err);
		goto undo;
	}
	printf("rombsr: wrote the key manifest to %s\n", c.manifest);
	printf("rombsr: wrote role credentials to %s/ - split them between custodians and move\n"
	       "        admin.pin off this machine; only operator.pin belongs on the sign node\n", escrow);
	if (!report.hardware_roles)
		fprintf(stderr,
			"rombsr: warning: %s enforces only the PKCS#11 SO/user split, in software on\n"
			"        this host. The backup and audit credentials were generated but are NOT\n"
			"        enforced by the token. For hardware role separation use a YubiHSM2 or\n"
			"        NetHSM (see docs/ROLES.md).\n", report.token_model[0] ? report.token_model : "this module");
	rc = EXIT_OK;
	goto out;
undo:
	/* Leave nothing half-made behind: a token without its manifest, or
	 * credentials for a token that does not exist, only mislead. */
	p11_module_free(mod);
	mod = NULL;
	if (created_state)
		cli_remove_tree(c.state_dir);
	else if (cli_module_is_softhsm(c.module))
		fprintf(stderr, "rombsr %s: the token in %s may be half-provisioned; remove it before "
			"retrying\n", verb, c.state_dir);
	if (created_escrow)
		cli_remove_tree(escrow);
out:
	p11_module_free(mod);
	keyspec_free(spec);
	cli_common_done(&c);
	return rc;
}
