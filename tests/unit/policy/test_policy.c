/* Unit tests of src/lib/policy: the journal (durable appends, torn tails,
 * magic lines), the replay database and the usage ledger behind quotas. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "policy/journal.h"
#include "policy/replay.h"
#include "policy/usage.h"
#include "util/err.h"

HARNESS_GLOBALS;

static char dir[] = "/tmp/rombsr-policy.XXXXXX";

static char *path_of(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static void write_raw(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

struct lines {
	int n;
	char last[64];
};

static int count_line(void *ctx, const char *line, size_t len)
{
	struct lines *l = ctx;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%.*s", (int)len, line);
	return 0;
}

static void test_journal_roundtrip(void)
{
	struct journal *j = NULL;
	struct lines l = { 0 };
	const char *p = path_of("j1");
	struct stat st;

	CHECK_OK(journal_open(p, "test-journal 1", 4096, count_line, &l, &j));
	CHECK(l.n == 0);
	CHECK_OK(journal_append(j, "a 1\nb 2\n", 8));
	CHECK_ERR(journal_append(j, "no newline", 10), RB_E_INVAL);
	journal_close(j);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	j = NULL;
	CHECK_OK(journal_open(p, "test-journal 1", 4096, count_line, &l, &j));
	CHECK(l.n == 2 && strcmp(l.last, "b 2") == 0);
	journal_close(j);
}

static void test_journal_torn_tail(void)
{
	struct journal *j = NULL;
	struct lines l = { 0 };
	const char *p = path_of("j2");

	/* A crash in the middle of an append: the last record has no newline. */
	write_raw(p, "test-journal 1\nrecord one\nrecord tw");
	CHECK_OK(journal_open(p, "test-journal 1", 4096, count_line, &l, &j));
	CHECK(l.n == 1 && strcmp(l.last, "record one") == 0);
	CHECK(file_size(p) == (long)strlen("test-journal 1\nrecord one\n"));
	CHECK_OK(journal_append(j, "record three\n", 13));
	journal_close(j);
	l.n = 0;
	j = NULL;
	CHECK_OK(journal_open(p, "test-journal 1", 4096, count_line, &l, &j));
	CHECK(l.n == 2 && strcmp(l.last, "record three") == 0);
	journal_close(j);

	/* Torn while it was being created: starts over. */
	write_raw(p, "test-jour");
	l.n = 0;
	j = NULL;
	CHECK_OK(journal_open(p, "test-journal 1", 4096, count_line, &l, &j));
	CHECK(l.n == 0);
	journal_close(j);
}

static void test_journal_refusals(void)
{
	struct journal *j = NULL;
	const char *p = path_of("j3");

	write_raw(p, "other-journal 1\nx\n");
	CHECK_ERR(journal_open(p, "test-journal 1", 4096, count_line, &(struct lines){ 0 }, &j), RB_E_UNSUPPORTED);
	write_raw(p, "test-journal 2\nx\n");
	CHECK_ERR(journal_open(p, "test-journal 1", 4096, count_line, &(struct lines){ 0 }, &j), RB_E_UNSUPPORTED);
	{
		int fd = open(p, O_WRONLY | O_TRUNC);
		const char bad[] = "test-journal 1\nnul\0here\n";

		CHECK(write(fd, bad, sizeof(bad) - 1) == (ssize_t)sizeof(bad) - 1);
		close(fd);
	}
	CHECK_ERR(journal_open(p, "test-journal 1", 4096, count_line, &(struct lines){ 0 }, &j), RB_E_PARSE);
	write_raw(p, "test-journal 1\n");
	CHECK_ERR(journal_open(p, "test-journal 1", 8, count_line, &(struct lines){ 0 }, &j), RB_E_TOOBIG);
	CHECK_OK(journal_open(p, "test-journal 1", 24, count_line, &(struct lines){ 0 }, &j));
	CHECK_ERR(journal_append(j, "0123456789\n", 11), RB_E_LIMIT);
	CHECK(file_size(p) == 15);
	journal_close(j);
}

static void test_replay_db(void)
{
	struct replay_db *db = NULL;
	uint8_t doc[32], ids[3][32], other[32];
	const char *p = path_of("replay.journal");

	memset(doc, 0xd0, 32);
	memset(other, 0x11, 32);
	for (int i = 0; i < 3; i++)
		memset(ids[i], 0xa0 + i, 32);
	CHECK_OK(replay_db_open(p, &db));
	CHECK(!replay_db_has_request(db, ids[0]) && !replay_db_has_document(db, doc));
	CHECK_OK(replay_db_record(db, doc, (const uint8_t(*)[32])ids, 3));
	CHECK(replay_db_has_request(db, ids[2]) && replay_db_has_document(db, doc));
	CHECK(!replay_db_has_request(db, other) && !replay_db_has_document(db, other));
	replay_db_close(db);
	db = NULL;
	/* Durable: a new process sees what the last one answered. */
	CHECK_OK(replay_db_open(p, &db));
	CHECK(replay_db_requests(db) == 3);
	CHECK(replay_db_has_request(db, ids[1]) && replay_db_has_document(db, doc));
	replay_db_close(db);
	db = NULL;
	/* A damaged record is not skipped: the journal is refused whole. */
	{
		FILE *f = fopen(p, "a");

		fputs("request 12zz\n", f);
		fclose(f);
	}
	CHECK_ERR(replay_db_open(p, &db), RB_E_PARSE);
	CHECK(db == NULL);
}

static void test_replay_many(void)
{
	struct replay_db *db = NULL;
	uint8_t (*ids)[32] = calloc(5000, 32);

	for (int i = 0; i < 5000; i++) {
		ids[i][0] = (uint8_t)i;
		ids[i][1] = (uint8_t)(i >> 8);
		ids[i][31] = 0x5a;
	}
	CHECK_OK(replay_db_open(path_of("many.journal"), &db));
	CHECK_OK(replay_db_record(db, NULL, (const uint8_t(*)[32])ids, 5000));
	for (int i = 0; i < 5000; i++)
		if (!replay_db_has_request(db, ids[i])) {
			CHECK(!"an id recorded is missing");
			break;
		}
	ids[0][31] = 0x5b;
	CHECK(!replay_db_has_request(db, ids[0]));
	replay_db_close(db);
	free(ids);
}

static void test_usage_window(void)
{
	struct usage_ledger *l = NULL;
	const char *p = path_of("usage.journal");
	const int64_t now = 1800000000;

	CHECK_OK(usage_ledger_open(p, now, &l));
	CHECK_OK(usage_ledger_record(l, "builder1", now - 7200, 100)); /* outside the hour */
	CHECK_OK(usage_ledger_record(l, "builder1", now - 600, 5));
	CHECK_OK(usage_ledger_record(l, "builder2", now - 60, 7));
	CHECK(usage_ledger_count(l, "builder1", now - USAGE_WINDOW_SECONDS) == 5);
	CHECK(usage_ledger_count(l, "builder2", now - USAGE_WINDOW_SECONDS) == 7);
	CHECK(usage_ledger_count(l, "builder3", now - USAGE_WINDOW_SECONDS) == 0);
	CHECK_ERR(usage_ledger_record(l, "bad name", now, 1), RB_E_INVAL);
	usage_ledger_close(l);
	l = NULL;
	/* Reopened later: the hour moved on, the old records no longer count. */
	CHECK_OK(usage_ledger_open(p, now + 3100, &l));
	CHECK(usage_ledger_count(l, "builder1", now + 3100 - USAGE_WINDOW_SECONDS) == 0);
	CHECK(usage_ledger_count(l, "builder2", now + 3100 - USAGE_WINDOW_SECONDS) == 7);
	usage_ledger_close(l);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_journal_roundtrip);
	RUN(test_journal_torn_tail);
	RUN(test_journal_refusals);
	RUN(test_replay_db);
	RUN(test_replay_many);
	RUN(test_usage_window);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	TEST_MAIN_END();
}
