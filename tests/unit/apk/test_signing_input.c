/* What an APK key is asked to sign (src/lib/apk/signed_data.c,
 * signing_input.c): the v2/v3 signed data, the v4 signing data and the v1
 * signature file exactly as apksigner produced them against SoftHSM2
 * (run.sh), and hand-made variants of each that apksigner never produces,
 * every one refused. Every prefix of every real input is refused too, so
 * the bounds hold under ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>

#include "apk/apk-internal.h"
#include "apk/apk.h"
#include "apk_test.h"
#include "harness.h"
#include "keys/manifest.h"
#include "request/capture-internal.h"
#include "request/capture_request.h"
#include "request/request.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;


/* Expect err from the check of data against key's certificate, and that
 * the detail mentions what. */
static void expect_check(const uint8_t *data, size_t len, const char *key, int err, const char *what,
			 int line)
{
	const struct manifest_key *k = mkey(key);
	int rc;

	rb_err_clear();
	rc = apk_signer_input_check("input", data, len, k->cert, k->cert_len, NULL);
	if (rc != err || (what && !strstr(rb_err_detail(), what))) {
		fprintf(stderr, "%s:%d: %s: got %d '%s', want %d '%s'\n", __FILE__, line, t_current, rc,
			rb_err_detail(), err, what ? what : "");
		t_failed_checks++;
	}
}
#define EXPECT(data, len, key, err, what) expect_check(data, len, key, err, what, __LINE__)

/* The first signer's signed data in the APK's v2 (scheme 2) or v3 block,
 * found with the verifier's own readers. */
static struct blob signed_data_of(struct blob apk, int scheme)
{
	struct apk_source src = { "apk", apk.len, apk.p, -1 };
	struct apk_zip z;
	struct apk_sig_block blk;
	struct rb_reader r, signers, signer, sd;
	struct blob out;

	if (apk_zip_find(&src, &z) < 0 || apk_sig_block_read(&src, &z, &blk) < 0)
		abort();
	if (scheme == 2)
		rb_reader_init(&r, blk.v2, blk.v2_len);
	else
		rb_reader_init(&r, blk.v3, blk.v3_len);
	if (apk_get_lp(&r, &signers) < 0 || apk_get_lp(&signers, &signer) < 0 || apk_get_lp(&signer, &sd) < 0)
		abort();
	out.len = sd.len;
	out.p = malloc(sd.len);
	memcpy(out.p, sd.p, sd.len);
	apk_sig_block_clear(&blk);
	return out;
}

/* Every proper prefix is refused, but for one of length also_valid and,
 * in a .SF, those that end a section; no read goes past the end (ASan). */
static void expect_prefixes_refused(struct blob b, const char *key, size_t also_valid)
{
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *p = malloc(n ? n : 1);

		memcpy(p, b.p, n);
		if (apk_signer_input_check("prefix", p, n, mkey(key)->cert, mkey(key)->cert_len, NULL) == 0 &&
		    n != also_valid && !(n >= 4 && memcmp(p + n - 4, "\r\n\r\n", 4) == 0)) {
			fprintf(stderr, "%s: a %zu-byte prefix of %zu bytes was accepted\n", t_current, n, b.len);
			t_failed_checks++;
		}
		free(p);
	}
}

static void test_real_signed_data(void)
{
	static const struct {
		const char *file, *key, *other;
	} cases[] = {
		{ "platform.apk", "platform", "media" },
		{ "media.apk", "media", "platform" },
		{ "device.apk", "device", "platform" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct blob apk = load(cases[i].file);

		for (int scheme = 2; scheme <= 3; scheme++) {
			struct blob sd = signed_data_of(apk, scheme);
			const struct manifest_key *k = mkey(cases[i].key);
			struct apk_signed_data d;
			enum apk_signed_kind kind = 0;

			CHECK_OK(apk_signed_data_parse("sd", scheme, sd.p, sd.len, &d));
			CHECK(d.n_certs == 1 && d.cert_len == k->cert_len && memcmp(d.cert, k->cert, k->cert_len) == 0);
			CHECK(d.n_digests >= 1);
			CHECK(scheme == 2 ? d.claims_v3 && d.min_sdk == 0 : d.min_sdk == 24 && d.max_sdk == 0x7fffffff);
			CHECK_OK(apk_signer_input_check("sd", sd.p, sd.len, k->cert, k->cert_len, &kind));
			CHECK(kind == (scheme == 2 ? APK_SIGNED_V2 : APK_SIGNED_V3));
			/* the same bytes for another key: they name this key's certificate */
			EXPECT(sd.p, sd.len, cases[i].other, RB_E_VERIFY, "names the certificate");
			/* v2 without apksigner's empty trailer is still v2 */
			if (i == 0)
				expect_prefixes_refused(sd, cases[i].key, scheme == 2 ? sd.len - 4 : SIZE_MAX);
			free(sd.p);
		}
		free(apk.p);
	}
}

static void test_real_sf(void)
{
	struct blob sf = load("platform.sf");
	enum apk_signed_kind kind = 0;

	CHECK_OK(apk_jar_sf_check("sf", sf.p, sf.len));
	CHECK_OK(apk_signer_input_check("sf", sf.p, sf.len, mkey("platform")->cert, mkey("platform")->cert_len, &kind));
	CHECK(kind == APK_SIGNED_V1_SF);
	/* a .SF names no certificate: any APK key may sign it */
	EXPECT(sf.p, sf.len, "media", 0, NULL);
	expect_prefixes_refused(sf, "platform", SIZE_MAX);
	free(sf.p);
}

/* The .idsig holds version, hashing info and signing info; what the key
 * signed is rebuilt from them the way apksigner builds it, and the .idsig's
 * own signature over the rebuilt bytes proves it is exactly that. */
static struct blob v4_signing_data(void)
{
	struct blob idsig = load("v1v4.apk.idsig"), apk = load("v1v4.apk");
	struct rb_reader r, hashing, signing, f;
	const uint8_t *signing_start;
	struct rb_buf out = RB_BUF_INIT;
	size_t prefix_len;
	uint32_t alg;
	uint8_t hdr[12];
	struct blob ret;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	rb_reader_init(&r, idsig.p, idsig.len);
	if (rb_reader_skip(&r, 4) < 0 || apk_get_lp(&r, &hashing) < 0 || apk_get_lp(&r, &signing) < 0)
		abort();
	signing_start = signing.p;
	for (int i = 0; i < 3; i++) /* APK digest, certificate, additional data */
		if (apk_get_lp(&signing, &f) < 0)
			abort();
	prefix_len = (size_t)(signing.p - signing_start);
	if (apk_get_lp(&signing, &f) < 0 || rb_reader_get_u32le(&signing, &alg) < 0 || apk_get_lp(&signing, &f) < 0)
		abort();
	wr32(hdr, (uint32_t)(12 + hashing.len + prefix_len));
	wr32(hdr + 4, (uint32_t)apk.len);
	wr32(hdr + 8, 0);
	if (rb_buf_put(&out, hdr, 12) < 0 || rb_buf_put(&out, hashing.p, hashing.len) < 0 ||
	    rb_buf_put(&out, signing_start, prefix_len) < 0)
		abort();
	CHECK(alg == APK_SIG_RSA_PKCS1_SHA512);
	CHECK(md && EVP_DigestVerifyInit(md, &pctx, EVP_sha512(), NULL, mkey("platform")->pub) == 1 &&
	      EVP_DigestVerify(md, f.p, f.len, out.data, out.len) == 1);
	EVP_MD_CTX_free(md);
	free(idsig.p);
	free(apk.p);
	ret.p = rb_buf_steal(&out, &ret.len);
	return ret;
}

static void test_real_v4(void)
{
	struct blob v4 = v4_signing_data();
	struct apk_v4_signing_data d;
	enum apk_signed_kind kind = 0;

	CHECK_OK(apk_v4_signing_data_parse("v4", v4.p, v4.len, &d));
	CHECK(d.cert_len == mkey("platform")->cert_len && d.apk_digest_len == 64);
	CHECK_OK(apk_signer_input_check("v4", v4.p, v4.len, mkey("platform")->cert, mkey("platform")->cert_len, &kind));
	CHECK(kind == APK_SIGNED_V4);
	EXPECT(v4.p, v4.len, "media", RB_E_VERIFY, "v4 signing data names the certificate");
	expect_prefixes_refused(v4, "platform", SIZE_MAX);
	/* each field apksigner fixes, changed */
	{
		static const size_t at[] = { 0, 12, 16, 17 }; /* size, hash algorithm, log2, salt length */

		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			v4.p[at[i]] ^= 1;
			EXPECT(v4.p, v4.len, "platform", RB_E_PARSE, "v4");
			v4.p[at[i]] ^= 1;
		}
	}
	/* additional data after the certificate */
	{
		uint8_t *p = malloc(v4.len + 1);

		memcpy(p, v4.p, v4.len);
		wr32(p, (uint32_t)v4.len + 1);
		wr32(p + v4.len - 4, 1);
		p[v4.len] = 0x42;
		EXPECT(p, v4.len + 1, "platform", RB_E_PARSE, "additional data");
		free(p);
	}
	free(v4.p);
}

/* ---- hand-made structures ----------------------------------------------- */

/* v2 (scheme 2) or v3 signed data: n_digests SHA-256 digests, n_certs
 * copies of cert, n_attrs empty attributes, v2's empty trailer. */
static struct blob make_sd(int scheme, size_t n_digests, uint32_t alg, size_t digest_len, size_t n_certs,
			   const uint8_t *cert, size_t cert_len, size_t n_attrs)
{
	struct rb_buf sd = RB_BUF_INIT, digests = RB_BUF_INIT, certs = RB_BUF_INIT, attrs = RB_BUF_INIT;
	uint8_t zero[64] = { 0 };
	struct blob b;

	for (size_t i = 0; i < n_digests; i++) {
		struct rb_buf rec = RB_BUF_INIT;

		put_le32(&rec, alg);
		put_lp(&rec, zero, digest_len);
		put_lp_buf(&digests, &rec);
	}
	for (size_t i = 0; i < n_certs; i++)
		put_lp(&certs, cert, cert_len);
	for (size_t i = 0; i < n_attrs; i++) {
		struct rb_buf rec = RB_BUF_INIT;

		put_le32(&rec, 0x12345678);
		put_lp_buf(&attrs, &rec);
	}
	put_signed_data(&sd, scheme, &digests, &certs, &attrs);
	b.p = rb_buf_steal(&sd, &b.len);
	return b;
}

static void test_made_signed_data(void)
{
	const struct manifest_key *k = mkey("platform");
	struct blob b;

#define MADE(scheme, nd, alg, dl, nc, cert, cl, na, err, what)                   \
	do {                                                                    \
		b = make_sd(scheme, nd, alg, dl, nc, cert, cl, na);             \
		EXPECT(b.p, b.len, "platform", err, what);                      \
		free(b.p);                                                      \
	} while (0)

	MADE(2, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 0, 0, NULL);
	MADE(3, 2, APK_SIG_RSA_PKCS1_SHA256, 32, 2, k->cert, k->cert_len, 64, 0, NULL);
	MADE(2, 0, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 0, RB_E_PARSE, "no digests");
	MADE(2, APK_MAX_SIGNATURES + 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 0, RB_E_PARSE,
	     "more than 8 digests");
	MADE(3, 1, 0x0301, 32, 1, k->cert, k->cert_len, 0, RB_E_PARSE, "algorithm 0x0301");
	MADE(2, 1, APK_SIG_RSA_PKCS1_SHA512, 32, 1, k->cert, k->cert_len, 0, RB_E_PARSE, "is 32 bytes");
	MADE(2, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 0, k->cert, k->cert_len, 0, RB_E_PARSE, "no certificate");
	MADE(2, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, 0, 0, RB_E_PARSE, "certificate #0 is malformed");
	MADE(2, 1, APK_SIG_RSA_PKCS1_SHA256, 32, APK_MAX_CERTS + 1, k->cert, k->cert_len, 0, RB_E_PARSE,
	     "more than 8 certificates");
	MADE(3, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 65, RB_E_PARSE,
	     "more than 64 additional attributes");
	/* the first certificate decides: the key's own certificate second */
	{
		const struct manifest_key *o = mkey("media");
		struct rb_buf certs = RB_BUF_INIT, sd = RB_BUF_INIT, digests = RB_BUF_INIT, rec = RB_BUF_INIT;
		uint8_t zero[32] = { 0 };

		put_le32(&rec, APK_SIG_RSA_PKCS1_SHA256);
		put_lp(&rec, zero, 32);
		put_lp_buf(&digests, &rec);
		put_lp(&certs, o->cert, o->cert_len);
		put_lp(&certs, k->cert, k->cert_len);
		put_lp_buf(&sd, &digests);
		put_lp_buf(&sd, &certs);
		put_le32(&sd, 0);
		put_le32(&sd, 0);
		EXPECT(sd.data, sd.len, "platform", RB_E_VERIFY, "names the certificate");
		rb_buf_free(&sd);
	}
	/* v2's trailer is one empty element, nothing else; v3 has none */
	b = make_sd(2, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 0);
	wr32(b.p + b.len - 4, 1);
	EXPECT(b.p, b.len, "platform", RB_E_PARSE, "trailing bytes");
	free(b.p);
	b = make_sd(3, 1, APK_SIG_RSA_PKCS1_SHA256, 32, 1, k->cert, k->cert_len, 0);
	b.p = realloc(b.p, b.len + 1);
	b.p[b.len] = 0;
	EXPECT(b.p, b.len + 1, "platform", RB_E_PARSE, "trailing bytes");
	/* v3: an empty SDK range */
	{
		struct apk_signed_data d;
		size_t sdk = b.len - 12; /* min, max, empty attributes */

		wr32(b.p + sdk, 30);
		wr32(b.p + sdk + 4, 29);
		CHECK_ERR(apk_signed_data_parse("sd", 3, b.p, b.len, &d), RB_E_PARSE);
		CHECK(strstr(rb_err_detail(), "SDK range 30..29 is empty") != NULL);
	}
	free(b.p);
#undef MADE
}

static void test_other_structures(void)
{
	const struct manifest_key *k = mkey("platform");
	static const uint8_t pgp_trailer[] = { 0x04, 0x20, 0x01, 0x08, 0x00, 0x06, 0x05, 0x02,
					       0x65, 0x00, 0x00, 0x00, 0x04, 0xff, 0x00, 0x00, 0x00, 0x0c };
	const uint8_t *p = k->cert;
	long len;
	int tag, cls;

	/* the key's own TBSCertificate: the first element of its certificate */
	CHECK(ASN1_get_object(&p, &len, &tag, &cls, (long)k->cert_len) == V_ASN1_CONSTRUCTED);
	{
		const uint8_t *tbs = p;

		CHECK(ASN1_get_object(&p, &len, &tag, &cls, (long)k->cert_len) == V_ASN1_CONSTRUCTED);
		EXPECT(tbs, (size_t)(p - tbs) + (size_t)len, "platform", RB_E_PARSE, "no structure an APK key signs");
	}
	EXPECT(k->cert, k->cert_len, "platform", RB_E_PARSE, "no structure an APK key signs");
	EXPECT(pgp_trailer, sizeof(pgp_trailer), "platform", RB_E_PARSE, "no structure an APK key signs");
	EXPECT((const uint8_t *)"", 0, "platform", RB_E_PARSE, "no structure an APK key signs");
}

static void test_made_sf(void)
{
	static const struct {
		const char *text;
		int err;
		const char *what;
	} cases[] = {
		{ "Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\n\r\nName: a\r\nSHA-256-Digest: x\r\n\r\n", 0, NULL },
		{ "Signature-Version: 1.0\r\n\r\nName: res/raw/caf\xc3\xa9-\xe2\x82\xac.txt\r\nSHA-256-Digest: x\r\n\r\n", 0, NULL },
		{ "Signature-Version: 1.0\r\n\r\nName: a-very-long-name-that-apksigner-wraps-at-seventy-bytes-of-a-line-x\r\n"
		  " yz.txt\r\nSHA-256-Digest: x\r\n\r\n", 0, NULL },
		{ "Signature-Version: 1.0\r\n", RB_E_PARSE, "does not end with an empty line" },
		{ "Signature-Version: 1.0\r\n\r\n\r\n", RB_E_PARSE, "empty section" },
		{ "Signature-Version: 1.1\r\n\r\n", RB_E_PARSE, "starts with \"Signature-Version: 1.0\"" },
		{ "Signature-Version: 1.0\n\r\n", RB_E_PARSE, "starts with" },
		{ "Signature-Version: 1.0\r\nA: b\n\r\n", RB_E_PARSE, "control byte 0x0a" },
		{ "Signature-Version: 1.0\r\nA: b\rc\r\n\r\n", RB_E_PARSE, "does not end in CR LF" },
		{ "Signature-Version: 1.0\r\nA: b\x01\r\n\r\n", RB_E_PARSE, "control byte 0x01" },
		{ "Signature-Version: 1.0\r\nA: b\x7f\r\n\r\n", RB_E_PARSE, "control byte 0x7f" },
		{ "Signature-Version: 1.0\r\nA: \xc0\x80\r\n\r\n", RB_E_PARSE, "not UTF-8" },
		{ "Signature-Version: 1.0\r\nA: \xff\r\n\r\n", RB_E_PARSE, "not UTF-8" },
		{ "Signature-Version: 1.0\r\n\r\n continued\r\n\r\n", RB_E_PARSE, "continues no header" },
		{ "Signature-Version: 1.0\r\nno colon\r\n\r\n", RB_E_PARSE, "not \"Name: value\"" },
		{ "Signature-Version: 1.0\r\n-A: b\r\n\r\n", RB_E_PARSE, "not \"Name: value\"" },
		{ "Signature-Version: 1.0\r\nA:b\r\n\r\n", RB_E_PARSE, "not \"Name: value\"" },
		{ "Signature-Version: 1.0\r\nA:\r\n\r\n", RB_E_PARSE, "not \"Name: value\"" },
		{ "Signature-Version: 1.0\r\nName: 0123456789012345678901234567890123456789012345678901234567890123456\r\n\r\n",
		  RB_E_PARSE, "73 bytes, over 72" },
		{ "Signature-Version: 1.0\r\n\r\n\x04\xff", RB_E_PARSE, "control byte 0x04" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rb_err_clear();
		expect_check((const uint8_t *)cases[i].text, strlen(cases[i].text), "platform", cases[i].err,
			     cases[i].what, (int)i);
	}
	/* a NUL inside */
	{
		static const char nul[] = "Signature-Version: 1.0\r\nA: b\0c\r\n\r\n";

		EXPECT((const uint8_t *)nul, sizeof(nul) - 1, "platform", RB_E_PARSE, "control byte 0x00");
	}
}

/* ---- the sign node's check of a capture request (request.h) -------------- */

/* A version-2 request for key as the capture module records it when the
 * tool passes data to a hashing mechanism (data NULL: digest only, as
 * CKM_RSA_PKCS records it). */
static struct capture_request *req(const char *key, const uint8_t *data, size_t len, bool keep)
{
	const struct manifest_key *k = mkey(key);
	bool rsa = k->alg == RB_KEY_RSA;
	enum rb_sig_scheme scheme = rsa ? RB_SIG_RSA_PKCS1_SHA512 : RB_SIG_ECDSA_SHA256;
	uint8_t d[64];
	size_t n;
	struct capture_request *r = NULL;

	CHECK_OK(rb_digest(rb_sig_scheme_md(scheme), data, len, d, &n));
	CHECK_OK(capture_request_new_data("b1", k, keep ? (rsa ? CAPTURE_MECH_SHA512_RSA_PKCS : CAPTURE_MECH_ECDSA_SHA256)
						     : (rsa ? CAPTURE_MECH_RSA_PKCS : CAPTURE_MECH_ECDSA),
					  scheme, d, n, keep ? data : NULL, len, "apksigner", 0, &r));
	if (!r)
		abort();
	return r;
}

static void expect_structure(const struct capture_request *r, const struct manifest_key *k, int err,
			     const char *what, int line)
{
	int rc;

	rb_err_clear();
	rc = request_capture_structure_check(r, k);
	if (rc != err || (what && !strstr(rb_err_detail(), what))) {
		fprintf(stderr, "%s:%d: %s: got %d '%s', want %d '%s'\n", __FILE__, line, t_current, rc,
			rb_err_detail(), err, what ? what : "");
		t_failed_checks++;
	}
}
#define STRUCT(r, k, err, what) expect_structure(r, k, err, what, __LINE__)

/* An apk-only key signs through capture only apksigner's structures that
 * name it, seen in the request's data; a key that also has a purpose
 * taken on trust keeps signing digests. */
static void test_capture_structure_check(void)
{
	struct blob apk = load("platform.apk"), other = load("media.apk"), sf = load("platform.sf");
	struct blob v2 = signed_data_of(apk, 2), v3 = signed_data_of(apk, 3), v2m = signed_data_of(other, 2);
	struct blob v4 = v4_signing_data();
	struct manifest_key k = *mkey("platform"); /* a shallow copy whose purposes are changed */
	struct capture_request *ok2 = req("platform", v2.p, v2.len, true), *ok3 = req("platform", v3.p, v3.len, true);
	struct capture_request *ok4 = req("platform", v4.p, v4.len, true), *oksf = req("platform", sf.p, sf.len, true);
	struct capture_request *named = req("platform", v2m.p, v2m.len, true);
	struct capture_request *tbs = req("platform", k.cert + 4, 200, true);
	struct capture_request *digest = req("platform", v2.p, v2.len, false), *v1 = NULL;

	k.purposes = KEY_PURPOSE_APK;
	STRUCT(ok2, &k, 0, NULL);
	STRUCT(ok3, &k, 0, NULL);
	STRUCT(ok4, &k, 0, NULL);
	STRUCT(oksf, &k, 0, NULL);
	STRUCT(named, &k, RB_E_PERM, "v2 signed data names the certificate");
	STRUCT(named, &k, RB_E_PERM, "is not what apksigner signs with that key");
	STRUCT(tbs, &k, RB_E_PERM, "no structure an APK key signs");
	STRUCT(digest, &k, RB_E_PERM, "carries only a digest");
	STRUCT(digest, &k, RB_E_PERM, "Update the capture module");
	/* a version-1 request: digest only, whatever the mechanism */
	{
		const struct capture_request_fields f = { 1, "b1", CAPTURE_MECH_SHA512_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA512,
							  ok2->input, ok2->input_len, NULL, 0 };

		CHECK_OK(capture_request_build(&f, "platform", k.spki_sha256, 512, NULL, 0, &v1));
		if (v1)
			STRUCT(v1, &k, RB_E_PERM, "version 1) carries only a digest");
	}
	/* data changed after the request was read */
	ok2->data[ok2->data_len - 1] ^= 1;
	STRUCT(ok2, &k, RB_E_PERM, "does not hash to its input");
	ok2->data[ok2->data_len - 1] ^= 1;
	/* the key's certificate is what decides */
	k.cert = mkey("media")->cert;
	k.cert_len = mkey("media")->cert_len;
	STRUCT(ok2, &k, RB_E_PERM, "names the certificate");
	STRUCT(oksf, &k, 0, NULL);
	k = *mkey("platform");
	/* keys whose purposes take digests on trust: unchanged */
	for (unsigned p = KEY_PURPOSE_AVB; p <= KEY_PURPOSE_RAW_DETACHED; p <<= 1) {
		k.purposes = p;
		STRUCT(digest, &k, 0, NULL);
		STRUCT(named, &k, 0, NULL);
		k.purposes = KEY_PURPOSE_APK | p;
		STRUCT(digest, &k, 0, NULL);
		STRUCT(tbs, &k, 0, NULL);
	}
	capture_request_free(ok2);
	capture_request_free(ok3);
	capture_request_free(ok4);
	capture_request_free(oksf);
	capture_request_free(named);
	capture_request_free(tbs);
	capture_request_free(digest);
	capture_request_free(v1);
	free(apk.p);
	free(other.p);
	free(sf.p);
	free(v2.p);
	free(v3.p);
	free(v2m.p);
	free(v4.p);
}

int main(void)
{
	const char *m = getenv("TEST_MANIFEST");

	apk_dir = getenv("TEST_APK_DIR");
	if (!apk_dir || !m) {
		fprintf(stderr, "run through run.sh (TEST_APK_DIR, TEST_MANIFEST)\n");
		return 1;
	}
	if (manifest_load(m, &man) < 0) {
		fprintf(stderr, "manifest: %s\n", rb_err_detail());
		return 1;
	}
	RUN(test_real_signed_data);
	RUN(test_real_sf);
	RUN(test_real_v4);
	RUN(test_made_signed_data);
	RUN(test_other_structures);
	RUN(test_made_sf);
	RUN(test_capture_structure_check);
	manifest_free(man);
	TEST_MAIN_END();
}
