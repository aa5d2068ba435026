/* The APK verifier (src/lib/apk) on APKs that apksigner signed against
 * SoftHSM2 (run.sh makes them), tampered copies of them, and APKs whose
 * signing block this test builds itself, for the algorithms and defects
 * apksigner never produces (RSA-PSS, ECDSA-SHA512, a certificate of the
 * wrong key, disagreeing algorithm lists, two signers).
 *
 * Every tampering check asserts the exact error, so a check that stops
 * firing (and lets another, later one catch the damage) fails here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "apk/apk-internal.h"
#include "apk/apk.h"
#include "apk_test.h"
#include "harness.h"
#include "keys/manifest.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static struct manifest *man_revoked;
static char tmpdir[] = "/tmp/rombsr-apk-XXXXXX";

static struct blob copy(struct blob b)
{
	struct blob c = { malloc(b.len ? b.len : 1), b.len };

	memcpy(c.p, b.p, b.len);
	return c;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* ---- a trusted-input map of an APK, to aim the tampering ---------------- */

struct layout {
	size_t eocd, cd, block, block_end;
	size_t pair_id[2];   /* offset of the v2 / v3 pair's id field */
	size_t value[2];     /* offset of the v2 / v3 value */
	/* first signer of each scheme */
	size_t signed_data[2], signed_data_len[2];
	size_t sdk_outer[2]; /* v3: min SDK outside the signed data */
	size_t sig_alg[2];   /* first signature's algorithm id */
	size_t sig[2], sig_len[2];
	size_t pubkey[2], pubkey_len[2];
};

static void layout_signer(const uint8_t *p, int k, int scheme, size_t v, struct layout *l)
{
	size_t signer = v + 4 + 4; /* signers seq length, signer length */
	size_t sd_len = rd32(p + signer), q = signer + 4 + sd_len;

	l->signed_data[k] = signer + 4;
	l->signed_data_len[k] = sd_len;
	if (scheme == 3) {
		l->sdk_outer[k] = q;
		q += 8;
	}
	/* signatures seq: len, record len, alg, sig len, sig */
	l->sig_alg[k] = q + 8;
	l->sig_len[k] = rd32(p + q + 12);
	l->sig[k] = q + 16;
	q += 4 + rd32(p + q);
	l->pubkey_len[k] = rd32(p + q);
	l->pubkey[k] = q + 4;
}

static struct layout layout_of(struct blob b)
{
	struct layout l = { 0 };
	size_t q;

	for (l.eocd = b.len - 22; rd32(b.p + l.eocd) != 0x06054b50; l.eocd--)
		;
	l.cd = rd32(b.p + l.eocd + 16);
	l.block_end = l.cd;
	l.block = l.cd - (size_t)rd64(b.p + l.cd - 24) - 8;
	for (q = l.block + 8; q < l.cd - 24;) {
		size_t len = (size_t)rd64(b.p + q);
		uint32_t id = rd32(b.p + q + 8);
		int k = id == APK_BLOCK_ID_V2 ? 0 : id == APK_BLOCK_ID_V3 ? 1 : -1;

		if (k >= 0) {
			l.pair_id[k] = q + 8;
			l.value[k] = q + 12;
			layout_signer(b.p, k, k + 2, q + 12, &l);
		}
		q += 8 + len;
	}
	return l;
}

static int verify(struct blob b, struct apk_result *r)
{
	rb_err_clear();
	return apk_verify_buffer(b.p, b.len, "test.apk", r);
}

/* Expect err, and that the detail mentions what. */
#define CHECK_FAILS(b, err, what)                                                          \
	do {                                                                               \
		struct apk_result _res;                                                    \
		CHECK_ERR(verify(b, &_res), err);                                          \
		if (!strstr(rb_err_detail(), what)) {                                      \
			fprintf(stderr, "%s:%d: detail '%s' lacks '%s'\n", __FILE__, __LINE__, \
				rb_err_detail(), what);                                    \
			t_failed_checks++;                                                 \
		}                                                                          \
	} while (0)

/* ---- apksigner's APKs verify ------------------------------------------- */

static void expect_signed_by(const struct apk_scheme_info *s, const char *key, uint32_t alg, int scheme)
{
	const struct manifest_key *k = mkey(key);

	CHECK(s->present);
	CHECK(s->verified);
	CHECK(s->n_signers == 1);
	CHECK(s->signers[0].alg == alg);
	CHECK(memcmp(s->signers[0].spki_sha256, k->spki_sha256, 32) == 0);
	CHECK(memcmp(s->signers[0].cert_sha256, k->cert_sha256, 32) == 0);
	if (scheme == 3) {
		CHECK(s->signers[0].min_sdk == 24);
		CHECK(s->signers[0].max_sdk == 0x7fffffff);
	} else {
		CHECK(s->signers[0].min_sdk == 0 && s->signers[0].max_sdk == 0);
	}
}

static void test_apksigner_outputs(void)
{
	static const struct {
		const char *file, *key;
		uint32_t alg;
		bool v2, v3;
	} cases[] = {
		{ "platform.apk", "platform", APK_SIG_RSA_PKCS1_SHA512, true, true },
		{ "media.apk", "media", APK_SIG_RSA_PKCS1_SHA256, true, true },
		{ "device.apk", "device", APK_SIG_ECDSA_SHA256, true, true },
		{ "v2only.apk", "platform", APK_SIG_RSA_PKCS1_SHA512, true, false },
		{ "v3only.apk", "device", APK_SIG_ECDSA_SHA256, false, true },
		{ "big.apk", "device", APK_SIG_ECDSA_SHA256, true, true },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char path[4096];
		struct apk_result rf, rb;
		struct blob b = load(cases[i].file);
		const struct manifest_key *k = NULL;

		snprintf(path, sizeof(path), "%s/%s", apk_dir, cases[i].file);
		CHECK_OK(apk_verify_file(path, &rf));
		CHECK_OK(verify(b, &rb));
		CHECK(memcmp(&rf, &rb, sizeof(rf)) == 0);
		CHECK(rf.file_size == b.len);
		CHECK(rf.eocd_offset + 22 == b.len);
		CHECK(rf.cd_offset + rf.cd_size == rf.eocd_offset);
		CHECK(rf.sig_block_offset < rf.cd_offset);
		CHECK(rf.v2.present == cases[i].v2);
		CHECK(rf.v3.present == cases[i].v3);
		if (cases[i].v2)
			expect_signed_by(&rf.v2, cases[i].key, cases[i].alg, 2);
		if (cases[i].v3)
			expect_signed_by(&rf.v3, cases[i].key, cases[i].alg, 3);
		CHECK_OK(apk_check_against_manifest(&rf, man, &k));
		CHECK(k == mkey(cases[i].key));
		if (strcmp(cases[i].file, "big.apk") == 0)
			CHECK(b.len > 2u * APK_CHUNK_BYTES);
		free(b.p);
	}
}

static void test_unsigned_and_garbage(void)
{
	struct blob u = load("unsigned.apk"), g;
	struct apk_result r;
	char path[4096];

	CHECK_FAILS(u, RB_E_NOTFOUND, "no APK Signing Block magic");
	CHECK_FAILS(((struct blob){ (uint8_t *)"", 0 }), RB_E_PARSE, "too short");
	g = copy(u);
	memset(g.p, 'x', g.len);
	CHECK_FAILS(g, RB_E_NOTFOUND, "no ZIP End of Central Directory");
	CHECK_ERR(apk_verify_buffer(NULL, 5, "x", &r), RB_E_INVAL);
	CHECK_ERR(apk_verify_file(apk_dir, &r), RB_E_INVAL);
	snprintf(path, sizeof(path), "%s/missing.apk", apk_dir);
	CHECK_ERR(apk_verify_file(path, &r), RB_E_NOTFOUND);
	free(u.p);
	free(g.p);
}

/* ---- tampering with apksigner's output --------------------------------- */

static void tamper_one(const char *file)
{
	struct blob orig = load(file), b;
	struct layout l = layout_of(orig);
	size_t marker;
	struct apk_result r;

	t_current = file;
	/* one byte of a stored entry */
	b = copy(orig);
	marker = (size_t)((uint8_t *)memmem(b.p, b.len, "ROMBSR-TAMPER-TARGET", 20) - b.p);
	b.p[marker + 3] ^= 0x01;
	CHECK_FAILS(b, RB_E_VERIFY, "content digest does not match");
	free(b.p);
	/* one byte of the central directory (an entry's CRC-32) */
	b = copy(orig);
	b.p[l.cd + 16] ^= 0x80;
	CHECK_FAILS(b, RB_E_VERIFY, "content digest does not match");
	free(b.p);
	/* the EoCD's entry count is digested too */
	b = copy(orig);
	b.p[l.eocd + 10]--;
	b.p[l.eocd + 8]--;
	CHECK_FAILS(b, RB_E_VERIFY, "content digest does not match");
	free(b.p);
	/* one byte of the signed data, in each scheme */
	for (int k = 0; k < 2; k++) {
		b = copy(orig);
		b.p[l.signed_data[k] + l.signed_data_len[k] / 2] ^= 0x04;
		CHECK_FAILS(b, RB_E_VERIFY, "signature does not verify");
		free(b.p);
	}
	/* one byte of the signature, in each scheme */
	for (int k = 0; k < 2; k++) {
		b = copy(orig);
		b.p[l.sig[k] + l.sig_len[k] / 2] ^= 0x10;
		CHECK_FAILS(b, RB_E_VERIFY, "signature does not verify");
		free(b.p);
	}
	/* an unknown algorithm id in place of the real one */
	b = copy(orig);
	wr32(b.p + l.sig_alg[1], 0x0421);
	CHECK_FAILS(b, RB_E_UNSUPPORTED, "algorithm 0x0421");
	free(b.p);
	b = copy(orig);
	wr32(b.p + l.sig_alg[0], 0x0301); /* DSA */
	CHECK_FAILS(b, RB_E_UNSUPPORTED, "v2 block, signer #0: signature #0 uses algorithm 0x0301");
	free(b.p);
	/* another supported algorithm id: the signature no longer verifies */
	b = copy(orig);
	wr32(b.p + l.sig_alg[1], rd32(orig.p + l.sig_alg[1]) == APK_SIG_ECDSA_SHA256 ? APK_SIG_ECDSA_SHA512 : APK_SIG_RSA_PSS_SHA512);
	CHECK_FAILS(b, RB_E_VERIFY, "signature does not verify");
	free(b.p);
	/* the public key of the signer replaced: the signature fails first */
	b = copy(orig);
	b.p[l.pubkey[1] + l.pubkey_len[1] - 5] ^= 0x01;
	{
		int rc = verify(b, &r);
		CHECK(rc == RB_E_VERIFY || rc == RB_E_PARSE);
	}
	free(b.p);
	/* v3: the SDK range outside the signed data is not signed, but must
	 * agree with the signed one */
	b = copy(orig);
	wr32(b.p + l.sdk_outer[1], 21);
	CHECK_FAILS(b, RB_E_VERIFY, "SDK range 21..");
	free(b.p);
	/* the signing block's two sizes disagree */
	b = copy(orig);
	wr64(b.p + l.block, rd64(b.p + l.block) + 8);
	CHECK_FAILS(b, RB_E_PARSE, "leading size");
	free(b.p);
	b = copy(orig);
	wr64(b.p + l.cd - 24, rd64(b.p + l.cd - 24) - 16);
	CHECK_FAILS(b, RB_E_PARSE, "disagree");
	free(b.p);
	/* a signing block larger than the file before it, and over the cap */
	b = copy(orig);
	wr64(b.p + l.cd - 24, l.cd + 100);
	CHECK_FAILS(b, RB_E_PARSE, "would start before the file");
	free(b.p);
	b = copy(orig);
	wr64(b.p + l.cd - 24, UINT64_MAX - 4);
	CHECK_FAILS(b, RB_E_TOOBIG, "cap");
	free(b.p);
	/* a pair whose length runs past the block, or overflows */
	b = copy(orig);
	wr64(b.p + l.pair_id[0] - 8, l.cd);
	CHECK_FAILS(b, RB_E_PARSE, "pair #0");
	free(b.p);
	b = copy(orig);
	wr64(b.p + l.pair_id[0] - 8, UINT64_MAX);
	CHECK_FAILS(b, RB_E_PARSE, "pair #0");
	free(b.p);
	/* the magic damaged */
	b = copy(orig);
	b.p[l.cd - 1] ^= 1;
	CHECK_FAILS(b, RB_E_NOTFOUND, "no APK Signing Block magic");
	free(b.p);
	/* the v3 block stripped (its pair renamed): the v2 signer says v3 was there */
	b = copy(orig);
	wr32(b.p + l.pair_id[1], 0x42726577);
	CHECK_FAILS(b, RB_E_VERIFY, "stripped");
	free(b.p);
	/* two v2 blocks */
	b = copy(orig);
	wr32(b.p + l.pair_id[1], APK_BLOCK_ID_V2);
	CHECK_FAILS(b, RB_E_PARSE, "second v2 block");
	free(b.p);
	/* a signer sequence length one short */
	b = copy(orig);
	wr32(b.p + l.value[1], rd32(b.p + l.value[1]) - 1);
	CHECK_FAILS(b, RB_E_PARSE, "v3 block");
	free(b.p);
	/* wrong EoCD central directory offset: one off either way, at the
	 * signing block, at ZIP64's marker */
	b = copy(orig);
	wr32(b.p + l.eocd + 16, (uint32_t)l.cd + 1);
	CHECK_FAILS(b, RB_E_PARSE, "does not end at the EoCD");
	free(b.p);
	b = copy(orig);
	wr32(b.p + l.eocd + 16, (uint32_t)l.cd - 1);
	CHECK_FAILS(b, RB_E_PARSE, "does not end at the EoCD");
	free(b.p);
	b = copy(orig);
	wr32(b.p + l.eocd + 16, (uint32_t)l.block);
	wr32(b.p + l.eocd + 12, (uint32_t)(l.eocd - l.block));
	CHECK_FAILS(b, RB_E_PARSE, "no central directory header");
	free(b.p);
	b = copy(orig);
	wr32(b.p + l.eocd + 16, 0xffffffffu);
	CHECK_FAILS(b, RB_E_UNSUPPORTED, "ZIP64");
	free(b.p);
	b = copy(orig);
	b.p[l.eocd + 4] = 1; /* disk number */
	CHECK_FAILS(b, RB_E_UNSUPPORTED, "multi-disk");
	free(b.p);
	/* a comment appended after signing: the EoCD is digested */
	b.len = orig.len + 5;
	b.p = malloc(b.len);
	memcpy(b.p, orig.p, orig.len);
	memcpy(b.p + orig.len, "hello", 5);
	b.p[l.eocd + 20] = 5;
	CHECK_FAILS(b, RB_E_VERIFY, "content digest does not match");
	free(b.p);
	/* truncation: the last byte, into the central directory, into the
	 * signing block, to almost nothing */
	{
		size_t cuts[] = { orig.len - 1, l.eocd + 10, l.cd + 30, l.block + 100, 30, 21 };

		for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
			b = copy(orig);
			b.len = cuts[i];
			CHECK(verify(b, &r) < 0);
			free(b.p);
		}
	}
	/* the file is still fine */
	CHECK_OK(verify(orig, &r));
	free(orig.p);
}

static void test_tamper(void)
{
	tamper_one("device.apk");
	tamper_one("platform.apk");
	tamper_one("media.apk");
}

/* A file tampered on disk fails through apk_verify_file too. */
static void test_tamper_file(void)
{
	struct blob b = load("big.apk");
	struct apk_result r;
	char path[4096];

	/* past the first 1 MiB chunk */
	b.p[b.len / 2] ^= 0x01;
	snprintf(path, sizeof(path), "%s/big-tampered.apk", tmpdir);
	CHECK_OK(rb_file_write_atomic(path, b.p, b.len, 0644));
	CHECK_ERR(apk_verify_file(path, &r), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "content digest does not match") != NULL);
	free(b.p);
}

/* ---- manifest checks ---------------------------------------------------- */

static void test_manifest_check(void)
{
	struct blob b = load("media.apk");
	struct apk_result r, empty;
	const struct manifest_key *k = NULL;
	struct manifest none = { 0 };

	CHECK_OK(verify(b, &r));
	CHECK_OK(apk_check_against_manifest(&r, man, &k));
	CHECK(k == mkey("media"));
	/* revoked: refused */
	k = NULL;
	CHECK_ERR(apk_check_against_manifest(&r, man_revoked, &k), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "revoked") != NULL);
	CHECK(k == NULL);
	/* unknown signer */
	CHECK_ERR(apk_check_against_manifest(&r, &none, &k), RB_E_KEY);
	/* retired keys still verify old artifacts */
	for (size_t i = 0; i < man->n_keys; i++)
		if (strcmp(man->keys[i].name, "media") == 0)
			man->keys[i].status = KEY_RETIRED;
	CHECK_OK(apk_check_against_manifest(&r, man, &k));
	CHECK(k == mkey("media"));
	for (size_t i = 0; i < man->n_keys; i++)
		if (strcmp(man->keys[i].name, "media") == 0)
			man->keys[i].status = KEY_ACTIVE;
	/* a result nobody verified */
	memset(&empty, 0, sizeof(empty));
	CHECK_ERR(apk_check_against_manifest(&empty, man, &k), RB_E_INVAL);
	free(b.p);
}

/* ---- APKs whose signing block this test builds -------------------------- */

struct tkey {
	EVP_PKEY *pkey;
	uint8_t *spki;
	size_t spki_len;
	uint8_t *cert;
	size_t cert_len;
};

static void tkey_new(const char *kind, struct tkey *k)
{
	X509 *x = X509_new();
	X509_NAME *n;
	unsigned char *der = NULL;
	int len;

	memset(k, 0, sizeof(*k));
	k->pkey = strcmp(kind, "p256") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
					    : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!k->pkey || !x)
		abort();
	len = i2d_PUBKEY(k->pkey, &der);
	k->spki = der;
	k->spki_len = (size_t)len;
	der = NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"apk test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k->pkey);
	if (X509_sign(x, k->pkey, EVP_sha256()) <= 0)
		abort();
	len = i2d_X509(x, &der);
	k->cert = der;
	k->cert_len = (size_t)len;
	X509_free(x);
}

static void tkey_free(struct tkey *k)
{
	EVP_PKEY_free(k->pkey);
	OPENSSL_free(k->spki);
	OPENSSL_free(k->cert);
}

static void sign_bytes(EVP_PKEY *key, uint32_t alg, const uint8_t *msg, size_t len, struct rb_buf *out)
{
	const struct apk_alg *a = apk_alg_find(alg);
	const EVP_MD *md = a->sha512 ? EVP_sha512() : EVP_sha256();
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[1024];
	size_t siglen = sizeof(sig);

	if (EVP_DigestSignInit(m, &pctx, md, NULL, key) != 1)
		abort();
	if (a->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) != 1))
		abort();
	if (EVP_DigestSign(m, sig, &siglen, msg, len) != 1)
		abort();
	EVP_MD_CTX_free(m);
	put_lp(out, sig, siglen);
}

struct tsigner {
	struct tkey *key;      /* signs */
	struct tkey *cert_key; /* whose certificate is in the signed data (default key) */
	uint32_t algs[4];      /* signature algorithms, 0-terminated */
	uint32_t digest_algs[4]; /* digest algorithms (default algs) */
	bool claim_v3;
};

struct digests {
	uint8_t d256[32], d512[64];
};

static void signer_put(int scheme, const struct tsigner *s, const struct digests *d, struct rb_buf *out)
{
	struct rb_buf sd = RB_BUF_INIT, dig = RB_BUF_INIT, certs = RB_BUF_INIT, attrs = RB_BUF_INIT,
		      sigs = RB_BUF_INIT, rec = RB_BUF_INIT, one = RB_BUF_INIT;
	const uint32_t *dalgs = s->digest_algs[0] ? s->digest_algs : s->algs;
	const struct tkey *ck = s->cert_key ? s->cert_key : s->key;

	for (size_t i = 0; dalgs[i]; i++) {
		const struct apk_alg *a = apk_alg_find(dalgs[i]);

		put_le32(&rec, dalgs[i]);
		put_lp(&rec, a->sha512 ? d->d512 : d->d256, a->sha512 ? 64 : 32);
		put_lp_buf(&dig, &rec);
	}
	put_lp(&certs, ck->cert, ck->cert_len);
	if (s->claim_v3) {
		put_le32(&rec, 0xbeeff00d);
		put_le32(&rec, 3);
		put_lp_buf(&attrs, &rec);
	}
	put_signed_data(&sd, scheme, &dig, &certs, &attrs);
	for (size_t i = 0; s->algs[i]; i++) {
		put_le32(&rec, s->algs[i]);
		sign_bytes(s->key->pkey, s->algs[i], sd.data, sd.len, &rec);
		put_lp_buf(&sigs, &rec);
	}
	put_lp_buf(&one, &sd);
	if (scheme == 3) {
		put_le32(&one, 24);
		put_le32(&one, 0x7fffffff);
	}
	put_lp_buf(&one, &sigs);
	put_lp(&one, s->key->spki, s->key->spki_len);
	put_lp_buf(out, &one);
}

struct tscheme {
	uint32_t id;
	const struct tsigner *signers;
	size_t n;
};

/* Sign unsigned (a zipaligned APK without a signing block) with the given
 * scheme blocks, in order. */
static struct blob build_apk(struct blob unsigned_apk, const struct tscheme *schemes, size_t n)
{
	struct apk_source src = { "unsigned", unsigned_apk.len, unsigned_apk.p, -1 };
	struct apk_zip *z = malloc(sizeof(*z));
	struct digests d;
	struct rb_buf pairs = RB_BUF_INIT, blk = RB_BUF_INIT, apk = RB_BUF_INIT;
	uint8_t x8[8];
	struct blob out;

	if (apk_zip_find(&src, z) < 0 ||
	    apk_digest_compute(&src, z, z->cd_offset, true, true, d.d256, d.d512) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct rb_buf value = RB_BUF_INIT, seq = RB_BUF_INIT;
		int scheme = schemes[i].id == APK_BLOCK_ID_V3 ? 3 : 2;

		for (size_t j = 0; j < schemes[i].n; j++)
			signer_put(scheme, &schemes[i].signers[j], &d, &seq);
		put_lp_buf(&value, &seq);
		wr64(x8, value.len + 4);
		rb_buf_put(&pairs, x8, 8);
		put_le32(&pairs, schemes[i].id);
		rb_buf_put(&pairs, value.data, value.len);
		rb_buf_free(&value);
	}
	wr64(x8, pairs.len + 24);
	rb_buf_put(&blk, x8, 8);
	rb_buf_put(&blk, pairs.data, pairs.len);
	rb_buf_put(&blk, x8, 8);
	rb_buf_put(&blk, "APK Sig Block 42", 16);
	rb_buf_put(&apk, unsigned_apk.p, z->cd_offset);
	rb_buf_put(&apk, blk.data, blk.len);
	rb_buf_put(&apk, unsigned_apk.p + z->cd_offset, z->cd_size);
	wr32(z->eocd + 16, (uint32_t)(z->cd_offset + blk.len));
	rb_buf_put(&apk, z->eocd, z->eocd_len);
	rb_buf_free(&pairs);
	rb_buf_free(&blk);
	free(z);
	out.p = rb_buf_steal(&apk, &out.len);
	return out;
}

static struct tkey k_rsa, k_ec, k_other;

static void test_built_algorithms(void)
{
	struct blob u = load("unsigned.apk");
	static const uint32_t algsets[][4] = {
		{ APK_SIG_RSA_PSS_SHA256 },
		{ APK_SIG_RSA_PSS_SHA512 },
		{ APK_SIG_RSA_PKCS1_SHA256 },
		{ APK_SIG_RSA_PKCS1_SHA512 },
		{ APK_SIG_RSA_PKCS1_SHA256, APK_SIG_RSA_PSS_SHA512 },
		{ APK_SIG_ECDSA_SHA256 },
		{ APK_SIG_ECDSA_SHA512 },
		{ APK_SIG_ECDSA_SHA256, APK_SIG_ECDSA_SHA512 },
	};

	for (size_t i = 0; i < ELEMENTSOF(algsets); i++) {
		struct tsigner s = { .key = algsets[i][0] >= 0x0201 ? &k_ec : &k_rsa, .claim_v3 = true };
		struct tscheme sc[2] = { { APK_BLOCK_ID_V2, &s, 1 }, { APK_BLOCK_ID_V3, &s, 1 } };
		struct apk_result r;
		struct blob b;
		uint32_t want = algsets[i][algsets[i][1] ? 1 : 0];

		memcpy(s.algs, algsets[i], sizeof(s.algs));
		b = build_apk(u, sc, 2);
		CHECK_OK(verify(b, &r));
		CHECK(r.v2.present && r.v3.present);
		CHECK(r.v2.signers[0].alg == want && r.v3.signers[0].alg == want);
		free(b.p);
		/* and with a digest that is off by one byte of content */
		b = build_apk(u, sc, 2);
		b.p[100] ^= 1;
		CHECK_FAILS(b, RB_E_VERIFY, "content digest does not match");
		free(b.p);
	}
	free(u.p);
}

static void test_built_defects(void)
{
	struct blob u = load("unsigned.apk"), b;
	struct apk_result r;
	const struct manifest_key *k;

	/* the certificate is of another key than the one that signed */
	{
		struct tsigner s = { .key = &k_ec, .cert_key = &k_other, .algs = { APK_SIG_ECDSA_SHA256 } };
		struct tscheme sc = { APK_BLOCK_ID_V3, &s, 1 };

		b = build_apk(u, &sc, 1);
		CHECK_FAILS(b, RB_E_VERIFY, "certificate #0's public key is not the signer's public key");
		free(b.p);
	}
	/* signatures and digests name different algorithms */
	{
		struct tsigner s = { .key = &k_rsa, .algs = { APK_SIG_RSA_PKCS1_SHA256 },
				     .digest_algs = { APK_SIG_RSA_PSS_SHA256 } };
		struct tscheme sc = { APK_BLOCK_ID_V2, &s, 1 };

		b = build_apk(u, &sc, 1);
		CHECK_FAILS(b, RB_E_VERIFY, "signature algorithm lists disagree at #0");
		free(b.p);
	}
	{
		struct tsigner s = { .key = &k_rsa, .algs = { APK_SIG_RSA_PKCS1_SHA256, APK_SIG_RSA_PKCS1_SHA512 },
				     .digest_algs = { APK_SIG_RSA_PKCS1_SHA256 } };
		struct tscheme sc = { APK_BLOCK_ID_V2, &s, 1 };

		b = build_apk(u, &sc, 1);
		CHECK_FAILS(b, RB_E_VERIFY, "signature algorithm lists disagree");
		free(b.p);
	}
	/* an ECDSA algorithm id on an RSA key */
	{
		struct tsigner s = { .key = &k_rsa, .algs = { APK_SIG_RSA_PKCS1_SHA256 } };
		struct tscheme sc = { APK_BLOCK_ID_V3, &s, 1 };
		struct layout l;

		b = build_apk(u, &sc, 1);
		CHECK_OK(verify(b, &r));
		l = layout_of(b);
		wr32(b.p + l.sig_alg[1], APK_SIG_ECDSA_SHA256);
		CHECK_FAILS(b, RB_E_VERIFY, "does not fit the signer's RSA public key");
		free(b.p);
	}
	/* two signers: both verify; neither is a manifest key */
	{
		struct tsigner s[2] = { { .key = &k_rsa, .algs = { APK_SIG_RSA_PKCS1_SHA256 } },
					{ .key = &k_ec, .algs = { APK_SIG_ECDSA_SHA256 } } };
		struct tscheme sc = { APK_BLOCK_ID_V2, s, 2 };

		b = build_apk(u, &sc, 1);
		CHECK_OK(verify(b, &r));
		CHECK(r.v2.n_signers == 2 && !r.v3.present);
		CHECK_ERR(apk_check_against_manifest(&r, man, &k), RB_E_KEY);
		CHECK(strstr(rb_err_detail(), "v2 signer #0") != NULL);
		free(b.p);
	}
	/* no v2/v3 block at all, only padding */
	{
		struct tscheme sc = { 0x42726577, NULL, 0 };

		b = build_apk(u, &sc, 1);
		CHECK_FAILS(b, RB_E_NOTFOUND, "neither a v2 nor a v3");
		free(b.p);
	}
	free(u.p);
}

/* An EoCD comment - even one holding a fake EoCD record - is handled
 * like Android does: the record whose comment reaches the end wins. */
static void test_eocd_comment(void)
{
	struct blob u = load("unsigned.apk"), c, b;
	struct tsigner s = { .key = &k_ec, .algs = { APK_SIG_ECDSA_SHA256 } };
	struct tscheme sc = { APK_BLOCK_ID_V3, &s, 1 };
	uint8_t fake[22] = { 0x50, 0x4b, 0x05, 0x06 };
	struct apk_result r;
	size_t clen = 40;

	c.len = u.len + clen;
	c.p = calloc(1, c.len);
	memcpy(c.p, u.p, u.len);
	memcpy(c.p + u.len + 4, fake, sizeof(fake));
	c.p[u.len - 2] = (uint8_t)clen;
	b = build_apk(c, &sc, 1);
	CHECK_OK(verify(b, &r));
	CHECK(r.eocd_offset + 22 + clen == b.len);
	free(b.p);
	free(c.p);
	free(u.p);
}

int main(void)
{
	const char *m = getenv("TEST_MANIFEST"), *mr = getenv("TEST_REVOKED_MANIFEST");

	apk_dir = getenv("TEST_APK_DIR");
	if (!apk_dir || !m || !mr) {
		fprintf(stderr, "run through run.sh (TEST_APK_DIR, TEST_MANIFEST, TEST_REVOKED_MANIFEST)\n");
		return 1;
	}
	if (manifest_load(m, &man) < 0 || manifest_load(mr, &man_revoked) < 0) {
		fprintf(stderr, "manifest: %s\n", rb_err_detail());
		return 1;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	tkey_new("rsa", &k_rsa);
	tkey_new("p256", &k_ec);
	tkey_new("p256", &k_other);

	RUN(test_apksigner_outputs);
	RUN(test_unsigned_and_garbage);
	RUN(test_tamper);
	RUN(test_tamper_file);
	RUN(test_manifest_check);
	RUN(test_built_algorithms);
	RUN(test_built_defects);
	RUN(test_eocd_comment);

	tkey_free(&k_rsa);
	tkey_free(&k_ec);
	tkey_free(&k_other);
	manifest_free(man);
	manifest_free(man_revoked);
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/big-tampered.apk", tmpdir);
		unlink(path);
		rmdir(tmpdir);
	}
	TEST_MAIN_END();
}
