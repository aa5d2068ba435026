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

int signd_audit_item(struct signd *s, struct signd_batch *b, struct signd_item *it)
{
	struct json_value **entries = NULL;
	size_t n = 0, *which = NULL;
	uint8_t nfpr[AUDIT_NODE_FPR_LEN];
	uint64_t first;
	int err = RB_OK;

	if (record_node_fpr(it->node_fpr, nfpr) < 0)
		return rb_err_set(RB_E_INVAL, "node fingerprint '%s' is not 40 hex digits", it->node_fpr);
	entries = calloc(it->doc->n_entries ? it->doc->n_entries : 1, sizeof(*entries));
	which = calloc(it->doc->n_entries ? it->doc->n_entries : 1, sizeof(*which));
	if (!entries || !which) {
		err = RB_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < it->doc->n_entries; i++) {
		const struct request_entry *e = &it->doc->entries[i];
		const char *artifact = it->doc->artifacts[e->artifact].name;

		if (it->have_leaf[i])
			continue; /* recovered: the log has it already */
		if (it->reason[i]) {
			struct audit_reject_info r = {
				.time = b->now, .request_id = e->id_hex, .build_id = it->build_id,
				.node_fpr = nfpr, .key_name = e->key_name, .artifact_name = artifact,
				.reason = response_reason_name(it->reason[i]),
			};
			err = audit_entry_reject(&r, &entries[n]);
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
			err = audit_entry_sign(&si, &entries[n]);
		}
		if (err < 0)
			goto out;
		which[n++] = i;
	}
	if (n == 0)
		goto out;
	/* Durable before anything is released: the response is built only
	 * after this returns. */
	if ((err = audit_log_append_batch(s->audit, (const struct json_value *const *)entries, n, &first)) < 0)
		goto out;
	for (size_t j = 0; j < n; j++) {
		it->leaf[which[j]] = first + j;
		it->have_leaf[which[j]] = true;
	}
out:
	for (size_t j = 0; entries && j < it->doc->n_entries; j++)
		json_free(entries[j]);
	free(entries);
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
	for (size_t i = 0; i < 32; i++)
		snprintf(id_hex + 2 * i, 3, "%02x", id[i]);
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
	return audit_log_append(s->audit, entry, &index);
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
	uint64_t size = audit_log_checkpoint_size(s->audit);
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
				if ((err = audit_log_inclusion_proof(s->audit, it->leaf[i], size, &proof)) < 0)
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
	uint64_t origin = strlen(SIGND_AUDIT_ORIGIN_PREFIX) + strlen(s->m->token_label);
	uint64_t checkpoint = RECORD_ESCAPED(2 * origin + 256);
	/* An inclusion proof has one hash per level of the tree the batch
	 * can grow the log to (its entries are bounded by the batch caps). */
	uint64_t tree = (s->audit ? audit_log_size(s->audit) : 0) + 2 * (uint64_t)REQUEST_MAX_ENTRIES +
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
