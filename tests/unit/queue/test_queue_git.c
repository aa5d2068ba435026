/* The queue's git operations and commit signatures, on temporary
 * repositories with real git and real gpg keys:
 * - queue_init_bare: branch, receive.* settings, the hook;
 * - publish, read, list, walk, changes, signatures;
 * - files are never replaced; bad paths refused;
 * - a concurrent writer forces a non-fast-forward, and publish rebuilds
 *   on the new tip (or gives up after the retry limit);
 * - gpgsig: good, tampered, unknown-key, subkey->primary, revoked. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "util/fileio.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-qgit-XXXXXX";
static char home_signer[256], home_other[256], remote[256];
static char fpr_node[41], fpr_sub_primary[41], fpr_sub[41];

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

/* The fingerprint gpg printed into file (one line). */
static void read_line(const char *path, char out[41])
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(out, 41, f) || strlen(out) != 40) {
		fprintf(stderr, "cannot read a fingerprint from %s\n", path);
		exit(1);
	}
	fclose(f);
}

static void keys_make(void)
{
	char path[512];

	snprintf(home_signer, sizeof(home_signer), "%s/gnupg-signer", tmpdir);
	snprintf(home_other, sizeof(home_other), "%s/gnupg-other", tmpdir);
	sh("mkdir -m 700 %s %s", home_signer, home_other);
	sh("gpg --homedir %s --batch --quiet --passphrase '' --quick-gen-key 'node <node@example.org>' ed25519 sign never "
	   "2>/dev/null", home_signer);
	sh("gpg --homedir %s --batch --with-colons --list-keys node@example.org | awk -F: '$1==\"fpr\"{print $10; exit}' "
	   ">%s/fpr-node", home_signer, tmpdir);
	snprintf(path, sizeof(path), "%s/fpr-node", tmpdir);
	read_line(path, fpr_node);
	/* A certify-only primary with a signing subkey: signatures come from
	 * the subkey but must be attributed to the primary. */
	sh("gpg --homedir %s --batch --quiet --passphrase '' --quick-gen-key 'sub <sub@example.org>' ed25519 cert never "
	   "2>/dev/null", home_signer);
	sh("gpg --homedir %s --batch --with-colons --list-keys sub@example.org | awk -F: '$1==\"fpr\"{print $10; exit}' "
	   ">%s/fpr-sub-primary", home_signer, tmpdir);
	snprintf(path, sizeof(path), "%s/fpr-sub-primary", tmpdir);
	read_line(path, fpr_sub_primary);
	sh("gpg --homedir %s --batch --quiet --passphrase '' --quick-add-key %s ed25519 sign never 2>/dev/null",
	   home_signer, fpr_sub_primary);
	sh("gpg --homedir %s --batch --with-colons --list-keys sub@example.org | awk -F: '$1==\"fpr\"{n++} "
	   "$1==\"fpr\"&&n==2{print $10; exit}' >%s/fpr-sub", home_signer, tmpdir);
	snprintf(path, sizeof(path), "%s/fpr-sub", tmpdir);
	read_line(path, fpr_sub);
}

/* ---- signing through gpgsig ---------------------------------------------- */

struct signer {
	struct gpgsig *g;
	const char *fpr;
	unsigned calls;
	/* when set, the first call publishes a competing commit there */
	struct queue *racer;
	const char *racer_path;
};

static int sign_cb(void *ctx, const uint8_t *data, size_t len, char **ret)
{
	struct signer *s = ctx;

	s->calls++;
	if (s->racer && s->calls == 1) {
		struct signer inner = { s->g, s->fpr, 0, NULL, NULL };
		struct queue_file f = { s->racer_path, (const uint8_t *)"{}\n", 3 };
		char c[QUEUE_OID_HEX + 1];
		int err = queue_publish(s->racer, &f, 1, "racer", "racer", "racer@example.org", sign_cb, &inner, c);

		if (err < 0)
			return err;
	}
	return gpgsig_sign_detached(s->g, s->fpr, data, len, ret, NULL);
}

static void test_init_bare(void)
{
	char path[512], cfg[512], hook[600], bin[512];
	_cleanup_free_ uint8_t *text = NULL;
	struct stat st;
	size_t len;

	snprintf(path, sizeof(path), "%s/hooked.git", tmpdir);
	snprintf(cfg, sizeof(cfg), "%s/sign.conf", tmpdir);
	snprintf(bin, sizeof(bin), "%s/rombsr", tmpdir);
	CHECK_OK(rb_file_write_atomic(cfg, "x", 1, 0644));
	CHECK_OK(rb_file_write_atomic(bin, "x", 1, 0755));
	CHECK_OK(queue_init_bare(path, "signing", cfg, bin));
	snprintf(hook, sizeof(hook), "%s/hooks/pre-receive", path);
	CHECK(stat(hook, &st) == 0 && (st.st_mode & 0777) == 0755);
	CHECK_OK(rb_file_read(hook, 4096, &text, &len));
	CHECK(text && strstr((char *)text, "queue-guard --config") && strstr((char *)text, cfg) &&
	      strstr((char *)text, bin));
	sh("test \"$(git --git-dir=%s symbolic-ref HEAD)\" = refs/heads/signing", path);
	sh("test \"$(git --git-dir=%s config receive.denyNonFastForwards)\" = true", path);
	sh("test \"$(git --git-dir=%s config receive.denyDeletes)\" = true", path);
	sh("test \"$(git --git-dir=%s config --bool core.bare)\" = true", path);
	/* never over an existing repository */
	CHECK_ERR(queue_init_bare(path, "signing", NULL, NULL), RB_E_EXISTS);
	CHECK_ERR(queue_init_bare(tmpdir, "main", NULL, NULL), RB_E_EXISTS);
	CHECK_ERR(queue_init_bare("/tmp/x-never", "bad..branch", NULL, NULL), RB_E_INVAL);
	snprintf(path, sizeof(path), "%s/quote'd.conf", tmpdir);
	CHECK_OK(rb_file_write_atomic(path, "x", 1, 0644));
	snprintf(hook, sizeof(hook), "%s/quoted.git", tmpdir);
	CHECK_ERR(queue_init_bare(hook, "main", path, bin), RB_E_INVAL);
	CHECK(!queue_branch_valid("-x") && !queue_branch_valid("a b") && !queue_branch_valid("x.lock") &&
	      queue_branch_valid("release/v1"));
}

struct list_state {
	char names[8][64];
	unsigned n;
};

static int list_cb(void *ctx, const char *name, bool is_dir)
{
	struct list_state *s = ctx;

	if (s->n < 8)
		snprintf(s->names[s->n++], 64, "%s%s", name, is_dir ? "/" : "");
	return 0;
}

struct walk_state {
	char ids[16][QUEUE_OID_HEX + 1];
	unsigned n;
};

static int walk_cb(void *ctx, const char *commit)
{
	struct walk_state *s = ctx;

	if (s->n < 16)
		memcpy(s->ids[s->n++], commit, QUEUE_OID_HEX + 1);
	return 0;
}

struct change_state {
	enum queue_change_kind kind[8];
	char path[8][128];
	size_t size[8];
	bool has_data[8];
	unsigned n;
};

static int change_cb(void *ctx, const struct queue_change *c)
{
	struct change_state *s = ctx;

	if (s->n < 8) {
		s->kind[s->n] = c->kind;
		snprintf(s->path[s->n], 128, "%s", c->path);
		s->size[s->n] = (size_t)c->size;
		s->has_data[s->n] = c->data != NULL;
		s->n++;
	}
	return 0;
}

static void test_publish_read(void)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL, *verifier = NULL;
	_cleanup_queue_ struct queue *a = NULL;
	_cleanup_free_ uint8_t *data = NULL, *sig = NULL, *signed_data = NULL;
	struct signer s = { NULL, fpr_node, 0, NULL, NULL };
	struct queue_file f1[2] = {
		{ "requests/builder1/b1.json", (const uint8_t *)"{\"a\":1}\n", 8 },
		{ "requests/builder1/b1.extra", (const uint8_t *)"", 0 },
	};
	struct queue_file f2 = { "requests/builder1/b2.json", (const uint8_t *)"{\"b\":2}\n", 8 };
	char dir[512], c1[QUEUE_OID_HEX + 1], c2[QUEUE_OID_HEX + 1], tip[QUEUE_OID_HEX + 1], fpr[41];
	struct list_state ls = { 0 };
	struct walk_state ws = { 0 };
	struct change_state cs = { 0 };
	struct queue_commit_info info;
	size_t len, siglen, slen;

	snprintf(remote, sizeof(remote), "%s/queue.git", tmpdir);
	snprintf(dir, sizeof(dir), "%s/mirror-a", tmpdir);
	CHECK_OK(queue_init_bare(remote, "main", NULL, NULL));
	CHECK_OK(gpgsig_open(home_signer, &g));
	s.g = g;
	CHECK_OK(queue_open(remote, dir, "main", &a));
	if (!a || !g)
		return;
	CHECK_OK(queue_tip(a, tip));
	CHECK(tip[0] == '\0'); /* empty remote: no tip */
	CHECK_OK(queue_publish(a, f1, 2, "build b1", "builder1", "builder1@example.org", sign_cb, &s, c1));
	CHECK_OK(queue_publish(a, &f2, 1, "build b2", "builder1", "builder1@example.org", sign_cb, &s, c2));
	/* the remote, read by git itself, has the two commits, signed */
	sh("test \"$(git --git-dir=%s rev-parse refs/heads/main)\" = %s", remote, c2);
	sh("test \"$(git --git-dir=%s rev-parse %s^)\" = %s", remote, c2, c1);
	sh("git --git-dir=%s cat-file commit %s | grep -q '^gpgsig -----BEGIN PGP SIGNATURE-----'", remote, c2);
	CHECK_OK(queue_fetch(a, tip));
	CHECK(strcmp(tip, c2) == 0);
	CHECK_OK(queue_commit_info(a, c1, &info));
	CHECK(info.n_parents == 0 && info.parent[0] == '\0');
	CHECK_OK(queue_commit_info(a, c2, &info));
	CHECK(info.n_parents == 1 && strcmp(info.parent, c1) == 0);
	/* read */
	CHECK_OK(queue_read_file(a, c2, "requests/builder1/b1.json", 1024, &data, &len));
	CHECK(len == 8 && memcmp(data, "{\"a\":1}\n", 8) == 0);
	free(data);
	data = NULL;
	CHECK_ERR(queue_read_file(a, c1, "requests/builder1/b2.json", 1024, &data, &len), RB_E_NOTFOUND);
	CHECK_ERR(queue_read_file(a, c2, "requests/builder1", 1024, &data, &len), RB_E_NOTFOUND);
	CHECK_ERR(queue_read_file(a, c2, "requests/builder1/b1.json", 7, &data, &len), RB_E_TOOBIG);
	CHECK_ERR(queue_read_file(a, "HEAD", "requests/builder1/b1.json", 1024, &data, &len), RB_E_INVAL);
	CHECK_ERR(queue_read_file(a, "0123456789012345678901234567890123456789", "x", 1024, &data, &len),
		  RB_E_NOTFOUND);
	CHECK(data == NULL);
	/* list */
	CHECK_OK(queue_list_dir(a, c2, "requests/builder1", list_cb, &ls));
	CHECK(ls.n == 3 && strcmp(ls.names[0], "b1.extra") == 0 && strcmp(ls.names[2], "b2.json") == 0);
	ls.n = 0;
	CHECK_OK(queue_list_dir(a, c2, "", list_cb, &ls));
	CHECK(ls.n == 1 && strcmp(ls.names[0], "requests/") == 0);
	CHECK_ERR(queue_list_dir(a, c2, "responses", list_cb, &ls), RB_E_NOTFOUND);
	/* walk */
	CHECK_OK(queue_walk(a, NULL, c2, walk_cb, &ws));
	CHECK(ws.n == 2 && strcmp(ws.ids[0], c1) == 0 && strcmp(ws.ids[1], c2) == 0);
	ws.n = 0;
	CHECK_OK(queue_walk(a, c1, c2, walk_cb, &ws));
	CHECK(ws.n == 1 && strcmp(ws.ids[0], c2) == 0);
	ws.n = 0;
	CHECK_OK(queue_walk(a, c2, c2, walk_cb, &ws));
	CHECK(ws.n == 0);
	CHECK_ERR(queue_walk(a, c2, c1, walk_cb, &ws), RB_E_STATE);
	/* changes: the root commit against the empty tree */
	CHECK_OK(queue_commit_changes(a, c1, 4, change_cb, &cs));
	CHECK(cs.n == 2 && cs.kind[0] == QUEUE_CHANGE_ADDED && cs.kind[1] == QUEUE_CHANGE_ADDED);
	CHECK(strcmp(cs.path[1], "requests/builder1/b1.json") == 0 && cs.size[1] == 8 && !cs.has_data[1]);
	CHECK(cs.has_data[0]); /* the empty file is under the cap */
	cs.n = 0;
	CHECK_OK(queue_commit_changes(a, c2, 1024, change_cb, &cs));
	CHECK(cs.n == 1 && cs.kind[0] == QUEUE_CHANGE_ADDED && cs.has_data[0] &&
	      strcmp(cs.path[0], "requests/builder1/b2.json") == 0);
	/* the signature, verified by gpgme in a keyring holding only the
	 * public certificate */
	CHECK_OK(queue_commit_signature(a, c2, &sig, &siglen, &signed_data, &slen));
	sh("gpg --homedir %s --export %s | gpg --homedir %s --batch --quiet --import 2>/dev/null", home_signer,
	   fpr_node, home_other);
	CHECK_OK(gpgsig_open(home_other, &verifier));
	if (verifier && sig) {
		CHECK_OK(gpgsig_verify_detached(verifier, sig, siglen, signed_data, slen, fpr));
		CHECK(strcmp(fpr, fpr_node) == 0);
		signed_data[slen - 2] ^= 1;
		CHECK_ERR(gpgsig_verify_detached(verifier, sig, siglen, signed_data, slen, fpr), RB_E_VERIFY);
	}
}

static void test_never_replace(void)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL;
	_cleanup_queue_ struct queue *a = NULL;
	struct signer s = { NULL, fpr_node, 0, NULL, NULL };
	char dir[512], c[QUEUE_OID_HEX + 1], tip[QUEUE_OID_HEX + 1], before[QUEUE_OID_HEX + 1];
	struct queue_file same = { "requests/builder1/b1.json", (const uint8_t *)"other\n", 6 };
	struct queue_file under_file = { "requests/builder1/b1.json/x", (const uint8_t *)"x", 1 };
	struct queue_file over_dir = { "requests/builder1", (const uint8_t *)"x", 1 };
	struct queue_file bad[] = {
		{ "../escape", (const uint8_t *)"x", 1 }, { "/abs", (const uint8_t *)"x", 1 },
		{ "a//b", (const uint8_t *)"x", 1 },      { "a/./b", (const uint8_t *)"x", 1 },
		{ "a/b/", (const uint8_t *)"x", 1 },      { "sp ace", (const uint8_t *)"x", 1 },
	};
	struct queue_file dup[2] = { { "x/a", (const uint8_t *)"1", 1 }, { "x/a", (const uint8_t *)"2", 1 } };

	snprintf(dir, sizeof(dir), "%s/mirror-b", tmpdir);
	CHECK_OK(gpgsig_open(home_signer, &g));
	s.g = g;
	CHECK_OK(queue_open(remote, dir, "main", &a));
	if (!a)
		return;
	CHECK_OK(queue_fetch(a, before));
	CHECK_ERR(queue_publish(a, &same, 1, "m", "n", "e@x", sign_cb, &s, c), RB_E_EXISTS);
	CHECK(strstr(rb_err_detail(), "never replaced"));
	CHECK_ERR(queue_publish(a, &under_file, 1, "m", "n", "e@x", sign_cb, &s, c), RB_E_EXISTS);
	CHECK_ERR(queue_publish(a, &over_dir, 1, "m", "n", "e@x", sign_cb, &s, c), RB_E_EXISTS);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		CHECK_ERR(queue_publish(a, &bad[i], 1, "m", "n", "e@x", sign_cb, &s, c), RB_E_INVAL);
	CHECK_ERR(queue_publish(a, dup, 2, "m", "n", "e@x", sign_cb, &s, c), RB_E_INVAL);
	CHECK_ERR(queue_publish(a, dup, 0, "m", "n", "e@x", sign_cb, &s, c), RB_E_INVAL);
	CHECK(s.calls == 0); /* nothing was even signed */
	CHECK_OK(queue_fetch(a, tip));
	CHECK(strcmp(tip, before) == 0);
	/* a mirror directory bound to another remote is refused */
	queue_free(TAKE_PTR(a));
	CHECK_ERR(queue_open("/tmp/some/other.git", dir, "main", &a), RB_E_STATE);
}

static void test_race(void)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL;
	_cleanup_queue_ struct queue *a = NULL, *b = NULL;
	struct signer s = { NULL, fpr_node, 0, NULL, NULL };
	struct queue_file f = { "requests/builder2/b1.json", (const uint8_t *)"{}\n", 3 };
	struct queue_file f2 = { "requests/builder2/b2.json", (const uint8_t *)"{}\n", 3 };
	char da[512], db[512], cb[QUEUE_OID_HEX + 1], tip[QUEUE_OID_HEX + 1];
	struct queue_commit_info info;
	struct walk_state ws = { 0 };

	snprintf(da, sizeof(da), "%s/race-a", tmpdir);
	snprintf(db, sizeof(db), "%s/race-b", tmpdir);
	CHECK_OK(gpgsig_open(home_signer, &g));
	CHECK_OK(queue_open(remote, da, "main", &a));
	CHECK_OK(queue_open(remote, db, "main", &b));
	if (!a || !b)
		return;
	/* While b signs, a publishes: b's first push is not a fast-forward
	 * and b must rebuild on a's commit. */
	s.g = g;
	s.racer = a;
	s.racer_path = "requests/builder1/racer.json";
	CHECK_OK(queue_publish(b, &f, 1, "build b1", "builder2", "b2@example.org", sign_cb, &s, cb));
	CHECK(s.calls == 2);
	CHECK_OK(queue_tip(a, tip));
	CHECK_OK(queue_commit_info(b, cb, &info));
	CHECK(strcmp(info.parent, tip) == 0); /* built on the racer's commit */
	sh("test \"$(git --git-dir=%s rev-parse refs/heads/main)\" = %s", remote, cb);
	sh("git --git-dir=%s cat-file -e %s:requests/builder1/racer.json", remote, cb);
	CHECK_OK(queue_walk(b, NULL, cb, walk_cb, &ws));
	CHECK(ws.n == 4);
	/* with no time to retry the same race is a temporary failure, and
	 * nothing of b's lands */
	CHECK_OK(queue_set_publish_deadline(b, 0));
	s.calls = 0;
	s.racer_path = "requests/builder1/racer2.json";
	CHECK_ERR(queue_publish(b, &f2, 1, "build b2", "builder2", "b2@example.org", sign_cb, &s, cb), RB_E_AGAIN);
	CHECK(s.calls == 1);
	sh("! git --git-dir=%s cat-file -e refs/heads/main:requests/builder2/b2.json 2>/dev/null", remote);
	CHECK_ERR(queue_set_publish_deadline(b, QUEUE_MAX_PUBLISH_SECONDS + 1), RB_E_INVAL);
}

static void test_changes_kinds(void)
{
	_cleanup_queue_ struct queue *a = NULL;
	char wt[512], dir[512], tip[QUEUE_OID_HEX + 1];
	struct walk_state ws = { 0 };
	_cleanup_free_ uint8_t *sig = NULL, *sd = NULL;
	size_t sl, sdl;

	/* commits made with the git command, unsigned: modify, rename,
	 * delete, symlink */
	snprintf(wt, sizeof(wt), "%s/wt", tmpdir);
	sh("git clone -q %s %s && cd %s && git config user.name t && git config user.email t@x && "
	   "echo changed >requests/builder1/b1.json && git commit -qam modify && "
	   "git mv requests/builder1/b2.json requests/builder1/b3.json && git commit -qm rename && "
	   "git rm -q requests/builder1/b1.extra && git commit -qm delete && "
	   "ln -s /etc/passwd requests/builder1/link.json && git add requests/builder1/link.json && "
	   "git commit -qm link && git push -q origin HEAD:main", remote, wt, wt);
	snprintf(dir, sizeof(dir), "%s/mirror-c", tmpdir);
	CHECK_OK(queue_open(remote, dir, "main", &a));
	if (!a)
		return;
	CHECK_OK(queue_tip(a, tip));
	CHECK_OK(queue_walk(a, NULL, tip, walk_cb, &ws));
	/* 2 + 3 (two races, one lost by b) from the tests above, then 4 */
	CHECK(ws.n == 9);
	if (ws.n != 9)
		return;
	{
		static const enum queue_change_kind want[] = { QUEUE_CHANGE_MODIFIED, QUEUE_CHANGE_RENAMED,
							      QUEUE_CHANGE_DELETED, QUEUE_CHANGE_ADDED };
		static const char *const paths[] = { "requests/builder1/b1.json", "requests/builder1/b3.json",
						     "requests/builder1/b1.extra", "requests/builder1/link.json" };

		for (unsigned i = 0; i < 4; i++) {
			struct change_state cs = { 0 };

			CHECK_OK(queue_commit_changes(a, ws.ids[5 + i], 1024, change_cb, &cs));
			CHECK(cs.n == 1 && cs.kind[0] == want[i] && strcmp(cs.path[0], paths[i]) == 0);
			if (i == 3)
				CHECK(!cs.has_data[0]); /* a symlink is not a file */
		}
	}
	CHECK_ERR(queue_commit_signature(a, ws.ids[5], &sig, &sl, &sd, &sdl), RB_E_NOTFOUND);
	CHECK(strstr(rb_err_detail(), "not signed"));
	CHECK(strcmp(queue_change_kind_name(QUEUE_CHANGE_DELETED), "deleted") == 0);
}

/* A network remote (git:// served by git daemon) goes through libgit2's
 * push: a hook's refusal must come back as RB_E_PERM carrying the
 * remote's words, and a concurrent writer must force a rebuild. */
static void test_network_remote(void)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL;
	_cleanup_queue_ struct queue *a = NULL, *b = NULL;
	struct signer s = { NULL, fpr_node, 0, NULL, NULL };
	struct queue_file f = { "requests/net/n1.json", (const uint8_t *)"{}\n", 3 };
	struct queue_file bad = { "refuse-me/x.json", (const uint8_t *)"{}\n", 3 };
	struct queue_file f2 = { "requests/net/n2.json", (const uint8_t *)"{}\n", 3 };
	char base[400], url[512], da[512], db[512], c[QUEUE_OID_HEX + 1], tip[QUEUE_OID_HEX + 1], pidfile[512];
	struct queue_commit_info info;
	int port = 20000 + (int)(getpid() % 20000), up = 0;

	snprintf(base, sizeof(base), "%s/daemon", tmpdir);
	snprintf(pidfile, sizeof(pidfile), "%s/daemon.pid", tmpdir);
	sh("mkdir -p %s", base);
	snprintf(url, sizeof(url), "%s/net.git", base);
	CHECK_OK(queue_init_bare(url, "main", NULL, NULL));
	/* a stand-in guard: refuses any push that touches refuse-me/ */
	sh("printf '#!/bin/sh\\nwhile read old new ref; do\\n  if git diff --name-only $old $new 2>/dev/null | grep -q "
	   "^refuse-me/; then echo \"test guard: refuse-me is off limits\" >&2; exit 1; fi\\ndone\\n' "
	   ">%s/hooks/pre-receive && chmod 755 %s/hooks/pre-receive", url, url);
	sh("git daemon --detach --pid-file=%s --reuseaddr --listen=127.0.0.1 --port=%d --base-path=%s --export-all "
	   "--enable=receive-pack %s", pidfile, port, base, base);
	for (int i = 0; i < 50 && !up; i++) {
		char probe[600];

		snprintf(probe, sizeof(probe), "git ls-remote git://127.0.0.1:%d/net.git >/dev/null 2>&1", port);
		up = system(probe) == 0;
		if (!up)
			usleep(100000);
	}
	CHECK(up);
	if (!up)
		goto out;
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/net.git", port);
	snprintf(da, sizeof(da), "%s/net-a", tmpdir);
	snprintf(db, sizeof(db), "%s/net-b", tmpdir);
	CHECK_OK(gpgsig_open(home_signer, &g));
	s.g = g;
	CHECK_OK(queue_open(url, da, "main", &a));
	CHECK_OK(queue_open(url, db, "main", &b));
	if (!a || !b)
		goto out;
	CHECK_OK(queue_publish(a, &f, 1, "net 1", "n", "n@example.org", sign_cb, &s, c));
	CHECK_OK(queue_fetch(b, tip));
	CHECK(strcmp(tip, c) == 0);
	/* the hook says no: RB_E_PERM with its reason */
	CHECK_ERR(queue_publish(a, &bad, 1, "bad", "n", "n@example.org", sign_cb, &s, tip), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "refuse-me is off limits"));
	CHECK_OK(queue_fetch(a, tip));
	CHECK(strcmp(tip, c) == 0);
	/* a race over the network: b rebuilds on a's commit */
	s.calls = 0;
	s.racer = a;
	s.racer_path = "requests/net/racer.json";
	CHECK_OK(queue_publish(b, &f2, 1, "net 2", "n", "n@example.org", sign_cb, &s, c));
	CHECK(s.calls == 2);
	CHECK_OK(queue_tip(a, tip));
	CHECK_OK(queue_commit_info(b, c, &info));
	CHECK(strcmp(info.parent, tip) == 0);
out:
	sh("kill $(cat %s) 2>/dev/null || true", pidfile);
}

static int sign_raw(struct gpgsig *g, const char *fpr, const char *msg, char **ret)
{
	return gpgsig_sign_detached(g, fpr, (const uint8_t *)msg, strlen(msg), ret, NULL);
}

static void test_gpgsig(void)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL, *empty = NULL, *pub = NULL;
	_cleanup_free_ char *sig = NULL, *sub_sig = NULL;
	char home_empty[512], home_pub[512], fpr[41];
	const char *msg = "tree 0\n\nmessage\n";

	snprintf(home_empty, sizeof(home_empty), "%s/gnupg-empty", tmpdir);
	snprintf(home_pub, sizeof(home_pub), "%s/gnupg-pub", tmpdir);
	sh("mkdir -m 700 %s %s", home_empty, home_pub);
	CHECK_OK(gpgsig_open(home_signer, &g));
	CHECK_OK(gpgsig_open(home_empty, &empty));
	CHECK_OK(gpgsig_open(home_pub, &pub));
	if (!g || !empty || !pub)
		return;
	CHECK_OK(sign_raw(g, fpr_node, msg, &sig));
	CHECK(sig && strncmp(sig, "-----BEGIN PGP SIGNATURE-----", 29) == 0);
	/* unknown key: a distinct error naming the key */
	CHECK_ERR(gpgsig_verify_detached(empty, (uint8_t *)sig, strlen(sig), (const uint8_t *)msg, strlen(msg), fpr),
		  RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "signed by unknown key"));
	/* not a signature */
	CHECK_ERR(gpgsig_verify_detached(g, (const uint8_t *)"hello", 5, (const uint8_t *)msg, strlen(msg), fpr),
		  RB_E_PARSE);
	/* two signatures in one block are refused */
	{
		_cleanup_free_ char *two = NULL;

		sh("printf 'tree 0\\n\\nmessage\\n' >%s/msg && gpg --homedir %s --batch --quiet -u %s -u %s "
		   "--detach-sign --armor -o %s/two.asc %s/msg", tmpdir, home_signer, fpr_node, fpr_sub_primary,
		   tmpdir, tmpdir);
		{
			char p[512];
			size_t n;

			snprintf(p, sizeof(p), "%s/two.asc", tmpdir);
			CHECK_OK(rb_file_read(p, 65536, (uint8_t **)&two, &n));
			if (two)
				CHECK_ERR(gpgsig_verify_detached(g, (uint8_t *)two, n, (const uint8_t *)msg,
								 strlen(msg), fpr), RB_E_VERIFY);
		}
	}
	/* a signing subkey maps to its primary */
	CHECK_OK(sign_raw(g, fpr_sub_primary, msg, &sub_sig));
	if (sub_sig) {
		CHECK_OK(gpgsig_verify_detached(g, (uint8_t *)sub_sig, strlen(sub_sig), (const uint8_t *)msg,
						strlen(msg), fpr));
		CHECK(strcmp(fpr, fpr_sub_primary) == 0 && strcmp(fpr, fpr_sub) != 0);
	}
	/* import: garbage is refused, a public certificate accepted */
	CHECK_ERR(gpgsig_import(pub, (const uint8_t *)"not a key", 9), RB_E_PARSE);
	sh("gpg --homedir %s --export %s >%s/node.pgp", home_signer, fpr_node, tmpdir);
	{
		_cleanup_free_ uint8_t *cert = NULL;
		char p[512];
		size_t n;

		snprintf(p, sizeof(p), "%s/node.pgp", tmpdir);
		CHECK_OK(rb_file_read(p, GPGSIG_MAX_CERT_BYTES, &cert, &n));
		CHECK_OK(gpgsig_import(pub, cert, n));
	}
	CHECK_OK(gpgsig_verify_detached(pub, (uint8_t *)sig, strlen(sig), (const uint8_t *)msg, strlen(msg), fpr));
	/* a revoked key no longer verifies */
	sh("sed 's/^:-----/-----/' %s/openpgp-revocs.d/%s.rev | gpg --homedir %s --batch --quiet --import 2>/dev/null",
	   home_signer, fpr_node, home_pub);
	CHECK_ERR(gpgsig_verify_detached(pub, (uint8_t *)sig, strlen(sig), (const uint8_t *)msg, strlen(msg), fpr),
		  RB_E_VERIFY);
	/* no secret key to sign with */
	{
		_cleanup_free_ char *none = NULL;

		CHECK_ERR(sign_raw(empty, fpr_node, msg, &none), RB_E_KEY);
		CHECK(none == NULL);
	}
}

/* A commit object over QUEUE_MAX_COMMIT_BYTES (a 300 KiB message) and a
 * commit whose signature is over QUEUE_MAX_SIGNATURE_BYTES: sized from
 * the object header and refused before anything parses them, by every
 * reader, a publisher building on such a tip included. */
static void test_commit_bombs(void)
{
	_cleanup_queue_ struct queue *q = NULL;
	struct signer s = { NULL, fpr_node, 0, NULL, NULL };
	struct queue_file f = { "requests/builder1/b.json", (const uint8_t *)"x\n", 2 };
	struct walk_state ws = { 0 };
	char bare[512], dir[512], tip[QUEUE_OID_HEX + 1], c[QUEUE_OID_HEX + 1], sigc[QUEUE_OID_HEX + 1];
	uint8_t *sig = NULL, *data = NULL;
	size_t sl, dl;
	FILE *fp;

	snprintf(bare, sizeof(bare), "%s/bomb.git", tmpdir);
	snprintf(dir, sizeof(dir), "%s/mirror-bomb", tmpdir);
	sh("git init -q --bare %s && t=$(git --git-dir=%s mktree </dev/null) && "
	   "head -c 300000 /dev/zero | tr '\\0' a >%s/msg && "
	   "c=$(git --git-dir=%s -c user.name=x -c user.email=x@x commit-tree -F %s/msg $t) && "
	   "git --git-dir=%s update-ref refs/heads/main $c",
	   bare, bare, tmpdir, bare, tmpdir, bare);
	CHECK_OK(queue_open(bare, dir, "main", &q));
	if (!q)
		return;
	CHECK_OK(queue_fetch(q, tip));
	CHECK(queue_has_commit(q, tip));
	CHECK_ERR(queue_walk(q, NULL, tip, walk_cb, &ws), RB_E_TOOBIG);
	CHECK(strstr(rb_err_detail(), "more than the 262144"));
	CHECK(ws.n == 0);
	CHECK_ERR(queue_commit_signature(q, tip, &sig, &sl, &data, &dl), RB_E_TOOBIG);
	CHECK_ERR(queue_publish(q, &f, 1, "m", "n", "e@x", sign_cb, &s, c), RB_E_TOOBIG);
	CHECK(s.calls == 0);

	/* 20 KiB of "signature" in a commit of normal size */
	snprintf(dir, sizeof(dir), "%s/sigbomb", tmpdir);
	CHECK((fp = fopen(dir, "w")) != NULL);
	if (!fp)
		return;
	fprintf(fp, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor x <x@x> 0 +0000\n"
		    "committer x <x@x> 0 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n");
	for (int i = 0; i < 400; i++)
		fprintf(fp, " %s\n", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	fprintf(fp, " -----END PGP SIGNATURE-----\n\nm\n");
	fclose(fp);
	sh("git --git-dir=%s hash-object -t commit -w --literally %s >%s.id", queue_path(q), dir, dir);
	{
		_cleanup_free_ uint8_t *id = NULL;
		size_t idl;

		CHECK_OK(rb_file_read(strcat(dir, ".id"), 64, &id, &idl));
		if (!id || idl < QUEUE_OID_HEX)
			return;
		memcpy(sigc, id, QUEUE_OID_HEX);
		sigc[QUEUE_OID_HEX] = '\0';
	}
	CHECK_ERR(queue_commit_signature(q, sigc, &sig, &sl, &data, &dl), RB_E_TOOBIG);
	CHECK(strstr(rb_err_detail(), "not handed to gpg"));
	free(sig);
	free(data);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	keys_make();
	RUN(test_init_bare);
	RUN(test_publish_read);
	RUN(test_never_replace);
	RUN(test_race);
	RUN(test_commit_bombs);
	RUN(test_changes_kinds);
	RUN(test_gpgsig);
	RUN(test_network_remote);
	sh("gpgconf --homedir %s --kill all 2>/dev/null || true; gpgconf --homedir %s --kill all 2>/dev/null || true; "
	   "rm -rf %s", home_signer, home_other, tmpdir);
	TEST_MAIN_END();
}
