/* Fuzz the sign node's journals (src/lib/policy): the replay database and
 * the usage ledger read them back at every start. They are the sign
 * node's own files, but a damaged or planted journal must be refused or
 * read, never crash it. The first input byte picks the journal; the rest
 * goes to a private temporary file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/replay.h"
#include "policy/usage.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/rombsr-fuzz-journal.XXXXXX";
	int fd;

	if (size < 1)
		return 0;
	if ((fd = mkstemp(path)) < 0)
		abort();
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fd);
	if (data[0] & 1) {
		struct usage_ledger *l = NULL;

		if (usage_ledger_open(path, 1800000000, &l) == RB_OK) {
			(void)usage_ledger_count(l, "builder1", 0);
			/* What was read must still be appendable. */
			if (usage_ledger_record(l, "builder1", 1800000000, 1) != RB_OK)
				abort();
			usage_ledger_close(l);
		}
	} else {
		struct replay_db *db = NULL;

		if (replay_db_open(path, &db) == RB_OK) {
			uint8_t id[32] = { 0 };

			(void)replay_db_has_request(db, id);
			if (replay_db_record(db, NULL, (const uint8_t(*)[32])id, 1) != RB_OK ||
			    !replay_db_has_request(db, id))
				abort();
			replay_db_close(db);
		}
	}
	unlink(path);
	return 0;
}
