/* Unit tests for the audit log store (audit/log.h) and the directory
 * verifier: layout on disk (the C2SP 70,000-entry example), reopen and
 * recovery from a torn tail, the request index, proofs against signed
 * checkpoints, and tampering - each edit, truncation, fork, foreign key
 * and shorter log is caught with the entry index named. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditor/crosscheck.h"
#include "audit/entry.h"
#include "audit/log.h"
#include "audit/tile.h"
#include "harness.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

#define ORIGIN "rombsr.test/audit"

static char tmpl[] = "/tmp/rombsr-audit-test-XXXXXX";
static const char *root_dir;
static struct rb_signer key, other_key;
static struct note_verifier *ver;

static char *sub(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", root_dir, name) < 0)
		abort();
	return p;
}

static char *at(const char *dir, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		abort();
	return p;
}

static int exists(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = at(dir, rel);
	struct stat st;

	return stat(p, &st) == 0;
}

static struct json_value *sign_entry(uint64_t i, const char *tag)
{
	uint8_t fpr[32], digest[32], sig[64];
	char rid[64], build[64];
	const char *approvals[] = { "alice@example.org", "bob@example.org" };
	struct audit_sign_info in = { 0 };
	struct json_value *e = NULL;

	memset(fpr, 0xab, sizeof(fpr));
	memset(digest, (int)(i & 0xff), sizeof(digest));
	memset(sig, 0x5a, sizeof(sig));
	snprintf(rid, sizeof(rid), "%016" PRIx64 "%s", i, tag);
	snprintf(build, sizeof(build), "build-%" PRIu64, i / 10);
	in.time = 1795000000 + (int64_t)i;
	in.request_id = rid;
	in.build_id = build;
	in.node_fpr = fpr;
	in.key_name = i % 2 ? "platform" : "ota_key";
	in.key_fpr = fpr;
	in.scheme = RB_SIG_RSA_PKCS1_SHA256;
	in.artifact_name = "system.img";
	in.artifact_sha256 = fpr;
	in.digest = digest;
	in.digest_len = 32;
	in.sig = sig;
	in.sig_len = 64;
	in.approvals = approvals;
	in.n_approvals = 2;
	if (audit_entry_sign(&in, &e) < 0) {
		fprintf(stderr, "audit_entry_sign: %s\n", rb_err_detail());
		abort();
	}
	return e;
}

/* n sign entries appended in batches of batch, one checkpoint per batch. */
static void fill(struct audit_log *log, uint64_t from, uint64_t n, size_t batch, const char *tag)
{
	struct json_value **es = calloc(batch, sizeof(*es));

	for (uint64_t i = from; i < from + n;) {
		size_t k = 0;
		uint64_t first;

		while (k < batch && i < from + n)
			es[k++] = sign_entry(i++, tag);
		CHECK_OK(audit_log_append_batch(log, (const struct json_value *const *)es, k, &first));
		CHECK(first == i - k);
		for (size_t j = 0; j < k; j++)
			json_free(es[j]);
		CHECK_OK(audit_log_checkpoint(log, &key, NULL));
	}
	free(es);
}

static void build_log(const char *dir, uint64_t n, const char *tag)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;

	CHECK_OK(audit_log_create(dir, ORIGIN, &log));
	if (log)
		fill(log, 0, n, 7, tag);
}

/* A log of another origin is refused (with nobody else holding it). */
static void test_origin(void)
{
	_cleanup_free_ char *dir = sub("origin");
	struct audit_log *log = NULL;

	build_log(dir, 3, "");
	CHECK_ERR(audit_log_open(dir, "other.origin", &log), RB_E_STATE);
	CHECK(log == NULL && strstr(rb_err_detail(), "origin"));
	CHECK_OK(audit_log_open(dir, ORIGIN, &log));
	audit_log_close(log);
}

/* A log is made only on purpose: open never creates one, create never
 * replaces one. */
static void test_create(void)
{
	_cleanup_free_ char *dir = sub("create"), *empty = sub("empty"), *cp = NULL;
	struct audit_log *log = NULL;
	struct stat st;

	CHECK_ERR(audit_log_open(dir, ORIGIN, &log), RB_E_NOTFOUND);
	CHECK(log == NULL && strstr(rb_err_detail(), "no audit log here") &&
	      strstr(rb_err_detail(), dir));
	CHECK(stat(dir, &st) < 0); /* nothing made */
	CHECK(mkdir(empty, 0700) == 0);
	CHECK_ERR(audit_log_open(empty, ORIGIN, &log), RB_E_NOTFOUND);
	CHECK(log == NULL);
	CHECK_OK(audit_log_create(dir, ORIGIN, &log));
	CHECK(log && audit_log_size(log) == 0 && exists(dir, "tile/entries"));
	audit_log_close(log);
	log = NULL;
	CHECK_ERR(audit_log_create(dir, ORIGIN, &log), RB_E_EXISTS);
	CHECK(log == NULL && strstr(rb_err_detail(), dir));
	CHECK_OK(audit_log_open(dir, ORIGIN, &log));
	audit_log_close(log);
	log = NULL;
	/* A directory with only a checkpoint is a log that lost its tiles. */
	cp = at(empty, "checkpoint");
	CHECK_OK(rb_file_write_atomic(cp, "x\n", 2, 0644));
	CHECK_ERR(audit_log_create(empty, ORIGIN, &log), RB_E_EXISTS);
	CHECK(log == NULL);
}

/* The sign node's start check: its log must extend the checkpoint it
 * published (audit_published_check), or the start is RB_E_ROLLBACK. */
static void test_published_check(void)
{
	_cleanup_free_ char *dir = sub("published"), *fork = sub("published-fork");
	_cleanup_(audit_log_closep) struct audit_log *log = NULL, *other = NULL;
	struct audit_published p = { .found = true, .size = 20, .commit = "0123456789ab" };

	CHECK_OK(audit_log_create(dir, ORIGIN, &log));
	fill(log, 0, 20, 20, "");
	CHECK_OK(audit_log_root(log, 20, p.root));
	p.path = strdup("responses/builder1/b.json");
	/* Equal, then grown: consistent. */
	CHECK_OK(audit_published_check(log, dir, &p));
	fill(log, 20, 7, 3, "");
	CHECK_OK(audit_published_check(log, dir, &p));
	/* Missing, shorter, forked: refused, naming dir, sizes and the response. */
	CHECK_ERR(audit_published_check(NULL, dir, &p), RB_E_ROLLBACK);
	CHECK(strstr(rb_err_detail(), dir) && strstr(rb_err_detail(), "missing") &&
	      strstr(rb_err_detail(), "20 entries") && strstr(rb_err_detail(), "responses/builder1/b.json"));
	CHECK_OK(audit_log_create(fork, ORIGIN, &other));
	fill(other, 0, 19, 19, "");
	CHECK_ERR(audit_published_check(other, fork, &p), RB_E_ROLLBACK);
	CHECK(strstr(rb_err_detail(), "has 19 entries") && strstr(rb_err_detail(), "checkpoint of 20"));
	fill(other, 19, 1, 1, "ff"); /* entry 19 differs */
	fill(other, 20, 10, 10, "");
	CHECK_ERR(audit_published_check(other, fork, &p), RB_E_ROLLBACK);
	CHECK(strstr(rb_err_detail(), "does not extend") && strstr(rb_err_detail(), "first 20 entries differ"));
	/* Nothing published: any log will do, even none. */
	audit_published_clear(&p);
	CHECK(!p.found && !p.path);
	CHECK_OK(audit_published_check(NULL, dir, &p));
	CHECK_OK(audit_published_check(other, fork, &p));
}

/* --- layout -------------------------------------------------------------- */

static void test_layout_70000(void)
{
	_cleanup_free_ char *dir = sub("big");
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	struct json_value *es[1000];
	uint64_t first;

	CHECK_OK(audit_log_create(dir, ORIGIN, &log));
	for (uint64_t i = 0; i < 70000; i += 1000) {
		for (int k = 0; k < 1000; k++)
			es[k] = sign_entry(i + (uint64_t)k, "");
		CHECK_OK(audit_log_append_batch(log, (const struct json_value *const *)es, 1000, &first));
		for (int k = 0; k < 1000; k++)
			json_free(es[k]);
		/* A checkpoint every 10,000: partials of older checkpoints go. */
		if ((i + 1000) % 10000 == 0)
			CHECK_OK(audit_log_checkpoint(log, &key, NULL));
	}
	CHECK(audit_log_size(log) == 70000);
	/* C2SP tlog-tiles, size 70,000: 273 full level-0 tiles and 273.p/112,
	 * level 1: 000 and 001.p/17, level 2: 000.p/1. */
	CHECK(exists(dir, "tile/0/272") && exists(dir, "tile/0/273.p/112"));
	CHECK(exists(dir, "tile/1/000") && exists(dir, "tile/1/001.p/17"));
	CHECK(exists(dir, "tile/2/000.p/1") && !exists(dir, "tile/3"));
	CHECK(exists(dir, "tile/entries/272") && exists(dir, "tile/entries/273.p/112"));
	CHECK(!exists(dir, "tile/entries/274"));
	/* Superseded partials are gone: 60,000 = 234*256 + 96. */
	CHECK(!exists(dir, "tile/0/234.p/96") && !exists(dir, "tile/entries/234.p"));
	CHECK(exists(dir, "checkpoint"));
	{
		struct audit_verify_result r;

		CHECK_OK(audit_dir_verify(dir, ver, NULL, &r));
		CHECK(r.size == 70000);
	}
	/* Inclusion proofs at this size verify against the checkpoint root. */
	{
		uint8_t root[32], leaf[32];
		struct merkle_proof p;

		CHECK_OK(audit_log_root(log, 70000, root));
		for (uint64_t i = 0; i < 70000; i += 6999) {
			CHECK_OK(audit_log_inclusion_proof(log, i, 70000, &p));
			CHECK_OK(audit_log_leaf_hash(log, i, leaf));
			CHECK_OK(merkle_inclusion_verify(i, 70000, leaf, 32, &p, root, 32));
		}
	}
}

/* --- append, reopen, find ------------------------------------------------ */

static void test_append_reopen_find(void)
{
	_cleanup_free_ char *dir = sub("small");
	uint8_t root1[32], root2[32];
	uint64_t idx;

	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		_cleanup_json_ struct json_value *rej = NULL, *pol = NULL, *login = NULL;
		struct audit_reject_info ri = { 1795000000, "ffee", "b1", NULL, NULL, NULL,
						"approval missing" };
		uint8_t h[32] = { 1 };

		CHECK_OK(audit_log_create(dir, ORIGIN, &log));
		CHECK(audit_log_size(log) == 0);
		fill(log, 0, 300, 50, "");
		CHECK_OK(audit_entry_reject(&ri, &rej));
		CHECK_OK(audit_log_append(log, rej, &idx));
		CHECK(idx == 300);
		CHECK_OK(audit_entry_policy_change(1795000001, "admin", h, &pol));
		CHECK_OK(audit_entry_login_failure(1795000002, "operator", "rombsr",
						   "CKR_PIN_INCORRECT", &login));
		CHECK_OK(audit_log_append(log, pol, &idx));
		CHECK_OK(audit_log_append(log, login, &idx));
		CHECK(idx == 302);
		CHECK_OK(audit_log_root(log, 303, root1));
		/* Not checkpointed yet: durable entries, no checkpoint for them. */
		CHECK(audit_log_checkpoint_size(log) == 300);
	}
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		_cleanup_json_ struct json_value *e = NULL, *dup = NULL;
		const char *rid;
		_cleanup_free_ char *cp = NULL;

		CHECK_OK(audit_log_open(dir, ORIGIN, &log));
		CHECK(audit_log_size(log) == 303);
		CHECK_OK(audit_log_root(log, 303, root2));
		CHECK(memcmp(root1, root2, 32) == 0);
		/* Crash recovery: the sign entry of a request, by id. */
		CHECK_OK(audit_log_find(log, "000000000000012a", &idx, &e));
		CHECK(idx == 0x12a);
		CHECK(e && json_get_string(e, "request_id", &rid) == 0 &&
		      strcmp(rid, "000000000000012a") == 0);
		CHECK_ERR(audit_log_find(log, "ffee", &idx, NULL), RB_E_NOTFOUND); /* a reject */
		CHECK_ERR(audit_log_find(log, "0000000000000fff", &idx, NULL), RB_E_NOTFOUND);
		/* A second sign record for a request is refused: alone, and
		 * twice within one batch. Nothing is appended. */
		dup = sign_entry(7, "");
		CHECK_ERR(audit_log_append(log, dup, &idx), RB_E_EXISTS);
		{
			struct json_value *two[2] = { sign_entry(5000, ""), sign_entry(5000, "") };

			CHECK_ERR(audit_log_append_batch(log, (const struct json_value *const *)two, 2,
							 &idx), RB_E_EXISTS);
			json_free(two[0]);
			json_free(two[1]);
		}
		CHECK(audit_log_size(log) == 303);
		/* A second writer is refused while this one holds the log. */
		{
			struct audit_log *l2 = NULL;

			CHECK_ERR(audit_log_open(dir, ORIGIN, &l2), RB_E_STATE);
			CHECK(l2 == NULL && strstr(rb_err_detail(), "another process"));
			CHECK_OK(audit_log_open_readonly(dir, ORIGIN, &l2));
			audit_log_close(l2);
		}
		CHECK_OK(audit_log_checkpoint(log, &key, &cp));
		CHECK(cp && strncmp(cp, ORIGIN "\n303\n", strlen(ORIGIN) + 5) == 0);
		/* Only the checkpoint's partial bundle remains for tile 1. */
		CHECK(exists(dir, "tile/entries/001.p/47") && !exists(dir, "tile/entries/001.p/44") &&
		      !exists(dir, "tile/entries/001.p/46"));
		/* A checkpoint from a non-Ed25519 key is refused. */
		{
			struct rb_signer p256;
			char *x = NULL;

			CHECK_OK(soft_signer_new("p256", &p256));
			CHECK_ERR(audit_log_checkpoint(log, &p256, &x), RB_E_UNSUPPORTED);
			CHECK(x == NULL);
			soft_signer_free(&p256);
		}
	}
}

/* A bundle written but not whole (a torn tail) beyond the checkpoint is
 * cut on open; a leftover temp file is removed. */
static void test_torn_tail(void)
{
	_cleanup_free_ char *dir = sub("torn");
	_cleanup_free_ char *p10 = NULL, *p12 = NULL, *tmp = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;

	build_log(dir, 10, "");
	p10 = at(dir, "tile/entries/000.p/10");
	p12 = at(dir, "tile/entries/000.p/12");
	tmp = at(dir, "tile/entries/000.p/12.tmp-0011223344556677");
	CHECK_OK(rb_file_read(p10, 1 << 20, &data, &len));
	/* .p/12 claims two more entries but holds one and a half. */
	{
		struct rb_buf b = RB_BUF_INIT;
		_cleanup_json_ struct json_value *e = sign_entry(10, "");
		struct rb_buf one = RB_BUF_INIT;

		CHECK_OK(json_emit(e, JSON_CANONICAL, &one));
		rb_buf_put(&b, data, len);
		rb_buf_put_u16be(&b, (uint16_t)one.len);
		rb_buf_put(&b, one.data, one.len);
		rb_buf_put_u16be(&b, (uint16_t)one.len);
		rb_buf_put(&b, one.data, one.len / 2);
		CHECK_OK(rb_file_write_atomic(p12, b.data, b.len, 0644));
		CHECK_OK(rb_file_write_atomic(tmp, b.data, b.len, 0644));
		rb_buf_free(&b);
		rb_buf_free(&one);
	}
	/* A reader sees the 10 good entries and changes nothing. */
	{
		_cleanup_(audit_log_closep) struct audit_log *ro = NULL;
		_cleanup_json_ struct json_value *e = sign_entry(10, "");
		uint64_t idx;
		char *cp = NULL;

		CHECK_OK(audit_log_open_readonly(dir, ORIGIN, &ro));
		CHECK(ro && audit_log_size(ro) == 10);
		CHECK(exists(dir, "tile/entries/000.p/12") &&
		      exists(dir, "tile/entries/000.p/12.tmp-0011223344556677"));
		CHECK_ERR(audit_log_append(ro, e, &idx), RB_E_STATE);
		CHECK_ERR(audit_log_checkpoint(ro, &key, &cp), RB_E_STATE);
		CHECK(!exists(dir, "tile/entries/000.p/11"));
	}
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		uint64_t idx;

		CHECK_OK(audit_log_open(dir, ORIGIN, &log));
		CHECK(log && audit_log_size(log) == 10);
		CHECK(!exists(dir, "tile/entries/000.p/12"));
		CHECK(!exists(dir, "tile/entries/000.p/12.tmp-0011223344556677"));
		/* The cut entry was never released: it can be signed and logged. */
		CHECK_ERR(audit_log_find(log, "000000000000000a", &idx, NULL), RB_E_NOTFOUND);
		fill(log, 10, 2, 2, "");
		CHECK(audit_log_size(log) == 12);
	}
	/* The same damage inside what the checkpoint covers is not cut: open
	 * refuses the log. */
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		_cleanup_free_ char *p = at(dir, "tile/entries/000.p/12");
		_cleanup_free_ uint8_t *d = NULL;

		CHECK_OK(rb_file_read(p, 1 << 20, &d, &len));
		CHECK_OK(rb_file_write_atomic(p, d, len - 3, 0644));
		CHECK_ERR(audit_log_open(dir, ORIGIN, &log), RB_E_VERIFY);
		CHECK(log == NULL);
	}
}

/* An I/O error during an append: the call fails, the log refuses further
 * use until it is reopened, and the reopened log holds what was durable. */
static void test_io_error(void)
{
	_cleanup_free_ char *dir = sub("ioerr"), *blocker = NULL;
	_cleanup_json_ struct json_value *e = sign_entry(300, "");
	uint64_t idx;

	build_log(dir, 256, ""); /* bundle 000 full; the next goes to 001.p/ */
	blocker = at(dir, "tile/entries/001.p");
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		char *cp = NULL;

		CHECK_OK(audit_log_open(dir, ORIGIN, &log));
		/* A file where the next bundle's directory goes. */
		CHECK_OK(rb_file_write_atomic(blocker, "x", 1, 0644));
		CHECK_ERR(audit_log_append(log, e, &idx), RB_E_IO);
		CHECK_ERR(audit_log_append(log, e, &idx), RB_E_STATE);
		CHECK_ERR(audit_log_checkpoint(log, &key, &cp), RB_E_STATE);
		CHECK(cp == NULL && audit_log_size(log) == 256);
	}
	CHECK(unlink(blocker) == 0);
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;

		CHECK_OK(audit_log_open(dir, ORIGIN, &log));
		CHECK(log && audit_log_size(log) == 256);
		CHECK_ERR(audit_log_find(log, "000000000000012c", &idx, NULL), RB_E_NOTFOUND);
		CHECK_OK(audit_log_append(log, e, &idx));
		CHECK(idx == 256);
	}
}

/* --- tampering ----------------------------------------------------------- */

static void copy_tree(const char *from, const char *to)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
	CHECK(system(cmd) == 0);
}

static void flip(const char *dir, const char *rel, long off, uint8_t from, uint8_t to)
{
	_cleanup_free_ char *p = at(dir, rel);
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;

	CHECK_OK(rb_file_read(p, 1 << 24, &d, &len));
	if (off < 0)
		off += (long)len;
	CHECK(d && (size_t)off < len && (from == 0 || d[off] == from));
	if (d && (size_t)off < len) {
		d[off] = to ? to : (uint8_t)(d[off] ^ 1);
		CHECK_OK(rb_file_write_atomic(p, d, len, 0644));
	}
}

/* Offset of the n-th occurrence of needle in a file. */
static long find_in(const char *dir, const char *rel, const char *needle, int nth)
{
	_cleanup_free_ char *p = at(dir, rel);
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;
	long off = -1;

	if (rb_file_read(p, 1 << 24, &d, &len) < 0)
		return -1;
	for (size_t i = 0; i + strlen(needle) <= len; i++)
		if (memcmp(d + i, needle, strlen(needle)) == 0 && nth-- == 0) {
			off = (long)i;
			break;
		}
	return off;
}

static uint64_t verify_bad(const char *dir, const char *trust, int want_err)
{
	struct audit_verify_result r;
	int err = audit_dir_verify(dir, ver, trust, &r);

	CHECK(err == want_err);
	if (err != want_err)
		fprintf(stderr, "verify %s: %d (%s)\n", dir, err, rb_err_detail());
	return r.bad_index;
}

static void test_tamper(void)
{
	_cleanup_free_ char *good = sub("good"), *t = sub("tampered"), *trust = sub("trust");
	long off;

	build_log(good, 600, ""); /* bundles 000, 001, 002.p/88 */
	CHECK_OK(audit_dir_verify(good, ver, NULL, NULL));

	/* One byte of an entry that still parses (a digest hex digit): the
	 * level-0 tile names the entry. Entry 300 is record 44 of bundle 001. */
	copy_tree(good, t);
	off = find_in(t, "tile/entries/001", "\"digest\":\"2c2c", 0);
	CHECK(off > 0);
	flip(t, "tile/entries/001", off + 10, '2', '3');
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 300);

	/* One byte that breaks the JSON of entry 513 (bundle 002, record 1). */
	copy_tree(good, t);
	off = find_in(t, "tile/entries/002.p/88", "{\"approvals\"", 1);
	flip(t, "tile/entries/002.p/88", off, '{', '[');
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 513);

	/* A length prefix: entry 256 (record 0 of bundle 001). */
	copy_tree(good, t);
	flip(t, "tile/entries/001", 1, 0, 0);
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 256);

	/* One byte of a hash tile: hash 17 of tile/0/001 covers entry 273. */
	copy_tree(good, t);
	flip(t, "tile/0/001", 17 * 32 + 5, 0, 0);
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 273);
	/* ... and in level 1: hash 1 of tile/1/000.p/2 covers 256.. */
	copy_tree(good, t);
	flip(t, "tile/1/000.p/2", 32 + 31, 0, 0);
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 256);

	/* Truncation: the last bundle cut short, or gone. */
	copy_tree(good, t);
	{
		_cleanup_free_ char *p = at(t, "tile/entries/002.p/88");
		long third = find_in(t, "tile/entries/002.p/88", "{\"approvals\"", 2);

		/* Cut in the middle of the third record. */
		CHECK(third > 0 && truncate(p, third + 10) == 0);
	}
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 512 + 2);
	copy_tree(good, t);
	{
		_cleanup_free_ char *p = at(t, "tile/entries/001");

		CHECK(unlink(p) == 0);
	}
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == 256);

	/* A checkpoint signed by another key. */
	copy_tree(good, t);
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;

		CHECK_OK(audit_log_open(t, ORIGIN, &log));
		CHECK_OK(audit_log_checkpoint(log, &other_key, NULL));
	}
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) == UINT64_MAX);

	/* The trusted view: verify once, then a shorter log signed by the
	 * right key, then a fork (entry 420 differs, re-signed, tiles and
	 * all) - both named by index. */
	CHECK_OK(audit_dir_verify(good, ver, trust, NULL));
	{
		_cleanup_free_ char *shorter = sub("shorter"), *fork = sub("fork");
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;

		build_log(shorter, 400, "");
		CHECK_OK(audit_dir_verify(shorter, ver, NULL, NULL));
		CHECK(verify_bad(shorter, trust, RB_E_VERIFY) == 400);

		CHECK_OK(audit_log_create(fork, ORIGIN, &log));
		fill(log, 0, 420, 100, "");
		fill(log, 420, 1, 1, "ff");
		fill(log, 421, 300, 100, "");
		CHECK_OK(audit_dir_verify(fork, ver, NULL, NULL));
		CHECK(verify_bad(fork, trust, RB_E_VERIFY) == 420);
	}
	/* The good log grew: consistent, and the trust store moves on. */
	{
		_cleanup_(audit_log_closep) struct audit_log *log = NULL;
		struct audit_verify_result r;

		CHECK_OK(audit_log_open(good, ORIGIN, &log));
		fill(log, 600, 50, 25, "");
		CHECK_OK(audit_dir_verify(good, ver, trust, &r));
		CHECK(r.size == 650);
	}
	/* Rewriting the entry and every tile (but not the signature) is still
	 * caught by the signed root. */
	copy_tree(good, t);
	off = find_in(t, "tile/entries/000", "\"digest\":\"0505", 0);
	flip(t, "tile/entries/000", off + 10, '0', '1');
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/tile/0' '%s/tile/1' '%s/tile/2'", t, t, t);
		CHECK(system(cmd) == 0);
	}
	CHECK(verify_bad(t, NULL, RB_E_VERIFY) != UINT64_MAX);
	/* With the trust store the exact entry is named. */
	CHECK(verify_bad(t, trust, RB_E_VERIFY) == 5);
}

/* --- proofs -------------------------------------------------------------- */

static void test_proof_text(void)
{
	_cleanup_free_ char *dir = sub("proofs");
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	struct audit_proof p = { AUDIT_PROOF_INCLUSION, 3, 10, { 0 } }, q;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t r5[32], r10[32], leaf[32];

	CHECK_OK(audit_log_create(dir, ORIGIN, &log));
	fill(log, 0, 10, 5, "");
	CHECK_OK(audit_log_inclusion_proof(log, 3, 10, &p.proof));
	CHECK_OK(audit_proof_format(&p, &b));
	CHECK_OK(audit_proof_parse(b.data, b.len, &q));
	CHECK(q.kind == AUDIT_PROOF_INCLUSION && q.a == 3 && q.size == 10 && q.proof.n == p.proof.n &&
	      memcmp(q.proof.hash, p.proof.hash, 32 * p.proof.n) == 0);
	CHECK_OK(audit_log_root(log, 10, r10));
	CHECK_OK(audit_log_leaf_hash(log, 3, leaf));
	CHECK_OK(merkle_inclusion_verify(q.a, q.size, leaf, 32, &q.proof, r10, 32));
	rb_buf_free(&b);
	p.kind = AUDIT_PROOF_CONSISTENCY;
	p.a = 5;
	CHECK_OK(audit_log_consistency_proof(log, 5, 10, &p.proof));
	CHECK_OK(audit_proof_format(&p, &b));
	CHECK_OK(audit_proof_parse(b.data, b.len, &q));
	CHECK_OK(audit_log_root(log, 5, r5));
	CHECK_OK(merkle_consistency_verify(5, 10, r5, 32, r10, 32, &q.proof));
	rb_buf_free(&b);
	{
		static const char *const bad[] = {
			"",
			"rombsr-audit-proof/v1\n",
			"rombsr-audit-proof/v2\ninclusion 1 2\n",
			"rombsr-audit-proof/v1\ninclusion 01 2\n",
			"rombsr-audit-proof/v1\ninclusion 1 2",
			"rombsr-audit-proof/v1\ninclusion 1\n",
			"rombsr-audit-proof/v1\nexclusion 1 2\n",
			"rombsr-audit-proof/v1\ninclusion 1 2\nAAAA\n",
			"rombsr-audit-proof/v1\ninclusion 1 2\n\n",
			"rombsr-audit-proof/v1\ninclusion 1 18446744073709551616\n",
		};

		for (size_t i = 0; i < ELEMENTSOF(bad); i++)
			CHECK(audit_proof_parse(bad[i], strlen(bad[i]), &q) < 0);
	}
}

/* --- entries ------------------------------------------------------------- */

static void test_entries(void)
{
	_cleanup_json_ struct json_value *e = sign_entry(1, ""), *back = NULL;
	struct rb_buf b = RB_BUF_INIT;
	enum audit_event type;
	uint8_t fpr[32] = { 0 };
	struct audit_key_info ki = { 1795000000, "admin", "platform", fpr, NULL, NULL, NULL };
	struct json_value *x = NULL;

	CHECK_OK(json_emit(e, JSON_CANONICAL, &b));
	CHECK_OK(audit_entry_parse(b.data, b.len, &back, &type));
	CHECK(type == AUDIT_SIGN);
	CHECK_OK(rb_buf_terminate(&b));
	CHECK(strncmp((char *)b.data, "{\"approvals\":[\"alice@example.org\",", 34) == 0);
	CHECK(strstr((char *)b.data, "\"format\":\"rombsr-audit-entry\""));
	CHECK(strstr((char *)b.data, "\"time\":\"2026-11-18T"));
	{
		/* Not canonical (a space), unknown key, wrong version: refused. */
		struct rb_buf nc = RB_BUF_INIT;
		const char *s = (const char *)b.data;

		rb_buf_put(&nc, s, 1);
		rb_buf_put_str(&nc, " ");
		rb_buf_put_str(&nc, s + 1);
		CHECK_ERR(audit_entry_parse(nc.data, nc.len, &x, NULL), RB_E_PARSE);
		rb_buf_free(&nc);
		rb_buf_put_str(&nc, "{\"extra\":1,");
		rb_buf_put_str(&nc, s + 1);
		CHECK_ERR(audit_entry_parse(nc.data, nc.len, &x, NULL), RB_E_PARSE);
		rb_buf_free(&nc);
		rb_buf_put_str(&nc, "{\"format\":\"rombsr-audit-entry\",\"time\":\"2026-11-18T00:00:00Z\","
				    "\"type\":\"sign\",\"version\":2}");
		CHECK_ERR(audit_entry_parse(nc.data, nc.len, &x, NULL), RB_E_UNSUPPORTED);
		rb_buf_free(&nc);
		CHECK(x == NULL);
	}
	rb_buf_free(&b);
	/* Key events: rotate needs its successor. */
	CHECK_OK(audit_entry_key(AUDIT_KEYGEN, &ki, &x));
	json_free(x);
	x = NULL;
	CHECK_ERR(audit_entry_key(AUDIT_ROTATE, &ki, &x), RB_E_INVAL);
	ki.new_key_name = "platform-2027";
	ki.new_key_fpr = fpr;
	CHECK_OK(audit_entry_key(AUDIT_ROTATE, &ki, &x));
	json_free(x);
	x = NULL;
	CHECK_ERR(audit_entry_key(AUDIT_SIGN, &ki, &x), RB_E_INVAL);
	CHECK_OK(audit_entry_provision(1795000000, "admin", "rombsr", fpr, &x));
	json_free(x);
	x = NULL;
	/* A bad request id (not hex) never makes an entry. */
	{
		struct audit_reject_info ri = { 1795000000, "NOT-HEX", "b", NULL, NULL, NULL, "r" };

		CHECK_ERR(audit_entry_reject(&ri, &x), RB_E_INVAL);
		CHECK(x == NULL);
	}
}

static void rm_rf(const char *p)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", p);
}

int main(void)
{
	root_dir = mkdtemp(tmpl);
	if (!root_dir || soft_signer_new("ed25519", &key) < 0 ||
	    soft_signer_new("ed25519", &other_key) < 0 ||
	    note_verifier_from_pkey(ORIGIN, key.pub, &ver) < 0)
		return 1;
	RUN(test_entries);
	RUN(test_append_reopen_find);
	RUN(test_origin);
	RUN(test_create);
	RUN(test_published_check);
	RUN(test_torn_tail);
	RUN(test_io_error);
	RUN(test_proof_text);
	RUN(test_tamper);
	RUN(test_layout_70000);
	note_verifier_free(ver);
	soft_signer_free(&key);
	soft_signer_free(&other_key);
	rm_rf(root_dir);
	TEST_MAIN_END();
}
