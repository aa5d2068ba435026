/* Fuzz the sign node's intake of whole batches (src/signd/intake.c):
 * a pending journal and several request documents of three nodes, spread
 * over commits, taken by two batches in a row as a sign node does when a
 * batch is full. Beyond "no crash", the properties that keep one node
 * from taking the sign node hostage are checked:
 *   - a batch holds at most queue.batchDocuments documents, at most
 *     batchDocumentsPerNode of one node (pending documents aside), and
 *     never one path twice;
 *   - a document processed by the first batch is never taken again by the
 *     second, and a pending document only ever comes from the journal;
 *   - the response bound of every parsed document is computed without
 *     overflow, and a document over the cap is rejected as too-large.
 *
 * Input: byte 0 the batch cap (1..16), byte 1 the per-node cap (1..16),
 * then NUL-separated sections: the pending journal's records, then one
 * section per document: a byte (node = b % 3, commit = b / 3 % 8), the
 * build id up to '\n', the document bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "request/request.h"
#include "signd/signd-internal.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DOCS 64

struct fuzz_doc {
	const uint8_t *data;
	size_t len;
	char path[QUEUE_MAX_PATH + 1];
	char commit[QUEUE_OID_HEX + 1];
	unsigned node;
	bool taken;
	bool pending;
};

static int fuzz_read(void *ctx, const char *blob, size_t cap, uint8_t **ret, size_t *ret_len)
{
	const struct fuzz_doc *d = ctx;
	uint8_t *p;

	(void)blob;
	if (d->len > cap)
		return RB_E_TOOBIG;
	if (!(p = malloc(d->len + 1)))
		return RB_E_NOMEM;
	if (d->len)
		memcpy(p, d->data, d->len);
	p[d->len] = '\0';
	*ret = p;
	*ret_len = d->len;
	return RB_OK;
}

static void batch_free(struct signd_batch *b)
{
	for (size_t k = 0; k < b->n; k++)
		signd_item_clear(&b->items[k]);
	free(b->items);
	free(b->walk);
	free(b->node_documents);
	idset_clear(&b->paths);
	memset(b, 0, sizeof(*b));
}

static void run_batch(struct signd *s, struct fuzz_doc *docs, size_t n, unsigned n_nodes, bool second)
{
	struct signd_stats st = { 0 };
	struct signd_batch b = { .now = 1800000000, .stats = &st, .first_carried = SIZE_MAX };
	unsigned pending_taken = 0;

	if (!(b.node_documents = calloc(n_nodes, sizeof(*b.node_documents))))
		abort();
	/* Pending documents, as signd_intake takes them. */
	for (size_t i = 0; i < s->in.n_pending; i++) {
		struct signd_item *it;
		uint8_t psha[32];

		if (s->in.pending[i].done)
			continue;
		if (signd_batch_add(&b, &it) != RB_OK)
			abort();
		snprintf(it->path, sizeof(it->path), "%s", s->in.pending[i].path);
		snprintf(it->commit, sizeof(it->commit), "%s", s->in.pending[i].commit);
		it->node = &s->cfg->nodes[0];
		it->from_pending = true;
		it->walk_seq = SIZE_MAX;
		SHA256((const uint8_t *)it->path, strlen(it->path), psha);
		if (idset_add(&b.paths, psha) != RB_OK)
			abort();
		pending_taken++;
	}
	for (size_t i = 0; i < n; i++) {
		struct fuzz_doc *d = &docs[i];
		size_t before = b.n;
		int err;

		if (b.walk_full)
			break;
		err = signd_intake_document(s, &b, (size_t)(d->commit[0] - '0'), d->commit, &s->cfg->nodes[d->node],
					    "0123456789ABCDEF0123456789ABCDEF01234567", d->path, "", d->len, fuzz_read, d);
		if (err < 0 && err != RB_E_INVAL && err != RB_E_TOOBIG && err != RB_E_NOMEM)
			abort();
		if (b.n > before) {
			if (d->taken && second)
				abort(); /* processed by the first batch, taken again */
			if (d->pending)
				abort(); /* a pending document taken from the walk */
			d->taken = true;
		}
	}
	if (b.documents > s->cfg->queue.batch_documents + pending_taken)
		abort();
	for (unsigned k = 0; k < n_nodes; k++)
		if (b.node_documents[k] > s->cfg->queue.batch_node_documents + (k == 0 ? pending_taken : 0))
			abort();
	if (signd_intake_interleave(s, &b) != RB_OK)
		abort();
	for (size_t k = 0; k < b.n; k++) {
		struct signd_item *it = &b.items[k];
		uint8_t marker[32];

		for (size_t j = 0; j < k; j++)
			if (strcmp(b.items[j].path, it->path) == 0)
				abort();
		if (k > 0 && it->from_pending && !b.items[k - 1].from_pending)
			abort(); /* pending documents come first */
		if (it->data && request_doc_parse((const char *)it->data, it->len, it->path, NULL, it->len + 1,
						  &it->doc) == RB_OK) {
			size_t m = it->doc->n_entries ? it->doc->n_entries : 1;

			it->reason = calloc(m, sizeof(*it->reason));
			it->message = calloc(m, sizeof(*it->message));
			if (!it->reason || !it->message)
				abort();
			if (signd_response_bound(s, it) < 1024)
				abort();
		}
		/* What signd_record_item leaves for the next batch. */
		if (!it->from_pending) {
			signd_processed_marker(it->commit, it->path, marker);
			if (replay_db_record(s->in.replay, marker, NULL, 0) != RB_OK)
				abort();
		}
	}
	batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *names[] = { "builder1", "mallory", "b3" };
	struct sign_node nodes[3] = { { .name = names[0] }, { .name = names[1] }, { .name = names[2] } };
	struct sign_config cfg = { 0 };
	char *label = "fuzz";
	struct manifest m = { .token_label = label };
	struct signd s = { .cfg = &cfg, .m = &m };
	struct fuzz_doc docs[MAX_DOCS];
	char pend[] = "/tmp/rombsr-fuzz-pending.XXXXXX", replay[] = "/tmp/rombsr-fuzz-replay.XXXXXX";
	const uint8_t *p, *end = data + size;
	size_t n = 0;
	int fd;

	if (size < 3 || size > 65536)
		return 0;
	cfg.nodes = nodes;
	cfg.n_nodes = 3;
	cfg.queue.batch_documents = 1 + data[0] % 16;
	cfg.queue.batch_node_documents = 1 + data[1] % 16;
	cfg.queue.batch_requests = 2048;
	cfg.queue.max_request_bytes = 65536;
	p = data + 2;

	/* The pending journal: its magic, then the first section. */
	if ((fd = mkstemp(pend)) < 0)
		abort();
	{
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));
		size_t l = z ? (size_t)(z - p) : (size_t)(end - p);
		static const char magic[] = "rombsr-pending-journal 1\n";

		if (write(fd, magic, sizeof(magic) - 1) != (ssize_t)(sizeof(magic) - 1) ||
		    (l && write(fd, p, l) != (ssize_t)l))
			abort();
		p = z ? z + 1 : end;
	}
	close(fd);
	if ((fd = mkstemp(replay)) < 0)
		abort();
	close(fd);
	unlink(replay);
	if (signd_pending_load(&s, pend) != RB_OK || replay_db_open(replay, &s.in.replay) != RB_OK)
		goto out;
	rb_err_clear();

	while (p < end && n < MAX_DOCS) {
		const uint8_t *z = memchr(p, 0, (size_t)(end - p)), *nl;
		const uint8_t *sec_end = z ? z : end;
		struct fuzz_doc *d = &docs[n];

		memset(d, 0, sizeof(*d));
		d->node = p[0] % 3;
		snprintf(d->commit, sizeof(d->commit), "%c%039d", '0' + (p[0] / 3) % 8, 0);
		nl = memchr(p + 1, '\n', (size_t)(sec_end - p - 1 > 0 ? sec_end - p - 1 : 0));
		if (nl && nl - (p + 1) <= 200) {
			snprintf(d->path, sizeof(d->path), "requests/%s/%.*s.json", names[d->node], (int)(nl - (p + 1)),
				 (const char *)(p + 1));
			d->data = nl + 1;
			d->len = (size_t)(sec_end - (nl + 1));
			for (size_t i = 0; i < s.in.n_pending; i++)
				if (!s.in.pending[i].done && !strcmp(s.in.pending[i].path, d->path) &&
				    !strcmp(s.in.pending[i].commit, d->commit))
					d->pending = true;
			n++;
		}
		p = z ? z + 1 : end;
	}
	/* The walk is in commit order, as queue_walk gives it. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && docs[j - 1].commit[0] > docs[j].commit[0]; j--) {
			struct fuzz_doc t = docs[j];

			docs[j] = docs[j - 1];
			docs[j - 1] = t;
		}
	run_batch(&s, docs, n, 3, false);
	run_batch(&s, docs, n, 3, true);
out:
	journal_close(s.in.pending_journal);
	free(s.in.pending);
	replay_db_close(s.in.replay);
	unlink(pend);
	unlink(replay);
	rb_err_clear();
	return 0;
}
