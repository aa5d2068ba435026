/* Policy: whether each entry of a request document may be signed. The
 * checks run in a fixed order so that the reason a request gets is the
 * most fundamental one: replay, key (existence, status, purpose, scheme),
 * the structure an APK key would sign, node permission, approvals, quota. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static int decide_alloc(struct signd_item *it)
{
	size_t n = it->doc->n_entries ? it->doc->n_entries : 1;

	it->reason = calloc(n, sizeof(*it->reason));
	it->message = calloc(n, sizeof(*it->message));
	it->sig = calloc(n, sizeof(*it->sig));
	it->sig_len = calloc(n, sizeof(*it->sig_len));
	it->scheme = calloc(n, sizeof(*it->scheme));
	it->leaf = calloc(n, sizeof(*it->leaf));
	it->have_leaf = calloc(n, sizeof(*it->have_leaf));
	if (!it->reason || !it->message || !it->sig || !it->sig_len || !it->scheme || !it->leaf ||
	    !it->have_leaf)
		return RB_E_NOMEM;
	return RB_OK;
}

static int decide_reject(struct signd_item *it, size_t i, enum response_reason r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int decide_reject(struct signd_item *it, size_t i, enum response_reason r, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (it->reason[i])
		return RB_OK; /* the first reason stands */
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return RB_E_NOMEM;
	it->reason[i] = r;
	it->message[i] = msg;
	return RB_OK;
}

unsigned signd_count_approvals(const struct signd *s, const struct signd_item *it, const char *key,
			       const struct sign_key_policy *kp)
{
	unsigned count = 0;
	char needle[256];

	snprintf(needle, sizeof(needle), ",%s,", key);
	for (size_t p = 0; p < kp->n_approvers; p++) {
		for (size_t i = 0; i < s->pol.n_approvals; i++) {
			const struct signd_approval *a = &s->pol.approvals[i];

			if (strcmp(a->approver, kp->approvers[p]) == 0 && strcmp(a->node, it->node->name) == 0 &&
			    strcmp(a->build_id, it->build_id) == 0 &&
			    memcmp(a->request_sha256, it->doc_sha256, 32) == 0 && strstr(a->keys, needle)) {
				count++; /* each listed approver counts once */
				break;
			}
		}
	}
	return count;
}

static bool decide_seen_in_batch(const struct signd_batch *b, const struct signd_item *self,
				 const uint8_t id[32])
{
	for (const struct signd_item *o = b->items; o < self; o++) {
		if (!o->doc || o->refused || o->deferred)
			continue;
		if (request_doc_find(o->doc, id))
			return true;
	}
	return false;
}

static int decide_entry(struct signd *s, struct signd_batch *b, struct signd_item *it, size_t i,
			bool *ret_needs_approval)
{
	const struct request_entry *e = &it->doc->entries[i];
	const struct manifest_key *mk = manifest_find(s->m, e->key_name);
	const struct sign_key_policy *kp;
	int err;

	if (replay_db_has_request(s->in.replay, e->id) || decide_seen_in_batch(b, it, e->id))
		return decide_reject(it, i, RESPONSE_REASON_REPLAY,
				     "request %.16s was answered before; a request is signed at most once", e->id_hex);
	if (!mk || memcmp(mk->spki_sha256, e->key_spki_sha256, 32) != 0)
		return decide_reject(it, i, RESPONSE_REASON_KEY_UNKNOWN,
				     mk ? "key '%s' in the request has another fingerprint than the manifest's; rebuild against the current manifest"
					: "key '%s' is not in the sign node's manifest",
				     e->key_name);
	if (mk->status == KEY_REVOKED)
		return decide_reject(it, i, RESPONSE_REASON_KEY_REVOKED, "key '%s' is revoked (%s); it signs nothing",
				     mk->name, mk->revocation_reason ? mk->revocation_reason : "no reason recorded");
	if (mk->status == KEY_RETIRED)
		return decide_reject(it, i, RESPONSE_REASON_KEY_RETIRED,
				     "key '%s' is retired; sign with its successor", mk->name);
	/* Every key signs only in its own domains, decided here, before the
	 * HSM is touched: an OpenPGP key never signs a digest a node chose,
	 * the queue and audit keys never sign a request at all. */
	if ((err = request_key_purpose_check(e->kind, mk)) < 0)
		return decide_reject(it, i, RESPONSE_REASON_KEY_PURPOSE, "%s", rb_err_message(err));
	if (e->kind == REQUEST_KIND_OPENPGP ? (mk->alg != RB_KEY_RSA && mk->alg != RB_KEY_ED25519)
					    : !rb_sig_scheme_fits(e->scheme, mk->alg))
		return decide_reject(it, i, RESPONSE_REASON_SCHEMA, "key '%s' (%s) cannot make this signature",
				     mk->name, rb_key_alg_name(mk->alg));
	/* Where the sign node can see what a key would sign, it looks: an
	 * APK key signs only the APK structures that name it. */
	if (e->kind == REQUEST_KIND_CAPTURE && (err = request_capture_structure_check(e->capture, mk)) < 0)
		return decide_reject(it, i, RESPONSE_REASON_STRUCTURE, "%s", rb_err_message(err));
	if (!sign_node_allows_key(it->node, mk->name))
		return decide_reject(it, i, RESPONSE_REASON_KEY_NOT_ALLOWED,
				     "node '%s' may not use key '%s' (sign.conf: node.%s.allowKey)", it->node->name,
				     mk->name, it->node->name);
	kp = sign_config_find_key(s->cfg, mk->name);
	if (kp && kp->approvals > 0) {
		unsigned have = signd_count_approvals(s, it, mk->name, kp);

		if (have < kp->approvals) {
			*ret_needs_approval = true;
			return decide_reject(it, i, RESPONSE_REASON_APPROVAL_MISSING,
					     "key '%s' needs %u approvals of this request document, it has %u",
					     mk->name, kp->approvals, have);
		}
	}
	return RB_OK;
}

static int decide_refuse(struct signd *s, struct signd_batch *b, struct signd_item *it, const char *reason)
{
	it->refused = true;
	b->stats->refused++;
	return signd_audit_refusal(s, b->now, it->build_id, it->node_fpr, it->path, reason);
}

int signd_decide(struct signd *s, struct signd_batch *b, struct signd_item *it)
{
	char resp_path[QUEUE_MAX_PATH + 1], tip[QUEUE_OID_HEX + 1];
	size_t n_ok = 0;
	bool needs_approval = false;
	int err;

	if (it->refused)
		return RB_OK;
	/* A response already published (by a run that stopped before it
	 * recorded it): the request is answered; only the bookkeeping is
	 * missing. */
	snprintf(resp_path, sizeof(resp_path), "responses/%s/%s.json", it->node->name, it->build_id);
	if ((err = queue_tip(s->q, tip)) < 0)
		return err;
	if (tip[0]) {
		bool exists = false;

		if ((err = queue_has_file(s->q, tip, resp_path, &exists)) < 0)
			return err;
		if (exists) {
			it->answered_before = true;
			return RB_OK;
		}
	}

	if (replay_db_has_document(s->in.replay, it->doc_sha256)) {
		signd_log(s, "event=refuse path=\"%s\" reason=replay detail=\"this request document was processed before\"",
			  it->path);
		return decide_refuse(s, b, it, "replay");
	}
	err = request_doc_parse((const char *)it->data, it->len, it->path, NULL,
				(size_t)s->cfg->queue.max_request_bytes, &it->doc);
	if (err < 0) {
		const char *reason = err == RB_E_TOOBIG ? "too-large" : "schema";

		signd_log(s, "event=refuse path=\"%s\" reason=%s detail=\"%s\"", it->path, reason, rb_err_message(err));
		return decide_refuse(s, b, it, reason);
	}
	if (strcmp(it->doc->node, it->node->name) != 0 || strcmp(it->doc->build_id, it->build_id) != 0) {
		signd_log(s, "event=refuse path=\"%s\" reason=path detail=\"the document is for node %s build %s\"",
			  it->path, it->doc->node, it->doc->build_id);
		return decide_refuse(s, b, it, "path");
	}
	if ((err = decide_alloc(it)) < 0)
		return err;
	for (size_t i = 0; i < it->doc->n_entries; i++)
		if ((err = decide_entry(s, b, it, i, &needs_approval)) < 0)
			return err;

	if (needs_approval && b->now - it->since < SIGND_APPROVAL_WAIT_SECONDS) {
		/* Wait for the approvers rather than answer: one response per
		 * build, and it should be the signed one. */
		it->deferred = true;
		return RB_OK;
	}

	for (size_t i = 0; i < it->doc->n_entries; i++)
		n_ok += it->reason[i] == 0;
	if (it->node->quota_per_build && n_ok > it->node->quota_per_build) {
		for (size_t i = 0; i < it->doc->n_entries; i++)
			if ((err = decide_reject(it, i, RESPONSE_REASON_QUOTA_BUILD,
						 "build asks for %zu signatures; node '%s' may get %llu per build",
						 n_ok, it->node->name,
						 (unsigned long long)it->node->quota_per_build)) < 0)
				return err;
		return RB_OK;
	}
	if (it->node->quota_per_hour) {
		uint64_t used = usage_ledger_count(s->pol.usage, it->node->name, b->now - USAGE_WINDOW_SECONDS);

		/* Signatures granted earlier in this batch count too. */
		for (const struct signd_item *o = b->items; o < it; o++)
			if (o->node == it->node && o->doc && !o->refused && !o->deferred && o->reason)
				for (size_t i = 0; i < o->doc->n_entries; i++)
					used += o->reason[i] == 0;
		if (used + n_ok > it->node->quota_per_hour)
			for (size_t i = 0; i < it->doc->n_entries; i++)
				if ((err = decide_reject(it, i, RESPONSE_REASON_QUOTA_HOUR,
							 "node '%s' had %llu of its %llu signatures this hour; this build asks for %zu more",
							 it->node->name, (unsigned long long)used,
							 (unsigned long long)it->node->quota_per_hour, n_ok)) < 0)
					return err;
	}
	return RB_OK;
}

int signd_bound_item(struct signd *s, struct signd_batch *b, struct signd_item *it)
{
	uint64_t bound = signd_response_bound(s, it);
	int err;

	if (bound <= RESPONSE_MAX_BYTES)
		return RB_OK;
	/* Refused before anything is signed: a signature that could not be
	 * published would sit in the audit log, never released. */
	for (size_t i = 0; i < it->doc->n_entries; i++) {
		free(it->message[i]);
		it->message[i] = NULL;
		it->reason[i] = 0;
		if ((err = decide_reject(it, i, RESPONSE_REASON_TOO_LARGE,
					 "the response to these %zu requests could be over %zu bytes; split the build into smaller documents",
					 it->doc->n_entries, RESPONSE_MAX_BYTES)) < 0)
			return err;
	}
	signd_log(s, "event=too-large node=%s build=%s entries=%zu bound=%llu", it->node->name, it->build_id,
		  it->doc->n_entries, (unsigned long long)bound);
	if (signd_response_bound(s, it) <= RESPONSE_MAX_BYTES)
		return RB_OK;
	return decide_refuse(s, b, it, "too-large");
}
