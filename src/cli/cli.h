/* Shared pieces of the rombsr command line: common options, exit codes,
 * error printing, and opening the configured token. Only code under
 * src/cli prints or exits. */
#ifndef ROMBSR_CLI_CLI_H
#define ROMBSR_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "p11/p11.h"
#include "util/err.h"


/* Options every verb that touches the HSM understands. */
struct cli_common {
	const char *state_dir;   /* --state-dir, $ROMBSR_STATE_DIR, ./rombsr-state */
	const char *module;      /* --module, default SoftHSM2 */
	const char *token;       /* --token label or pkcs11: URI; NULL: the manifest's
				  * token if a verb loaded one, else "rombsr" */
	const char *manifest;    /* --manifest, default STATE/manifest.json */
	struct p11_pin_source pin;
	char *manifest_buf;      /* owned storage for the default manifest path */
};

#define CLI_COMMON_OPTIONS                                        \
	{ "state-dir", required_argument, NULL, 0x100 },          \
	{ "module", required_argument, NULL, 0x101 },             \
	{ "token", required_argument, NULL, 0x102 },              \
	{ "manifest", required_argument, NULL, 0x103 },           \
	{ "pin-file", required_argument, NULL, 0x104 },           \
	{ "pin-fd", required_argument, NULL, 0x105 },             \
	{ "pin-env", required_argument, NULL, 0x106 },            \
	{ "help", no_argument, NULL, 'h' }

#define CLI_COMMON_HELP                                                                   \
	"  --state-dir DIR     rombsr state (default $ROMBSR_STATE_DIR or ./rombsr-state)\n" \
	"  --module PATH       PKCS#11 module (default SoftHSM2)\n"                          \
	"  --token SELECTOR    token label or pkcs11: URI (default: the manifest's token)\n" \
	"  --manifest FILE     key manifest (default STATE/manifest.json)\n"                \
	"  --pin-file FILE     read the operator PIN from FILE (mode 0600)\n"               \
	"  --pin-fd N          read the operator PIN from file descriptor N\n"              \
	"  --pin-env VAR       read the operator PIN from environment variable VAR\n"       \
	"                      (without these, rombsr prompts on the terminal)\n"

void cli_common_init(struct cli_common *c);
void cli_common_done(struct cli_common *c);
/* Handle a common option; returns 1 if opt was one, 0 if not. */
int cli_common_opt(struct cli_common *c, int opt, const char *arg);
/* Resolve defaults (state dir, manifest path, SoftHSM config). */
int cli_common_finish(struct cli_common *c);

/* Start a command: no detail and no subject left from before it. */
void cli_begin(void);
/* Name what the verb works on now ("request document build/x.json"), for
 * cli_fail() to say when the error carries no detail of its own. */
void cli_working_on(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "rombsr VERB: DETAIL" on stderr and return the exit code for err.
 * The detail is the one set with err (rb_err_message()); an error that
 * came without one is "rombsr VERB: WORKING-ON: <generic text>", never a
 * detail an earlier, different failure left behind. */
int cli_fail(const char *verb, int err);
/* Print a usage error and return EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal option value from 0 to max into *ret; else a usage error
 * naming opt (EXIT_USAGE). */
int cli_parse_uint(const char *verb, const char *opt, const char *arg, unsigned max, unsigned *ret);

/* Load the module, open the token and (if login) log in as operator with
 * the configured PIN source; the PIN is wiped right after C_Login. */
int cli_open_token(struct cli_common *c, bool login, struct p11_module **ret_mod,
		   struct p11_token **ret_tok);

/* The SoftHSM2 configuration file of a state directory; caller frees. */
int cli_softhsm_conf_path(const char *state_dir, char **ret);
/* True if module is SoftHSM2 (by file name). */
bool cli_module_is_softhsm(const char *module);

/* Verbs. argv[0] is the verb name. */
int cmd_hsm_provision(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_sign_file(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_queue_guard(int argc, char **argv);
/* The queue guard with everything it needs, as queue-guard and queue verify
 * build it (cmd_queue_guard.c): config, manifest, keyring (gnupg_home, or
 * NULL for STATEDIR/guard-gnupg) and guard. Close with
 * cli_queue_guard_close(), which accepts a zeroed struct. */
struct cli_queue_guard { struct sign_config *cfg; struct manifest *manifest; struct gpgsig *keyring; struct guard *guard; };
int cli_queue_guard_open(const char *config_path, const char *gnupg_home, struct cli_queue_guard *ret);
void cli_queue_guard_close(struct cli_queue_guard *g);
int cmd_verify(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_hsm_revoke(int argc, char **argv);
int cmd_hsm_rotate(int argc, char **argv);
int cmd_verify_rotation(int argc, char **argv);
int cmd_ceremony(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif
