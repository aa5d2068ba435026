/* The ceremony's wrap key on real SoftHSM2 tokens: the software
 * fingerprint equals the token's for the same key; an imported key is a
 * proper wrap key (wraps and unwraps keys that sign); a token that already
 * has a wrap key refuses a second one with nothing changed; a fingerprint
 * mismatch removes the new object again; the same shares restore the same
 * key onto a second token, and blobs made on the first unwrap there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ceremony/ceremony.h"
#include "config.h"
#include "harness.h"
#include "p11/p11.h"
#include "p11/wrap.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char dir[] = "/tmp/rombsr-ceremony-p11-XXXXXX";
static struct p11_module *mod;
static struct rb_secret *so_pin, *user_pin;

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *r = NULL;

	if (rb_secret_new(strlen(s), &r) < 0)
		abort();
	memcpy(r->data, s, strlen(s));
	r->len = strlen(s);
	return r;
}

static struct p11_token *make_token(const char *label)
{
	struct p11_token *t = NULL;

	CHECK_OK(p11_module_init_token(mod, label, so_pin, user_pin));
	CHECK_OK(p11_token_open(mod, label, 4, &t));
	if (!t)
		exit(1);
	CHECK_OK(p11_token_login(t, CKU_USER, user_pin));
	return t;
}

/* Secret key objects labelled rombsr-wrap, as a fresh session sees them. */
static unsigned count_wrap_objects(struct p11_token *t)
{
	CK_FUNCTION_LIST *f = p11_module_functions(mod);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, sizeof(P11_WRAP_KEY_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0;
	CK_SESSION_HANDLE s;

	if (p11_token_session(t, &s) < 0)
		return 99;
	f->C_FindObjectsInit(s, tmpl, 2);
	f->C_FindObjects(s, h, 4, &n);
	f->C_FindObjectsFinal(s);
	return (unsigned)n;
}

static struct rb_secret *key_of(uint8_t fill)
{
	struct rb_secret *k = NULL;

	if (rb_secret_new(CEREMONY_KEY_LEN, &k) < 0)
		abort();
	for (size_t i = 0; i < CEREMONY_KEY_LEN; i++)
		k->data[i] = (uint8_t)(fill + i);
	k->len = CEREMONY_KEY_LEN;
	return k;
}

static void test_import_fingerprint(void)
{
	struct p11_token *t = make_token("cer-a");
	struct rb_secret *key = key_of(0x10), *other = key_of(0x20);
	uint8_t soft[32], tok[32], fother[32];
	bool has = true;

	CHECK_OK(p11_token_has_wrap_key(t, &has));
	CHECK(!has);
	CHECK_OK(ceremony_key_fingerprint(key, soft));
	CHECK_OK(ceremony_key_fingerprint(other, fother));
	CHECK_OK(p11_token_import_wrap_key(t, key, soft));
	CHECK_OK(p11_token_wrap_key_fingerprint(t, tok));
	CHECK(memcmp(soft, tok, 32) == 0);
	CHECK(count_wrap_objects(t) == 1);
	CHECK(strlen(p11_token_serial(t)) > 0);

	/* A second wrap key, even the same one: refused, nothing changed. */
	CHECK_ERR(p11_token_import_wrap_key(t, other, fother), RB_E_EXISTS);
	CHECK_ERR(p11_token_import_wrap_key(t, key, soft), RB_E_EXISTS);
	CHECK_ERR(p11_token_generate_wrap_key(t), RB_E_EXISTS);
	CHECK(count_wrap_objects(t) == 1);
	CHECK_OK(p11_token_wrap_key_fingerprint(t, tok));
	CHECK(memcmp(soft, tok, 32) == 0);

	/* Not 32 bytes: refused before the token sees it. */
	key->len = 16;
	CHECK_ERR(p11_token_import_wrap_key(t, key, soft), RB_E_INVAL);
	rb_secret_free(key);
	rb_secret_free(other);
}

static void test_import_mismatch(void)
{
	struct p11_token *t = make_token("cer-b");
	struct rb_secret *key = key_of(0x30);
	uint8_t wrong[32];
	bool has = true;

	/* The fingerprint of some other key: the token's own fingerprint
	 * disagrees, and the object is destroyed again. */
	memset(wrong, 0x5a, sizeof(wrong));
	CHECK_ERR(p11_token_import_wrap_key(t, key, wrong), RB_E_VERIFY);
	CHECK(count_wrap_objects(t) == 0);
	CHECK_OK(p11_token_has_wrap_key(t, &has));
	CHECK(!has);
	{
		uint8_t fpr[32];

		CHECK_ERR(p11_token_wrap_key_fingerprint(t, fpr), RB_E_KEY);
	}
	rb_secret_free(key);
}

/* Shares made from one token's key restore it onto another, where the
 * first token's blobs unwrap and sign. */
static void test_restore_unwraps(void)
{
	struct p11_token *a = make_token("cer-c"), *b = make_token("cer-d"), *c = make_token("cer-e");
	struct rb_secret *key = NULL, *back = NULL;
	struct ceremony_scheme s = { .group_threshold = 1, .n_groups = 1 };
	struct ceremony_split *sp = NULL;
	uint8_t fpr[32], got[32], fb[32];
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	EVP_PKEY *pub = NULL;
	char store[600];

	s.groups[0] = (struct slip39_group_spec){ 2, 3 };
	CHECK_OK(ceremony_key_generate(&key));
	CHECK_OK(ceremony_key_fingerprint(key, fpr));
	CHECK_OK(ceremony_split_key(key, &s, NULL, &sp));
	CHECK_OK(p11_token_import_wrap_key(a, key, fpr));
	rb_secret_free(key);
	if (!sp)
		return;
	CHECK_OK(p11_token_generate_wrapped(a, RB_KEY_EC_P256, 256, &blob, &blob_len, &pub));

	CHECK_OK(ceremony_recover((const struct rb_secret *const *)sp->mnemonics + 1, 2, NULL, &back, got));
	CHECK(memcmp(got, fpr, 32) == 0);
	CHECK_OK(p11_token_import_wrap_key(b, back, got));
	CHECK_OK(p11_token_wrap_key_fingerprint(b, fb));
	CHECK(memcmp(fb, fpr, 32) == 0);
	rb_secret_free(back);
	back = NULL;

	/* A blob made on token a signs through token b's wrapped store. */
	snprintf(store, sizeof(store), "%s/store", dir);
	{
		static const uint8_t id[4] = { 1, 2, 3, 4 }, digest[32] = { 7 };
		struct wrap_meta *m = NULL;
		struct p11_key *k = NULL;
		uint8_t *sig = NULL;
		size_t siglen = 0;

		CHECK_OK(wrap_meta_new("dev-a", id, sizeof(id), pub, fpr, 1700000000, blob, blob_len, &m));
		CHECK_OK(wrap_store_add(store, m));
		wrap_meta_free(m);
		CHECK_OK(p11_token_set_wrapped_store(b, store, 0));
		CHECK_OK(p11_token_find_key(b, "dev-a", &k));
		if (k) {
			CHECK_OK(p11_key_sign(k, RB_SIG_ECDSA_SHA256, digest, sizeof(digest), &sig, &siglen));
			CHECK(sig != NULL);
			free(sig);
		}
		/* Token c, restored under a wrong passphrase below, refuses it. */
	}
	/* Token c gets a wrong passphrase's key: a different fingerprint. */
	{
		struct rb_secret *wrong = secret_of("not the passphrase");
		uint8_t fw[32];

		CHECK_OK(ceremony_recover((const struct rb_secret *const *)sp->mnemonics, 2, wrong, &back, fw));
		CHECK(memcmp(fw, fpr, 32) != 0);
		CHECK_OK(p11_token_import_wrap_key(c, back, fw));
		CHECK_OK(p11_token_wrap_key_fingerprint(c, fb));
		CHECK(memcmp(fb, fpr, 32) != 0);
		{
			struct p11_key *k = NULL;

			CHECK_OK(p11_token_set_wrapped_store(c, store, 0));
			CHECK(p11_token_find_key(c, "dev-a", &k) < 0);
			CHECK(strstr(rb_err_detail(), "wrap key") != NULL);
		}
		rb_secret_free(back);
		rb_secret_free(wrong);
	}
	free(blob);
	EVP_PKEY_free(pub);
	ceremony_split_free(sp);
}

int main(void)
{
	char path[700], conf[1024];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	rb_file_write_atomic(path, conf, strlen(conf), 0600);
	setenv("SOFTHSM2_CONF", path, 1);
	so_pin = secret_of("so-secret-1234");
	user_pin = secret_of("user-secret-5678");
	CHECK_OK(p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &mod));
	if (!mod)
		return 1;
	RUN(test_import_fingerprint);
	RUN(test_import_mismatch);
	RUN(test_restore_unwraps);
	p11_module_free(mod);
	rb_secret_free(so_pin);
	rb_secret_free(user_pin);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	TEST_MAIN_END();
}
