/* The options and token opening of the verbs that touch the HSM: the
 * admin zone's (hsm-provision, hsm-revoke, hsm-rotate-keys, keys,
 * sign-file, ceremony). Kept apart from cli.h so that the build node's,
 * the queue host's and the auditor's programs link no PKCS#11 client. */
#ifndef ROMBSR_CLI_CLI_HSM_H
#define ROMBSR_CLI_CLI_HSM_H

#include <stdbool.h>

#include "cli.h"
#include "p11/p11.h"

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

/* Load the module, open the token and (if login) log in as operator with
 * the configured PIN source; the PIN is wiped right after C_Login. */
int cli_open_token(struct cli_common *c, bool login, struct p11_module **ret_mod,
		   struct p11_token **ret_tok);

/* The SoftHSM2 configuration file of a state directory; caller frees. */
int cli_softhsm_conf_path(const char *state_dir, char **ret);
/* True if module is SoftHSM2 (by file name). */
bool cli_module_is_softhsm(const char *module);

#endif
