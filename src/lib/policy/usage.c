#include "policy/usage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/journal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

#define USAGE_NODE_MAX 64

struct usage_record {
	int64_t t;
	uint64_t count;
	char node[USAGE_NODE_MAX + 1];
};

struct usage_ledger {
	struct journal *journal;
	struct usage_record *recs;
	size_t n, alloc;
	int64_t horizon; /* records before this are not kept */
	const char *path;
	size_t bytes;    /* size of the journal as replayed */
};

static int usage_keep(struct usage_ledger *l, const char *node, int64_t t, uint64_t count)
{
	struct usage_record *r;

	if (t < l->horizon)
		return RB_OK;
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 64;
		struct usage_record *nr = realloc(l->recs, na * sizeof(*nr));

		if (!nr)
			return RB_E_NOMEM;
		l->recs = nr;
		l->alloc = na;
	}
	r = &l->recs[l->n++];
	r->t = t;
	r->count = count;
	snprintf(r->node, sizeof(r->node), "%s", node);
	return RB_OK;
}

static int usage_line(void *ctx, const char *line, size_t len)
{
	struct usage_ledger *l = ctx;
	char node[USAGE_NODE_MAX + 1], buf[JOURNAL_LINE_MAX + 1], tail;
	int64_t t;
	uint64_t count;

	memcpy(buf, line, len);
	buf[len] = '\0';
	l->bytes += len + 1;
	/* %64s bounds the node name; the trailing %c proves nothing follows. */
	if (sscanf(buf, "use %" SCNd64 " %64s %" SCNu64 "%c", &t, node, &count, &tail) != 3)
		return rb_err_set(RB_E_PARSE, "%s: unrecognised record '%.60s'; the usage journal is damaged, restore it from backup",
				  l->path, buf);
	return usage_keep(l, node, t, count);
}

static int usage_compact(struct usage_ledger *l)
{
	struct rb_buf b = RB_BUF_INIT;
	int err = RB_OK;

	for (size_t i = 0; err == RB_OK && i < l->n; i++)
		err = rb_buf_printf(&b, "use %" PRId64 " %s %" PRIu64 "\n", l->recs[i].t, l->recs[i].node,
				    l->recs[i].count);
	if (err == RB_OK)
		err = rb_file_write_atomic(l->path, b.data ? (const void *)b.data : "", b.len, 0600);
	rb_buf_free(&b);
	return err;
}

int usage_ledger_open(const char *path, int64_t now, struct usage_ledger **ret)
{
	struct usage_ledger *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return RB_E_NOMEM;
	l->path = path;
	l->horizon = now - USAGE_WINDOW_SECONDS;
	err = journal_open(path, "rombsr-usage-journal 1", USAGE_MAX_BYTES, usage_line, l, &l->journal);
	if (err == RB_OK && l->bytes > USAGE_COMPACT_BYTES) {
		journal_close(TAKE_PTR(l->journal));
		l->bytes = 0;
		if ((err = usage_compact(l)) == RB_OK) {
			l->n = 0;
			err = journal_open(path, "rombsr-usage-journal 1", USAGE_MAX_BYTES, usage_line, l, &l->journal);
		}
	}
	l->path = NULL;
	if (err < 0) {
		usage_ledger_close(l);
		return err;
	}
	*ret = l;
	return RB_OK;
}

void usage_ledger_close(struct usage_ledger *l)
{
	if (!l)
		return;
	journal_close(l->journal);
	free(l->recs);
	free(l);
}

uint64_t usage_ledger_count(const struct usage_ledger *l, const char *node, int64_t since)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < l->n; i++)
		if (l->recs[i].t >= since && strcmp(l->recs[i].node, node) == 0)
			sum += l->recs[i].count;
	return sum;
}

int usage_ledger_record(struct usage_ledger *l, const char *node, int64_t t, uint64_t count)
{
	char line[JOURNAL_LINE_MAX];
	int n, err;

	if (strlen(node) > USAGE_NODE_MAX || strchr(node, ' ') || strchr(node, '\n'))
		return rb_err_set(RB_E_INVAL, "usage ledger: node name '%.64s' is not valid", node);
	n = snprintf(line, sizeof(line), "use %" PRId64 " %s %" PRIu64 "\n", t, node, count);
	if (n < 0 || (size_t)n >= sizeof(line))
		return RB_E_INVAL;
	if ((err = journal_append(l->journal, line, (size_t)n)) < 0)
		return err;
	return usage_keep(l, node, t, count);
}
