/* What the sign node writes down: audit entries (before anything is
 * released), response documents, and one structured log line per
 * request. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "audit/entry.h"
#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

void signd_log(struct signd *s, const char *fmt, ...)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	if (!s->log)
		return;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(s->log, "time=%s ", stamp);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	fflush(s->log);
}

/* A 20-byte OpenPGP v4 fingerprint from its 40-hex form. */
static int record_node_fpr(const char *hex, uint8_t out[20])
{
	_cleanup_free_ uint8_t *b = NULL;
	size_t n;

	if (!hex || strlen(hex) != 40 || rb_hex_decode(hex, 40, &b, &n) < 0 || n != 20)
		return RB_E_INVAL;
	memcpy(out, b, 20);
	return RB_OK;
}

static const uint8_t *record_artifact_sha(const struct signd_item *it, size_t i)
{
	return it->doc->artifacts[it->doc->entries[i].artifact].sha256;
}

bool signd_item_answered(const struct signd_item *it)
{
	return it->doc && !it->refused && !it->deferred && !it->answered_before && !it->claimed_elsewhere &&
	       it->reason;
}

/* The entries of one batch for one append. */
struct record_entries {
	struct json_value **v;
	size_t n, cap;
};

static int record_push(struct record_entries *r, struct json_value *e)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct json_value **n = realloc(r->v, cap * sizeof(*n));

		if (!n) {
			json_free(e);
			return RB_E_NOMEM;
		}
		r->v = n;
		r->cap = cap;
	}
	r->v[r->n++] = e;
	return RB_OK;
}

static void record_clear(struct record_entries *r)
{
	for (size_t i = 0; i < r->n; i++)
		json_free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Entry i of an answered item goes to the HSM: granted, and not taken
 * from the audit log (signd_recover_entry). */
static bool record_to_sign(const struct signd_item *it, size_t i)
{
	return it->reason[i] == 0 && !it->have_leaf[i];
}

static int record_intent(struct signd *s, const struct signd_batch *b, const char *key,
			 const char *const *ids, size_t n, struct record_entries *r)
{
	const struct manifest_key *mk = manifest_find(s->m, key);
	struct audit_intent_info in = {
		.time = b->now, .key_name = key, .key_fpr = mk->spki_sha256,
		.request_ids = ids, .n_request_ids = n,
	};
	struct json_value *e = NULL;
	int err;

	if ((err = audit_entry_intent(&in, &e)) < 0)
		return err;
	return record_push(r, e);
}

int signd_audit_intents(struct signd *s, struct signd_batch *b, size_t done)
{
	/* Every entry to sign, as (key, request id), in batch order; then one
	 * intent per key and AUDIT_INTENT_IDS_MAX ids, keys in the order the
	 * batch first uses them. */
	struct pending { const char *key, *id; bool taken; } *p = NULL;
	const char **ids = NULL;
	struct record_entries r = { 0 };
	size_t n = 0, cap = 0;
	uint64_t first;
	int err = RB_OK;

	for (size_t k = 0; k < done; k++) {
		const struct signd_item *it = &b->items[k];

		if (!signd_item_answered(it))
			continue;
		for (size_t i = 0; i < it->doc->n_entries; i++) {
			if (!record_to_sign(it, i))
				continue;
			if (n == cap) {
				struct pending *np;

				cap = cap ? 2 * cap : 256;
				if (!(np = realloc(p, cap * sizeof(*np)))) {
					err = RB_E_NOMEM;
					goto out;
				}
				p = np;
			}
			p[n++] = (struct pending){ it->doc->entries[i].key_name, it->doc->entries[i].id_hex, false };
		}
	}
	if (n == 0)
		goto out;
	if (!(ids = calloc(AUDIT_INTENT_IDS_MAX, sizeof(*ids)))) {
		err = RB_E_NOMEM;
		goto out;
	}
	for (size_t a = 0; a < n; a++) {
		size_t m = 0;

		if (p[a].taken)
			continue;
		for (size_t j = a; j < n; j++) {
			if (p[j].taken || strcmp(p[j].key, p[a].key) != 0)
				continue;
			p[j].taken = true;
			ids[m++] = p[j].id;
			if (m == AUDIT_INTENT_IDS_MAX) {
				if ((err = record_intent(s, b, p[a].key, ids, m, &r)) < 0)
					goto out;
				m = 0;
			}
		}
		if (m && (err = record_intent(s, b, p[a].key, ids, m, &r)) < 0)
			goto out;
	}
	/* Durable before the HSM is asked: a signature whose result is lost
	 * later (the node killed before its sign entry) is still accounted
	 * for. One append, one sync, for the whole batch. */
	if ((err = audit_log_append_batch(s->aw.audit, (const struct json_value *const *)r.v, r.n, &first)) < 0)
		goto out;
	for (size_t j = 0; j < r.n; j++) {
		const char *key = NULL;

		json_get_string(r.v[j], "key", &key);
		signd_log(s, "event=intent key=%s requests=%zu leaf=%llu", key,
			  json_array_size(json_object_get(r.v[j], "request_ids")),
			  (unsigned long long)(first + j));
	}
out:
	record_clear(&r);
	free(ids);
	free(p);
	return err;
}

/* Entries a batch appends at most at once: one sync for a batch of the
 * default size (queue.batchRequests 2048), and a bounded number of entry
 * trees in memory for a larger one. */
#define RECORD_APPEND_MAX 4096

struct record_where {
	struct signd_item *it;
	size_t i;
};

/* Append r (entries of which[]) and note each entry's leaf; r is emptied. */
static int record_flush(struct signd *s, struct record_entries *r, struct record_where *which)
{
	uint64_t first;
	int err;

	if (r->n == 0)
		return RB_OK;
	/* Durable before anything is released: the responses are built only
	 * after this returns. */
	if ((err = audit_log_append_batch(s->aw.audit, (const struct json_value *const *)r->v, r->n,
					  &first)) < 0)
		return err;
	for (size_t j = 0; j < r->n; j++) {
		which[j].it->leaf[which[j].i] = first + j;
		which[j].it->have_leaf[which[j].i] = true;
		json_free(r->v[j]);
	}
	r->n = 0;
	return RB_OK;
}

int signd_audit_results(struct signd *s, struct signd_batch *b, size_t done)
{
	struct record_entries r = { 0 };
	struct record_where *which = NULL;
	size_t cap = 0;
	int err = RB_OK;

	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b->items[k];
		uint8_t nfpr[AUDIT_NODE_FPR_LEN];

		if (!signd_item_answered(it))
			continue;
		if (record_node_fpr(it->node_fpr, nfpr) < 0) {
			err = rb_err_set(RB_E_INVAL, "node fingerprint '%s' is not 40 hex digits", it->node_fpr);
			goto out;
		}
		for (size_t i = 0; i < it->doc->n_entries; i++) {
			const struct request_entry *e = &it->doc->entries[i];
			const char *artifact = it->doc->artifacts[e->artifact].name;
			struct json_value *entry = NULL;

			if (it->have_leaf[i])
				continue; /* recovered: the log has it already */
			if (it->reason[i]) {
				struct audit_reject_info rj = {
					.time = b->now, .request_id = e->id_hex, .build_id = it->build_id,
					.node_fpr = nfpr, .key_name = e->key_name, .artifact_name = artifact,
					.reason = response_reason_name(it->reason[i]),
				};
				err = audit_entry_reject(&rj, &entry);
			} else {
				const struct manifest_key *mk = manifest_find(s->m, e->key_name);
				uint8_t digest[64];
				size_t dlen;
				struct audit_sign_info si = {
					.time = b->now, .request_id = e->id_hex, .build_id = it->build_id,
					.node_fpr = nfpr, .key_name = e->key_name, .key_fpr = mk->spki_sha256,
					.scheme = it->scheme[i], .artifact_name = artifact,
					.artifact_sha256 = record_artifact_sha(it, i),
					.sig = it->sig[i], .sig_len = it->sig_len[i],
				};

				if (e->kind == REQUEST_KIND_OPENPGP) {
					/* What was hashed is the file; record the file's
					 * digest under the request's hash. */
					if ((err = hash_state_final(e->state, digest, &dlen)) < 0)
						goto out;
					si.digest = digest;
					si.digest_len = dlen;
				} else if (e->scheme == RB_SIG_ED25519) {
					SHA256(e->input, e->input_len, digest);
					si.digest = digest;
					si.digest_len = 32;
				} else {
					si.digest = e->input;
					si.digest_len = e->input_len;
				}
				err = audit_entry_sign(&si, &entry);
			}
			if (err < 0 || (err = record_push(&r, entry)) < 0)
				goto out;
			if (r.n > cap) {
				void *nw;

				cap = r.cap;
				if (!(nw = realloc(which, cap * sizeof(*which)))) {
					err = RB_E_NOMEM;
					goto out;
				}
				which = nw;
			}
			which[r.n - 1].it = it;
			which[r.n - 1].i = i;
			if (r.n == RECORD_APPEND_MAX && (err = record_flush(s, &r, which)) < 0)
				goto out;
		}
	}
	err = record_flush(s, &r, which);
out:
	record_clear(&r);
	free(which);
	return err;
}

int signd_audit_refusal(struct signd *s, int64_t now, const char *build_id, const char *node_fpr,
			const char *path, const char *reason)
{
	_cleanup_json_ struct json_value *entry = NULL;
	uint8_t nfpr[AUDIT_NODE_FPR_LEN], id[32];
	char id_hex[65];
	uint64_t index;
	int err;

	/* A refused document has no request ids we could trust; the entry is
	 * keyed by the SHA-256 of its queue path instead. */
	SHA256((const uint8_t *)path, strlen(path), id);
	rb_hex_format(id, 32, id_hex);
	{
		struct audit_reject_info r = {
			.time = now, .request_id = id_hex, .build_id = build_id && *build_id ? build_id : NULL,
			.node_fpr = node_fpr && record_node_fpr(node_fpr, nfpr) == 0 ? nfpr : NULL,
			.artifact_name = path, .reason = reason,
		};

		signd_log(s, "event=refuse path=\"%s\" reason=%s", path, reason);
		if ((err = audit_entry_reject(&r, &entry)) < 0)
			return err;
	}
	return audit_log_append(s->aw.audit, entry, &index);
}

void signd_log_item(struct signd *s, const struct signd_item *it)
{
	for (size_t i = 0; i < it->doc->n_entries; i++) {
		const struct request_entry *e = &it->doc->entries[i];

		if (it->reason[i])
			signd_log(s, "event=reject node=%s build=%s id=%.16s kind=%s key=%s reason=%s message=\"%s\"",
				  it->node->name, it->build_id, e->id_hex, request_kind_name(e->kind), e->key_name,
				  response_reason_name(it->reason[i]), it->message[i]);
		else
			signd_log(s, "event=sign node=%s build=%s id=%.16s kind=%s key=%s scheme=%s leaf=%llu",
				  it->node->name, it->build_id, e->id_hex, request_kind_name(e->kind), e->key_name,
				  rb_sig_scheme_name(it->scheme[i]), (unsigned long long)it->leaf[i]);
	}
}

int signd_response(struct signd *s, struct signd_batch *b, struct signd_item *it, const char *checkpoint,
		   struct rb_buf *out)
{
	_cleanup_(response_doc_freep) struct response_doc *r = NULL;
	uint64_t size = audit_log_checkpoint_size(s->aw.audit);
	int err;

	if ((err = response_doc_new(it->node->name, it->build_id, it->commit, it->doc_sha256, b->now, &r)) < 0)
		return err;
	for (size_t i = 0; i < it->doc->n_entries; i++) {
		const struct request_entry *e = &it->doc->entries[i];

		if (it->reason[i]) {
			if ((err = response_add_rejected(r, e->id, e->kind, it->reason[i], it->message[i])) < 0)
				return err;
		} else {
			const struct manifest_key *mk = manifest_find(s->m, e->key_name);
			struct merkle_proof proof;
			struct response_audit a = { .leaf = it->leaf[i], .checkpoint = (char *)checkpoint };

			if (it->leaf[i] < size) {
				if ((err = audit_log_inclusion_proof(s->aw.audit, it->leaf[i], size, &proof)) < 0)
					return err;
				a.proof = proof.hash;
				a.n_proof = proof.n;
			}
			if ((err = response_add_signed(r, e->id, e->kind, e->key_name, mk->spki_sha256, it->scheme[i],
						       it->sig[i], it->sig_len[i], &a)) < 0)
				return err;
		}
	}
	return response_doc_emit(r, out);
}

/* Bytes of a JSON member value at most: every byte escaped ("\"" or
 * "\\"; control characters never reach a response). */
#define RECORD_ESCAPED(n) (2 * (uint64_t)(n) + 2)
#define RECORD_ENTRY_FIXED 512        /* id, kind, status, key, scheme, leaf, names and punctuation */
#define RECORD_DOC_FIXED 1024         /* envelope, node, build id, commit, hashes, time */
#define RECORD_RSA_SIG_MAX 1024      /* RSA-8192 */
#define RECORD_PROOF_HASH 47          /* "<44 base64>", */

static uint64_t record_base64(uint64_t n)
{
	return 4 * ((n + 2) / 3);
}

uint64_t signd_response_bound(const struct signd *s, const struct signd_item *it)
{
	/* The checkpoint is a signed note: origin line, size, root hash, a
	 * blank line and one signature line naming the origin again. */
	uint64_t origin = strlen(s->aw.origin);
	uint64_t checkpoint = RECORD_ESCAPED(2 * origin + 256);
	/* An inclusion proof has one hash per level of the tree the batch
	 * can grow the log to (its entries are bounded by the batch caps). */
	uint64_t tree = (s->aw.audit ? audit_log_size(s->aw.audit) : 0) + 2 * (uint64_t)REQUEST_MAX_ENTRIES +
			(uint64_t)s->cfg->queue.batch_documents + s->cfg->queue.batch_requests;
	uint64_t levels = 1, bound = RECORD_DOC_FIXED;
	uint64_t hsm_error = RECORD_ENTRY_FIXED + RECORD_ESCAPED(RESPONSE_MESSAGE_MAX);

	while (levels < RESPONSE_PROOF_MAX && (tree >> levels))
		levels++;
	bound += RECORD_ESCAPED(strlen(it->node->name)) + RECORD_ESCAPED(strlen(it->build_id));
	for (size_t i = 0; i < it->doc->n_entries; i++) {
		const struct request_entry *e = &it->doc->entries[i];
		uint64_t sig, signed_entry;

		if (it->reason[i]) {
			bound += RECORD_ENTRY_FIXED + RECORD_ESCAPED(strlen(it->message[i]));
			continue;
		}
		sig = e->kind == REQUEST_KIND_OPENPGP ? RESPONSE_PGP_SIG_MAX
			: (e->scheme == RB_SIG_ED25519 || e->scheme == RB_SIG_ECDSA_SHA256) ? 64
			: RECORD_RSA_SIG_MAX;
		signed_entry = RECORD_ENTRY_FIXED + RECORD_ESCAPED(strlen(e->key_name)) + record_base64(sig) +
			       checkpoint + levels * RECORD_PROOF_HASH;
		bound += signed_entry > hsm_error ? signed_entry : hsm_error;
	}
	return bound;
}
