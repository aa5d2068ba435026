/* The guard over real repositories and real gpg keys, for what the
 * integration test (queue-guard.sh, nodes only) does not reach: the
 * approver and queue-key areas, documents naming other nodes or
 * approvers, size caps, file modes, build-id paths, keys in the keyring
 * that are not on the allow-list, signatures over other data, and
 * whole-history checks. Commits are made with queue_publish (or the git
 * command for modes it never writes) into a bare repository without a
 * hook; the guard then judges old..new, and the branch is put back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "keys/manifest.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "queue/guard.h"
#include "request/approval.h"
#include "request/claim.h"
#include "request/request.h"
#include "request/response.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

#define ZERO "0000000000000000000000000000000000000000"

static char tmpdir[] = "/tmp/rombsr-qguard-XXXXXX";
static char home[300], remote[300];
static char fpr_node[41], fpr_alice[41], fpr_queue[41], fpr_stranger[41];
static struct sign_config *cfg;
static struct manifest *man;
static struct gpgsig *keyring, *signer_ctx;
static struct guard *guard;
static struct queue *local;
static char good_tip[QUEUE_OID_HEX + 1];
static unsigned mirror_seq;

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

static void key_make(const char *uid, char out[41])
{
	char path[400];
	FILE *f;

	sh("gpg --homedir %s --batch --quiet --passphrase '' --quick-gen-key '%s' ed25519 sign never 2>/dev/null", home,
	   uid);
	sh("gpg --homedir %s --batch --with-colons --list-keys '%s' | awk -F: '$1==\"fpr\"{print $10; exit}' >%s/fpr",
	   home, uid, tmpdir);
	snprintf(path, sizeof(path), "%s/fpr", tmpdir);
	f = fopen(path, "r");
	if (!f || !fgets(out, 41, f) || strlen(out) != 40)
		exit(1);
	fclose(f);
}

/* The manifest's `queue` key, standing in for the HSM key: a gpg key
 * whose certificate and fingerprint the guard reads from the manifest. */
static void manifest_make(void)
{
	struct manifest_key *k;
	uint8_t *fpr = NULL;
	size_t n;
	char path[400];

	man = calloc(1, sizeof(*man));
	k = man->keys = calloc(1, sizeof(*k));
	man->n_keys = 1;
	k->name = strdup("queue");
	sh("gpg --homedir %s --export %s >%s/queue.pgp", home, fpr_queue, tmpdir);
	snprintf(path, sizeof(path), "%s/queue.pgp", tmpdir);
	if (rb_file_read(path, GPGSIG_MAX_CERT_BYTES, &k->openpgp, &k->openpgp_len) < 0 ||
	    rb_hex_decode(fpr_queue, 40, &fpr, &n) < 0)
		exit(1);
	memcpy(k->openpgp_fpr, fpr, 20);
	free(fpr);
}

static void setup(void)
{
	char path[400], conf[2048];

	snprintf(home, sizeof(home), "%s/gnupg", tmpdir);
	sh("mkdir -m 700 %s", home);
	key_make("builder1 <b1@example.org>", fpr_node);
	key_make("alice <alice@example.org>", fpr_alice);
	key_make("queue <queue@example.org>", fpr_queue);
	key_make("stranger <s@example.org>", fpr_stranger);
	sh("gpg --homedir %s --export --armor %s >%s/builder1.asc && gpg --homedir %s --export %s >%s/alice.pgp", home,
	   fpr_node, tmpdir, home, fpr_alice, tmpdir);
	snprintf(conf, sizeof(conf),
		 "[rombsr]\n\tversion = 1\n\tstateDir = state\n\tmanifest = manifest.json\n"
		 "[queue]\n\turl = queue.git\n\tmaxRequestBytes = 3000\n"
		 "[node \"builder1\"]\n\tfingerprint = %s\n\tpublicKey = builder1.asc\n"
		 "[node \"builder2\"]\n\tfingerprint = %s\n\tpublicKey = builder1.asc\n"
		 "[approver \"alice\"]\n\tfingerprint = %s\n\tpublicKey = alice.pgp\n",
		 fpr_node, "0123456789ABCDEF0123456789ABCDEF01234567", fpr_alice);
	snprintf(path, sizeof(path), "%s/sign.conf", tmpdir);
	if (rb_file_write_atomic(path, conf, strlen(conf), 0644) < 0 || sign_config_load(path, &cfg) < 0) {
		fprintf(stderr, "config: %s\n", rb_err_detail());
		exit(1);
	}
	manifest_make();
	snprintf(path, sizeof(path), "%s/guard-gnupg", tmpdir);
	/* builder2's configured key is not in builder1.asc: the keyring
	 * refuses to start on a certificate that lacks the configured key */
	CHECK_ERR(gpgsig_open_keyring(path, cfg, man, &keyring), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "0123456789ABCDEF0123456789ABCDEF01234567"));
	free(cfg->nodes[1].public_key);
	cfg->nodes[1].public_key = NULL;
	free(cfg->nodes[1].name);
	cfg->nodes[1].name = NULL;
	cfg->n_nodes = 1;
	if (gpgsig_open_keyring(path, cfg, man, &keyring) < 0 || guard_new(cfg, man, keyring, &guard) < 0 ||
	    gpgsig_open(home, &signer_ctx) < 0) {
		fprintf(stderr, "keyring: %s\n", rb_err_detail());
		exit(1);
	}
	snprintf(remote, sizeof(remote), "%s/queue.git", tmpdir);
	if (queue_init_bare(remote, "main", NULL, NULL) < 0 || queue_open_local(remote, false, "main", &local) < 0)
		exit(1);
}

/* ---- documents ------------------------------------------------------------ */

static size_t request_doc(const char *node, const char *build, size_t pad, uint8_t **ret)
{
	struct request_doc *d = NULL;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t msha[32] = { 0 };
	_cleanup_free_ char *comment = NULL;
	size_t n;

	if (request_doc_new(node, build, msha, 1760000000, &d) < 0 ||
	    request_doc_add_artifact_buffer(d, "out/a.bin", "payload", 7) < 0)
		exit(1);
	if (pad) {
		comment = malloc(pad + 1);
		memset(comment, 'x', pad);
		comment[pad] = '\0';
		d->comment = TAKE_PTR(comment);
	}
	if (request_doc_emit(d, &b) < 0) {
		fprintf(stderr, "request: %s\n", rb_err_detail());
		exit(1);
	}
	request_doc_free(d);
	*ret = rb_buf_steal(&b, &n);
	return n;
}

static size_t approval_doc(const char *approver, const char *node, const char *build, uint8_t **ret)
{
	struct approval_doc *a = NULL;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t rsha[32] = { 7 };
	const char *keys[] = { "avb_root" };
	size_t n;

	if (approval_doc_new(approver, node, build, rsha, keys, 1, &a) < 0 || approval_doc_emit(a, &b) < 0)
		exit(1);
	approval_doc_free(a);
	*ret = rb_buf_steal(&b, &n);
	return n;
}

static size_t response_doc(const char *node, const char *build, uint8_t **ret)
{
	struct response_doc *r = NULL;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t rsha[32] = { 9 };
	size_t n;

	if (response_doc_new(node, build, "0123456789abcdef0123456789abcdef01234567", rsha, 1760000000, &r) < 0 ||
	    response_doc_emit(r, &b) < 0)
		exit(1);
	response_doc_free(r);
	*ret = rb_buf_steal(&b, &n);
	return n;
}

static size_t claim_doc(const char *node, const char *build, uint32_t gen, uint8_t **ret)
{
	struct claim_doc c = { .generation = gen, .claimed = 1760000000, .expires = 1760000300 };
	struct rb_buf b = RB_BUF_INIT;
	size_t n;

	snprintf(c.node, sizeof(c.node), "%s", node);
	snprintf(c.build_id, sizeof(c.build_id), "%s", build);
	snprintf(c.sign_node, sizeof(c.sign_node), "sa");
	snprintf(c.origin, sizeof(c.origin), "rombsr-audit/test/sa");
	if (claim_doc_emit(&c, &b) < 0)
		exit(1);
	*ret = rb_buf_steal(&b, &n);
	return n;
}

/* ---- commits -------------------------------------------------------------- */

struct sign_as {
	const char *fpr;
	bool other_data; /* sign something else than the commit */
};

static int sign_cb(void *ctx, const uint8_t *data, size_t len, char **ret)
{
	const struct sign_as *s = ctx;

	if (s->other_data)
		return gpgsig_sign_detached(signer_ctx, s->fpr, (const uint8_t *)"other", 5, ret, NULL);
	return gpgsig_sign_detached(signer_ctx, s->fpr, data, len, ret, NULL);
}

/* Publish one file signed by fpr through a fresh mirror; ret = commit. */
static void publish(const char *fpr, bool other_data, const char *path, const uint8_t *data, size_t len,
		    char ret[QUEUE_OID_HEX + 1])
{
	struct sign_as s = { fpr, other_data };
	struct queue_file f = { path, data, len };
	struct queue *q = NULL;
	char dir[400];

	snprintf(dir, sizeof(dir), "%s/mirror-%u", tmpdir, mirror_seq++);
	if (queue_open(remote, dir, "main", &q) < 0 ||
	    queue_publish(q, &f, 1, "test", "t", "t@example.org", sign_cb, &s, ret) < 0) {
		fprintf(stderr, "publish %s: %s\n", path, rb_err_detail());
		exit(1);
	}
	queue_free(q);
}

/* The guard's verdict on good_tip..new, then the branch goes back. */
static void expect(const char *what, const char *new, int want, const char *word)
{
	int err;

	rb_err_clear();
	err = guard_check_update(guard, local, good_tip[0] ? good_tip : ZERO, new, "refs/heads/main");
	if (err != want) {
		fprintf(stderr, "%s: guard returned %d (%s), want %d\n", what, err, rb_err_detail(), want);
		t_failed_checks++;
	} else if (word && !strstr(rb_err_detail(), word)) {
		fprintf(stderr, "%s: detail \"%s\" lacks \"%s\"\n", what, rb_err_detail(), word);
		t_failed_checks++;
	} else if (want == RB_E_PERM && strncmp(rb_err_detail(), "commit ", 7) != 0) {
		fprintf(stderr, "%s: detail \"%s\" does not name the commit\n", what, rb_err_detail());
		t_failed_checks++;
	}
	if (good_tip[0])
		sh("git --git-dir=%s update-ref refs/heads/main %s", remote, good_tip);
}

static void accept(const char *what, const char *new)
{
	expect(what, new, RB_OK, NULL);
	memcpy(good_tip, new, sizeof(good_tip));
	sh("git --git-dir=%s update-ref refs/heads/main %s", remote, good_tip);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_three_areas(void)
{
	_cleanup_free_ uint8_t *req = NULL, *apr = NULL, *rsp = NULL;
	char c[QUEUE_OID_HEX + 1];
	size_t n;

	n = request_doc("builder1", "b1", 0, &req);
	publish(fpr_node, false, "requests/builder1/b1.json", req, n, c);
	accept("node request creates the branch", c);
	n = approval_doc("alice", "builder1", "b1", &apr);
	publish(fpr_alice, false, "approvals/alice/builder1/b1.json", apr, n, c);
	accept("approver approval", c);
	n = response_doc("builder1", "b1", &rsp);
	publish(fpr_queue, false, "responses/builder1/b1.json", rsp, n, c);
	accept("queue-key response", c);
	CHECK_OK(guard_check_history(guard, local, good_tip));
}

static void test_areas_refused(void)
{
	_cleanup_free_ uint8_t *req = NULL, *apr = NULL, *rsp = NULL, *apr_bob = NULL, *rsp_b2 = NULL;
	char c[QUEUE_OID_HEX + 1];
	size_t nreq = request_doc("builder1", "b2", 0, &req), napr = approval_doc("alice", "builder1", "b2", &apr);
	size_t nrsp = response_doc("builder1", "b2", &rsp), nbob = approval_doc("bob", "builder1", "b2", &apr_bob);
	size_t nb2 = response_doc("builder1", "b1", &rsp_b2);

	publish(fpr_queue, false, "requests/builder1/b2.json", req, nreq, c);
	expect("queue key writing a request", c, RB_E_PERM, "outside its signer's area responses/");
	publish(fpr_node, false, "responses/builder1/b2.json", rsp, nrsp, c);
	expect("node writing a response", c, RB_E_PERM, "outside its signer's area requests/builder1/");
	publish(fpr_alice, false, "requests/builder1/b2.json", req, nreq, c);
	expect("approver writing a request", c, RB_E_PERM, "area approvals/alice/");
	publish(fpr_alice, false, "approvals/bob/builder1/b2.json", apr, napr, c);
	expect("approver writing as another approver", c, RB_E_PERM, "area approvals/alice/");
	publish(fpr_alice, false, "approvals/alice/ghost/b2.json", apr, napr, c);
	expect("approval for an unconfigured node", c, RB_E_PERM, "\"ghost\", which is not configured");
	publish(fpr_queue, false, "responses/ghost/b2.json", rsp, nrsp, c);
	expect("response for an unconfigured node", c, RB_E_PERM, "not configured");
	publish(fpr_alice, false, "approvals/alice/builder1/b2.json", apr_bob, nbob, c);
	expect("approval naming another approver", c, RB_E_PERM, "names approver \"bob\"");
	publish(fpr_queue, false, "responses/builder1/b2.json", rsp_b2, nb2, c);
	expect("response naming another build", c, RB_E_PERM, "names build id \"b1\"");
	publish(fpr_node, false, "requests/builder1/sub/b2.json", req, nreq, c);
	expect("request one directory deeper", c, RB_E_PERM, "outside its signer's area");
	publish(fpr_node, false, "requests/builder1/.b2.json", req, nreq, c);
	expect("hidden build id", c, RB_E_PERM, "outside its signer's area");
	publish(fpr_node, false, "requests/builder1/b2.txt", req, nreq, c);
	expect("not .json", c, RB_E_PERM, "outside its signer's area");
	publish(fpr_queue, false, "responses/builder1/b3.json", apr, napr, c);
	expect("an approval where a response belongs", c, RB_E_PERM, "is not a valid document");
}

/* Claims (docs/formats/claim.md): only the queue key writes them, for a
 * configured node and a build not answered yet, numbered from 1 without
 * gaps, each naming the build and generation of its path. */
static void test_claims(void)
{
	_cleanup_free_ uint8_t *c1 = NULL, *c2 = NULL, *c3 = NULL, *other = NULL, *rsp = NULL, *ghost = NULL;
	char c[QUEUE_OID_HEX + 1];
	size_t n1 = claim_doc("builder1", "b7", 1, &c1), n2 = claim_doc("builder1", "b7", 2, &c2);
	size_t n3 = claim_doc("builder1", "b7", 3, &c3), nother = claim_doc("builder1", "b8", 1, &other);
	size_t nrsp = response_doc("builder1", "b7", &rsp), nghost = claim_doc("ghost", "b7", 1, &ghost);

	publish(fpr_node, false, "claims/builder1/b7/1.json", c1, n1, c);
	expect("a build node writing a claim", c, RB_E_PERM, "outside its signer's area requests/builder1/");
	publish(fpr_queue, false, "claims/builder1/b7/2.json", c2, n2, c);
	expect("a claim's second generation without its first", c, RB_E_PERM, "without generation 1");
	publish(fpr_queue, false, "claims/builder1/b7/1.json", c2, n2, c);
	expect("a claim naming another generation than its path", c, RB_E_PERM, "names generation \"2\"");
	publish(fpr_queue, false, "claims/builder1/b7/1.json", other, nother, c);
	expect("a claim naming another build than its path", c, RB_E_PERM, "names build id \"b8\"");
	publish(fpr_queue, false, "claims/ghost/b7/1.json", ghost, nghost, c);
	expect("a claim for an unconfigured node", c, RB_E_PERM, "not configured");
	publish(fpr_queue, false, "claims/builder1/b7/01.json", c1, n1, c);
	expect("a generation with a leading zero", c, RB_E_PERM, "outside its signer's area");
	publish(fpr_queue, false, "claims/builder1/b7/1.json", rsp, nrsp, c);
	expect("a response where a claim belongs", c, RB_E_PERM, "is not a valid document");
	publish(fpr_queue, false, "claims/builder1/b7/1.json", c1, n1, c);
	accept("the queue key's first claim", c);
	publish(fpr_queue, false, "claims/builder1/b7/2.json", c2, n2, c);
	accept("the next generation (a claim taken over)", c);
	publish(fpr_queue, false, "responses/builder1/b7.json", rsp, nrsp, c);
	accept("the response", c);
	publish(fpr_queue, false, "claims/builder1/b7/3.json", c3, n3, c);
	expect("a claim on an answered build", c, RB_E_PERM, "answered already");
}

static void test_signatures_and_caps(void)
{
	_cleanup_free_ uint8_t *req = NULL, *big = NULL;
	char c[QUEUE_OID_HEX + 1];
	size_t nreq = request_doc("builder1", "b4", 0, &req), nbig = request_doc("builder1", "b5", 3200, &big);

	publish(fpr_node, true, "requests/builder1/b4.json", req, nreq, c);
	expect("signature over other data", c, RB_E_PERM, "does not verify");
	/* in the keyring, but not on the allow-list */
	sh("gpg --homedir %s --export %s | gpg --homedir %s/guard-gnupg --batch --quiet --import 2>/dev/null", home,
	   fpr_stranger, tmpdir);
	publish(fpr_stranger, false, "requests/builder1/b4.json", req, nreq, c);
	expect("key in the keyring, not on the allow-list", c, RB_E_PERM, "not on the allow-list (no configured");
	publish(fpr_node, false, "requests/builder1/b5.json", big, nbig, c);
	expect("request over maxRequestBytes", c, RB_E_PERM, "over the cap of 3000");
}

static void test_modes_and_refs(void)
{
	_cleanup_free_ uint8_t *req = NULL;
	char wt[400], path[500], c[QUEUE_OID_HEX + 1];
	size_t nreq = request_doc("builder1", "b6", 0, &req);
	FILE *f;

	snprintf(wt, sizeof(wt), "%s/wt", tmpdir);
	snprintf(path, sizeof(path), "%s/b6.json", tmpdir);
	CHECK_OK(rb_file_write_atomic(path, req, nreq, 0644));
	sh("git clone -q %s %s && cd %s && git config user.name t && git config user.email t@x && "
	   "cp %s requests/builder1/b6.json && chmod +x requests/builder1/b6.json && git add requests && "
	   "GNUPGHOME=%s git -c user.signingkey=%s commit -q -S -m exec && git push -q origin HEAD:main && "
	   "git rev-parse HEAD >%s/rev", remote, wt, wt, path, home, fpr_node, tmpdir);
	snprintf(path, sizeof(path), "%s/rev", tmpdir);
	f = fopen(path, "r");
	CHECK(f && fgets(c, sizeof(c), f));
	if (f)
		fclose(f);
	expect("executable document", c, RB_E_PERM, "mode 100755");
	sh("cd %s && git reset -q --hard %s && ln -s b1.json requests/builder1/b7.json && git add requests && "
	   "GNUPGHOME=%s git -c user.signingkey=%s commit -q -S -m link && git push -q -f origin HEAD:main && "
	   "git rev-parse HEAD >%s/rev", wt, good_tip, home, fpr_node, tmpdir);
	f = fopen(path, "r");
	CHECK(f && fgets(c, sizeof(c), f));
	if (f)
		fclose(f);
	expect("symbolic link", c, RB_E_PERM, "mode 120000");
	/* more files than one commit may carry: a tree built by git itself */
	sh("cd %s && git reset -q --hard %s && export GIT_INDEX_FILE=%s/big.index && git read-tree %s && "
	   "e=$(git hash-object -w /dev/null) && seq 1 65537 | sed \"s|.*|100644 $e\trequests/builder1/x&.json|\" | "
	   "git update-index --index-info && t=$(git write-tree) && "
	   "GNUPGHOME=%s git -c user.signingkey=%s commit-tree -S -p %s -m big $t >%s/rev && "
	   "git push -q -f origin $(cat %s/rev):refs/heads/main",
	   wt, good_tip, tmpdir, good_tip, home, fpr_node, good_tip, tmpdir, tmpdir);
	f = fopen(path, "r");
	CHECK(f && fgets(c, sizeof(c), f));
	if (f)
		fclose(f);
	expect("65537 files in one commit", c, RB_E_PERM, "more than 65536 files");
	/* ref-level rules name no commit */
	CHECK_ERR(guard_check_update(guard, local, good_tip, ZERO, "refs/heads/main"), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "deletes refs/heads/main"));
	CHECK_ERR(guard_check_update(guard, local, ZERO, good_tip, "refs/tags/v1"), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "not the queue branch"));
	CHECK_ERR(guard_check_update(guard, local, good_tip, "HEAD", "refs/heads/main"), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "malformed"));
	CHECK_ERR(guard_check_update(guard, local, good_tip, "1111111111111111111111111111111111111111",
				     "refs/heads/main"), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "not a commit"));
	/* an update that changes nothing is fine */
	CHECK_OK(guard_check_update(guard, local, good_tip, good_tip, "refs/heads/main"));
	CHECK_OK(guard_check_history(guard, local, good_tip));
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setup();
	RUN(test_three_areas);
	RUN(test_areas_refused);
	RUN(test_claims);
	RUN(test_signatures_and_caps);
	RUN(test_modes_and_refs);
	queue_free(local);
	guard_free(guard);
	gpgsig_free(keyring);
	gpgsig_free(signer_ctx);
	manifest_free(man);
	sign_config_free(cfg);
	sh("gpgconf --homedir %s --kill all 2>/dev/null || true; gpgconf --homedir %s/guard-gnupg --kill all "
	   "2>/dev/null || true; rm -rf %s", home, tmpdir, tmpdir);
	TEST_MAIN_END();
}
