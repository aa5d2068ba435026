/* rombsr sign --once: one batch of the sign orchestrator (src/signd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "signd/signd.h"
#include "util/err.h"

static const char verb[] = "sign";

static void sign_usage(void)
{
	printf("usage: rombsr sign --once [--config FILE]\n"
	       "Fetch the signing queue, verify and sign every new request the policy allows,\n"
	       "record each signature in the audit log, and publish the responses.\n"
	       "  --config FILE  sign-node configuration (default $ROMBSR_SIGN_CONFIG or\n"
	       "                 /etc/rombsr/sign.conf; docs/formats/sign-config.md)\n"
	       "  --once         run one batch and exit (the daemon is rombsr-sign)\n"
	       "One line per request goes to stderr; a summary to stdout.\n");
}

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = getenv("ROMBSR_SIGN_CONFIG");
	struct signd *s = NULL;
	struct signd_stats st, total;
	bool once = false;
	int opt, err;

	if (!config || !*config)
		config = "/etc/rombsr/sign.conf";
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case '1': once = true; break;
		case 'h': sign_usage(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	if (!once)
		return cli_usage_error(verb, "pass --once for one batch; run rombsr-sign for the daemon");
	if ((err = signd_open(config, stderr, &s)) < 0)
		return cli_fail(verb, err);
	/* One pass over the queue: as many bounded batches as it takes. */
	memset(&total, 0, sizeof(total));
	do {
		err = signd_run_batch(s, NULL, &st);
		if (err < 0)
			break;
		total.commits += st.commits;
		total.documents += st.documents;
		total.signed_ += st.signed_;
		total.rejected += st.rejected;
		total.refused += st.refused;
		total.deferred += st.deferred;
		total.hsm_ops += st.hsm_ops;
		total.recovered += st.recovered;
		total.claimed_elsewhere += st.claimed_elsewhere;
		total.claims_lost += st.claims_lost;
		if (st.response_commit[0])
			memcpy(total.response_commit, st.response_commit, sizeof(total.response_commit));
	} while (st.more);
	signd_close(s);
	if (err < 0)
		return cli_fail(verb, err);
	st = total;
	printf("sign: %zu commits, %zu documents answered, %zu signed, %zu rejected, %zu refused, %zu deferred, %zu HSM operations, %zu recovered from the audit log\n",
	       st.commits, st.documents, st.signed_, st.rejected, st.refused, st.deferred, st.hsm_ops, st.recovered);
	if (st.claimed_elsewhere || st.claims_lost)
		printf("sign: %zu builds left to another sign node's claim, %zu signed here but answered by another "
		       "sign node first (docs/formats/claim.md)\n", st.claimed_elsewhere, st.claims_lost);
	if (st.response_commit[0])
		printf("sign: response commit %s\n", st.response_commit);
	return EXIT_OK;
}
