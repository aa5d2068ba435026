/* submit -> sign -> apply through the real documents and a real git
 * queue: a request document built and emitted as `rombsr submit` does, a
 * response built, emitted and published under the queue key as the sign
 * node does (soft keys stand in for the HSM), then every step of
 * `rombsr apply`. The attacks: tampered signature bytes in a published
 * response, a response for a different request document. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "apply/apply.h"
#include "apply/fetch.h"
#include "apply/verify.h"
#include "harness.h"
#include "pgp/pgp.h"
#include "queue/git.h"
#include "soft_signer.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-e2e-XXXXXX";
static char remote[256], cache[256], root[256];
static struct rb_signer s_queue, s_rsa, s_ec;
static struct manifest man;
static const int64_t t0 = 1760000000;
static const uint8_t manifest_sha[32];

static void make_key(const char *name, const char *purpose, struct rb_signer *s,
		     struct manifest_key *k)
{
	unsigned char *der = NULL;
	int n;

	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->uri = strdup("pkcs11:token=t;type=private");
	k->purpose = strdup(purpose);
	/* In-memory keys for apply's own checks, never emitted: the queue
	 * key keeps its one purpose, the others may sign every request kind. */
	k->purposes = strcmp(purpose, "queue") == 0 ? KEY_PURPOSE_QUEUE_RESPONSE
						    : KEY_PURPOSES_NODE_DIGEST | KEY_PURPOSE_OPENPGP_DETACHED;
	k->alg = s->alg;
	k->bits = (unsigned)(s->alg == RB_KEY_RSA ? EVP_PKEY_get_bits(s->pub) :
			     s->alg == RB_KEY_EC_P256 ? 256 : 255);
	k->status = KEY_ACTIVE;
	k->created = t0;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(k));
}

static int sign_cb(void *ctx, const uint8_t *data, size_t len, char **ret)
{
	const struct rb_signer *s = ctx;
	struct pgp_key *pk = NULL;
	struct rb_buf bin = RB_BUF_INIT, arm = RB_BUF_INIT;
	size_t n;
	int err;

	if ((err = pgp_key_new(s, t0, &pk)) < 0)
		return err;
	err = pgp_sign_buffer(pk, PGP_SIG_BINARY, PGP_HASH_SHA256, t0 + 60, data, len, &bin);
	if (err == RB_OK)
		err = pgp_armor(PGP_ARMOR_SIGNATURE, bin.data, bin.len, &arm);
	if (err == RB_OK)
		err = rb_buf_terminate(&arm);
	pgp_key_free(pk);
	rb_buf_free(&bin);
	if (err < 0) {
		rb_buf_free(&arm);
		return err;
	}
	*ret = (char *)rb_buf_steal(&arm, &n);
	return RB_OK;
}

static void publish(struct queue *q, const char *path, const uint8_t *data, size_t len,
		    const struct rb_signer *s, char commit[QUEUE_OID_HEX + 1])
{
	struct queue_file f = { path, data, len };

	CHECK_OK(queue_publish(q, &f, 1, "add", "rombsr", "rombsr@example.org", sign_cb, (void *)s,
			       commit));
}

static void setup(void)
{
	if (!mkdtemp(tmpdir))
		abort();
	if (soft_signer_new("ed25519", &s_queue) < 0 || soft_signer_new("rsa2048", &s_rsa) < 0 ||
	    soft_signer_new("p256", &s_ec) < 0)
		abort();
	man.keys = calloc(3, sizeof(*man.keys));
	make_key("queue", "queue", &s_queue, &man.keys[0]);
	make_key("release", "release", &s_rsa, &man.keys[1]);
	make_key("apk", "android", &s_ec, &man.keys[2]);
	man.n_keys = 3;
	snprintf(remote, sizeof(remote), "%s/remote.git", tmpdir);
	snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
	CHECK_OK(queue_init_bare(remote, "main", NULL, NULL));
}

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	CHECK_OK(rb_file_write_atomic(path, data, len, 0644));
}

/* The sign node's answer for every entry of a parsed request. */
static void sign_all(const struct request_doc *req, struct response_doc *resp,
		     const uint8_t *tool, size_t tool_len)
{
	for (size_t i = 0; i < req->n_entries; i++) {
		const struct request_entry *e = &req->entries[i];
		const struct rb_signer *s = !strcmp(e->key_name, "release") ? &s_rsa : &s_ec;
		struct rb_buf pgp = RB_BUF_INIT;
		uint8_t *sig = NULL;
		size_t len;

		if (e->kind == REQUEST_KIND_OPENPGP) {
			struct pgp_key *pk = NULL;

			CHECK_OK(pgp_key_new(s, t0, &pk));
			CHECK_OK(pgp_sign_buffer(pk, PGP_SIG_BINARY, PGP_HASH_SHA256, t0 + 9, tool,
						 tool_len, &pgp));
			pgp_key_free(pk);
			CHECK_OK(response_add_signed(resp, e->id, e->kind, e->key_name,
						     e->key_spki_sha256, RB_SIG_RSA_PKCS1_SHA256,
						     pgp.data, pgp.len, NULL));
			rb_buf_free(&pgp);
			continue;
		}
		do {
			free(sig);
			CHECK_OK(rb_signer_sign(s, e->scheme, e->input, e->input_len, &sig, &len));
		} while (e->kind == REQUEST_KIND_CAPTURE && e->scheme == RB_SIG_ECDSA_SHA256 &&
			 !capture_ecdsa_sig_fits(sig));
		CHECK_OK(response_add_signed(resp, e->id, e->kind, e->key_name, e->key_spki_sha256,
					     e->scheme, sig, len, NULL));
		free(sig);
	}
}

/* What cmd_apply does, minus printing. */
static int apply_all(struct queue *q, const char *build)
{
	struct apply_fetched *f = NULL;
	struct request_doc *req = NULL;
	struct response_doc *resp = NULL;
	struct apply_plan *plan = NULL;
	int err;

	if ((err = apply_fetch(q, &man, "builder1", build, &f)) == RB_OK &&
	    (err = request_doc_parse((const char *)f->request, f->request_len, "request", &man, 0,
				     &req)) == RB_OK &&
	    (err = response_doc_parse((const char *)f->response, f->response_len, "response",
				      &resp)) == RB_OK &&
	    (err = apply_response_check(resp, req, f->request, f->request_len,
					f->request_commit)) == RB_OK &&
	    (err = apply_plan_build(&man, req, resp, root, NULL, &plan)) == RB_OK)
		err = apply_plan_write(plan, root);
	apply_plan_free(plan);
	response_doc_free(resp);
	request_doc_free(req);
	apply_fetched_free(f);
	return err;
}

enum attack { NONE, TAMPER_SIG, OTHER_REQUEST };

static void run_build(const char *build, enum attack attack)
{
	struct queue *q = NULL;
	struct capture_request *cr = NULL;
	struct request_doc *doc = NULL, *parsed = NULL;
	struct response_doc *resp = NULL;
	struct rb_buf rq = RB_BUF_INIT, rs = RB_BUF_INIT;
	char path[600], req_commit[QUEUE_OID_HEX + 1], resp_commit[QUEUE_OID_HEX + 1];
	uint8_t app[4096], tool[3000], digest[32], sha[32], *out = NULL;
	size_t dlen, len;
	struct apply_verify_result vr;

	snprintf(root, sizeof(root), "%s/root-%s", tmpdir, build);
	CHECK(mkdir(root, 0755) == 0);
	/* Build: app.bin holds an ECDSA placeholder (DER form); tool.tgz is
	 * signed detached, raw (RSA-PSS) and OpenPGP (armored). */
	RAND_bytes(app, sizeof(app));
	RAND_bytes(tool, sizeof(tool));
	CHECK_OK(rb_digest(EVP_sha256(), "to be signed", 12, digest, &dlen));
	CHECK_OK(capture_request_new(build, &man.keys[2], CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256,
				     digest, 32, "apksigner", t0, &cr));
	app[100] = 0x30; app[101] = 0x44; app[102] = 0x02; app[103] = 0x20;
	memcpy(app + 104, cr->placeholder, 32);
	app[136] = 0x02; app[137] = 0x20;
	memcpy(app + 138, cr->placeholder + 32, 32);
	write_file("app.bin", app, sizeof(app));
	write_file("tool.tgz", tool, sizeof(tool));

	/* Submit. */
	CHECK_OK(request_doc_new("builder1", build, manifest_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "app.bin", app, sizeof(app)));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "tool.tgz", tool, sizeof(tool)));
	CHECK_OK(request_doc_add_capture(doc, "app.bin", cr));
	CHECK_OK(request_doc_add_raw(doc, "tool.tgz", &man.keys[1], RB_SIG_RSA_PSS_SHA256));
	CHECK_OK(request_doc_add_openpgp(doc, "tool.tgz", &man.keys[1], HASH_STATE_SHA256, true));
	CHECK_OK(request_doc_emit(doc, &rq));
	CHECK_OK(queue_open(remote, cache, "main", &q));
	snprintf(path, sizeof(path), "requests/builder1/%s.json", build);
	publish(q, path, rq.data, rq.len, &s_rsa, req_commit);
	CHECK_ERR(apply_all(q, build), RB_E_NOTFOUND);

	/* Sign. */
	CHECK_OK(request_doc_parse((const char *)rq.data, rq.len, "request", &man, 0, &parsed));
	CHECK_OK(rb_digest(EVP_sha256(), rq.data, rq.len, sha, &dlen));
	if (attack == OTHER_REQUEST)
		sha[0] ^= 1;
	CHECK_OK(response_doc_new("builder1", build, req_commit, sha, t0 + 100, &resp));
	if (parsed)
		sign_all(parsed, resp, tool, sizeof(tool));
	CHECK_OK(response_doc_emit(resp, &rs));
	if (attack == TAMPER_SIG) {
		/* Flip one base64 digit inside the first signature value. */
		char *p = strstr((char *)rs.data, "\"signature\":\"");

		CHECK(p != NULL);
		if (p)
			p[20] = p[20] == 'A' ? 'B' : 'A';
	}
	snprintf(path, sizeof(path), "responses/builder1/%s.json", build);
	publish(q, path, rs.data, rs.len, &s_queue, resp_commit);

	/* Apply. */
	if (attack != NONE) {
		CHECK_ERR(apply_all(q, build), RB_E_VERIFY);
		snprintf(path, sizeof(path), "%s/tool.tgz.sig", root);
		CHECK(access(path, F_OK) != 0);
		snprintf(path, sizeof(path), "%s/app.bin", root);
		CHECK_OK(rb_file_read(path, 1 << 20, &out, &len));
		CHECK(len == sizeof(app) && memcmp(out, app, len) == 0);
		free(out);
	} else {
		CHECK_OK(apply_all(q, build));
		snprintf(path, sizeof(path), "%s/app.bin", root);
		CHECK_OK(rb_file_read(path, 1 << 20, &out, &len));
		CHECK(len == sizeof(app) && memcmp(out + 104, cr->placeholder, 32) != 0 &&
		      memcmp(out + 170, app + 170, sizeof(app) - 170) == 0);
		free(out);
		snprintf(path, sizeof(path), "%s/tool.tgz", root);
		CHECK_OK(apply_verify_path(&man, path, &vr)); /* the .asc */
		CHECK(vr.form == APPLY_FORM_OPENPGP && vr.armored);
		snprintf(path, sizeof(path), "%s/tool.tgz.asc", root);
		CHECK(unlink(path) == 0);
		snprintf(path, sizeof(path), "%s/tool.tgz", root);
		CHECK_OK(apply_verify_path(&man, path, &vr)); /* the .sig */
		CHECK(vr.form == APPLY_FORM_RAW_DIGEST && vr.scheme == RB_SIG_RSA_PSS_SHA256);
	}
	rb_buf_free(&rq);
	rb_buf_free(&rs);
	response_doc_free(resp);
	request_doc_free(parsed);
	request_doc_free(doc);
	capture_request_free(cr);
	queue_free(q);
}

static void test_e2e_ok(void)
{
	run_build("b-ok", NONE);
}

static void test_e2e_tampered_signature(void)
{
	run_build("b-tamper", TAMPER_SIG);
}

static void test_e2e_other_request(void)
{
	run_build("b-other", OTHER_REQUEST);
}

int main(void)
{
	setup();
	RUN(test_e2e_ok);
	RUN(test_e2e_tampered_signature);
	RUN(test_e2e_other_request);
	for (size_t i = 0; i < man.n_keys; i++)
		manifest_key_clear(&man.keys[i]);
	free(man.keys);
	soft_signer_free(&s_queue);
	soft_signer_free(&s_rsa);
	soft_signer_free(&s_ec);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	TEST_MAIN_END();
}
