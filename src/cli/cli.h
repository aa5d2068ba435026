/* Shared pieces of the rombsr command line: exit codes, error printing,
 * option values, and the verbs. The options of verbs that touch the HSM
 * are in cli_hsm.h (admin verbs only). Only code under src/cli prints or
 * exits. */
#ifndef ROMBSR_CLI_CLI_H
#define ROMBSR_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "util/err.h"

/* The trust zones (docs/ARCHITECTURE.md). Each zone's program is built
 * from main.c with ROMBSR_ZONES naming its zone and links only its verbs'
 * files; `rombsr` has them all. A verb shared by zones leaves out, at
 * compile time, what its zone's program must not hold. */
#define ZONE_BUILD 1u   /* rombsr-build: the build node */
#define ZONE_QUEUE 2u   /* rombsr-queue: the queue host */
#define ZONE_SIGN 4u    /* the sign node (rombsr-sign is its own program) */
#define ZONE_AUDIT 8u   /* rombsr-audit: auditors */
#define ZONE_ADMIN 16u  /* rombsr-admin: provisioning, ceremony, revocation, rotation */
#ifndef ROMBSR_ZONES
#define ROMBSR_ZONES (ZONE_BUILD | ZONE_QUEUE | ZONE_SIGN | ZONE_AUDIT | ZONE_ADMIN)
#endif
#ifndef ROMBSR_PROGRAM
#define ROMBSR_PROGRAM "rombsr"
#endif


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
