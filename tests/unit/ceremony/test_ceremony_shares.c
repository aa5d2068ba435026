/* The ceremony without an HSM: schemes and their subset counts, the
 * software fingerprint against the documented recipe, split and
 * recombine, the all-subsets check catching a share set that does not give
 * the key, mixed/duplicate/insufficient sets, mnemonic files (mistyped
 * words by line and position, modes, caps), and the transcript. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "admin/lifecycle.h"
#include "audit/log.h"
#include "ceremony/ceremony.h"
#include "harness.h"
#include "json/json.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char dir[] = "/tmp/rombsr-ceremony-XXXXXX";

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *r = NULL;

	if (rb_secret_new(strlen(s), &r) < 0)
		abort();
	memcpy(r->data, s, strlen(s));
	r->len = strlen(s);
	return r;
}

static struct rb_secret *key_of(uint8_t fill)
{
	struct rb_secret *k = NULL;

	if (rb_secret_new(CEREMONY_KEY_LEN, &k) < 0)
		abort();
	memset(k->data, fill, CEREMONY_KEY_LEN);
	k->len = CEREMONY_KEY_LEN;
	return k;
}

static struct ceremony_scheme plain(uint8_t k, uint8_t n)
{
	struct ceremony_scheme s = { .group_threshold = 1, .n_groups = 1, .iteration_exponent = 0 };

	s.groups[0] = (struct slip39_group_spec){ k, n };
	return s;
}

static void test_scheme(void)
{
	struct ceremony_scheme s = plain(3, 5), g = { .group_threshold = 2, .n_groups = 3 };
	uint64_t n = 0;

	CHECK_OK(ceremony_scheme_check(&s, &n));
	CHECK(n == 10);
	s = plain(8, 16);
	CHECK_OK(ceremony_scheme_check(&s, &n));
	CHECK(n == 12870);
	s = plain(2, 17);
	CHECK_ERR(ceremony_scheme_check(&s, &n), RB_E_INVAL);
	s = plain(1, 3); /* three copies of one share */
	CHECK_ERR(ceremony_scheme_check(&s, &n), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "copies") != NULL);
	s = plain(4, 3);
	CHECK_ERR(ceremony_scheme_check(&s, &n), RB_E_INVAL);
	g.groups[0] = (struct slip39_group_spec){ 2, 3 };
	g.groups[1] = (struct slip39_group_spec){ 3, 5 };
	g.groups[2] = (struct slip39_group_spec){ 1, 1 };
	CHECK_OK(ceremony_scheme_check(&g, &n));
	CHECK(n == 3 * 10 + 3 * 1 + 10 * 1);
	g.group_threshold = 4;
	CHECK_ERR(ceremony_scheme_check(&g, &n), RB_E_INVAL);
}

/* The recipe of docs/formats/wrapped-key.md written out independently. */
static void test_fingerprint_recipe(void)
{
	struct rb_secret *k = key_of(0x42);
	uint8_t k0[32], w[40], want[32], got[32];
	unsigned l = 0;
	int n = 0, m = 0;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	EVP_Digest("rombsr-wrap-fingerprint-v1/key", 30, k0, &l, EVP_sha256(), NULL);
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	CHECK(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, k->data, NULL) == 1);
	CHECK(EVP_EncryptUpdate(c, w, &n, k0, 32) == 1 && EVP_EncryptFinal_ex(c, w + n, &m) == 1);
	CHECK(n + m == 40);
	EVP_CIPHER_CTX_free(c);
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		EVP_DigestUpdate(md, "rombsr-wrap-fingerprint-v1/fpr", 30);
		EVP_DigestUpdate(md, w, 40);
		EVP_DigestFinal_ex(md, want, &l);
		EVP_MD_CTX_free(md);
	}
	CHECK_OK(ceremony_key_fingerprint(k, got));
	CHECK(memcmp(got, want, 32) == 0);
	/* Another key, another fingerprint. */
	k->data[31] ^= 1;
	CHECK_OK(ceremony_key_fingerprint(k, got));
	CHECK(memcmp(got, want, 32) != 0);
	k->len = 16;
	CHECK_ERR(ceremony_key_fingerprint(k, got), RB_E_INVAL);
	rb_secret_free(k);
}

static void test_split_recover(void)
{
	struct rb_secret *key = NULL, *back = NULL, *pass = secret_of("correct horse");
	struct ceremony_scheme s = plain(3, 5);
	struct ceremony_split *sp = NULL;
	uint8_t fpr[32], got[32];
	uint64_t checked = 0;

	CHECK_OK(ceremony_key_generate(&key));
	CHECK(key && key->len == CEREMONY_KEY_LEN);
	CHECK_OK(ceremony_key_fingerprint(key, fpr));
	CHECK_OK(ceremony_split_key(key, &s, pass, &sp));
	if (!sp)
		return;
	CHECK(sp->n == 5);
	for (size_t i = 0; i < sp->n; i++)
		CHECK(sp->group_index[i] == 0 && sp->member_index[i] == i);
	CHECK_OK(ceremony_check_subsets((const struct rb_secret *const *)sp->mnemonics, 5, pass, fpr, &checked));
	CHECK(checked == 10);
	/* Any three give the key, under the passphrase. */
	CHECK_OK(ceremony_recover((const struct rb_secret *const *)sp->mnemonics + 2, 3, pass, &back, got));
	CHECK(back && rb_ct_equal(back->data, back->len, key->data, key->len));
	CHECK(memcmp(got, fpr, 32) == 0);
	rb_secret_free(back);
	back = NULL;

	/* A wrong passphrase gives another key, silently: every subset is
	 * caught by its fingerprint. */
	{
		struct rb_secret *wrong = secret_of("correct horse!");

		CHECK_ERR(ceremony_check_subsets((const struct rb_secret *const *)sp->mnemonics, 5, wrong, fpr,
						 &checked), RB_E_VERIFY);
		CHECK(strstr(rb_err_detail(), "1.1, 1.2, 1.3") != NULL);
		CHECK_OK(ceremony_recover((const struct rb_secret *const *)sp->mnemonics, 3, wrong, &back, got));
		CHECK(memcmp(got, fpr, 32) != 0);
		rb_secret_free(back);
		back = NULL;
		rb_secret_free(wrong);
	}
	/* Two of three: insufficient, nothing returned. */
	CHECK(ceremony_recover((const struct rb_secret *const *)sp->mnemonics, 2, pass, &back, got) < 0);
	CHECK(back == NULL);
	CHECK_ERR(ceremony_check_subsets((const struct rb_secret *const *)sp->mnemonics, 2, pass, fpr, &checked),
		  RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "not enough") != NULL);
	ceremony_split_free(sp);
	ceremony_split_free(NULL);
	rb_secret_free(key);
	rb_secret_free(pass);
}

/* A share set whose members are fine one by one but do not form the
 * ceremony's key set: a share from another ceremony, a share given twice,
 * or a set whose fingerprint is not the one expected. */
static void test_corrupted_sets(void)
{
	struct rb_secret *a = key_of(1), *b = key_of(2);
	struct ceremony_scheme s = plain(2, 3);
	struct ceremony_split *sa = NULL, *sb = NULL;
	const struct rb_secret *set[3];
	uint8_t fa[32], fb[32];
	uint64_t checked = 0;
	struct rb_secret *back = NULL;
	uint8_t got[32];

	CHECK_OK(ceremony_key_fingerprint(a, fa));
	CHECK_OK(ceremony_key_fingerprint(b, fb));
	CHECK_OK(ceremony_split_key(a, &s, NULL, &sa));
	CHECK_OK(ceremony_split_key(b, &s, NULL, &sb));
	if (!sa || !sb)
		return;
	/* The expected fingerprint is another key's. */
	CHECK_ERR(ceremony_check_subsets((const struct rb_secret *const *)sa->mnemonics, 3, NULL, fb, &checked),
		  RB_E_VERIFY);
	set[0] = sa->mnemonics[0];
	set[1] = sa->mnemonics[1];
	set[2] = sb->mnemonics[2];
	if (sa->identifier != sb->identifier) {
		CHECK_ERR(ceremony_check_subsets(set, 3, NULL, fa, &checked), RB_E_INVAL);
		CHECK(strstr(rb_err_detail(), "another ceremony") != NULL);
		CHECK(ceremony_recover(set + 1, 2, NULL, &back, got) < 0);
		CHECK(back == NULL);
	}
	set[2] = sa->mnemonics[0];
	CHECK_ERR(ceremony_check_subsets(set, 3, NULL, fa, &checked), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "same share") != NULL);
	ceremony_split_free(sa);
	ceremony_split_free(sb);
	rb_secret_free(a);
	rb_secret_free(b);
}

static void test_groups(void)
{
	struct rb_secret *key = key_of(7), *back = NULL;
	struct ceremony_scheme s = { .group_threshold = 2, .n_groups = 3 };
	struct ceremony_split *sp = NULL;
	uint8_t fpr[32], got[32];
	uint64_t checked = 0;

	s.groups[0] = (struct slip39_group_spec){ 2, 3 };
	s.groups[1] = (struct slip39_group_spec){ 2, 2 };
	s.groups[2] = (struct slip39_group_spec){ 1, 1 };
	CHECK_OK(ceremony_key_fingerprint(key, fpr));
	CHECK_OK(ceremony_split_key(key, &s, NULL, &sp));
	if (!sp)
		return;
	CHECK(sp->n == 6);
	CHECK(sp->group_index[3] == 1 && sp->member_index[3] == 0 && sp->group_index[5] == 2);
	CHECK_OK(ceremony_check_subsets((const struct rb_secret *const *)sp->mnemonics, sp->n, NULL, fpr, &checked));
	CHECK(checked == 3 * 1 + 3 * 1 + 1 * 1);
	/* Group 3's single share plus two of group 1. */
	{
		const struct rb_secret *set[3] = { sp->mnemonics[5], sp->mnemonics[0], sp->mnemonics[2] };

		CHECK_OK(ceremony_recover(set, 3, NULL, &back, got));
		CHECK(memcmp(got, fpr, 32) == 0);
		rb_secret_free(back);
	}
	ceremony_split_free(sp);
	rb_secret_free(key);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	CHECK_OK(rb_file_write_atomic(path, text, strlen(text), mode));
	chmod(path, mode);
}

static void test_mnemonic_files(void)
{
	struct rb_secret *key = key_of(9), *text = NULL, **arr = NULL;
	struct ceremony_scheme s = plain(2, 3);
	struct ceremony_split *sp = NULL;
	char path[600], buf[4096];
	size_t n = 0;

	CHECK_OK(ceremony_split_key(key, &s, NULL, &sp));
	if (!sp)
		return;
	snprintf(path, sizeof(path), "%s/mn.txt", dir);
	snprintf(buf, sizeof(buf), "# shares\n\n  %s  \r\n%s\n", (char *)sp->mnemonics[0]->data,
		 (char *)sp->mnemonics[2]->data);
	write_file(path, buf, 0600);
	CHECK_OK(ceremony_secret_file_read(path, &text));
	CHECK_OK(ceremony_mnemonics_parse(text, path, &arr, &n));
	CHECK(n == 2);
	if (n == 2) {
		CHECK(rb_ct_equal(arr[0]->data, arr[0]->len, sp->mnemonics[0]->data, sp->mnemonics[0]->len));
		CHECK(rb_ct_equal(arr[1]->data, arr[1]->len, sp->mnemonics[2]->data, sp->mnemonics[2]->len));
	}
	slip39_mnemonics_free(arr, n);
	rb_secret_free(text);
	text = NULL;

	/* A mistyped word: the line and the word position are named. */
	{
		char *m = strdup((char *)sp->mnemonics[1]->data), *sp1 = strchr(m, ' '), *sp2;

		sp2 = strchr(sp1 + 1, ' ');
		memcpy(sp1 + 1, "zzzz", 4 < sp2 - sp1 - 1 ? 4 : (size_t)(sp2 - sp1 - 1));
		snprintf(buf, sizeof(buf), "%s\n%s\n", (char *)sp->mnemonics[0]->data, m);
		write_file(path, buf, 0600);
		free(m);
	}
	CHECK_OK(ceremony_secret_file_read(path, &text));
	arr = NULL;
	CHECK_ERR(ceremony_mnemonics_parse(text, path, &arr, &n), RB_E_PARSE);
	CHECK(arr == NULL);
	CHECK(strstr(rb_err_detail(), "line 2") != NULL && strstr(rb_err_detail(), "word 2") != NULL);
	rb_secret_free(text);
	text = NULL;

	/* Others can read it: refused before it is read. */
	write_file(path, "x\n", 0644);
	CHECK_ERR(ceremony_secret_file_read(path, &text), RB_E_PERM);
	CHECK(text == NULL);
	/* Empty, oversized, too many lines. */
	write_file(path, "# nothing\n", 0600);
	CHECK_OK(ceremony_secret_file_read(path, &text));
	CHECK_ERR(ceremony_mnemonics_parse(text, path, &arr, &n), RB_E_PARSE);
	rb_secret_free(text);
	text = NULL;
	{
		char *big = malloc(CEREMONY_MNEMONIC_FILE_MAX + 2);

		memset(big, 'a', CEREMONY_MNEMONIC_FILE_MAX + 1);
		big[CEREMONY_MNEMONIC_FILE_MAX + 1] = 0;
		write_file(path, big, 0600);
		free(big);
	}
	CHECK_ERR(ceremony_secret_file_read(path, &text), RB_E_TOOBIG);
	{
		struct rb_secret *many = NULL;
		size_t lines = 0;
		char *big = malloc(20000);

		big[0] = 0;
		for (int i = 0; i < CEREMONY_MAX_SHARES + 1; i++, lines++) {
			strcat(big, (char *)sp->mnemonics[0]->data);
			strcat(big, "\n");
		}
		many = secret_of(big);
		CHECK_ERR(ceremony_mnemonics_parse(many, "many", &arr, &n), RB_E_TOOBIG);
		CHECK(lines == CEREMONY_MAX_SHARES + 1);
		rb_secret_free(many);
		free(big);
	}
	ceremony_split_free(sp);
	rb_secret_free(key);
}

static void test_transcript(void)
{
	struct ceremony_share_record shares[2] = {
		{ 0, 0, "alice", "age1qqq", "share-1-1.alice.age" },
		{ 0, 1, NULL, NULL, NULL },
	};
	struct ceremony_token_record tok = { "rombsr-test", "abc123", "SoftHSM v2" };
	struct ceremony_transcript t = {
		.operation = CEREMONY_INIT, .time = 1700000000, .identifier = 4242,
		.scheme = plain(2, 2), .passphrase = true, .shares = shares, .n_shares = 2,
		.subsets_checked = 1, .tokens = &tok, .n_tokens = 1,
	};
	struct rb_buf out = RB_BUF_INIT;
	struct json_value *v = NULL;
	const char *s = NULL;
	int64_t i = 0;
	char audit[600];
	struct audit_log *log = NULL;

	memset(t.fingerprint, 0xab, sizeof(t.fingerprint));
	CHECK_OK(ceremony_transcript_emit(&t, &out));
	CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
	CHECK_OK(json_parse(out.data, out.len, NULL, &v));
	CHECK_OK(json_get_string(v, "format", &s));
	CHECK(s && strcmp(s, CEREMONY_FORMAT) == 0);
	CHECK_OK(json_get_int(v, "version", &i));
	CHECK(i == 1);
	CHECK_OK(json_get_string(v, "operation", &s));
	CHECK(s && strcmp(s, "init") == 0);
	CHECK_OK(json_get_string(v, "time", &s));
	CHECK(s && strcmp(s, "2023-11-14T22:13:20Z") == 0);
	CHECK(strstr((char *)out.data, "\"passphrase\":true") != NULL);
	CHECK(strstr((char *)out.data, "\"identifier\":4242") != NULL);
	CHECK(strstr((char *)out.data, "\"serial\":\"abc123\"") != NULL);
	CHECK(strstr((char *)out.data, "abababab") != NULL);
	json_free(v);
	t.operation = 0;
	CHECK_ERR(ceremony_transcript_emit(&t, &out), RB_E_INVAL);
	t.operation = CEREMONY_RESTORE;

	/* Into an audit log (no audit key: no checkpoint yet). */
	snprintf(audit, sizeof(audit), "%s/audit", dir);
	CHECK_OK(ceremony_transcript_audit(audit, "rombsr-test", "ceremony", &t, out.data, out.len, NULL, NULL));
	CHECK_OK(key_lifecycle_audit_open(audit, "rombsr-test", &log));
	if (log) {
		uint8_t *e = NULL;
		size_t elen = 0;
		enum audit_event type = 0;

		CHECK(audit_log_size(log) == 1);
		CHECK_OK(audit_log_entry(log, 0, &e, &elen));
		CHECK_OK(audit_entry_parse(e, elen, &v, &type));
		CHECK(type == AUDIT_IMPORT);
		CHECK_OK(json_get_string(v, "key", &s));
		CHECK(s && strcmp(s, P11_WRAP_KEY_LABEL) == 0);
		CHECK_OK(json_get_string(v, "detail", &s));
		CHECK(s && strncmp(s, "ceremony restore transcript sha256:", 35) == 0);
		json_free(v);
		free(e);
		audit_log_close(log);
	}
	rb_buf_free(&out);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_scheme);
	RUN(test_fingerprint_recipe);
	RUN(test_split_recover);
	RUN(test_corrupted_sets);
	RUN(test_groups);
	RUN(test_mnemonic_files);
	RUN(test_transcript);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	TEST_MAIN_END();
}
