/* Building a request document on the build node: artifacts are hashed
 * here (size, SHA-256, SHA-512 and their unfinalized states), and each
 * request is derived from an artifact and a manifest key, so the build
 * node never writes an id or a digest by hand. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request/request-internal.h"
#include "util/err.h"
#include "util/encode.h"

int request_doc_new(const char *node, const char *build_id, const uint8_t manifest_sha256[32],
		    int64_t created, struct request_doc **ret)
{
	_cleanup_(request_doc_freep) struct request_doc *doc = NULL;

	if (!ret || !manifest_sha256)
		return RB_E_INVAL;
	if (!request_node_valid(node))
		return rb_err_set(RB_E_INVAL, "request: node name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (!capture_build_id_valid(build_id))
		return rb_err_set(RB_E_INVAL, "request: build id must be 1-%d characters of "
				  "[A-Za-z0-9._-], not starting with '.' or '-'", CAPTURE_BUILD_ID_MAX);
	if (created < 0 || created > REQUEST_TIME_MAX)
		return rb_err_set(RB_E_INVAL, "request: creation time %lld is out of range",
				  (long long)created);
	doc = calloc(1, sizeof(*doc));
	if (!doc || !(doc->node = strdup(node)) || !(doc->build_id = strdup(build_id)))
		return RB_E_NOMEM;
	memcpy(doc->manifest_sha256, manifest_sha256, 32);
	doc->created = created;
	*ret = TAKE_PTR(doc);
	return RB_OK;
}

int request_doc_set_comment(struct request_doc *doc, const char *comment)
{
	char *c;

	if (!doc || !rq_text_valid(comment, REQUEST_COMMENT_MAX, true))
		return rb_err_set(RB_E_INVAL, "request comment must be 1-%d bytes without control "
				  "characters other than tab and newline", REQUEST_COMMENT_MAX);
	if (!(c = strdup(comment)))
		return RB_E_NOMEM;
	free(doc->comment);
	doc->comment = c;
	return RB_OK;
}

/* Take a hashed artifact into the document. */
static int add_artifact_states(struct request_doc *doc, const char *name, struct hash_state *s256,
			       struct hash_state *s512)
{
	struct request_artifact *a;
	size_t i = doc->n_artifacts;
	int err;

	if (rq_find_artifact(doc, name) >= 0)
		return rb_err_set(RB_E_EXISTS, "request: artifact \"%s\" is already listed", name);
	if (i >= REQUEST_MAX_ARTIFACTS)
		return rb_err_set(RB_E_LIMIT, "request: more than %d artifacts", REQUEST_MAX_ARTIFACTS);
	if ((err = rq_array_grow(&doc->artifacts, i, sizeof(*doc->artifacts))) < 0)
		return err;
	a = &doc->artifacts[i];
	memset(a, 0, sizeof(*a));
	if (!(a->name = strdup(name)))
		return RB_E_NOMEM;
	a->size = hash_state_get_length(s256);
	hash_state_final(s256, a->sha256, NULL);
	hash_state_final(s512, a->sha512, NULL);
	a->has_sha512 = true;
	doc->n_artifacts++;
	if ((err = rq_index_add_artifact(doc, i)) < 0) {
		doc->n_artifacts--;
		rq_artifact_clear(a);
		return err;
	}
	a->state256 = s256;
	a->state512 = s512;
	return RB_OK;
}

static int check_artifact_args(const struct request_doc *doc, const char *name)
{
	if (!doc)
		return RB_E_INVAL;
	if (!request_artifact_name_valid(name))
		return rb_err_set(RB_E_INVAL, "request: artifact name \"%.80s\" is not a relative path "
				  "of [A-Za-z0-9._+-] components (no '.', '..' or empty "
				  "component, at most %d bytes)", name ? name : "",
				  REQUEST_ARTIFACT_NAME_MAX);
	return RB_OK;
}

int request_doc_add_artifact_buffer(struct request_doc *doc, const char *name, const void *data,
				    size_t len)
{
	_cleanup_(hash_state_freep) struct hash_state *s256 = NULL, *s512 = NULL;
	int err;

	if ((err = check_artifact_args(doc, name)) < 0)
		return err;
	if ((err = hash_state_new(HASH_STATE_SHA256, &s256)) < 0 ||
	    (err = hash_state_new(HASH_STATE_SHA512, &s512)) < 0 ||
	    (err = hash_state_update(s256, data, len)) < 0 ||
	    (err = hash_state_update(s512, data, len)) < 0)
		return err;
	if ((err = add_artifact_states(doc, name, s256, s512)) < 0)
		return err;
	s256 = s512 = NULL;
	return RB_OK;
}

int request_doc_add_artifact_fd(struct request_doc *doc, const char *name, int fd)
{
	_cleanup_(hash_state_freep) struct hash_state *s256 = NULL, *s512 = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	int err;

	if ((err = check_artifact_args(doc, name)) < 0)
		return err;
	if (!(buf = malloc(64 * 1024)))
		return RB_E_NOMEM;
	if ((err = hash_state_new(HASH_STATE_SHA256, &s256)) < 0 ||
	    (err = hash_state_new(HASH_STATE_SHA512, &s512)) < 0)
		return err;
	/* One pass over the file for both hashes. */
	for (;;) {
		ssize_t n = read(fd, buf, 64 * 1024);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_err_set(RB_E_IO, "artifact \"%s\": read failed: %s", name,
					  strerror(errno));
		if (n == 0)
			break;
		if ((err = hash_state_update(s256, buf, (size_t)n)) < 0 ||
		    (err = hash_state_update(s512, buf, (size_t)n)) < 0)
			return rb_err_set(err, "artifact \"%s\": %s", name, rb_err_message(err));
	}
	if ((err = add_artifact_states(doc, name, s256, s512)) < 0)
		return err;
	s256 = s512 = NULL;
	return RB_OK;
}

int request_doc_add_artifact_file(struct request_doc *doc, const char *name, const char *path)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!path)
		return RB_E_INVAL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : errno == ELOOP ? RB_E_INVAL : RB_E_IO,
				  "%s: cannot open the artifact: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_INVAL, "%s: not a regular file; artifacts are regular files", path);
	return request_doc_add_artifact_fd(doc, name, fd);
}

/* Append entry e (taken: cleared on failure too) to the document. */
static int add_entry(struct request_doc *doc, struct request_entry *e)
{
	size_t i = doc->n_entries;
	int err;

	if (i >= REQUEST_MAX_ENTRIES) {
		rq_entry_clear(e);
		return rb_err_set(RB_E_LIMIT, "request: more than %d requests", REQUEST_MAX_ENTRIES);
	}
	if ((err = rq_array_grow(&doc->entries, i, sizeof(*doc->entries))) < 0) {
		rq_entry_clear(e);
		return err;
	}
	doc->entries[i] = *e;
	memset(e, 0, sizeof(*e));
	doc->n_entries++;
	if ((err = rq_index_add_entry(doc, i)) < 0) {
		doc->n_entries--;
		if (err == RB_E_EXISTS)
			err = rb_err_set(RB_E_EXISTS, "request %s is already in the document",
					 doc->entries[i].id_hex);
		rq_entry_clear(&doc->entries[i]);
		return err;
	}
	return RB_OK;
}

static int artifact_for(const struct request_doc *doc, const char *name, size_t *ret)
{
	long i = rq_find_artifact(doc, name);

	if (i < 0)
		return rb_err_set(RB_E_NOTFOUND, "request: no artifact \"%.80s\"; add it first",
				  name ? name : "");
	*ret = (size_t)i;
	return RB_OK;
}

static int check_key(const struct manifest_key *key, enum request_kind kind)
{
	if (!key || !key->name)
		return RB_E_INVAL;
	if (key->status != KEY_ACTIVE)
		return rb_err_set(RB_E_PERM, "key \"%s\" is %s and may not sign", key->name,
				  key_status_name(key->status));
	return request_key_purpose_check(kind, key);
}

static void set_id(struct request_entry *e, const uint8_t id[REQUEST_ID_LEN])
{
	memcpy(e->id, id, REQUEST_ID_LEN);
	rb_hex_format(id, REQUEST_ID_LEN, e->id_hex);
}

/* Deep copy through capture's own emitter and parser, so an embedded
 * request is exactly what capture accepts. */
static int capture_copy(const struct capture_request *r, struct capture_request **ret)
{
	struct rb_buf b = RB_BUF_INIT;
	int err;

	if ((err = capture_request_emit(r, &b)) == 0)
		err = capture_request_parse((const char *)b.data, b.len, "capture request", NULL, ret);
	rb_buf_free(&b);
	return err;
}

int request_doc_add_capture(struct request_doc *doc, const char *artifact_name,
			    const struct capture_request *r)
{
	struct request_entry e = { 0 };
	size_t ai = 0;
	int err;

	if (!doc || !r)
		return RB_E_INVAL;
	if ((err = artifact_for(doc, artifact_name, &ai)) < 0)
		return err;
	if (!r->build_id || strcmp(r->build_id, doc->build_id) != 0)
		return rb_err_set(RB_E_INVAL, "capture request %s belongs to build \"%.128s\", not \"%s\"",
				  r->id_hex, r->build_id ? r->build_id : "", doc->build_id);
	e.kind = REQUEST_KIND_CAPTURE;
	e.artifact = ai;
	if ((err = capture_copy(r, &e.capture)) < 0)
		return err;
	set_id(&e, e.capture->id);
	memcpy(e.key_spki_sha256, e.capture->key_spki_sha256, 32);
	e.scheme = e.capture->scheme;
	if (!(e.key_name = strdup(e.capture->key_name)) ||
	    !(e.input = malloc(e.capture->input_len))) {
		rq_entry_clear(&e);
		return RB_E_NOMEM;
	}
	memcpy(e.input, e.capture->input, e.capture->input_len);
	e.input_len = e.capture->input_len;
	return add_entry(doc, &e);
}

int request_doc_add_raw(struct request_doc *doc, const char *artifact_name,
			const struct manifest_key *key, enum rb_sig_scheme scheme)
{
	struct request_entry e = { 0 };
	const struct request_artifact *a;
	const char *sname = rb_sig_scheme_name(scheme);
	uint8_t id[REQUEST_ID_LEN];
	size_t ai = 0, dlen;
	int err;

	if (!doc)
		return RB_E_INVAL;
	if ((err = artifact_for(doc, artifact_name, &ai)) < 0 || (err = check_key(key, REQUEST_KIND_RAW)) < 0)
		return err;
	if (!sname || !rb_sig_scheme_fits(scheme, key->alg))
		return rb_err_set(RB_E_UNSUPPORTED, "key \"%s\" is %s and cannot sign with %s",
				  key->name, rb_key_alg_name(key->alg), sname ? sname : "this scheme");
	a = &doc->artifacts[ai];
	/* Ed25519 has no prehash: rombsr signs the file's SHA-256 as the
	 * message (docs/formats/request.md). */
	dlen = scheme == RB_SIG_ED25519 ? 32 : rb_sig_scheme_digest_len(scheme);
	if ((err = request_direct_id(doc->build_id, REQUEST_KIND_RAW, key->spki_sha256, sname,
				     a->name, dlen == 64 ? a->sha512 : a->sha256, dlen, id)) < 0)
		return err;
	e.kind = REQUEST_KIND_RAW;
	e.artifact = ai;
	e.scheme = scheme;
	set_id(&e, id);
	memcpy(e.key_spki_sha256, key->spki_sha256, 32);
	if (!(e.key_name = strdup(key->name)) || !(e.input = malloc(dlen))) {
		rq_entry_clear(&e);
		return RB_E_NOMEM;
	}
	memcpy(e.input, dlen == 64 ? a->sha512 : a->sha256, dlen);
	e.input_len = dlen;
	return add_entry(doc, &e);
}

int request_doc_add_openpgp(struct request_doc *doc, const char *artifact_name,
			    const struct manifest_key *key, enum hash_state_alg hash, bool armor)
{
	struct request_entry e = { 0 };
	const struct request_artifact *a;
	const char *hname = hash_state_alg_name(hash);
	uint8_t id[REQUEST_ID_LEN];
	size_t ai = 0;
	int err;

	if (!doc || !hname)
		return RB_E_INVAL;
	if ((err = artifact_for(doc, artifact_name, &ai)) < 0 ||
	    (err = check_key(key, REQUEST_KIND_OPENPGP)) < 0)
		return err;
	if (key->alg != RB_KEY_RSA && key->alg != RB_KEY_ED25519)
		return rb_err_set(RB_E_UNSUPPORTED, "key \"%s\" is %s; OpenPGP signatures need an RSA "
				  "or Ed25519 key", key->name, rb_key_alg_name(key->alg));
	a = &doc->artifacts[ai];
	if (!a->state256 || !a->state512)
		return rb_err_set(RB_E_STATE, "artifact \"%s\" was not hashed by this builder", a->name);
	if ((err = request_direct_id(doc->build_id, REQUEST_KIND_OPENPGP, key->spki_sha256, hname,
				     a->name, hash == HASH_STATE_SHA512 ? a->sha512 : a->sha256,
				     hash_state_digest_len(hash), id)) < 0)
		return err;
	e.kind = REQUEST_KIND_OPENPGP;
	e.artifact = ai;
	e.hash = hash;
	e.armor = armor;
	set_id(&e, id);
	memcpy(e.key_spki_sha256, key->spki_sha256, 32);
	if (!(e.key_name = strdup(key->name)))
		return RB_E_NOMEM;
	if ((err = hash_state_copy(hash == HASH_STATE_SHA512 ? a->state512 : a->state256,
				   &e.state)) < 0) {
		rq_entry_clear(&e);
		return err;
	}
	return add_entry(doc, &e);
}
