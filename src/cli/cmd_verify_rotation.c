/* rombsr verify-rotation: check a rotation statement written by
 * 'rombsr hsm-rotate-keys --statement' against the key manifest. An
 * auditor's verb: it needs no token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_hsm.h"
#include "keys/manifest.h"
#include "keys/rotation.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/timefmt.h"

static const char verify_verb[] = "verify-rotation";

static void help_verify(void)
{
	printf("usage: rombsr verify-rotation FILE [--manifest M]\n"
	       "\n"
	       "Check a rotation statement written by 'rombsr hsm-rotate-keys --statement':\n"
	       "its form, that each key's fingerprint and certificate match its SPKI, both\n"
	       "signatures (the old key's over the new key and the new key's over the old),\n"
	       "and that the key manifest (default STATE/manifest.json) holds both keys and\n"
	       "records the new one as the old one's successor. Exit 0 if all hold, 7 if a\n"
	       "signature or the manifest does not match, 3 if FILE is malformed.\n"
	       "\n"
	       "  --manifest FILE     key manifest\n"
	       "  --state-dir DIR     rombsr state (default $ROMBSR_STATE_DIR or ./rombsr-state)\n");
}

int cmd_verify_rotation(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "manifest", required_argument, NULL, 0x103 },
		{ "state-dir", required_argument, NULL, 0x100 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	_cleanup_(rotation_statement_freep) struct rotation_statement *st = NULL;
	_cleanup_free_ uint8_t *text = NULL;
	struct manifest *m = NULL;
	char ts[RB_TIME_LEN + 1];
	size_t len;
	int opt, err, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		if (opt == 'h') {
			help_verify();
			return EXIT_OK;
		}
		return cli_usage_error(verify_verb, "unknown option");
	}
	if (optind + 1 != argc)
		return cli_usage_error(verify_verb, "give exactly one statement FILE");
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verify_verb, err);
	err = rb_file_read(argv[optind], ROTATION_MAX_BYTES, &text, &len);
	if (err == RB_E_TOOBIG)
		err = rb_err_set(err, "%s is larger than %d bytes: not a rotation statement", argv[optind],
				 ROTATION_MAX_BYTES);
	if (err < 0 || (err = rotation_statement_parse(text, len, argv[optind], &st)) < 0 ||
	    (err = rotation_statement_verify(st)) < 0 || (err = manifest_load(c.manifest, &m)) < 0 ||
	    (err = rotation_statement_check_manifest(st, m)) < 0) {
		rc = cli_fail(verify_verb, err);
		goto out;
	}
	rb_time_format(st->time, ts);
	printf("%s: '%s' -> '%s' at %s: both signatures verify and %s records the succession\n", argv[optind],
	       st->old_key.name, st->new_key.name, ts, c.manifest);
	rc = EXIT_OK;
out:
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
