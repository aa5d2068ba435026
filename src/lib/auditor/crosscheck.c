/* The audit log against the signing queue (auditor/crosscheck.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/apply.h"
#include "auditor/crosscheck.h"
#include "request/capture_request.h"
#include "request/request.h"
#include "request/response.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/idmap.h"

const char *audit_xcheck_kind_name(enum audit_xcheck_kind k)
{
	switch (k) {
	case AUDIT_XCHECK_UNEXPLAINED: return "unexplained";
	case AUDIT_XCHECK_RESPONSE_UNSIGNED: return "response-unsigned";
	case AUDIT_XCHECK_RESPONSE_FOREIGN: return "response-foreign";
	case AUDIT_XCHECK_RESPONSE_BAD: return "response-bad";
	case AUDIT_XCHECK_NOT_LOGGED: return "not-logged";
	case AUDIT_XCHECK_SIG_MISMATCH: return "signature-mismatch";
	case AUDIT_XCHECK_LEAF_MISMATCH: return "leaf-mismatch";
	case AUDIT_XCHECK_BAD_PROOF: return "bad-proof";
	case AUDIT_XCHECK_SIGNED_BUT_REJECTED: return "signed-but-rejected";
	case AUDIT_XCHECK_RESPONSE_MISSING: return "response-missing";
	}
	return NULL;
}

/* --- request id -> u64: an rb_idmap keyed by the id's SHA-256 ----------- */

static int rid_put(struct rb_idmap *m, const char *rid, size_t n, uint64_t v, bool *ret_had)
{
	uint8_t key[RB_IDMAP_KEY_LEN];

	rb_idmap_key_str(rid, n, key);
	return rb_idmap_put(m, key, v, ret_had, NULL);
}

static bool rid_get(const struct rb_idmap *m, const char *rid, size_t n, uint64_t *ret)
{
	uint8_t key[RB_IDMAP_KEY_LEN];
	const uint64_t *v;

	rb_idmap_key_str(rid, n, key);
	if (!(v = rb_idmap_get(m, key)))
		return false;
	*ret = *v;
	return true;
}

/* Room for one more element in *arr (n used, *cap allocated, elem bytes
 * each), doubling from first. */
static int array_room(void *arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	void **p = arr, *grown;
	size_t ncap;

	if (n < *cap)
		return RB_OK;
	ncap = *cap ? 2 * *cap : first;
	if (!(grown = realloc(*p, ncap * elem)))
		return RB_E_NOMEM;
	*p = grown;
	*cap = ncap;
	return RB_OK;
}

/* --- the report ---------------------------------------------------------- */

void audit_xcheck_report_free(struct audit_xcheck_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_findings; i++) {
		free(r->findings[i].path);
		free(r->findings[i].commit);
		free(r->findings[i].request_id);
		free(r->findings[i].message);
	}
	free(r->findings);
	for (size_t i = 0; i < r->n_lost; i++) {
		free(r->lost[i].request_id);
		free(r->lost[i].key);
	}
	free(r->lost);
	free(r);
}

static int lost_add(struct audit_xcheck_report *r, uint64_t leaf, uint64_t again, const char *rid,
		    const char *key)
{
	struct audit_xcheck_lost *n = realloc(r->lost, (r->n_lost + 1) * sizeof(*n));

	if (!n)
		return RB_E_NOMEM;
	r->lost = n;
	n = &n[r->n_lost++];
	*n = (struct audit_xcheck_lost){ leaf, again, strdup(rid), strdup(key) };
	if (!n->request_id || !n->key)
		return RB_E_NOMEM;
	return RB_OK;
}

static int lost_cmp(const void *a, const void *b)
{
	const struct audit_xcheck_lost *x = a, *y = b;

	if (x->leaf != y->leaf)
		return x->leaf < y->leaf ? -1 : 1;
	return strcmp(x->request_id, y->request_id);
}

static int finding_add(struct audit_xcheck_report *r, enum audit_xcheck_kind kind, uint64_t leaf,
		       const char *path, const char *commit, const char *rid, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static int finding_add(struct audit_xcheck_report *r, enum audit_xcheck_kind kind, uint64_t leaf,
		       const char *path, const char *commit, const char *rid, const char *fmt, ...)
{
	struct audit_xcheck_finding *f, *n;
	va_list ap;
	int rc;

	if (!(n = realloc(r->findings, (r->n_findings + 1) * sizeof(*n))))
		return RB_E_NOMEM;
	r->findings = n;
	f = &n[r->n_findings];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->leaf = leaf;
	va_start(ap, fmt);
	rc = vasprintf(&f->message, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		f->message = NULL;
		return RB_E_NOMEM;
	}
	r->n_findings++;
	if ((path && !(f->path = strdup(path))) || (commit && !(f->commit = strdup(commit))) ||
	    (rid && !(f->request_id = strdup(rid))))
		return RB_E_NOMEM;
	return RB_OK;
}

/* --- the queue's documents ----------------------------------------------- */

enum doc_dir { DOC_REQUEST = 1, DOC_RESPONSE };

struct doc_event {
	char *path;
	enum doc_dir dir;
	bool added;                       /* else changed, renamed or deleted */
	bool modified;                    /* changed in place: has content to check */
	char commit[QUEUE_OID_HEX + 1];
	size_t order;
};

/* A sign entry, as much as comparing it with a response needs: one walk
 * of the log, no bundle read again per signature. Canonical base64 has
 * one spelling per byte string, so the digest of the logged text stands
 * for the signature bytes. */
struct logged_sig {
	uint64_t leaf;
	uint8_t b64_sha256[MERKLE_HASH_LEN];
	size_t sig_len;
};

/* An intent entry: where it is and which key it names. */
struct logged_intent {
	uint64_t leaf;
	char *key;
};

/* A request an intent entry named, and the intent that is open for it. */
struct open_request {
	char *rid;
	uint64_t intent_plus1;            /* 1 + index into intents; 0: none open */
};

struct xc {
	struct audit_log *log;
	struct queue *q;
	const struct manifest *m;
	const struct note_verifier *v;
	struct audit_xcheck_report *r;
	/* from the queue */
	struct doc_event *ev;
	size_t n_ev, cap_ev;
	const char *commit;               /* being walked */
	struct rb_idmap requested;        /* request id -> index into ev (its request document) */
	struct rb_idmap rejected;         /* request id -> index into ev (the response) */
	struct rb_idmap answered;         /* request id of a signed response entry -> 1 */
	struct rb_idmap elsewhere;        /* ... of a response of another sign node's log -> 1 */
	/* from the log */
	struct rb_idmap signed_at;        /* request id of a sign entry -> index into sigs */
	struct logged_sig *sigs;          /* what each sign entry recorded */
	size_t n_sigs, cap_sigs;
	struct rb_idmap open_intent;      /* request id -> 1 + index into open */
	struct open_request *open;        /* each request id an intent named */
	size_t n_open, cap_open;
	struct logged_intent *intents;    /* every intent entry */
	size_t n_intents, cap_intents;
};

/* requests/<node>/<build>.json or responses/<node>/<build>.json. Only
 * names `rombsr apply` and the sign node would use: anything else is no
 * document of theirs (and is never printed). */
static enum doc_dir doc_dir_of(const char *path)
{
	struct request_path rp;

	if (!request_path_parse(path, &rp))
		return 0;
	return rp.area == REQUEST_PATH_REQUEST ? DOC_REQUEST : rp.area == REQUEST_PATH_RESPONSE ? DOC_RESPONSE : 0;
}

static int event_add(struct xc *x, const char *path, bool added, bool modified)
{
	enum doc_dir d = doc_dir_of(path);
	struct doc_event *e;

	if (!d)
		return 0;
	if (x->n_ev == x->cap_ev) {
		size_t cap = x->cap_ev ? 2 * x->cap_ev : 256;

		if (!(e = realloc(x->ev, cap * sizeof(*e))))
			return RB_E_NOMEM;
		x->ev = e;
		x->cap_ev = cap;
	}
	e = &x->ev[x->n_ev];
	if (!(e->path = strdup(path)))
		return RB_E_NOMEM;
	e->dir = d;
	e->added = added;
	e->modified = modified;
	snprintf(e->commit, sizeof(e->commit), "%s", x->commit);
	e->order = x->n_ev++;
	return 0;
}

static int on_change(void *ctx, const struct queue_change *ch)
{
	struct xc *x = ctx;
	int err;

	if ((err = event_add(x, ch->path, ch->kind == QUEUE_CHANGE_ADDED,
			     ch->kind == QUEUE_CHANGE_MODIFIED)) != 0)
		return err;
	if (strcmp(ch->old_path, ch->path) != 0)
		return event_add(x, ch->old_path, false, false);
	return 0;
}

static int on_commit(void *ctx, const char *commit)
{
	struct xc *x = ctx;

	x->commit = commit;
	return queue_commit_changes(x->q, commit, 0, on_change, x);
}

static int event_cmp(const void *a, const void *b)
{
	const struct doc_event *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* --- requests ------------------------------------------------------------ */

static int check_request_doc(struct xc *x, const struct doc_event *e)
{
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_(request_doc_freep) struct request_doc *doc = NULL;
	size_t len;
	int err;

	err = queue_read_file(x->q, e->commit, e->path, REQUEST_MAX_BYTES, &text, &len);
	if (err == RB_E_TOOBIG || err == RB_E_NOTFOUND)
		return RB_OK; /* the sign node refused it whole: nothing was signed */
	if (err < 0)
		return err;
	/* Structure only: a request the sign node refused for its keys still
	 * names request ids, and any sign entry for them is explained by it
	 * (the refusal itself is in the log as a reject entry). */
	if (request_doc_parse((const char *)text, len, e->path, NULL, 0, &doc) < 0)
		return RB_OK;
	x->r->request_docs++;
	for (size_t i = 0; i < doc->n_entries; i++) {
		bool had;

		if ((err = rid_put(&x->requested, doc->entries[i].id_hex, REQUEST_ID_HEX_LEN,
				      (uint64_t)(e - x->ev), &had)) < 0)
			return err;
		if (!had)
			x->r->requests++;
	}
	return RB_OK;
}

/* --- responses ----------------------------------------------------------- */

static int check_proof(struct xc *x, const struct doc_event *e, const struct response_entry *re,
		       uint64_t leaf)
{
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	uint8_t lh[MERKLE_HASH_LEN];
	struct merkle_proof proof = { 0 };
	int err;

	if (!re->audit.checkpoint)
		return RB_OK;
	if ((err = checkpoint_verify(re->audit.checkpoint, strlen(re->audit.checkpoint), x->v, &c)) < 0)
		return finding_add(x->r, AUDIT_XCHECK_BAD_PROOF, leaf, e->path, e->commit, re->id_hex,
				   "request %.16s: audit.checkpoint does not verify with the log's "
				   "key: %s", re->id_hex, rb_err_message(err));
	if (c->size > audit_log_size(x->log) || leaf >= c->size)
		return finding_add(x->r, AUDIT_XCHECK_BAD_PROOF, leaf, e->path, e->commit, re->id_hex,
				   "request %.16s: audit.checkpoint of size %" PRIu64 " does not "
				   "cover leaf %" PRIu64 " of this log of %" PRIu64 " entries",
				   re->id_hex, c->size, leaf, audit_log_size(x->log));
	for (size_t i = 0; i < re->audit.n_proof; i++)
		if ((err = merkle_proof_add(&proof, re->audit.proof[i], MERKLE_HASH_LEN)) < 0)
			return err;
	if ((err = audit_log_leaf_hash(x->log, leaf, lh)) < 0)
		return err;
	if ((err = merkle_inclusion_verify(leaf, c->size, lh, sizeof(lh), &proof, c->root,
					   sizeof(c->root))) < 0)
		return finding_add(x->r, AUDIT_XCHECK_BAD_PROOF, leaf, e->path, e->commit, re->id_hex,
				   "request %.16s: audit.proof does not prove leaf %" PRIu64
				   " under its checkpoint: %s", re->id_hex, leaf, rb_err_message(err));
	return RB_OK;
}

static int check_signed_entry(struct xc *x, const struct doc_event *e,
			      const struct response_entry *re)
{
	_cleanup_free_ char *b64 = NULL;
	const struct logged_sig *ls;
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t leaf, at;
	int err;

	x->r->signatures++;
	if ((err = rid_put(&x->answered, re->id_hex, REQUEST_ID_HEX_LEN, 1, NULL)) < 0)
		return err;
	if (!rid_get(&x->signed_at, re->id_hex, REQUEST_ID_HEX_LEN, &at))
		return finding_add(x->r, AUDIT_XCHECK_NOT_LOGGED, re->audit.leaf, e->path, e->commit,
				   re->id_hex, "request %s was answered with a signature the "
				   "audit log does not record (its audit.leaf %" PRIu64 " is not a "
				   "sign entry for it)", re->id_hex, re->audit.leaf);
	ls = &x->sigs[at];
	leaf = ls->leaf;
	if ((err = rb_base64_encode(re->signature, re->signature_len, true, &b64)) < 0)
		return err;
	merkle_hash_leaf(b64, strlen(b64), h);
	if (ls->sig_len != re->signature_len || memcmp(h, ls->b64_sha256, sizeof(h)) != 0)
		return finding_add(x->r, AUDIT_XCHECK_SIG_MISMATCH, leaf, e->path, e->commit, re->id_hex,
				   "the signature released for request %s (%zu bytes) differs from "
				   "the one logged in entry %" PRIu64 " (%zu bytes)", re->id_hex,
				   re->signature_len, leaf, ls->sig_len);
	if (re->audit.leaf != leaf)
		return finding_add(x->r, AUDIT_XCHECK_LEAF_MISMATCH, leaf, e->path, e->commit,
				   re->id_hex, "request %s says audit.leaf %" PRIu64 ", but its sign "
				   "entry is %" PRIu64, re->id_hex, re->audit.leaf, leaf);
	x->r->matched++;
	return check_proof(x, e, re, leaf);
}

/* Whether a response was answered on another sign node's log: its first
 * audit checkpoint names another origin (docs/formats/claim.md). A
 * response without a checkpoint is judged against this log. */
static bool response_of_other_log(const struct xc *x, const struct response_doc *doc)
{
	for (size_t i = 0; i < doc->n_entries; i++) {
		const char *cp = doc->entries[i].audit.checkpoint;

		if (cp)
			return !checkpoint_origin_is(cp, x->v->name);
	}
	return false;
}

/* One version of a response: the commit that wrote it must be signed by
 * the queue key (as `rombsr apply` checks), and every signature in it
 * must be the logged one. */
static int check_response_version(struct xc *x, const struct doc_event *e, size_t ev_index)
{
	_cleanup_free_ uint8_t *sig = NULL, *signed_data = NULL, *text = NULL;
	_cleanup_(response_doc_freep) struct response_doc *doc = NULL;
	size_t sig_len, signed_len, len;
	int err;

	err = queue_commit_signature(x->q, e->commit, &sig, &sig_len, &signed_data, &signed_len);
	if (err == RB_E_NOTFOUND)
		return finding_add(x->r, AUDIT_XCHECK_RESPONSE_UNSIGNED, AUDIT_XCHECK_NO_LEAF, e->path,
				   e->commit, NULL, "written by commit %s, which is not signed", e->commit);
	if (err < 0)
		return err;
	/* The same check `rombsr apply` makes before it believes a response. */
	err = apply_commit_check(x->m, sig, sig_len, signed_data, signed_len, NULL);
	if (err == RB_E_KEY)
		return err;
	if (err < 0)
		return finding_add(x->r, AUDIT_XCHECK_RESPONSE_FOREIGN, AUDIT_XCHECK_NO_LEAF, e->path,
				   e->commit, NULL, "commit %s is not signed by the manifest's "
				   "queue key: %s", e->commit, rb_err_message(err));
	err = queue_read_file(x->q, e->commit, e->path, RESPONSE_MAX_BYTES, &text, &len);
	if (err < 0 && err != RB_E_TOOBIG)
		return err;
	if (err == RB_E_TOOBIG || (err = response_doc_parse((const char *)text, len, e->path, &doc)) < 0)
		return finding_add(x->r, AUDIT_XCHECK_RESPONSE_BAD, AUDIT_XCHECK_NO_LEAF, e->path,
				   e->commit, NULL, "signed by the queue key but not a valid "
				   "response: %s", rb_err_message(err));
	x->r->responses++;
	if (response_of_other_log(x, doc)) {
		/* Another sign node answered it, on its own log: that log's
		 * cross-check judges it. Its requests are answered. */
		x->r->other_log_responses++;
		for (size_t i = 0; i < doc->n_entries; i++)
			if (doc->entries[i].status == RESPONSE_SIGNED &&
			    (err = rid_put(&x->elsewhere, doc->entries[i].id_hex, REQUEST_ID_HEX_LEN, 1, NULL)) < 0)
				return err;
		return RB_OK;
	}
	for (size_t i = 0; i < doc->n_entries; i++) {
		const struct response_entry *re = &doc->entries[i];

		if (re->status == RESPONSE_SIGNED)
			err = check_signed_entry(x, e, re);
		else
			err = rid_put(&x->rejected, re->id_hex, REQUEST_ID_HEX_LEN, ev_index, NULL);
		if (err < 0)
			return err;
	}
	return RB_OK;
}

/* The history of one response path, events [first, end) in order. */
static int check_response_history(struct xc *x, size_t first, size_t end)
{
	unsigned added = 0, other = 0;
	int err;

	for (size_t k = first; k < end; k++)
		if (x->ev[k].added)
			added++;
		else
			other++;
	if (added != 1 || other != 0 || !x->ev[first].added) {
		if ((err = finding_add(x->r, AUDIT_XCHECK_RESPONSE_BAD, AUDIT_XCHECK_NO_LEAF,
				       x->ev[first].path, NULL, NULL, "added %u times and changed %u "
				       "times; responses are added once and never changed", added,
				       other)) < 0)
			return err;
	}
	/* Every version that was published is checked: a device or a
	 * mirror may have taken any of them. */
	for (size_t k = first; k < end; k++)
		if ((x->ev[k].added || x->ev[k].modified) &&
		    (err = check_response_version(x, &x->ev[k], k)) < 0)
			return err;
	return RB_OK;
}

/* --- the log ------------------------------------------------------------- */

/* An intent: every request id in it is open until a sign or reject entry
 * for it; an intent still open when the next one for the same request
 * comes is a lost result. */
static int on_intent(struct xc *x, uint64_t index, const uint8_t *e, size_t len,
		     const struct audit_entry_view *view)
{
	_cleanup_json_ struct json_value *v = NULL;
	const char *key, *id;
	size_t pos = 0, idn;
	int err;

	/* The key name may hold escapes: read it with the strict reader. */
	if ((err = audit_entry_parse(e, len, &v, NULL)) < 0 ||
	    (err = json_get_string(v, "key", &key)) < 0)
		return rb_err_prefix(err, "audit entry %" PRIu64, index);
	if ((err = array_room(&x->intents, &x->cap_intents, x->n_intents, sizeof(*x->intents), 64)) < 0)
		return err;
	if (!(x->intents[x->n_intents].key = strdup(key)))
		return RB_E_NOMEM;
	x->intents[x->n_intents++].leaf = index;
	x->r->intents++;
	while (audit_entry_view_next_id(view, &pos, &id, &idn)) {
		uint8_t rid_key[RB_IDMAP_KEY_LEN];
		struct open_request *o;
		uint64_t *slot;
		bool had;

		x->r->intended++;
		rb_idmap_key_str(id, idn, rid_key);
		if ((err = array_room(&x->open, &x->cap_open, x->n_open, sizeof(*x->open), 1024)) < 0 ||
		    (err = rb_idmap_put(&x->open_intent, rid_key, x->n_open + 1, &had, &slot)) < 0)
			return err;
		if (!had) {
			if (!(x->open[x->n_open].rid = strndup(id, idn)))
				return RB_E_NOMEM;
			x->open[x->n_open++].intent_plus1 = 0;
		}
		o = &x->open[*slot - 1];
		if (o->intent_plus1) {
			const struct logged_intent *was = &x->intents[o->intent_plus1 - 1];

			if ((err = lost_add(x->r, was->leaf, index, o->rid, was->key)) < 0)
				return err;
		}
		o->intent_plus1 = x->n_intents;
	}
	return RB_OK;
}

static int on_entry(void *ctx, uint64_t index, const uint8_t *e, size_t len)
{
	struct xc *x = ctx;
	struct audit_entry_view view;
	bool had;
	int err;

	if ((err = audit_entry_validate(e, len, &view)) < 0)
		return rb_err_prefix(err, "audit entry %" PRIu64, index);
	x->r->entries++;
	if (view.type == AUDIT_INTENT)
		return on_intent(x, index, e, len, &view);
	if (view.type == AUDIT_SIGN || view.type == AUDIT_REJECT) {
		uint64_t o;

		/* The result of an open intent for this request. */
		if (rid_get(&x->open_intent, view.request_id, view.request_id_len, &o) &&
		    x->open[o - 1].intent_plus1) {
			x->open[o - 1].intent_plus1 = 0;
			if (view.type == AUDIT_SIGN)
				x->r->intent_signed++;
			else
				x->r->intent_rejected++;
		}
	}
	if (view.type != AUDIT_SIGN)
		return RB_OK;
	x->r->sign_entries++;
	if ((err = rid_put(&x->signed_at, view.request_id, view.request_id_len, x->n_sigs,
			      &had)) < 0 || had)
		return err; /* a second sign entry: the first one is the record */
	if ((err = array_room(&x->sigs, &x->cap_sigs, x->n_sigs, sizeof(*x->sigs), 1024)) < 0)
		return err;
	{
		struct logged_sig *ls = &x->sigs[x->n_sigs++];
		size_t pad = view.signature_len && view.signature[view.signature_len - 1] == '=' ?
			     (view.signature[view.signature_len - 2] == '=' ? 2 : 1) : 0;

		ls->leaf = index;
		ls->sig_len = view.signature_len / 4 * 3 - pad;
		/* (any collision-resistant digest; this is SHA-256 of 0x00 || text) */
		merkle_hash_leaf(view.signature, view.signature_len, ls->b64_sha256);
	}
	return RB_OK;
}

static int check_sign_entry(void *ctx, uint64_t index, const uint8_t *e, size_t len)
{
	struct xc *x = ctx;
	struct audit_entry_view view;
	char rid[AUDIT_FIELD_MAX + 1];
	uint64_t v;
	int err;

	if ((err = audit_entry_validate(e, len, &view)) < 0)
		return err;
	if (view.type == AUDIT_INTENT) {
		const char *id;
		size_t pos = 0, idn;

		while (audit_entry_view_next_id(&view, &pos, &id, &idn)) {
			snprintf(rid, sizeof(rid), "%.*s", (int)idn, id);
			if (!rid_get(&x->requested, rid, strlen(rid), &v) &&
			    (err = finding_add(x->r, AUDIT_XCHECK_UNEXPLAINED, index, NULL, NULL, rid,
					       "an intent to sign request %s, which no request document "
					       "in the queue asked for: the HSM was asked outside the "
					       "flow", rid)) < 0)
				return err;
		}
		return RB_OK;
	}
	if (view.type != AUDIT_SIGN)
		return RB_OK;
	snprintf(rid, sizeof(rid), "%.*s", (int)view.request_id_len, view.request_id);
	if (!rid_get(&x->requested, rid, strlen(rid), &v))
		return finding_add(x->r, AUDIT_XCHECK_UNEXPLAINED, index, NULL, NULL, rid,
				   "a signature for request %s, which no request document in the "
				   "queue asked for: signed outside the flow", rid);
	if (rid_get(&x->rejected, rid, strlen(rid), &v))
		return finding_add(x->r, AUDIT_XCHECK_SIGNED_BUT_REJECTED, index, x->ev[v].path,
				   x->ev[v].commit, rid, "the HSM signed request %s, but this "
				   "response answered it with a rejection", rid);
	if (!rid_get(&x->answered, rid, strlen(rid), &v) && rid_get(&x->elsewhere, rid, strlen(rid), &v)) {
		/* Signed here after this node's claim ran out, and answered by
		 * the node that took the claim over: accounted, not released. */
		x->r->signed_answered_elsewhere++;
		return RB_OK;
	}
	if (!rid_get(&x->answered, rid, strlen(rid), &v) && rid_get(&x->requested, rid, strlen(rid), &v))
		return finding_add(x->r, AUDIT_XCHECK_RESPONSE_MISSING, index, x->ev[v].path,
				   x->ev[v].commit, rid, "request %s of this document was signed, but "
				   "no response in the queue carries the signature: its response "
				   "commit was lost or removed from the queue, or is being published "
				   "right now (then it shows here for seconds only)", rid);
	return RB_OK;
}

int audit_crosscheck(struct audit_log *log, struct queue *q, const struct manifest *m,
		     const struct note_verifier *v, struct audit_xcheck_report **ret)
{
	struct xc x = { .log = log, .q = q, .m = m, .v = v };
	int err;

	if (!log || !q || !m || !v || !ret)
		return rb_err_set(RB_E_INVAL, "audit cross-check: missing argument");
	if (!(x.r = calloc(1, sizeof(*x.r))))
		return RB_E_NOMEM;
	if ((err = queue_tip(q, x.r->tip)) < 0)
		goto out;
	if (!x.r->tip[0]) {
		err = rb_err_set(RB_E_NOTFOUND, "the queue (%s) has no commits", queue_path(q));
		goto out;
	}
	if ((err = audit_log_walk(log, on_entry, &x)) < 0 ||
	    (err = queue_walk(q, NULL, x.r->tip, on_commit, &x)) < 0)
		goto out;
	/* Intents no entry answered before the log ends. */
	for (size_t j = 0; j < x.n_open; j++) {
		const struct logged_intent *li;

		if (!x.open[j].intent_plus1)
			continue;
		li = &x.intents[x.open[j].intent_plus1 - 1];
		if ((err = lost_add(x.r, li->leaf, AUDIT_XCHECK_NO_LEAF, x.open[j].rid, li->key)) < 0)
			goto out;
	}
	if (x.r->n_lost)
		qsort(x.r->lost, x.r->n_lost, sizeof(*x.r->lost), lost_cmp);
	/* Each document's history in order: added once, never changed. */
	qsort(x.ev, x.n_ev, sizeof(*x.ev), event_cmp);
	for (size_t i = 0; i < x.n_ev;) {
		size_t j = i;

		while (j < x.n_ev && strcmp(x.ev[j].path, x.ev[i].path) == 0)
			j++;
		if (x.ev[i].dir == DOC_RESPONSE) {
			err = check_response_history(&x, i, j);
		} else {
			/* Every version of a request document explains its ids
			 * (the guard refuses changes; this is about the log). */
			err = RB_OK;
			for (size_t k = i; k < j && err == 0; k++)
				if (x.ev[k].added || x.ev[k].modified)
					err = check_request_doc(&x, &x.ev[k]);
		}
		if (err < 0)
			goto out;
		i = j;
	}
	if ((err = audit_log_walk(log, check_sign_entry, &x)) < 0)
		goto out;
	*ret = TAKE_PTR(x.r);
	err = RB_OK;
out:
	for (size_t i = 0; i < x.n_ev; i++)
		free(x.ev[i].path);
	free(x.ev);
	rb_idmap_clear(&x.requested);
	rb_idmap_clear(&x.rejected);
	rb_idmap_clear(&x.answered);
	rb_idmap_clear(&x.elsewhere);
	rb_idmap_clear(&x.signed_at);
	rb_idmap_clear(&x.open_intent);
	for (size_t i = 0; i < x.n_open; i++)
		free(x.open[i].rid);
	free(x.open);
	for (size_t i = 0; i < x.n_intents; i++)
		free(x.intents[i].key);
	free(x.intents);
	free(x.sigs);
	audit_xcheck_report_free(x.r);
	return err;
}
