/* rombsr-sign: the sign orchestrator as a long-running daemon.
 *
 *   rombsr-sign [--config FILE] [--once]
 *
 * Runs a batch, then waits pollSeconds (or until SIGHUP/SIGUSR1, a
 * trigger from a post-receive hook or a timer) and runs the next. A batch
 * that failed is retried after 1, 2, 4 ... SIGND_RETRY_MAX_SECONDS
 * seconds (or at a trigger), whatever pollSeconds is, until one
 * succeeds; only a failure that needs a person (a rewritten queue, a
 * lost response commit, the PIN, the PKCS#11 module) stops it. On
 * SIGTERM or SIGINT it stops taking new documents, publishes what it has
 * signed and logged, and exits 0. Exit codes as for `rombsr`
 * (docs/EXIT-CODES.md). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "signd/signd.h"
#include "util/err.h"
#include "util/secret.h"

/* The longest wait before a failed batch is tried again. */
#define SIGND_RETRY_MAX_SECONDS 64u

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t trigger;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_trigger(int sig)
{
	(void)sig;
	trigger = 1;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must cut the poll sleep short. */
	sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = "/etc/rombsr/sign.conf";
	struct signd *s = NULL;
	bool once = false;
	unsigned failures = 0;
	int opt, err;

	rb_secret_harden_process();
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case '1': once = true; break;
		case 'V': printf("rombsr-sign %s\n", ROMBSR_VERSION); return 0;
		case 'h':
			printf("usage: rombsr-sign [--config FILE] [--once]\n"
			       "  --config FILE  sign-node configuration (default /etc/rombsr/sign.conf)\n"
			       "  --once         run one batch and exit\n"
			       "Signals: SIGTERM/SIGINT finish the current batch and exit; SIGHUP/SIGUSR1 poll now.\n");
			return 0;
		default:
			fprintf(stderr, "rombsr-sign: see 'rombsr-sign --help'\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "rombsr-sign: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	install(SIGTERM, on_stop);
	install(SIGINT, on_stop);
	install(SIGHUP, on_trigger);
	install(SIGUSR1, on_trigger);
	signal(SIGPIPE, SIG_IGN);

	if ((err = signd_open(config, stderr, &s)) < 0) {
		fprintf(stderr, "rombsr-sign: %s\n", rb_err_message(err));
		return rb_exit_code(err);
	}
	fprintf(stderr, "rombsr-sign: started (config %s, poll %us)\n", config, signd_poll_seconds(s));
	for (;;) {
		struct signd_stats st;
		unsigned wait = signd_poll_seconds(s);

		err = signd_run_batch(s, &stop_requested, &st);
		if (err < 0) {
			const char *why = rb_err_message(err);

			/* A rewritten history or a broken HSM needs a human. */
			if (err == RB_E_STATE || err == RB_E_PIN || err == RB_E_MODULE || once) {
				fprintf(stderr, "rombsr-sign: batch failed: %s\n", why);
				break;
			}
			/* Anything else may pass (gpg or git could not start, the
			 * queue was unreachable). last-commit has not moved, so
			 * the next try takes the same work again: soon at first,
			 * then less often. */
			failures++;
			wait = failures > 7 ? SIGND_RETRY_MAX_SECONDS : 1u << (failures - 1);
			fprintf(stderr, "rombsr-sign: batch failed (%u in a row): %s; retrying in %u s\n", failures,
				why, wait);
		} else {
			failures = 0;
			if (st.documents || st.refused || st.deferred)
				fprintf(stderr, "rombsr-sign: batch: %zu documents, %zu signed, %zu rejected, %zu refused, %zu deferred\n",
					st.documents, st.signed_, st.rejected, st.refused, st.deferred);
		}
		if (stop_requested || (once && !(err == RB_OK && st.more)))
			break;
		if (err == RB_OK && st.more)
			continue; /* a full batch: the queue has more right now */
		for (unsigned i = 0; i < wait && !stop_requested && !trigger; i++)
			sleep(1);
		trigger = 0;
		if (stop_requested)
			break;
	}
	signd_close(s);
	if (stop_requested)
		fprintf(stderr, "rombsr-sign: stopped\n");
	return err < 0 ? rb_exit_code(err) : 0;
}
