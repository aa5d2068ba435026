/* Emits queue documents for tests/integration/queue-*.sh, through the
 * real request/approval builders (so the guard's schema check sees what
 * `rombsr submit` would write):
 *
 *   queue_doc_tool request MANIFEST NODE BUILD_ID     a request with one
 *       artifact and a raw signature request by the manifest's first
 *       active RSA or EC key
 *   queue_doc_tool approval APPROVER NODE BUILD_ID KEY
 *
 * The document goes to stdout. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keys/manifest.h"
#include "request/approval.h"
#include "request/request.h"
#include "util/buf.h"
#include "util/err.h"

static int emit(struct rb_buf *b)
{
	if (fwrite(b->data, 1, b->len, stdout) != b->len)
		return 1;
	rb_buf_free(b);
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "queue_doc_tool: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	return 1;
}

static int request(const char *manifest, const char *node, const char *build)
{
	struct manifest *m = NULL;
	struct request_doc *d = NULL;
	struct rb_buf b = RB_BUF_INIT;
	const struct manifest_key *key = NULL;
	uint8_t msha[32] = { 0 };
	static const char artifact[] = "release payload\n";
	int err;

	if ((err = manifest_load(manifest, &m)) < 0)
		return fail(manifest, err);
	for (size_t i = 0; i < m->n_keys && !key; i++)
		if (m->keys[i].status == KEY_ACTIVE && m->keys[i].alg == RB_KEY_RSA)
			key = &m->keys[i];
	if (!key)
		return fail("no active RSA key in the manifest", RB_E_KEY);
	if ((err = request_doc_new(node, build, msha, (int64_t)time(NULL), &d)) < 0 ||
	    (err = request_doc_add_artifact_buffer(d, "out/payload.bin", artifact, sizeof(artifact) - 1)) < 0 ||
	    (err = request_doc_add_raw(d, "out/payload.bin", key, RB_SIG_RSA_PKCS1_SHA256)) < 0 ||
	    (err = request_doc_emit(d, &b)) < 0)
		return fail("building the request", err);
	request_doc_free(d);
	manifest_free(m);
	return emit(&b);
}

static int approval(const char *approver, const char *node, const char *build, const char *key)
{
	struct approval_doc *a = NULL;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t rsha[32] = { 1 };
	const char *keys[1] = { key };
	int err;

	if ((err = approval_doc_new(approver, node, build, rsha, keys, 1, &a)) < 0 ||
	    (err = approval_doc_emit(a, &b)) < 0)
		return fail("building the approval", err);
	approval_doc_free(a);
	return emit(&b);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "request") == 0)
		return request(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "approval") == 0)
		return approval(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: queue_doc_tool request MANIFEST NODE BUILD_ID\n"
			"       queue_doc_tool approval APPROVER NODE BUILD_ID KEY\n");
	return 2;
}
