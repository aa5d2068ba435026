/* Wrapped keys on real SoftHSM2 tokens: the wrap key and its fingerprint
 * recipe (recomputed with OpenSSL), generation straight into the store,
 * export of resident keys, on-demand unwrapping with a bounded number of
 * key objects on the token (300 keys), threads, and every refusal: a blob
 * under another wrap key, a forged fingerprint, a corrupt blob, a blob
 * swapped between keys - each with nothing imported and nothing changed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config.h"
#include "harness.h"
#include "p11/p11.h"
#include "p11/wrap.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

#define N_P256 291
#define N_RSA2048 8
#define N_KEYS (N_P256 + N_RSA2048 + 1)
#define MAX_RESIDENT 4

static char dir[] = "/tmp/rombsr-wrap-XXXXXX";
static char store_a[600], store_b[600], store_k[600], scratch[600];
static struct p11_module *mod;
static struct p11_token *tok_a, *tok_b, *tok_k;
static struct rb_secret *so_pin, *user_pin;

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *r = NULL;

	rb_secret_new(strlen(s), &r);
	memcpy(r->data, s, strlen(s));
	r->len = strlen(s);
	return r;
}

static struct p11_token *make_token(const char *label)
{
	struct p11_token *t = NULL;

	CHECK_OK(p11_module_init_token(mod, label, so_pin, user_pin));
	CHECK_OK(p11_token_open(mod, label, 8, &t));
	if (!t)
		exit(1);
	CHECK_OK(p11_token_login(t, CKU_USER, user_pin));
	return t;
}

static void setup(void)
{
	char path[700], conf[1024];

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	rb_file_write_atomic(path, conf, strlen(conf), 0600);
	setenv("SOFTHSM2_CONF", path, 1);
	snprintf(store_a, sizeof(store_a), "%s/store-a", dir);
	snprintf(store_b, sizeof(store_b), "%s/store-b", dir);
	snprintf(store_k, sizeof(store_k), "%s/store-k", dir);
	snprintf(scratch, sizeof(scratch), "%s/scratch", dir);
	so_pin = secret_of("so-secret-1234");
	user_pin = secret_of("user-secret-5678");
	CHECK_OK(p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &mod));
	if (!mod)
		exit(1);
	tok_a = make_token("wrap-a");
	tok_b = make_token("wrap-b");
	tok_k = make_token("wrap-known");
}

/* Private key objects the token shows this application, session objects
 * included: what "key objects on the token at once" means. */
static unsigned count_private_keys(struct p11_token *t)
{
	CK_FUNCTION_LIST *f = p11_module_functions(mod);
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE h[64];
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0, total = 0;

	CHECK_OK(p11_token_session(t, &s));
	CHECK(f->C_FindObjectsInit(s, tmpl, 1) == CKR_OK);
	do {
		CHECK(f->C_FindObjects(s, h, 64, &n) == CKR_OK);
		total += n;
	} while (n == 64);
	f->C_FindObjectsFinal(s);
	return (unsigned)total;
}

static int sign_check(struct p11_key *k)
{
	static const char msg[] = "rombsr wrapped key test";
	enum rb_sig_scheme scheme = p11_key_alg(k) == RB_KEY_RSA ? RB_SIG_RSA_PKCS1_SHA256
				  : p11_key_alg(k) == RB_KEY_EC_P256 ? RB_SIG_ECDSA_SHA256 : RB_SIG_ED25519;
	uint8_t digest[64], *sig = NULL;
	size_t dlen = 0, siglen = 0;
	const uint8_t *in = digest;
	int err;

	if (scheme == RB_SIG_ED25519) {
		in = (const uint8_t *)msg;
		dlen = sizeof(msg);
	} else if (rb_digest(rb_sig_scheme_md(scheme), msg, sizeof(msg), digest, &dlen) < 0) {
		return RB_E_CRYPTO;
	}
	err = p11_key_sign(k, scheme, in, dlen, &sig, &siglen);
	if (err == RB_OK) {
		/* independently of the core's self-check */
		err = rb_sig_verify(p11_key_public(k), scheme, in, dlen, sig, siglen);
		if (err == RB_OK) {
			sig[siglen / 2] ^= 0x10;
			CHECK_ERR(rb_sig_verify(p11_key_public(k), scheme, in, dlen, sig, siglen), RB_E_VERIFY);
		}
	}
	free(sig);
	return err;
}

static void name_of(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "dev-%04u", i);
}

static void test_wrap_key(void)
{
	uint8_t f1[P11_WRAP_FPR_LEN], f2[P11_WRAP_FPR_LEN], fb[P11_WRAP_FPR_LEN];

	CHECK_ERR(p11_token_wrap_key_fingerprint(tok_a, f1), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "wrap-key --create") != NULL);
	CHECK_OK(p11_token_generate_wrap_key(tok_a));
	CHECK_ERR(p11_token_generate_wrap_key(tok_a), RB_E_EXISTS);
	CHECK_OK(p11_token_generate_wrap_key(tok_b));
	CHECK_OK(p11_token_wrap_key_fingerprint(tok_a, f1));
	CHECK_OK(p11_token_wrap_key_fingerprint(tok_a, f2));
	CHECK(memcmp(f1, f2, sizeof(f1)) == 0);
	CHECK_OK(p11_token_wrap_key_fingerprint(tok_b, fb));
	CHECK(memcmp(f1, fb, sizeof(f1)) != 0);
	/* The wrap key itself cannot be read or wrapped out. */
	{
		CK_FUNCTION_LIST *f = p11_module_functions(mod);
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
					{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, strlen(P11_WRAP_KEY_LABEL) } };
		CK_OBJECT_HANDLE h = 0;
		CK_SESSION_HANDLE s;
		CK_ULONG n = 0;
		uint8_t val[64];
		CK_ATTRIBUTE a = { CKA_VALUE, val, sizeof(val) };
		CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
		CK_ULONG wl = sizeof(val);
		CK_BBOOL tok = 0;
		CK_ATTRIBUTE ta = { CKA_TOKEN, &tok, sizeof(tok) };

		CHECK_OK(p11_token_session(tok_a, &s));
		f->C_FindObjectsInit(s, tmpl, 2);
		f->C_FindObjects(s, &h, 1, &n);
		f->C_FindObjectsFinal(s);
		CHECK(n == 1);
		CHECK(f->C_GetAttributeValue(s, h, &a, 1) == CKR_ATTRIBUTE_SENSITIVE);
		CHECK(f->C_WrapKey(s, &m, h, h, val, &wl) != CKR_OK);
		CHECK(f->C_GetAttributeValue(s, h, &ta, 1) == CKR_OK && tok == CK_TRUE);
	}
}

/* A wrap key with a known value lets the test recompute what the format
 * document promises: the fingerprint recipe, and that a blob is RFC 5649
 * over a PKCS#8 PrivateKeyInfo. */
static int kwp_unwrap(const uint8_t key[32], const uint8_t *in, size_t inlen, uint8_t *out, int *outlen,
		      bool wrap)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ok, n = 0, m = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL, wrap) == 1 &&
	     EVP_CipherUpdate(c, out, &n, in, (int)inlen) == 1 && EVP_CipherFinal_ex(c, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(c);
	*outlen = n + m;
	return ok ? 0 : -1;
}

static void test_fingerprint_recipe(void)
{
	static const uint8_t known[32] = "rombsr test wrap key, not secret";
	CK_FUNCTION_LIST *f = p11_module_functions(mod);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },     { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, 1 },               { CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 },           { CKA_EXTRACTABLE, &no, 1 },
		{ CKA_WRAP, &yes, 1 },                { CKA_UNWRAP, &yes, 1 },
		{ CKA_ENCRYPT, &no, 1 },              { CKA_DECRYPT, &no, 1 },
		{ CKA_VALUE, (void *)known, 32 },
		{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, strlen(P11_WRAP_KEY_LABEL) },
	};
	uint8_t k0[32], w[64], want[32], got[32], pkcs8[8192];
	size_t n;
	int wl = 0, pl = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	struct wrap_meta *m = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned mdlen;

	CHECK_OK(p11_token_session(tok_k, &s));
	CHECK(f->C_CreateObject(s, tmpl, ELEMENTSOF(tmpl), &h) == CKR_OK);
	/* fpr = SHA-256("rombsr-wrap-fingerprint-v1/fpr" || KWP(wrap key,
	 *       SHA-256("rombsr-wrap-fingerprint-v1/key"))) */
	CHECK_OK(rb_digest(EVP_sha256(), "rombsr-wrap-fingerprint-v1/key", 30, k0, &n));
	CHECK(kwp_unwrap(known, k0, 32, w, &wl, true) == 0 && wl == 40);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "rombsr-wrap-fingerprint-v1/fpr", 30);
	EVP_DigestUpdate(md, w, (size_t)wl);
	EVP_DigestFinal_ex(md, want, &mdlen);
	EVP_MD_CTX_free(md);
	CHECK_OK(p11_token_wrap_key_fingerprint(tok_k, got));
	CHECK(memcmp(want, got, 32) == 0);

	/* Every algorithm: the blob is KWP over PKCS#8 of the metadata's key. */
	{
		static const struct { enum rb_key_alg alg; unsigned bits; const char *name; } kinds[] = {
			{ RB_KEY_EC_P256, 256, "known-p256" },
			{ RB_KEY_RSA, 2048, "known-rsa" },
			{ RB_KEY_ED25519, 255, "known-ed25519" },
		};

		for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
			EVP_PKEY *priv = NULL;
			const unsigned char *p = pkcs8;

			m = NULL;
			if (kinds[i].alg == RB_KEY_ED25519) {
				/* SoftHSM2 2.6.1 cannot wrap EdDSA keys: a clear
				 * refusal, and no file, no object left. */
				char path[700];
				struct stat st;

				CHECK_ERR(wrap_key_generate(tok_k, store_k, kinds[i].name, NULL, 0, kinds[i].alg,
							    kinds[i].bits, 1795000000, &m), RB_E_UNSUPPORTED);
				CHECK(strstr(rb_err_detail(), "cannot wrap Ed25519") != NULL);
				snprintf(path, sizeof(path), "%s/%s.json", store_k, kinds[i].name);
				CHECK(stat(path, &st) < 0);
				continue;
			}
			CHECK_OK(wrap_key_generate(tok_k, store_k, kinds[i].name, NULL, 0, kinds[i].alg, kinds[i].bits,
						   1795000000, &m));
			if (!m)
				continue;
			CHECK(memcmp(m->wrap_fpr, want, 32) == 0);
			CHECK(kwp_unwrap(known, m->blob, m->blob_len, pkcs8, &pl, false) == 0);
			priv = d2i_AutoPrivateKey(NULL, &p, pl);
			CHECK(priv != NULL && EVP_PKEY_eq(priv, m->pub) == 1);
			EVP_PKEY_free(priv);
			OPENSSL_cleanse(pkcs8, sizeof(pkcs8));
			wrap_meta_free(m);
		}
	}
	/* No object is left behind by generation. */
	CHECK(count_private_keys(tok_k) == 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_generate_many(void)
{
	char name[32];
	double t0 = now_s();

	for (unsigned i = 0; i < N_KEYS; i++) {
		struct wrap_meta *m = NULL;
		enum rb_key_alg alg = i < N_P256 ? RB_KEY_EC_P256 : RB_KEY_RSA;
		unsigned bits = i < N_P256 ? 256 : i < N_KEYS - 1 ? 2048 : 4096;

		name_of(name, sizeof(name), i);
		CHECK_OK(wrap_key_generate(tok_a, store_a, name, NULL, 0, alg, bits, 1795000000 + i, &m));
		CHECK(m && m->alg == alg && m->bits == bits);
		wrap_meta_free(m);
	}
	printf("# generated %d wrapped keys in %.1f s\n", N_KEYS, now_s() - t0);
	/* Nothing stayed on the token: generation makes session objects
	 * only, and destroys them. */
	CHECK(count_private_keys(tok_a) == 0);
	/* A taken name: refused before any HSM work, file unchanged. */
	{
		struct wrap_meta *m = NULL;

		CHECK_ERR(wrap_key_generate(tok_a, store_a, "dev-0000", NULL, 0, RB_KEY_EC_P256, 256, 0, &m),
			  RB_E_EXISTS);
		CHECK(m == NULL);
	}
}

static void test_sign_many(void)
{
	char name[32];
	unsigned max_seen = 0;
	unsigned long unwraps;
	double t0 = now_s();

	CHECK_OK(p11_token_set_wrapped_store(tok_a, store_a, MAX_RESIDENT));
	for (unsigned i = 0; i < N_KEYS; i++) {
		struct p11_key *k = NULL;
		unsigned n;

		name_of(name, sizeof(name), i);
		CHECK_OK(p11_token_find_key(tok_a, name, &k));
		if (!k)
			continue;
		CHECK(p11_key_is_wrapped(k));
		CHECK(strcmp(p11_key_name(k), name) == 0);
		CHECK_OK(sign_check(k));
		n = count_private_keys(tok_a);
		CHECK(n <= MAX_RESIDENT);
		CHECK(n == p11_token_wrapped_resident(tok_a));
		if (n > max_seen)
			max_seen = n;
	}
	printf("# %d wrapped keys signed in %.1f s, at most %u key objects at once\n", N_KEYS, now_s() - t0,
	       max_seen);
	CHECK(max_seen == MAX_RESIDENT);
	CHECK(p11_token_wrapped_unwraps(tok_a) == N_KEYS);

	/* The last MAX_RESIDENT keys are still unwrapped: signing with them
	 * again unwraps nothing; an older one evicts the least recent. */
	unwraps = p11_token_wrapped_unwraps(tok_a);
	for (unsigned i = N_KEYS - MAX_RESIDENT; i < N_KEYS; i++) {
		struct p11_key *k = NULL;

		name_of(name, sizeof(name), i);
		CHECK_OK(p11_token_find_key(tok_a, name, &k));
		CHECK(k && sign_check(k) == RB_OK);
	}
	CHECK(p11_token_wrapped_unwraps(tok_a) == unwraps);
	{
		struct p11_key *k = NULL;

		CHECK_OK(p11_token_find_key(tok_a, "dev-0000", &k));
		CHECK(k && sign_check(k) == RB_OK);
		CHECK(p11_token_wrapped_unwraps(tok_a) == unwraps + 1);
		CHECK(count_private_keys(tok_a) == MAX_RESIDENT);
	}
	/* Lookup by the manifest's URI form finds the same key; a wrong
	 * CKA_ID in the URI does not. */
	{
		struct p11_key *k = NULL, *k2 = NULL;
		char *uri = NULL;

		CHECK_OK(p11_token_find_key(tok_a, "dev-0005", &k));
		CHECK_OK(p11_key_uri(k, &uri));
		p11_token_forget_keys(tok_a);
		CHECK(count_private_keys(tok_a) == 0);
		CHECK(p11_token_wrapped_resident(tok_a) == 0);
		CHECK_OK(p11_token_find_key(tok_a, uri, &k2));
		CHECK(k2 && p11_key_is_wrapped(k2) && sign_check(k2) == RB_OK);
		free(uri);
		CHECK_ERR(p11_token_find_key(tok_a, "pkcs11:object=dev-0005;id=%01%02;type=private", &k2), RB_E_KEY);
		CHECK(strstr(rb_err_detail(), "CKA_ID") != NULL);
		CHECK_ERR(p11_token_find_key(tok_a, "pkcs11:object=dev-0005;type=cert", &k2), RB_E_KEY);
		CHECK_ERR(p11_token_find_key(tok_a, "no-such-key", &k2), RB_E_KEY);
		CHECK(strstr(rb_err_detail(), "wrapped key store") != NULL);
		CHECK_ERR(p11_token_find_key(tok_a, "../store-b/x", &k2), RB_E_KEY);
	}
}

struct worker {
	unsigned seed;
	int failures;
	unsigned max_seen;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[32];

	for (int i = 0; i < 60; i++) {
		struct p11_key *k = NULL;
		unsigned idx = (unsigned)rand_r(&w->seed) % 24, n;

		/* mostly P-256, sometimes the RSA-2048 and RSA-4096 keys */
		if (idx >= 20)
			idx = N_KEYS - 1 - (idx - 20);
		name_of(name, sizeof(name), idx);
		if (p11_token_find_key(tok_a, name, &k) < 0 || sign_check(k) < 0)
			w->failures++;
		n = p11_token_wrapped_resident(tok_a);
		if (n > w->max_seen)
			w->max_seen = n;
	}
	p11_token_session_release(tok_a);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[4];
	struct worker w[4];

	/* Two slots for four threads: they must wait for each other's
	 * objects to become idle, never destroy one that is signing. */
	p11_token_forget_keys(tok_a);
	CHECK_OK(p11_token_set_wrapped_store(tok_a, store_a, 2));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .seed = 17u * (unsigned)i + 1 };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].failures == 0);
		CHECK(w[i].max_seen <= 2);
	}
	CHECK(count_private_keys(tok_a) <= 2);
	CHECK_OK(p11_token_set_wrapped_store(tok_a, store_a, MAX_RESIDENT));
}

static int copy_file(const char *from, const char *to)
{
	uint8_t *d = NULL;
	size_t n;
	int err;

	if ((err = rb_file_read(from, 1 << 20, &d, &n)) < 0)
		return err;
	err = rb_file_write_atomic(to, d, n, 0644);
	free(d);
	return err;
}

static bool file_equals(const char *path, const uint8_t *want, size_t wlen)
{
	uint8_t *d = NULL;
	size_t n;
	bool eq;

	if (rb_file_read(path, 1 << 20, &d, &n) < 0)
		return false;
	eq = n == wlen && memcmp(d, want, n) == 0;
	free(d);
	return eq;
}

/* Rewrite one metadata file with a field changed through the library's
 * own emitter, so only the intended field differs. */
static void rewrite_meta(const char *store, const char *name, void (*edit)(struct wrap_meta *, void *), void *ctx)
{
	struct wrap_meta *m = NULL;
	struct rb_buf out = RB_BUF_INIT;
	char path[700];

	CHECK_OK(wrap_store_load(store, name, &m));
	if (!m)
		return;
	edit(m, ctx);
	CHECK_OK(wrap_meta_emit(m, &out));
	snprintf(path, sizeof(path), "%s/%s.json", store, name);
	CHECK_OK(rb_file_write_atomic(path, out.data, out.len, 0644));
	rb_buf_free(&out);
	wrap_meta_free(m);
}

static void edit_fpr(struct wrap_meta *m, void *ctx)
{
	memcpy(m->wrap_fpr, ctx, P11_WRAP_FPR_LEN);
}

static void edit_flip_blob(struct wrap_meta *m, void *ctx)
{
	(void)ctx;
	m->blob[m->blob_len / 2] ^= 0x01;
}

static void edit_blob_from(struct wrap_meta *m, void *ctx)
{
	struct wrap_meta *src = ctx;

	free(m->blob);
	m->blob = malloc(src->blob_len);
	memcpy(m->blob, src->blob, src->blob_len);
	m->blob_len = src->blob_len;
}

/* Trying key name on t must fail with want, import nothing, and leave the
 * store file as it was. */
static void refused(struct p11_token *t, const char *store, const char *name, int want, const char *detail)
{
	struct p11_key *k = NULL;
	char path[700];
	uint8_t *before = NULL;
	size_t blen;
	unsigned objs = count_private_keys(t);
	int err;

	snprintf(path, sizeof(path), "%s/%s.json", store, name);
	CHECK_OK(rb_file_read(path, 1 << 20, &before, &blen));
	err = p11_token_find_key(t, name, &k);
	if (err == RB_OK)
		err = sign_check(k);
	CHECK_ERR(err, want);
	if (!strstr(rb_err_detail(), detail))
		fprintf(stderr, "%s: detail without '%s': %s\n", name, detail, rb_err_detail());
	CHECK(strstr(rb_err_detail(), detail) != NULL);
	CHECK(count_private_keys(t) == objs);
	CHECK(p11_token_wrapped_resident(t) == objs);
	CHECK(file_equals(path, before, blen));
	/* and it stays refused: nothing was cached */
	err = p11_token_find_key(t, name, &k);
	if (err == RB_OK)
		err = sign_check(k);
	CHECK_ERR(err, want);
	CHECK(count_private_keys(t) == objs);
	free(before);
}

static void test_refusals(void)
{
	char from[700], to[700];
	uint8_t fpr_b[P11_WRAP_FPR_LEN];
	struct wrap_meta *other = NULL;

	p11_token_forget_keys(tok_a);
	CHECK_OK(p11_token_set_wrapped_store(tok_b, store_b, MAX_RESIDENT));
	CHECK_OK(p11_token_wrap_key_fingerprint(tok_b, fpr_b));

	/* A blob made under token A's wrap key, presented to token B. */
	snprintf(from, sizeof(from), "%s/dev-0001.json", store_a);
	snprintf(to, sizeof(to), "%s/dev-0001.json", store_b);
	CHECK_OK(rb_mkdir_p(store_b, 0755));
	CHECK_OK(copy_file(from, to));
	refused(tok_b, store_b, "dev-0001", RB_E_KEY, "was made under wrap key");

	/* The same with the fingerprint forged to B's: the HSM's RFC 5649
	 * integrity check refuses it. */
	snprintf(from, sizeof(from), "%s/dev-0002.json", store_a);
	snprintf(to, sizeof(to), "%s/dev-0002.json", store_b);
	CHECK_OK(copy_file(from, to));
	rewrite_meta(store_b, "dev-0002", edit_fpr, fpr_b);
	refused(tok_b, store_b, "dev-0002", RB_E_KEY, "refused to unwrap");
	snprintf(from, sizeof(from), "%s/dev-0299.json", store_a); /* RSA-4096 */
	snprintf(to, sizeof(to), "%s/dev-0299.json", store_b);
	CHECK_OK(copy_file(from, to));
	rewrite_meta(store_b, "dev-0299", edit_fpr, fpr_b);
	refused(tok_b, store_b, "dev-0299", RB_E_KEY, "refused to unwrap");

	/* A corrupt blob under the right wrap key (P-256 and RSA). */
	CHECK_OK(rb_mkdir_p(scratch, 0755));
	CHECK_OK(p11_token_set_wrapped_store(tok_a, scratch, MAX_RESIDENT));
	snprintf(from, sizeof(from), "%s/dev-0003.json", store_a);
	snprintf(to, sizeof(to), "%s/dev-0003.json", scratch);
	CHECK_OK(copy_file(from, to));
	rewrite_meta(scratch, "dev-0003", edit_flip_blob, NULL);
	refused(tok_a, scratch, "dev-0003", RB_E_KEY, "corrupt");
	snprintf(from, sizeof(from), "%s/dev-0280.json", store_a);
	snprintf(to, sizeof(to), "%s/dev-0280.json", scratch);
	CHECK_OK(copy_file(from, to));
	rewrite_meta(scratch, "dev-0280", edit_flip_blob, NULL);
	refused(tok_a, scratch, "dev-0280", RB_E_KEY, "corrupt");

	/* A valid blob of another key (same type, same wrap key) under this
	 * key's metadata: it unwraps, but its signature fails the self-check
	 * against the metadata's public key, and the object is destroyed. */
	CHECK_OK(wrap_store_load(store_a, "dev-0005", &other));
	snprintf(from, sizeof(from), "%s/dev-0004.json", store_a);
	snprintf(to, sizeof(to), "%s/dev-0004.json", scratch);
	CHECK_OK(copy_file(from, to));
	if (other)
		rewrite_meta(scratch, "dev-0004", edit_blob_from, other);
	refused(tok_a, scratch, "dev-0004", RB_E_VERIFY, "self-check");
	wrap_meta_free(other);

	/* Edited metadata (spki hash no longer matches): refused by the parser. */
	snprintf(to, sizeof(to), "%s/dev-0006.json", scratch);
	{
		uint8_t *d = NULL;
		size_t n;
		char *p;

		snprintf(from, sizeof(from), "%s/dev-0006.json", store_a);
		CHECK_OK(rb_file_read(from, 1 << 20, &d, &n));
		p = strstr((char *)d, "\"spki_sha256\": \"");
		if (p) {
			p += 16;
			*p = *p == '0' ? '1' : '0';
		}
		CHECK_OK(rb_file_write_atomic(to, d, n, 0644));
		free(d);
	}
	refused(tok_a, scratch, "dev-0006", RB_E_VERIFY, "spki_sha256");
	CHECK_OK(p11_token_set_wrapped_store(tok_a, store_a, MAX_RESIDENT));
}

static void test_export_resident(void)
{
	struct p11_keygen spec = { "resident", (const uint8_t *)"\x01\x02", 2, RB_KEY_EC_P256, 256 };
	struct p11_key *k = NULL, *k2 = NULL;
	struct wrap_meta *m = NULL;
	char path[700];
	struct stat st;

	/* The default resident keys are non-extractable: refused, with the
	 * way out in the message, and nothing written. */
	CHECK_OK(p11_token_generate_key(tok_a, &spec, &k));
	CHECK_ERR(wrap_key_export(tok_a, store_a, "resident", 1795000000, &m), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "keys gen --wrapped") != NULL);
	snprintf(path, sizeof(path), "%s/resident.json", store_a);
	CHECK(stat(path, &st) < 0);
	/* A key generated with the same name as a resident one is refused. */
	CHECK_ERR(wrap_key_generate(tok_a, store_a, "resident", NULL, 0, RB_KEY_EC_P256, 256, 0, &m), RB_E_EXISTS);
	CHECK(stat(path, &st) < 0);

	/* A resident key created extractable (as a deployment's own import
	 * path would) can be exported, and the blob signs once the resident
	 * object is gone. */
	{
		CK_FUNCTION_LIST *f = p11_module_functions(mod);
		CK_BBOOL yes = CK_TRUE;
		CK_ULONG bits = 2048;
		CK_BYTE e[] = { 1, 0, 1 };
		CK_ATTRIBUTE pub[] = { { CKA_TOKEN, &yes, 1 }, { CKA_VERIFY, &yes, 1 },
				       { CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, 3 },
				       { CKA_LABEL, "legacy", 6 }, { CKA_ID, "\x09", 1 } };
		CK_ATTRIBUTE priv[] = { { CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &yes, 1 },
					{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &yes, 1 },
					{ CKA_SIGN, &yes, 1 }, { CKA_LABEL, "legacy", 6 }, { CKA_ID, "\x09", 1 } };
		CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
		CK_OBJECT_HANDLE hp, hk;
		CK_SESSION_HANDLE s;
		EVP_PKEY *orig;

		CHECK_OK(p11_token_session(tok_a, &s));
		CHECK(f->C_GenerateKeyPair(s, &mech, pub, 6, priv, 7, &hp, &hk) == CKR_OK);
		CHECK_OK(wrap_key_export(tok_a, store_a, "legacy", 1795000000, &m));
		CHECK(m && m->id_len == 1 && m->id[0] == 9);
		CHECK_ERR(wrap_key_export(tok_a, store_a, "legacy", 1795000000, &m), RB_E_EXISTS);
		CHECK_OK(p11_token_find_key(tok_a, "legacy", &k2));
		orig = k2 ? p11_key_public(k2) : NULL;
		CHECK(orig && m && EVP_PKEY_eq(orig, m->pub) == 1);
		CHECK(f->C_DestroyObject(s, hk) == CKR_OK);
		CHECK(f->C_DestroyObject(s, hp) == CKR_OK);
		p11_token_forget_keys(tok_a);
		CHECK_OK(p11_token_find_key(tok_a, "legacy", &k2));
		CHECK(k2 && p11_key_is_wrapped(k2) && sign_check(k2) == RB_OK);
		CHECK(k2 && m && EVP_PKEY_eq(p11_key_public(k2), m->pub) == 1);
		wrap_meta_free(m);
	}
	/* A wrapped key cannot be wrapped again through p11_key_wrap. */
	{
		uint8_t *b = NULL;
		size_t bl;

		CHECK_ERR(p11_key_wrap(k2, &b, &bl), RB_E_STATE);
	}
}

/* An object labelled rombsr-wrap that could leak blobs is never used:
 * one that also encrypts/decrypts, one that is extractable, one that is
 * public (readable without login; SoftHSM2 stores it unencrypted). */
static void test_weak_wrap_keys(void)
{
	static const char *const labels[] = { "weak-enc", "weak-extr", "weak-pub" };
	CK_FUNCTION_LIST *f = p11_module_functions(mod);

	for (size_t i = 0; i < ELEMENTSOF(labels); i++) {
		struct p11_token *t = make_token(labels[i]);
		CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
		CK_ULONG len = 32;
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_TOKEN, &yes, 1 },
			{ CKA_PRIVATE, i == 2 ? &no : &yes, 1 },
			{ CKA_SENSITIVE, &yes, 1 },
			{ CKA_EXTRACTABLE, i == 1 ? &yes : &no, 1 },
			{ CKA_WRAP, &yes, 1 },
			{ CKA_UNWRAP, &yes, 1 },
			{ CKA_ENCRYPT, i == 0 ? &yes : &no, 1 },
			{ CKA_DECRYPT, i == 0 ? &yes : &no, 1 },
			{ CKA_VALUE_LEN, &len, sizeof(len) },
			{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, strlen(P11_WRAP_KEY_LABEL) },
		};
		CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
		CK_OBJECT_HANDLE h;
		CK_SESSION_HANDLE s;
		uint8_t fpr[P11_WRAP_FPR_LEN];
		struct wrap_meta *m = NULL;

		CHECK_OK(p11_token_session(t, &s));
		CHECK(f->C_GenerateKey(s, &mech, tmpl, ELEMENTSOF(tmpl), &h) == CKR_OK);
		CHECK_ERR(p11_token_wrap_key_fingerprint(t, fpr), RB_E_KEY);
		CHECK(strstr(rb_err_detail(), "not a proper wrap key") != NULL);
		CHECK_ERR(wrap_key_generate(t, scratch, "weak", NULL, 0, RB_KEY_EC_P256, 256, 0, &m), RB_E_KEY);
		CHECK(m == NULL);
		CHECK(count_private_keys(t) == 0);
		p11_token_free(t);
	}
}

static void test_store_missing(void)
{
	struct p11_token *t = NULL;
	struct p11_key *k = NULL;

	/* A store directory that does not exist: keys are simply not there. */
	CHECK_OK(p11_token_open(mod, "wrap-a", 2, &t));
	if (!t)
		return;
	CHECK_OK(p11_token_set_wrapped_store(t, "/nonexistent/store", 2));
	CHECK_ERR(p11_token_find_key(t, "dev-0001", &k), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "/nonexistent/store") != NULL);
	CHECK_ERR(p11_token_set_wrapped_store(t, "", 2), RB_E_INVAL);
	p11_token_free(t);
}

int main(void)
{
	setup();
	RUN(test_wrap_key);
	RUN(test_fingerprint_recipe);
	RUN(test_generate_many);
	RUN(test_sign_many);
	RUN(test_threads);
	RUN(test_refusals);
	RUN(test_export_resident);
	RUN(test_weak_wrap_keys);
	RUN(test_store_missing);
	p11_token_free(tok_a);
	p11_token_free(tok_b);
	p11_token_free(tok_k);
	p11_module_free(mod);
	rb_secret_free(so_pin);
	rb_secret_free(user_pin);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	TEST_MAIN_END();
}
