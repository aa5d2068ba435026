/* apply_fetch on real git repositories: the response is taken from the
 * commit that added it, and only if that commit is signed by the
 * manifest's queue key. Commits are signed with rombsr's OpenPGP writer
 * over soft keys (as the sign node signs with its HSM key); the unsigned
 * and rewritten-history attacks are made with the git command. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "apply/fetch.h"
#include "harness.h"
#include "pgp/pgp.h"
#include "queue/git.h"
#include "soft_signer.h"
#include "util/err.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-fetch-XXXXXX";
static char remote[256], cache[256], work[256];
static struct rb_signer s_queue, s_node, s_other;
static struct manifest man;
static const int64_t t0 = 1760000000;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "command failed: %s\n", cmd);
		exit(1);
	}
}

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
	k->bits = 255;
	k->status = KEY_ACTIVE;
	k->created = t0;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(k));
}

/* queue_sign_cb: an armored OpenPGP signature by a soft key. */
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

static void publish(struct queue *q, const char *path, const char *text,
		    const struct rb_signer *s)
{
	struct queue_file f = { path, (const uint8_t *)text, strlen(text) };
	char commit[QUEUE_OID_HEX + 1];

	CHECK_OK(queue_publish(q, &f, 1, "add", "rombsr", "rombsr@example.org", sign_cb, (void *)s,
			       commit));
}

static void setup(void)
{
	if (!mkdtemp(tmpdir))
		abort();
	if (soft_signer_new("ed25519", &s_queue) < 0 || soft_signer_new("ed25519", &s_node) < 0 ||
	    soft_signer_new("ed25519", &s_other) < 0)
		abort();
	man.keys = calloc(2, sizeof(*man.keys));
	make_key("queue", "queue", &s_queue, &man.keys[0]);
	make_key("node-key", "general", &s_node, &man.keys[1]);
	man.n_keys = 2;
	snprintf(remote, sizeof(remote), "%s/remote.git", tmpdir);
	snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
	snprintf(work, sizeof(work), "%s/work", tmpdir);
	CHECK_OK(queue_init_bare(remote, "main", NULL, NULL));
}

static void test_fetch(void)
{
	struct queue *q = NULL;
	struct apply_fetched *f = NULL;

	CHECK_OK(queue_open(remote, cache, "main", &q));
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b1", &f), RB_E_NOTFOUND); /* empty */
	publish(q, "requests/builder1/b1.json", "{\"request\":1}\n", &s_node);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b1", &f), RB_E_NOTFOUND); /* no response */
	CHECK(strstr(rb_err_detail(), "no response") != NULL);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b2", &f), RB_E_NOTFOUND); /* not submitted */
	CHECK_ERR(apply_fetch(q, &man, "../x", "b1", &f), RB_E_INVAL);

	publish(q, "responses/builder1/b1.json", "{\"response\":1}\n", &s_queue);
	publish(q, "requests/builder1/b9.json", "{\"later\":1}\n", &s_node);
	CHECK_OK(apply_fetch(q, &man, "builder1", "b1", &f));
	if (f) {
		CHECK(f->request_len == 14 && !memcmp(f->request, "{\"request\":1}\n", 14));
		CHECK(f->response_len == 15 && !memcmp(f->response, "{\"response\":1}\n", 15));
		CHECK(f->queue_key == &man.keys[0]);
		CHECK(strcmp(f->request_commit, f->response_commit) != 0 &&
		      strcmp(f->response_commit, f->tip) != 0);
	}
	apply_fetched_free(f);
	f = NULL;

	/* A response signed by a key that is not the queue key - even one in
	 * the manifest - is refused. */
	publish(q, "requests/builder1/b2.json", "{\"request\":2}\n", &s_node);
	publish(q, "responses/builder1/b2.json", "{\"response\":2}\n", &s_node);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b2", &f), RB_E_VERIFY);
	publish(q, "requests/builder1/b3.json", "{\"request\":3}\n", &s_node);
	publish(q, "responses/builder1/b3.json", "{\"response\":3}\n", &s_other);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b3", &f), RB_E_VERIFY);

	/* An unsigned response commit. */
	publish(q, "requests/builder1/b4.json", "{\"request\":4}\n", &s_node);
	sh("git clone -q %s %s && cd %s && mkdir -p responses/builder1 && "
	   "printf '{\"response\":4}\\n' > responses/builder1/b4.json && git add -A && "
	   "git -c user.name=x -c user.email=x@x -c commit.gpgsign=false commit -q -m forged && "
	   "git push -q origin HEAD:main", remote, work, work);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b4", &f), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "not signed") != NULL);

	/* A genuine response changed afterwards by an unsigned commit: the
	 * signed version is what counts, and the change is detected. */
	sh("cd %s && git pull -q origin main && printf '{\"response\":666}\\n' > "
	   "responses/builder1/b1.json && git -c user.name=x -c user.email=x@x -c "
	   "commit.gpgsign=false commit -q -am edit && git push -q origin HEAD:main", work);
	CHECK_ERR(apply_fetch(q, &man, "builder1", "b1", &f), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "changed 1 times") != NULL);
	queue_free(q);
}

int main(void)
{
	setup();
	RUN(test_fetch);
	for (size_t i = 0; i < man.n_keys; i++)
		manifest_key_clear(&man.keys[i]);
	free(man.keys);
	soft_signer_free(&s_queue);
	soft_signer_free(&s_node);
	soft_signer_free(&s_other);
	sh("rm -rf %s", tmpdir);
	TEST_MAIN_END();
}
