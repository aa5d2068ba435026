/* rombsr: zero-trust release signing. One verb per file in src/cli; the
 * zone programs (rombsr-build, rombsr-queue, rombsr-audit, rombsr-admin)
 * are this file with fewer verbs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "util/secret.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} verbs[] = {
#if ROMBSR_ZONES & ZONE_ADMIN
	{ "hsm-provision", cmd_hsm_provision, "initialise a token: role credentials, key set, manifest" },
	{ "hsm-revoke", cmd_hsm_revoke, "revoke a key: manifest, audit event, incident checklist" },
	{ "hsm-rotate-keys", cmd_hsm_rotate, "give keys successors on the token; retire and link the old keys" },
#endif
#if ROMBSR_ZONES & (ZONE_ADMIN | ZONE_AUDIT)
	{ "verify-rotation", cmd_verify_rotation, "check a rotation statement signed by an old key and its successor" },
#endif
#if ROMBSR_ZONES & ZONE_ADMIN
	{ "keys", cmd_keys, "list or export keys from the manifest" },
	{ "sign-file", cmd_sign_file, "sign a file with an HSM key (admin-local, raw or OpenPGP)" },
#endif
#if ROMBSR_ZONES & ZONE_BUILD
	{ "submit", cmd_submit, "build node: commit a build's signing requests to the queue" },
	{ "approve", cmd_approve, "dual control: approve a build's request document for named keys" },
#endif
#if ROMBSR_ZONES & ZONE_SIGN
	{ "sign", cmd_sign, "sign node: one batch of the queue (the daemon is rombsr-sign)" },
#endif
#if ROMBSR_ZONES & ZONE_QUEUE
	{ "queue", cmd_queue, "create the signing queue (init) or check its whole history (verify)" },
	{ "queue-guard", cmd_queue_guard, "the queue's pre-receive hook: refuse pushes that break a queue rule" },
#endif
#if ROMBSR_ZONES & ZONE_BUILD
	{ "apply", cmd_apply, "verify a build's signed response and put the signatures in place" },
#endif
#if ROMBSR_ZONES & (ZONE_BUILD | ZONE_AUDIT)
	{ "verify", cmd_verify, "verify files (.asc/.sig, APKs) against the key manifest" },
#endif
#if ROMBSR_ZONES & ZONE_AUDIT
	{ "audit", cmd_audit, "create the sign node's audit log; verify it, show its history, print and check proofs" },
#endif
#if ROMBSR_ZONES & ZONE_ADMIN
	{ "ceremony", cmd_ceremony, "key ceremony: make, split, check and restore the wrap key (SLIP-0039, age)" },
	{ "backup", cmd_backup, "the same as 'ceremony init': back up the wrap key as Shamir shares" },
	{ "restore", cmd_restore, "the same as 'ceremony restore': recombine shares onto a fresh HSM" },
#endif
};

static void usage(FILE *f)
{
	fprintf(f, "usage: %s VERB [OPTIONS]\n\nverbs:\n", ROMBSR_PROGRAM);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-15s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'%s VERB --help' describes a verb; rombsr(1) describes exit codes.\n", ROMBSR_PROGRAM);
}

int main(int argc, char **argv)
{
	/* Every verb may hold a PIN or talk to the HSM: no core dumps. */
	rb_secret_harden_process();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("%s %s\n", ROMBSR_PROGRAM, ROMBSR_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0) {
			cli_begin();
			return verbs[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "%s: unknown verb '%s'; run '%s --help' for the list\n", ROMBSR_PROGRAM, argv[1],
		ROMBSR_PROGRAM);
	return EXIT_USAGE;
}
