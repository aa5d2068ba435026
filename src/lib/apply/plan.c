/* Building the apply plan: every check, then every output, in memory.
 *
 * The order matters. Answers are matched and verified first (cheap, and a
 * forged response stops here), then the artifacts are read and compared
 * with what was submitted, then placeholders are resolved and detached
 * files encoded, and last the results are verified again as a user would
 * verify them - the APK verifier for APKs, `rombsr verify`'s logic for
 * .sig/.asc - so apply never writes a file that would not verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "apply/apply-internal.h"
#include "apply/apply.h"
#include "apply/verify.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/tree.h"

#define PLAN_DETACHED_MODE 0644

struct plan_artifact {
	uint8_t *data;      /* NULL until read; freed after the check if unused */
	size_t len;
	struct stat st;     /* of the file read */
	int dirfd;          /* its directory, borrowed from the plan's dirs */
	const char *base;   /* its last component, inside the request's name */
	size_t n_capture, n_detached;
};

struct plan_ctx {
	const struct manifest *m;
	const struct request_doc *req;
	const struct response_doc *resp;
	const char *root;
	int rootfd;
	struct apply_options opt;
	const struct response_entry **answer;   /* per request entry */
	const struct manifest_key **key;        /* per request entry; NULL if rejected */
	struct plan_artifact *arts;
	struct apply_plan *plan;
};

/* Local, so the messages need nothing beyond the document structures. */
static const char *plan_kind_name(enum request_kind k)
{
	switch (k) {
	case REQUEST_KIND_CAPTURE: return "capture";
	case REQUEST_KIND_RAW: return "raw";
	case REQUEST_KIND_OPENPGP: return "openpgp";
	}
	return "?";
}

void apply_plan_free(struct apply_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_outputs; i++) {
		free(plan->outputs[i].name);
		free(plan->outputs[i].data);
	}
	for (size_t i = 0; i < plan->n_rejections; i++) {
		free(plan->rejections[i].key_name);
		free(plan->rejections[i].message);
	}
	for (size_t i = 0; i < plan->n_artifacts; i++)
		free(plan->artifacts[i].name);
	for (size_t i = 0; i < plan->n_dirs; i++) {
		free(plan->dirs[i].name);
		if (plan->dirs[i].fd >= 0)
			close(plan->dirs[i].fd);
	}
	free(plan->dirs);
	free(plan->outputs);
	free(plan->rejections);
	free(plan->artifacts);
	free(plan);
}

static void plan_ctx_done(struct plan_ctx *c)
{
	if (c->arts)
		for (size_t i = 0; i < c->req->n_artifacts; i++)
			free(c->arts[i].data);
	free(c->arts);
	free(c->answer);
	free(c->key);
	if (c->rootfd >= 0)
		close(c->rootfd);
	apply_plan_free(c->plan);
}

/* The directory that holds name, opened beneath the root once per
 * directory and kept in the plan until the write. */
static int plan_open_dir_of(struct plan_ctx *c, const char *name, int *ret_fd,
			    const char **ret_base)
{
	struct apply_plan *p = c->plan;
	const char *slash = strrchr(name, '/');
	size_t dlen = slash ? (size_t)(slash - name) : 0;
	struct apply_dir *d;
	int fd, err;

	if (!rb_tree_name_valid(name))
		return rb_err_set(RB_E_INVAL, "%s/%s: not a plain relative name", c->root, name);
	*ret_base = slash ? slash + 1 : name;
	for (size_t i = 0; i < p->n_dirs; i++)
		if (strlen(p->dirs[i].name) == dlen && memcmp(p->dirs[i].name, name, dlen) == 0) {
			*ret_fd = p->dirs[i].fd;
			return RB_OK;
		}
	d = reallocarray(p->dirs, p->n_dirs + 1, sizeof(*p->dirs));
	if (!d)
		return RB_E_NOMEM;
	p->dirs = d;
	d = &p->dirs[p->n_dirs];
	if (!(d->name = strndup(name, dlen)))
		return RB_E_NOMEM;
	if ((err = rb_tree_open_dir(c->rootfd, c->root, d->name, &fd)) < 0) {
		free(d->name);
		return err;
	}
	d->fd = fd;
	p->n_dirs++;
	*ret_fd = fd;
	return RB_OK;
}

static int cmp_response_entry(const void *a, const void *b)
{
	const struct response_entry *x = *(const struct response_entry *const *)a;
	const struct response_entry *y = *(const struct response_entry *const *)b;

	return memcmp(x->id, y->id, REQUEST_ID_LEN);
}

static int cmp_id_key(const void *key, const void *elem)
{
	const struct response_entry *y = *(const struct response_entry *const *)elem;

	return memcmp(key, y->id, REQUEST_ID_LEN);
}

/* Every request answered exactly once, and nothing answered that was not
 * asked: ids are unique on both sides (the parsers check), so equal
 * counts and every request found means a bijection. */
static int plan_match_answers(struct plan_ctx *c)
{
	_cleanup_free_ const struct response_entry **sorted = NULL;
	size_t n = c->resp->n_entries;

	sorted = calloc(n + 1, sizeof(*sorted));
	if (!sorted)
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++)
		sorted[i] = &c->resp->entries[i];
	qsort(sorted, n, sizeof(*sorted), cmp_response_entry);
	for (size_t i = 0; i < c->req->n_entries; i++) {
		const struct request_entry *e = &c->req->entries[i];
		const struct response_entry **hit =
			bsearch(e->id, sorted, n, sizeof(*sorted), cmp_id_key);

		if (!hit)
			return rb_err_set(RB_E_VERIFY, "request %.16s (%s, key \"%s\"): the response has "
					  "no answer for it; nothing applied", e->id_hex,
					  plan_kind_name(e->kind), e->key_name);
		c->answer[i] = *hit;
	}
	if (n != c->req->n_entries)
		return rb_err_set(RB_E_VERIFY, "the response has %zu entries for %zu requests: it "
				  "answers requests this build did not make; nothing applied", n,
				  c->req->n_entries);
	return RB_OK;
}

static int plan_add_rejection(struct plan_ctx *c, const struct request_entry *e,
			      const struct response_entry *a)
{
	struct apply_plan *p = c->plan;
	struct apply_rejection *r = &p->rejections[p->n_rejections];

	*r = (struct apply_rejection){ .artifact = e->artifact, .kind = e->kind, .reason = a->reason };
	memcpy(r->id_hex, e->id_hex, sizeof(r->id_hex));
	r->key_name = strdup(e->key_name);
	r->message = strdup(a->message ? a->message : "");
	p->n_rejections++;
	if (!r->key_name || !r->message)
		return RB_E_NOMEM;
	p->artifacts[e->artifact].n_rejected++;
	return RB_OK;
}

/* The manifest key a signed answer claims, checked against the request. */
static int plan_check_key(struct plan_ctx *c, const struct request_entry *e,
			  const struct response_entry *a, const struct manifest_key **ret)
{
	const struct manifest_key *k;

	if (a->kind != 0 && a->kind != e->kind)
		return rb_err_set(RB_E_VERIFY, "request %.16s: answered as %s, asked as %s; nothing "
				  "applied", e->id_hex, plan_kind_name(a->kind),
				  plan_kind_name(e->kind));
	if (!a->key_name || strcmp(a->key_name, e->key_name) != 0 ||
	    memcmp(a->key_spki_sha256, e->key_spki_sha256, 32) != 0)
		return rb_err_set(RB_E_VERIFY, "request %.16s: signed by key \"%s\", the request asked "
				  "for \"%s\"; nothing applied", e->id_hex,
				  a->key_name ? a->key_name : "?", e->key_name);
	k = manifest_find(c->m, e->key_name);
	if (!k || memcmp(k->spki_sha256, e->key_spki_sha256, 32) != 0)
		return rb_err_set(RB_E_KEY, "request %.16s: key \"%s\" is not in the manifest with the "
				  "request's fingerprint; use the manifest the build used", e->id_hex,
				  e->key_name);
	if (k->status == KEY_REVOKED)
		return rb_err_set(RB_E_PERM, "request %.16s: key \"%s\" is revoked%s%s; its signatures "
				  "are not applied", e->id_hex, k->name,
				  k->revocation_reason ? ": " : "",
				  k->revocation_reason ? k->revocation_reason : "");
	if (e->kind != REQUEST_KIND_OPENPGP &&
	    (a->scheme != e->scheme || !rb_sig_scheme_fits(e->scheme, k->alg)))
		return rb_err_set(RB_E_VERIFY, "request %.16s: answered under scheme %s, asked for "
				  "%s; nothing applied", e->id_hex,
				  rb_sig_scheme_name(a->scheme) ? rb_sig_scheme_name(a->scheme) : "?",
				  rb_sig_scheme_name(e->scheme) ? rb_sig_scheme_name(e->scheme) : "?");
	*ret = k;
	return RB_OK;
}

static int plan_check_answers(struct plan_ctx *c)
{
	int err;

	for (size_t i = 0; i < c->req->n_entries; i++) {
		const struct request_entry *e = &c->req->entries[i];
		const struct response_entry *a = c->answer[i];

		if (e->artifact >= c->req->n_artifacts)
			return rb_err_set(RB_E_INVAL, "request %.16s: no such artifact", e->id_hex);
		if (a->status == RESPONSE_REJECTED) {
			if ((err = plan_add_rejection(c, e, a)) < 0)
				return err;
			continue;
		}
		if (a->status != RESPONSE_SIGNED || !a->signature)
			return rb_err_set(RB_E_VERIFY, "request %.16s: answer is neither signed nor "
					  "rejected", e->id_hex);
		if ((err = plan_check_key(c, e, a, &c->key[i])) < 0)
			return err;
		if (e->kind == REQUEST_KIND_OPENPGP) {
			c->arts[e->artifact].n_detached++;
			continue; /* verified over the artifact once it is read */
		}
		if (e->kind == REQUEST_KIND_CAPTURE)
			c->arts[e->artifact].n_capture++;
		else
			c->arts[e->artifact].n_detached++;
		if (rb_sig_verify(c->key[i]->pub, e->scheme, e->input, e->input_len, a->signature,
				  a->signature_len) != RB_OK)
			return rb_err_set(RB_E_VERIFY, "request %.16s (%s, artifact %s): the signature "
					  "does not verify with key \"%s\"; the response was altered, "
					  "nothing applied", e->id_hex, plan_kind_name(e->kind),
					  c->req->artifacts[e->artifact].name, e->key_name);
	}
	return RB_OK;
}

/* The artifact on disk is the one the build submitted. */
static int plan_read_artifacts(struct plan_ctx *c)
{
	int err;

	for (size_t i = 0; i < c->req->n_artifacts; i++) {
		const struct request_artifact *ra = &c->req->artifacts[i];
		struct plan_artifact *pa = &c->arts[i];
		_cleanup_free_ char *what = NULL;
		uint8_t digest[64];
		size_t dlen;

		if (pa->n_capture > 0 && pa->n_detached > 0)
			return rb_err_set(RB_E_STATE, "%s: has both placeholders and detached-signature "
					  "requests; detached signatures would cover the unresolved "
					  "bytes. Request them in a separate build", ra->name);
		if (asprintf(&what, "%s/%s", c->root, ra->name) < 0) {
			what = NULL;
			return RB_E_NOMEM;
		}
		if ((err = plan_open_dir_of(c, ra->name, &pa->dirfd, &pa->base)) < 0 ||
		    (err = apply_read_at(pa->dirfd, pa->base, what, CAPTURE_ARTIFACT_MAX_BYTES,
					 &pa->data, &pa->len, &pa->st)) < 0)
			return err;
		if (pa->len != ra->size ||
		    rb_digest(EVP_sha256(), pa->data, pa->len, digest, &dlen) < 0 ||
		    memcmp(digest, ra->sha256, 32) != 0)
			return rb_err_set(RB_E_VERIFY, "%s/%s: not the artifact that was submitted (size "
					  "or SHA-256 differs); the build changed after 'rombsr submit', "
					  "nothing applied", c->root, ra->name);
		if (pa->n_capture == 0 && pa->n_detached == 0) {
			free(pa->data);
			pa->data = NULL;
		}
	}
	return RB_OK;
}

static int plan_verify_openpgp(struct plan_ctx *c)
{
	for (size_t i = 0; i < c->req->n_entries; i++) {
		const struct request_entry *e = &c->req->entries[i];
		const struct response_entry *a = c->answer[i];
		const struct plan_artifact *pa = &c->arts[e->artifact];
		_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
		struct rb_signer signer;
		int err;

		if (e->kind != REQUEST_KIND_OPENPGP || !c->key[i])
			continue;
		if ((err = apply_pgp_key_for(c->key[i], &signer, &pk)) < 0)
			return err;
		if (pgp_sig_verify_buffer(pk, a->signature, a->signature_len, pa->data, pa->len) != RB_OK)
			return rb_err_set(RB_E_VERIFY, "request %.16s (openpgp, artifact %s): the "
					  "signature does not verify with key \"%s\"; the response was "
					  "altered, nothing applied", e->id_hex,
					  c->req->artifacts[e->artifact].name, e->key_name);
	}
	return RB_OK;
}

static int plan_add_output(struct plan_ctx *c, enum apply_output_kind kind, size_t artifact,
			   const char *suffix, uint8_t *data, size_t len, mode_t mode)
{
	struct apply_plan *p = c->plan;
	struct apply_output *o = &p->outputs[p->n_outputs];
	const struct plan_artifact *pa = &c->arts[artifact];
	const char *name = c->req->artifacts[artifact].name;

	/* Written in the artifact's directory, through the descriptor its
	 * read went through. */
	*o = (struct apply_output){ .kind = kind, .artifact = artifact, .data = data, .len = len,
				    .mode = mode & 0777, .dirfd = pa->dirfd };
	p->n_outputs++;
	if (asprintf(&o->name, "%s%s", name, suffix) < 0) {
		o->name = NULL;
		return RB_E_NOMEM;
	}
	o->base = o->name + (pa->base - name);
	for (size_t j = 0; j + 1 < p->n_outputs; j++)
		if (strcmp(p->outputs[j].name, o->name) == 0)
			return rb_err_set(RB_E_STATE, "%s: two signatures would be written to it; "
					  "request one raw or binary OpenPGP signature per artifact "
					  "(or armor one of them)", o->name);
	return RB_OK;
}

static int plan_resolve(struct plan_ctx *c, size_t art)
{
	struct plan_artifact *pa = &c->arts[art];
	_cleanup_free_ struct capture_resolution *res = NULL;
	_cleanup_free_ struct capture_resolve_result *results = NULL;
	size_t n = 0;
	int err;

	res = calloc(pa->n_capture, sizeof(*res));
	results = calloc(pa->n_capture, sizeof(*results));
	if (!res || !results)
		return RB_E_NOMEM;
	for (size_t i = 0; i < c->req->n_entries; i++) {
		const struct request_entry *e = &c->req->entries[i];

		if (e->artifact != art || e->kind != REQUEST_KIND_CAPTURE)
			continue;
		res[n++] = (struct capture_resolution){ e->capture, c->key[i]->pub,
							c->answer[i]->signature,
							c->answer[i]->signature_len };
	}
	if ((err = capture_resolve_buffer(pa->data, pa->len, res, n, results)) < 0)
		return err;
	for (size_t k = 0; k < n; k++)
		if (results[k].found != 1 || !results[k].replaced)
			return rb_err_set(RB_E_STATE, "%s: the placeholder of request %.16s is %s; "
					  "nothing applied", c->req->artifacts[art].name,
					  res[k].request->id_hex,
					  results[k].found == 0 ? "not in it" : "there more than once");
	/* The permission bits it had without setuid, setgid and sticky: a
	 * root apply must not turn a build-controlled file into a setuid
	 * program. Its owner stays (keep_owner), with no chown. */
	err = plan_add_output(c, APPLY_OUTPUT_ARTIFACT, art, "", pa->data, pa->len,
			      pa->st.st_mode & 0777);
	pa->data = NULL; /* owned by the output now (also on error) */
	if (err == RB_OK) {
		struct apply_output *o = &c->plan->outputs[c->plan->n_outputs - 1];

		o->keep_owner = true;
		o->uid = pa->st.st_uid;
		o->gid = pa->st.st_gid;
	}
	return err;
}

static int plan_encode_detached(struct plan_ctx *c, size_t i)
{
	const struct request_entry *e = &c->req->entries[i];
	const struct response_entry *a = c->answer[i];
	struct rb_buf out = RB_BUF_INIT;
	uint8_t *data;
	size_t len;
	int err;

	if (e->kind == REQUEST_KIND_RAW && e->scheme == RB_SIG_ECDSA_SHA256) {
		/* openssl dgst -verify wants DER, the response carries r||s. */
		if ((err = rb_ecdsa_raw_to_der(a->signature, a->signature_len, &data, &len)) < 0)
			return err;
	} else if (e->kind == REQUEST_KIND_OPENPGP && e->armor) {
		if ((err = pgp_armor(PGP_ARMOR_SIGNATURE, a->signature, a->signature_len, &out)) < 0) {
			rb_buf_free(&out);
			return err;
		}
		data = rb_buf_steal(&out, &len);
	} else {
		if (!(data = malloc(a->signature_len)))
			return RB_E_NOMEM;
		memcpy(data, a->signature, a->signature_len);
		len = a->signature_len;
	}
	return plan_add_output(c, APPLY_OUTPUT_DETACHED, e->artifact,
			       e->kind == REQUEST_KIND_OPENPGP && e->armor ? ".asc" : ".sig", data, len,
			       PLAN_DETACHED_MODE);
}

/* A detached file already there: the same bytes are fine (apply run
 * twice), anything else is someone else's signature. */
static int plan_check_existing(struct plan_ctx *c, struct apply_output *o)
{
	_cleanup_free_ uint8_t *old = NULL;
	_cleanup_free_ char *what = NULL;
	size_t old_len;
	int err;

	if (asprintf(&what, "%s/%s", c->root, o->name) < 0) {
		what = NULL;
		return RB_E_NOMEM;
	}
	err = apply_read_at(o->dirfd, o->base, what, APPLY_DETACHED_MAX_BYTES, &old,
			    &old_len, NULL);
	if (err == RB_E_NOTFOUND) {
		rb_err_clear();
		return RB_OK;
	}
	if (err == RB_E_TOOBIG && c->opt.force_detached)
		return RB_OK;
	if (err < 0)
		return err;
	if (old_len == o->len && memcmp(old, o->data, o->len) == 0) {
		o->unchanged = true;
		return RB_OK;
	}
	if (c->opt.force_detached)
		return RB_OK;
	return rb_err_set(RB_E_EXISTS, "%s/%s exists with other content; remove it or pass "
			  "--force-detached to replace it", c->root, o->name);
}

static int plan_final_checks(struct plan_ctx *c)
{
	struct apply_plan *p = c->plan;
	int err;

	for (size_t k = 0; k < p->n_outputs; k++) {
		struct apply_output *o = &p->outputs[k];
		const struct request_artifact *ra = &c->req->artifacts[o->artifact];
		struct apply_verify_result vr;
		size_t n = strlen(ra->name);
		bool key_ok = false;

		if (o->kind == APPLY_OUTPUT_ARTIFACT) {
			if (n <= 4 || strcmp(ra->name + n - 4, ".apk") != 0)
				continue;
			if ((err = apply_verify_apk_buffer(c->m, o->data, o->len, ra->name, &vr)) < 0)
				return err;
			for (size_t i = 0; i < c->req->n_entries; i++)
				key_ok |= c->req->entries[i].artifact == o->artifact && c->key[i] == vr.key;
			if (!key_ok)
				return rb_err_set(RB_E_VERIFY, "%s: the resolved APK is signed by key \"%s\", "
						  "which none of its requests named; nothing applied",
						  ra->name, vr.key->name);
			p->artifacts[o->artifact].apk_verified = true;
			continue;
		}
		if ((err = apply_verify_detached(c->m, c->arts[o->artifact].data,
						 c->arts[o->artifact].len, o->data, o->len, o->name,
						 &vr)) < 0)
			return err;
		for (size_t i = 0; i < c->req->n_entries; i++)
			key_ok |= c->req->entries[i].artifact == o->artifact && c->key[i] == vr.key;
		if (!key_ok)
			return rb_err_set(RB_E_VERIFY, "%s: verifies with key \"%s\", not the requested "
					  "one; nothing applied", o->name, vr.key->name);
	}
	return RB_OK;
}

static int plan_build_outputs(struct plan_ctx *c)
{
	int err;

	for (size_t a = 0; a < c->req->n_artifacts; a++)
		if (c->arts[a].n_capture > 0 && (err = plan_resolve(c, a)) < 0)
			return err;
	for (size_t i = 0; i < c->req->n_entries; i++)
		if (c->req->entries[i].kind != REQUEST_KIND_CAPTURE &&
		    (err = plan_encode_detached(c, i)) < 0)
			return err;
	for (size_t k = 0; k < c->plan->n_outputs; k++)
		if (c->plan->outputs[k].kind == APPLY_OUTPUT_DETACHED &&
		    (err = plan_check_existing(c, &c->plan->outputs[k])) < 0)
			return err;
	return plan_final_checks(c);
}

static int cmp_rejection(const void *a, const void *b)
{
	const struct apply_rejection *x = a, *y = b;

	if (x->artifact != y->artifact)
		return x->artifact < y->artifact ? -1 : 1;
	return strcmp(x->id_hex, y->id_hex);
}

static int plan_alloc(struct plan_ctx *c)
{
	struct apply_plan *p;
	size_t ne = c->req->n_entries, na = c->req->n_artifacts;

	c->answer = calloc(ne + 1, sizeof(*c->answer));
	c->key = calloc(ne + 1, sizeof(*c->key));
	c->arts = calloc(na + 1, sizeof(*c->arts));
	c->plan = p = calloc(1, sizeof(*p));
	if (!c->answer || !c->key || !c->arts || !p)
		return RB_E_NOMEM;
	/* At most one output per capture artifact plus one per other entry. */
	p->outputs = calloc(ne + na + 1, sizeof(*p->outputs));
	p->rejections = calloc(ne + 1, sizeof(*p->rejections));
	p->artifacts = calloc(na + 1, sizeof(*p->artifacts));
	if (!p->outputs || !p->rejections || !p->artifacts)
		return RB_E_NOMEM;
	for (size_t i = 0; i < na; i++) {
		if (!(p->artifacts[i].name = strdup(c->req->artifacts[i].name)))
			return RB_E_NOMEM;
		p->n_artifacts++;
	}
	return RB_OK;
}

int apply_plan_build(const struct manifest *m, const struct request_doc *req,
		     const struct response_doc *resp, const char *root,
		     const struct apply_options *opt, struct apply_plan **ret)
{
	struct plan_ctx c = { .m = m, .req = req, .resp = resp, .root = root, .rootfd = -1 };
	int err;

	if (!m || !req || !resp || !root || !ret)
		return rb_err_set(RB_E_INVAL, "apply: missing argument");
	if (opt)
		c.opt = *opt;
	/* The root is the operator's choice and opened as named; everything
	 * beneath it is reached from this descriptor. */
	c.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.rootfd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO, "%s: cannot open the "
				  "root directory: %s", root, strerror(errno));
	if ((err = plan_alloc(&c)) < 0 || (err = plan_match_answers(&c)) < 0 ||
	    (err = plan_check_answers(&c)) < 0)
		goto out;
	for (size_t i = 0; i < req->n_entries; i++) {
		const struct request_entry *e = &req->entries[i];

		if (!c.key[i])
			continue;
		if (e->kind == REQUEST_KIND_CAPTURE)
			c.plan->artifacts[e->artifact].n_capture++;
		else if (e->kind == REQUEST_KIND_RAW)
			c.plan->artifacts[e->artifact].n_raw++;
		else
			c.plan->artifacts[e->artifact].n_openpgp++;
	}
	if ((err = plan_read_artifacts(&c)) < 0)
		goto out;
	if (c.plan->n_rejections > 0) {
		/* A build is signed whole or not at all: report, build nothing. */
		qsort(c.plan->rejections, c.plan->n_rejections, sizeof(*c.plan->rejections),
		      cmp_rejection);
	} else if ((err = plan_verify_openpgp(&c)) < 0 || (err = plan_build_outputs(&c)) < 0) {
		goto out;
	}
	*ret = TAKE_PTR(c.plan);
	err = RB_OK;
out:
	plan_ctx_done(&c);
	return err;
}

int apply_plan_write(const struct apply_plan *plan, const char *root)
{
	_cleanup_free_ struct rb_tree_out *outs = NULL;
	char **whats = NULL;
	size_t n = 0;
	int err = RB_OK;

	if (!plan || !root)
		return rb_err_set(RB_E_INVAL, "apply: missing argument");
	if (plan->n_rejections > 0)
		return rb_err_set(RB_E_PERM, "%zu requests were rejected by the sign node; nothing "
				  "is written", plan->n_rejections);
	outs = calloc(plan->n_outputs + 1, sizeof(*outs));
	whats = calloc(plan->n_outputs + 1, sizeof(*whats));
	if (!outs || !whats) {
		free(whats);
		return RB_E_NOMEM;
	}
	for (size_t k = 0; k < plan->n_outputs; k++) {
		const struct apply_output *o = &plan->outputs[k];

		if (o->unchanged)
			continue;
		if (asprintf(&whats[n], "%s/%s", root, o->name) < 0) {
			whats[n] = NULL;
			err = RB_E_NOMEM;
			break;
		}
		outs[n] = (struct rb_tree_out){ .dirfd = o->dirfd, .base = o->base, .what = whats[n],
						.data = o->data, .len = o->len, .mode = o->mode,
						.keep_owner = o->keep_owner, .uid = o->uid,
						.gid = o->gid };
		n++;
	}
	/* One flush for the whole build: a build with a thousand signatures
	 * is not two thousand fsyncs. */
	if (err == RB_OK)
		err = rb_tree_write_files(outs, n);
	for (size_t k = 0; k < n; k++)
		free(whats[k]);
	free(whats);
	return err;
}
