/* The capture library: DigestInfo parsing, request ids and placeholders,
 * the request file format, the spool under concurrent writers, the
 * resolver, signing on a SoftHSM2 token, and the configuration.
 *
 * Keys for requests and the resolver come from the test-only soft signer;
 * capture_request_sign runs against a real SoftHSM2 token in a temporary
 * directory, as tests/unit/p11 does. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "capture/capture.h"
#include "config.h"
#include "harness.h"
#include "json/json.h"
#include "p11/p11.h"
#include "request/capture-internal.h"
#include "request/capture_request.h"
#include "signer/capture_sign.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-capture-XXXXXX";
static struct rb_signer s_rsa, s_ec, s_ed;
static struct manifest man;
static const char *build = "build-42";
static const int64_t t0 = 1760000000;

/* ---- fixtures ----------------------------------------------------------- */

static void make_key(const char *name, struct rb_signer *s, enum key_status status,
		     struct manifest_key *k)
{
	unsigned char *der = NULL;
	int n;

	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->uri = strdup("pkcs11:token=t;type=private");
	k->alg = s->alg;
	k->bits = (unsigned)(s->alg == RB_KEY_RSA ? EVP_PKEY_get_bits(s->pub) :
			     s->alg == RB_KEY_EC_P256 ? 256 : 255);
	k->status = status;
	k->created = t0;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(k));
}

static void setup(void)
{
	if (!mkdtemp(tmpdir))
		abort();
	if (soft_signer_new("rsa2048", &s_rsa) < 0 || soft_signer_new("p256", &s_ec) < 0 ||
	    soft_signer_new("ed25519", &s_ed) < 0)
		abort();
	man.keys = calloc(5, sizeof(*man.keys));
	make_key("rsa-key", &s_rsa, KEY_ACTIVE, &man.keys[0]);
	make_key("ec-key", &s_ec, KEY_ACTIVE, &man.keys[1]);
	make_key("ed-key", &s_ed, KEY_ACTIVE, &man.keys[2]);
	make_key("old-key", &s_rsa, KEY_RETIRED, &man.keys[3]);
	make_key("bad-key", &s_ec, KEY_REVOKED, &man.keys[4]);
	man.n_keys = 5;
}

static struct manifest_key *key(const char *name)
{
	return manifest_find(&man, name);
}

static void digest_of(const char *msg, enum rb_sig_scheme scheme, uint8_t *out, size_t *len)
{
	if (rb_digest(rb_sig_scheme_md(scheme), msg, strlen(msg), out, len) < 0)
		abort();
}

/* A request for msg under scheme with the manifest key fitting it. */
static struct capture_request *req_for(const char *msg, enum rb_sig_scheme scheme)
{
	struct capture_request *r = NULL;
	uint8_t d[64];
	size_t dlen;

	switch (scheme) {
	case RB_SIG_ED25519:
		CHECK_OK(capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, scheme,
					     (const uint8_t *)msg, strlen(msg), "test", t0, &r));
		return r;
	case RB_SIG_ECDSA_SHA256:
		digest_of(msg, scheme, d, &dlen);
		CHECK_OK(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, scheme, d, dlen,
					     "test", t0, &r));
		return r;
	case RB_SIG_RSA_PSS_SHA256:
	case RB_SIG_RSA_PSS_SHA512:
		digest_of(msg, scheme, d, &dlen);
		CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS_PSS, scheme,
					     d, dlen, "test", t0, &r));
		return r;
	default:
		digest_of(msg, scheme, d, &dlen);
		CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS, scheme, d,
					     dlen, "test", t0, &r));
		return r;
	}
}

/* ---- DigestInfo --------------------------------------------------------- */

static void test_digestinfo(void)
{
	enum rb_sig_scheme schemes[] = { RB_SIG_RSA_PKCS1_SHA256, RB_SIG_RSA_PKCS1_SHA512 };
	/* SHA-1 DigestInfo (35 bytes), which tools still produce by default. */
	static const uint8_t sha1_prefix[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
					       0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
	/* SHA-256 without the NULL parameters (49 bytes, also valid DER). */
	static const uint8_t sha256_noparams[] = { 0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48,
						   0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20 };
	/* SHA-384 DigestInfo: a valid hash rombsr does not sign with. */
	static const uint8_t sha384_prefix[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
						 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
	uint8_t buf[128];
	const uint8_t *prefix, *dig = NULL;
	size_t plen, dlen = 0;
	enum rb_sig_scheme got;

	for (size_t s = 0; s < 2; s++) {
		size_t hl = rb_sig_scheme_digest_len(schemes[s]);

		CHECK_OK(rb_digestinfo_prefix(schemes[s], &prefix, &plen));
		memcpy(buf, prefix, plen);
		for (size_t i = 0; i < hl; i++)
			buf[plen + i] = (uint8_t)(0xa0 + i);
		CHECK(plen + hl == (s == 0 ? 51u : 83u));
		got = 0;
		CHECK_OK(capture_digestinfo_parse(buf, plen + hl, &got, &dig, &dlen));
		CHECK(got == schemes[s]);
		CHECK(dig == buf + plen && dlen == hl);
		/* every single-bit change anywhere in the prefix is refused */
		for (size_t i = 0; i < plen; i++)
			for (int bit = 0; bit < 8; bit++) {
				buf[i] ^= (uint8_t)(1 << bit);
				CHECK_ERR(capture_digestinfo_parse(buf, plen + hl, &got, &dig, &dlen),
					  RB_E_PARSE);
				buf[i] ^= (uint8_t)(1 << bit);
			}
		/* the digest bytes themselves are free */
		buf[plen + 3] ^= 0xff;
		CHECK_OK(capture_digestinfo_parse(buf, plen + hl, &got, &dig, &dlen));
		/* truncated at every length, and one trailing byte */
		for (size_t n = 0; n < plen + hl; n++)
			CHECK_ERR(capture_digestinfo_parse(buf, n, &got, &dig, &dlen), RB_E_PARSE);
		buf[plen + hl] = 0;
		CHECK_ERR(capture_digestinfo_parse(buf, plen + hl + 1, &got, &dig, &dlen), RB_E_PARSE);
		CHECK(strstr(rb_err_detail(), "SHA-256 or SHA-512") != NULL);
	}
	/* long-form length for the outer SEQUENCE: 30 81 31 ... (52 bytes) */
	CHECK_OK(rb_digestinfo_prefix(RB_SIG_RSA_PKCS1_SHA256, &prefix, &plen));
	buf[0] = 0x30;
	buf[1] = 0x81;
	memcpy(buf + 2, prefix + 1, plen - 1);
	memset(buf + plen + 1, 0x11, 32);
	CHECK_ERR(capture_digestinfo_parse(buf, plen + 33, &got, &dig, &dlen), RB_E_PARSE);

	memcpy(buf, sha1_prefix, sizeof(sha1_prefix));
	memset(buf + sizeof(sha1_prefix), 0x22, 20);
	CHECK_ERR(capture_digestinfo_parse(buf, sizeof(sha1_prefix) + 20, &got, &dig, &dlen), RB_E_PARSE);
	memcpy(buf, sha256_noparams, sizeof(sha256_noparams));
	memset(buf + sizeof(sha256_noparams), 0x33, 32);
	CHECK_ERR(capture_digestinfo_parse(buf, sizeof(sha256_noparams) + 32, &got, &dig, &dlen),
		  RB_E_PARSE);
	memcpy(buf, sha384_prefix, sizeof(sha384_prefix));
	memset(buf + sizeof(sha384_prefix), 0x44, 48);
	CHECK_ERR(capture_digestinfo_parse(buf, sizeof(sha384_prefix) + 48, &got, &dig, &dlen),
		  RB_E_PARSE);
	/* a bare SHA-256 digest (what CKM_ECDSA gets) is not a DigestInfo */
	memset(buf, 0x55, 32);
	CHECK_ERR(capture_digestinfo_parse(buf, 32, &got, &dig, &dlen), RB_E_PARSE);
	CHECK_ERR(capture_digestinfo_parse(NULL, 0, &got, &dig, &dlen), RB_E_PARSE);
}

/* ---- mechanisms --------------------------------------------------------- */

static void test_mech_names(void)
{
	enum capture_mech m;

	CHECK(strcmp(capture_mech_name(CAPTURE_MECH_RSA_PKCS), "CKM_RSA_PKCS") == 0);
	CHECK(strcmp(capture_mech_name(CAPTURE_MECH_EDDSA), "CKM_EDDSA") == 0);
	CHECK(capture_mech_name((enum capture_mech)0x1234) == NULL);
	CHECK_OK(capture_mech_from_name("CKM_SHA512_RSA_PKCS", &m));
	CHECK(m == CAPTURE_MECH_SHA512_RSA_PKCS);
	CHECK_OK(capture_mech_from_name("CKM_RSA_PKCS_PSS", &m));
	CHECK(m == CAPTURE_MECH_RSA_PKCS_PSS);
	CHECK_ERR(capture_mech_from_name("CKM_SHA1_RSA_PKCS", &m), RB_E_UNSUPPORTED);
	CHECK_ERR(capture_mech_from_name("ckm_ecdsa", &m), RB_E_UNSUPPORTED);
	CHECK_OK(capture_mech_from_name("CKM_ECDSA_SHA256", &m));
	CHECK(m == CAPTURE_MECH_ECDSA_SHA256 && m == 0x1044);
	/* the mechanisms whose data a request can keep */
	CHECK(capture_mech_hashes(CAPTURE_MECH_SHA256_RSA_PKCS) && capture_mech_hashes(CAPTURE_MECH_SHA512_RSA_PKCS) &&
	      capture_mech_hashes(CAPTURE_MECH_ECDSA_SHA256));
	CHECK(!capture_mech_hashes(CAPTURE_MECH_RSA_PKCS) && !capture_mech_hashes(CAPTURE_MECH_ECDSA) &&
	      !capture_mech_hashes(CAPTURE_MECH_RSA_PKCS_PSS) && !capture_mech_hashes(CAPTURE_MECH_EDDSA));
}

/* ---- requests ----------------------------------------------------------- */

static void test_build_id(void)
{
	char longid[CAPTURE_BUILD_ID_MAX + 2];

	CHECK(capture_build_id_valid("a"));
	CHECK(capture_build_id_valid("ci-1234_linux.x86"));
	CHECK(!capture_build_id_valid(""));
	CHECK(!capture_build_id_valid(NULL));
	CHECK(!capture_build_id_valid(".hidden"));
	CHECK(!capture_build_id_valid("-rf"));
	CHECK(!capture_build_id_valid("a/b"));
	CHECK(!capture_build_id_valid("a b"));
	CHECK(!capture_build_id_valid("caf\xc3\xa9"));
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	CHECK(!capture_build_id_valid(longid));
	longid[CAPTURE_BUILD_ID_MAX] = '\0';
	CHECK(capture_build_id_valid(longid));
}

static void test_request_new_validation(void)
{
	struct capture_request *r = NULL;
	uint8_t d[64] = { 1 }, *big;

	/* inactive keys */
	CHECK_ERR(capture_request_new(build, key("old-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "old-key") && strstr(rb_err_detail(), "retired"));
	CHECK_ERR(capture_request_new(build, key("bad-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256,
				      d, 32, NULL, t0, &r), RB_E_PERM);
	/* scheme does not fit the key */
	CHECK_ERR(capture_request_new(build, key("ec-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r), RB_E_UNSUPPORTED);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519, d, 32,
				      NULL, t0, &r), RB_E_UNSUPPORTED);
	/* (mechanism, scheme) pairs outside the table */
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA512, d, 64, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PSS_SHA256, d, 32, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS_PSS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), (enum capture_mech)0x1234,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r), RB_E_UNSUPPORTED);
	/* input lengths */
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 31, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_SHA512_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA512, d, 32, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				      33, NULL, t0, &r), RB_E_INVAL);
	CHECK_ERR(capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519, d, 0,
				      NULL, t0, &r), RB_E_INVAL);
	big = calloc(1, CAPTURE_EDDSA_MAX_MESSAGE + 1);
	CHECK_ERR(capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519, big,
				      CAPTURE_EDDSA_MAX_MESSAGE + 1, NULL, t0, &r), RB_E_TOOBIG);
	CHECK_OK(capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519, big,
				     CAPTURE_EDDSA_MAX_MESSAGE, NULL, t0, &r));
	capture_request_free(r);
	r = NULL;
	free(big);
	/* build id and time */
	CHECK_ERR(capture_request_new("../x", key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "build id") != NULL);
	CHECK_ERR(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				      RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, -1, &r), RB_E_INVAL);
	CHECK(r == NULL);
	capture_request_free(NULL);
}

static void test_request_id(void)
{
	struct capture_request *a = NULL, *b = NULL, *c = NULL;
	uint8_t d[64], d2[64];
	size_t dlen;
	struct manifest_key other;

	digest_of("release.apk", RB_SIG_RSA_PKCS1_SHA256, d, &dlen);
	CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				     RB_SIG_RSA_PKCS1_SHA256, d, 32, "apksigner", t0, &a));
	/* tool and time do not change the id or placeholder */
	CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				     RB_SIG_RSA_PKCS1_SHA256, d, 32, "java", t0 + 999, &b));
	if (!a || !b)
		return;
	CHECK(memcmp(a->id, b->id, 32) == 0);
	CHECK(strcmp(a->id_hex, b->id_hex) == 0 && strlen(a->id_hex) == 64);
	CHECK(a->placeholder_len == 256 && b->placeholder_len == 256);
	CHECK(memcmp(a->placeholder, b->placeholder, 256) == 0);
	CHECK(strcmp(a->tool, "apksigner") == 0 && a->created == t0);
	CHECK(strcmp(a->key_name, "rsa-key") == 0);
	CHECK(memcmp(a->key_spki_sha256, key("rsa-key")->spki_sha256, 32) == 0);
	capture_request_free(b);

#define DIFFERS(call)                                                           \
	do {                                                                    \
		c = NULL;                                                       \
		CHECK_OK(call);                                                 \
		if (c) {                                                        \
			CHECK(memcmp(c->id, a->id, 32) != 0);                   \
			CHECK(memcmp(c->placeholder, a->placeholder, 64) != 0); \
		}                                                               \
		capture_request_free(c);                                        \
	} while (0)

	/* every identifying field changes the id */
	DIFFERS(capture_request_new("build-43", key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				    RB_SIG_RSA_PKCS1_SHA256, d, 32, "apksigner", t0, &c));
	DIFFERS(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
				    RB_SIG_RSA_PKCS1_SHA256, d, 32, "apksigner", t0, &c));
	DIFFERS(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS_PSS,
				    RB_SIG_RSA_PSS_SHA256, d, 32, "apksigner", t0, &c));
	memcpy(d2, d, 32);
	d2[31] ^= 1;
	DIFFERS(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				    RB_SIG_RSA_PKCS1_SHA256, d2, 32, "apksigner", t0, &c));
	/* a different key fingerprint (same name) */
	memcpy(&other, key("rsa-key"), sizeof(other));
	other.spki_sha256[0] ^= 1;
	DIFFERS(capture_request_new(build, &other, CAPTURE_MECH_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA256, d,
				    32, "apksigner", t0, &c));
	/* length-prefixing: moving a byte between build id and input is
	 * a different encoding, exercised through Ed25519 messages */
	{
		struct capture_request *x = NULL, *y = NULL;

		CHECK_OK(capture_request_new("ab", key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519,
					     (const uint8_t *)"c", 1, NULL, t0, &x));
		CHECK_OK(capture_request_new("a", key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519,
					     (const uint8_t *)"bc", 2, NULL, t0, &y));
		if (x && y)
			CHECK(memcmp(x->id, y->id, 32) != 0);
		capture_request_free(x);
		capture_request_free(y);
	}
	capture_request_free(a);
#undef DIFFERS
}

/* The id of an ECDSA request over d (32 bytes) as capture-request.md
 * spells it out: version 1, or 2 with data (NULL: none kept). */
static void id_by_hand(int version, uint32_t mech, const uint8_t *d, const uint8_t *data, size_t data_len,
		       uint8_t want[32])
{
	struct rb_buf b = RB_BUF_INIT;
	const char *dom = version == 1 ? "rombsr-capture-request-id v1" : "rombsr-capture-request-id v2";
	const char *scheme = "ecdsa-p256-sha256";
	size_t n;

	CHECK_OK(rb_buf_put_u32be(&b, (uint32_t)strlen(dom)));
	CHECK_OK(rb_buf_put_str(&b, dom));
	CHECK_OK(rb_buf_put_u32be(&b, (uint32_t)version));
	CHECK_OK(rb_buf_put_u32be(&b, (uint32_t)strlen(build)));
	CHECK_OK(rb_buf_put_str(&b, build));
	CHECK_OK(rb_buf_put_u32be(&b, 32));
	CHECK_OK(rb_buf_put(&b, key("ec-key")->spki_sha256, 32));
	CHECK_OK(rb_buf_put_u32be(&b, mech));
	CHECK_OK(rb_buf_put_u32be(&b, (uint32_t)strlen(scheme)));
	CHECK_OK(rb_buf_put_str(&b, scheme));
	CHECK_OK(rb_buf_put_u32be(&b, 32));
	CHECK_OK(rb_buf_put(&b, d, 32));
	if (version == 2) {
		CHECK_OK(rb_buf_put_u8(&b, data ? 1 : 0));
		if (data) {
			CHECK_OK(rb_buf_put_u32be(&b, (uint32_t)data_len));
			CHECK_OK(rb_buf_put(&b, data, data_len));
		}
	}
	CHECK_OK(rb_digest(EVP_sha256(), b.data, b.len, want, &n));
	rb_buf_free(&b);
}

/* The id encoding is documented in capture-request.md so another
 * implementation can recompute it; this recomputes it independently for
 * version 2 without and with data, and for version 1. */
static void test_request_id_encoding(void)
{
	static const uint8_t data[] = "the signed-data block";
	struct capture_request *r = NULL, *rd = NULL, *r1 = NULL;
	uint8_t d[32], h[32], want[32];
	size_t n;

	memset(d, 0x5a, sizeof(d));
	CHECK_OK(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				     32, NULL, t0, &r));
	if (!r)
		return;
	CHECK(r->version == 2);
	id_by_hand(2, 0x1041, d, NULL, 0, want);
	CHECK(memcmp(want, r->id, 32) == 0);
	CHECK_OK(rb_digest(EVP_sha256(), data, sizeof(data), h, &n));
	CHECK_OK(capture_request_new_data(build, key("ec-key"), CAPTURE_MECH_ECDSA_SHA256, RB_SIG_ECDSA_SHA256,
					  h, 32, data, sizeof(data), NULL, t0, &rd));
	id_by_hand(2, 0x1044, h, data, sizeof(data), want);
	CHECK(rd && memcmp(want, rd->id, 32) == 0);
	{
		const struct capture_request_fields f = { 1, build, CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256,
							  d, 32, NULL, 0 };

		CHECK_OK(capture_request_build(&f, "ec-key", key("ec-key")->spki_sha256, 64, NULL, t0, &r1));
		id_by_hand(1, 0x1041, d, NULL, 0, want);
		CHECK(r1 && r1->version == 1 && memcmp(want, r1->id, 32) == 0);
	}
	capture_request_free(rd);
	capture_request_free(r1);
	/* and the placeholder: SHAKE-256(domain || id), then the shape */
	{
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		uint8_t p[64];

		EVP_DigestInit_ex(ctx, EVP_shake256(), NULL);
		EVP_DigestUpdate(ctx, "rombsr-capture-placeholder v1", 29);
		EVP_DigestUpdate(ctx, r->id, 32);
		EVP_DigestFinalXOF(ctx, p, 64);
		EVP_MD_CTX_free(ctx);
		p[0] = (uint8_t)(p[0] % 0x7f + 1);
		p[32] = (uint8_t)(p[32] % 0x7f + 1);
		CHECK(memcmp(p, r->placeholder, 64) == 0);
	}
	capture_request_free(r);
}

static void test_tool_sanitized(void)
{
	struct capture_request *r = NULL;
	char longtool[200];
	uint8_t d[32] = { 0 };

	memset(longtool, 'j', sizeof(longtool) - 1);
	longtool[sizeof(longtool) - 1] = '\0';
	CHECK_OK(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				     32, longtool, t0, &r));
	if (r)
		CHECK(strlen(r->tool) == CAPTURE_TOOL_MAX);
	capture_request_free(r);
	r = NULL;
	CHECK_OK(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				     32, "ja\x1b[31mva\n\xc3\xa9", t0, &r));
	if (r)
		CHECK(strcmp(r->tool, "ja?[31mva???") == 0);
	capture_request_free(r);
	r = NULL;
	CHECK_OK(capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				     32, NULL, t0, &r));
	if (r)
		CHECK(r->tool == NULL);
	capture_request_free(r);
}

/* ---- placeholders ------------------------------------------------------- */

static void test_placeholder_shapes(void)
{
	uint8_t id[32], p[512], q[512];
	unsigned r_lo = 0, r_hi = 0, rsa_hi = 0;

	for (unsigned i = 0; i < 4000; i++) {
		size_t n;

		CHECK_OK(rb_digest(EVP_sha256(), &i, sizeof(i), id, &n));
		CHECK_OK(capture_placeholder(id, RB_KEY_EC_P256, 64, p));
		CHECK(capture_ecdsa_sig_fits(p));
		CHECK(p[0] >= 1 && p[0] <= 0x7f && p[32] >= 1 && p[32] <= 0x7f);
		r_lo += p[0] == 1;
		r_hi += p[0] == 0x7f;
		CHECK_OK(capture_placeholder(id, RB_KEY_RSA, 512, p));
		CHECK(p[0] >= 1 && p[0] < 0x40);
		rsa_hi += p[0] == 0x3f;
		/* deterministic */
		CHECK_OK(capture_placeholder(id, RB_KEY_RSA, 512, q));
		CHECK(memcmp(p, q, 512) == 0);
	}
	/* the whole range is used, not a constant */
	CHECK(r_lo > 0 && r_hi > 0 && rsa_hi > 0);
	/* Ed25519 is the raw XOF output: top bytes of both halves vary */
	{
		unsigned high = 0;

		for (unsigned i = 0; i < 200; i++) {
			size_t n;

			CHECK_OK(rb_digest(EVP_sha256(), &i, sizeof(i), id, &n));
			CHECK_OK(capture_placeholder(id, RB_KEY_ED25519, 64, p));
			high += p[0] >= 0x80;
		}
		CHECK(high > 50 && high < 150);
	}
	/* lengths */
	CHECK_ERR(capture_placeholder(id, RB_KEY_EC_P256, 63, p), RB_E_INVAL);
	CHECK_ERR(capture_placeholder(id, RB_KEY_ED25519, 65, p), RB_E_INVAL);
	CHECK_ERR(capture_placeholder(id, RB_KEY_RSA, 64, p), RB_E_INVAL);
	CHECK_ERR(capture_placeholder(id, (enum rb_key_alg)9, 64, p), RB_E_INVAL);
	/* fits */
	memset(p, 0x40, 64);
	CHECK(capture_ecdsa_sig_fits(p));
	p[0] = 0;
	CHECK(!capture_ecdsa_sig_fits(p));
	p[0] = 0x80;
	CHECK(!capture_ecdsa_sig_fits(p));
	p[0] = 0x7f;
	p[32] = 0x80;
	CHECK(!capture_ecdsa_sig_fits(p));
	p[32] = 0;
	CHECK(!capture_ecdsa_sig_fits(p));
	p[32] = 1;
	CHECK(capture_ecdsa_sig_fits(p));
}

/* The DER form of every ECDSA placeholder is exactly 70 bytes, which is
 * what lets the resolver replace it in place. */
static void test_placeholder_der70(void)
{
	for (unsigned i = 0; i < 200; i++) {
		struct capture_request *r;
		char msg[32];
		uint8_t *der = NULL;
		size_t derlen = 0;

		snprintf(msg, sizeof(msg), "m%u", i);
		r = req_for(msg, RB_SIG_ECDSA_SHA256);
		if (!r)
			return;
		CHECK_OK(rb_ecdsa_raw_to_der(r->placeholder, 64, &der, &derlen));
		CHECK(derlen == 70 && der[0] == 0x30 && der[1] == 0x44 && der[3] == 0x20 && der[37] == 0x20);
		free(der);
		capture_request_free(r);
	}
}

/* ---- request JSON ------------------------------------------------------- */

static char *emit_str(const struct capture_request *r)
{
	struct rb_buf out = RB_BUF_INIT;

	CHECK_OK(capture_request_emit(r, &out));
	CHECK_OK(rb_buf_terminate(&out));
	return (char *)rb_buf_steal(&out, NULL);
}

static bool same_request(const struct capture_request *a, const struct capture_request *b)
{
	return memcmp(a->id, b->id, 32) == 0 && strcmp(a->id_hex, b->id_hex) == 0 &&
	       strcmp(a->build_id, b->build_id) == 0 && strcmp(a->key_name, b->key_name) == 0 &&
	       memcmp(a->key_spki_sha256, b->key_spki_sha256, 32) == 0 &&
	       a->mechanism == b->mechanism && a->scheme == b->scheme && a->input_len == b->input_len &&
	       memcmp(a->input, b->input, a->input_len) == 0 && a->placeholder_len == b->placeholder_len &&
	       memcmp(a->placeholder, b->placeholder, a->placeholder_len) == 0 &&
	       ((!a->tool && !b->tool) || (a->tool && b->tool && strcmp(a->tool, b->tool) == 0)) &&
	       a->created == b->created && a->version == b->version && !a->data == !b->data &&
	       a->data_len == b->data_len && (!a->data || memcmp(a->data, b->data, a->data_len) == 0);
}

static void test_json_roundtrip(void)
{
	enum rb_sig_scheme schemes[] = { RB_SIG_RSA_PKCS1_SHA256, RB_SIG_RSA_PKCS1_SHA512,
					 RB_SIG_RSA_PSS_SHA256, RB_SIG_RSA_PSS_SHA512,
					 RB_SIG_ECDSA_SHA256, RB_SIG_ED25519 };

	for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
		struct capture_request *r = req_for("payload.bin", schemes[i]), *back = NULL,
				       *back2 = NULL;
		const char *canon_start = "{\"build_id\":\"build-42\",\"created\":\"2025-10-09T08:53:20Z\","
					  "\"format\":\"rombsr-capture-request\",\"id\":\"";
		char *text, *again;

		if (!r)
			continue;
		text = emit_str(r);
		/* canonical: sorted keys, no whitespace */
		CHECK(strncmp(text, canon_start, strlen(canon_start)) == 0);
		CHECK(strchr(text, ' ') == NULL && strchr(text, '\n') == NULL);
		CHECK_OK(capture_request_parse(text, strlen(text), "r.json", &man, &back));
		CHECK_OK(capture_request_parse(text, strlen(text), "r.json", NULL, &back2));
		if (back && back2) {
			CHECK(same_request(r, back));
			CHECK(same_request(r, back2));
			again = emit_str(back);
			CHECK(strcmp(again, text) == 0);
			free(again);
		}
		capture_request_free(back);
		capture_request_free(back2);
		free(text);
		capture_request_free(r);
	}
}

/* Parse text with the first occurrence of from replaced by to. */
static int parse_edited(const char *text, const char *from, const char *to, const struct manifest *m)
{
	struct capture_request *r = NULL;
	const char *at = strstr(text, from);
	char *edited;
	int err;

	if (!at) {
		fprintf(stderr, "parse_edited: \"%s\" not found\n", from);
		t_failed_checks++;
		return 0;
	}
	if (asprintf(&edited, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) < 0)
		abort();
	err = capture_request_parse(edited, strlen(edited), "edited.json", m, &r);
	capture_request_free(r);
	free(edited);
	return err;
}

static void test_json_tamper(void)
{
	struct capture_request *r = req_for("tamper.img", RB_SIG_RSA_PKCS1_SHA256), *e = NULL,
			       *back = NULL;
	char *text, *etext, *b64 = NULL, *other = NULL, field[1200];
	uint8_t d[32];
	size_t n;

	if (!r)
		return;
	text = emit_str(r);
	CHECK_OK(parse_edited(text, "\"tool\":\"test\"", "\"tool\":\"java\"", &man));

	/* changed input: the recomputed id differs */
	digest_of("other.img", RB_SIG_RSA_PKCS1_SHA256, d, &n);
	CHECK_OK(rb_base64_encode(r->input, r->input_len, true, &b64));
	CHECK_OK(rb_base64_encode(d, 32, true, &other));
	CHECK_ERR(parse_edited(text, b64, other, &man), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "edited.json") && strstr(rb_err_detail(), "id does not match"));
	CHECK_ERR(parse_edited(text, b64, other, NULL), RB_E_VERIFY);
	free(b64);
	free(other);
	/* changed build id, mechanism, key fingerprint */
	CHECK_ERR(parse_edited(text, "\"build-42\"", "\"build-41\"", &man), RB_E_VERIFY);
	CHECK_ERR(parse_edited(text, "\"CKM_RSA_PKCS\"", "\"CKM_SHA256_RSA_PKCS\"", NULL), RB_E_VERIFY);
	/* changed placeholder: id matches, placeholder does not */
	CHECK_OK(rb_base64_encode(r->placeholder, r->placeholder_len, true, &b64));
	r->placeholder[100] ^= 1;
	CHECK_OK(rb_base64_encode(r->placeholder, r->placeholder_len, true, &other));
	r->placeholder[100] ^= 1;
	CHECK_ERR(parse_edited(text, b64, other, NULL), RB_E_VERIFY);
	CHECK_ERR(parse_edited(text, b64, other, &man), RB_E_VERIFY);
	free(other);
	/* a placeholder of the wrong length for the manifest key */
	CHECK_OK(rb_base64_encode(r->placeholder, 128, true, &other));
	CHECK_ERR(parse_edited(text, b64, other, &man), RB_E_VERIFY);
	CHECK_ERR(parse_edited(text, b64, other, NULL), RB_E_PARSE);
	free(other);
	free(b64);
	/* id of another request */
	e = req_for("tamper2.img", RB_SIG_RSA_PKCS1_SHA256);
	if (e) {
		CHECK_ERR(parse_edited(text, r->id_hex, e->id_hex, NULL), RB_E_VERIFY);
		capture_request_free(e);
	}
	/* structure */
	CHECK_ERR(parse_edited(text, "{", "{\"extra\":1,", &man), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "extra") != NULL);
	CHECK_ERR(parse_edited(text, "\"spki_sha256\"", "\"bogus\":1,\"spki_sha256\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"version\":2", "\"version\":3", &man), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_edited(text, "\"version\":2", "\"version\":0", &man), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_edited(text, "\"version\":2", "\"version\":\"2\"", &man), RB_E_PARSE);
	/* relabelled as version 1: the id is derived under another domain */
	CHECK_ERR(parse_edited(text, "\"version\":2", "\"version\":1", &man), RB_E_VERIFY);
	CHECK_ERR(parse_edited(text, "rombsr-capture-request", "rombsr-capture-reques", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"created\":\"2025-10-09T08:53:20Z\"", "\"created\":1", &man),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, ",\"tool\":\"test\"", "", &man), RB_OK);
	CHECK_ERR(parse_edited(text, "\"tool\":\"test\"", "\"tool\":\"\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"tool\":\"test\"", "\"tool\":\"te\\u001bst\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"mechanism\"", "\"mechanism\":\"CKM_ECDSA\",\"x\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"CKM_RSA_PKCS\"", "\"CKM_ECDSA\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"CKM_RSA_PKCS\"", "\"CKM_MD5_RSA_PKCS\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "rsa-pkcs1-sha256", "rsa-pss-sha256", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, r->id_hex, "ABCD", &man), RB_E_PARSE);
	snprintf(field, sizeof(field), "\"id\":\"%s\"", r->id_hex);
	{
		char upper[80];

		snprintf(upper, sizeof(upper), "\"id\":\"%s\"", r->id_hex);
		for (char *c = upper; *c; c++)
			if (*c >= 'a' && *c <= 'f')
				*c = (char)(*c - 'a' + 'A');
		if (strcmp(upper, field) != 0)
			CHECK_ERR(parse_edited(text, field, upper, &man), RB_E_PARSE);
	}
	/* key policy against the manifest */
	CHECK_ERR(parse_edited(text, "\"name\":\"rsa-key\"", "\"name\":\"old-key\"", &man), RB_E_PERM);
	CHECK_ERR(parse_edited(text, "\"name\":\"rsa-key\"", "\"name\":\"nobody\"", &man), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "nobody") != NULL);
	{
		char *hex = NULL, *bad = NULL;

		CHECK_OK(rb_hex_encode(key("rsa-key")->spki_sha256, 32, &hex));
		CHECK_OK(rb_hex_encode(key("ec-key")->spki_sha256, 32, &bad));
		CHECK_ERR(parse_edited(text, hex, bad, &man), RB_E_VERIFY);
		free(hex);
		free(bad);
	}
	/* a request for a key in a different manifest entry with the same
	 * fingerprint but another name is still bound to the name */
	CHECK_ERR(parse_edited(text, "\"name\":\"rsa-key\"", "\"name\":\"ec-key\"", &man), RB_E_VERIFY);
	/* garbage, truncation, trailing data, oversize */
	CHECK_ERR(capture_request_parse(text, strlen(text) - 1, "t.json", &man, &back), RB_E_PARSE);
	if (asprintf(&etext, "%s{}", text) < 0)
		abort();
	CHECK_ERR(capture_request_parse(etext, strlen(etext), "t.json", &man, &back), RB_E_PARSE);
	free(etext);
	if (asprintf(&etext, "%s\n", text) < 0)
		abort();
	CHECK_OK(capture_request_parse(etext, strlen(etext), "t.json", &man, &back));
	capture_request_free(back);
	back = NULL;
	free(etext);
	CHECK_ERR(capture_request_parse("[]", 2, "t.json", &man, &back), RB_E_PARSE);
	CHECK_ERR(capture_request_parse("", 0, "t.json", &man, &back), RB_E_PARSE);
	{
		size_t big = CAPTURE_REQUEST_MAX_BYTES + 1;
		char *huge = malloc(big);

		memset(huge, ' ', big);
		CHECK_ERR(capture_request_parse(huge, big, "huge.json", &man, &back), RB_E_TOOBIG);
		CHECK(strstr(rb_err_detail(), "huge.json") != NULL);
		free(huge);
	}
	CHECK(back == NULL);
	free(text);
	capture_request_free(r);
}

/* Version 2 keeps the data a hashing mechanism was given: only for such a
 * mechanism, at most CAPTURE_DATA_MAX bytes, hashing to the input; the id
 * covers it, so changing, adding or removing it is caught. Version 1 is
 * still read, without data. */
static void test_request_data(void)
{
	static const uint8_t data[] = "v2 signed-data block";
	struct capture_request *r = NULL, *none = NULL, *empty = NULL, *back = NULL, *r1 = NULL;
	uint8_t h[64], he[32];
	size_t n;
	const uint8_t *p;
	char *text, *b64 = NULL, *other = NULL;
	uint8_t *big = calloc(1, CAPTURE_DATA_MAX + 1);

	CHECK_OK(rb_digest(EVP_sha256(), data, sizeof(data), h, &n));
	CHECK_OK(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
					  RB_SIG_RSA_PKCS1_SHA256, h, 32, data, sizeof(data), NULL, t0, &r));
	CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
				     RB_SIG_RSA_PKCS1_SHA256, h, 32, NULL, t0, &none));
	CHECK_OK(rb_digest(EVP_sha256(), "", 0, he, &n));
	CHECK_OK(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
					  RB_SIG_RSA_PKCS1_SHA256, he, 32, (const uint8_t *)"", 0, NULL, t0, &empty));
	if (!r || !none || !empty)
		goto out;
	CHECK(r->version == 2 && r->data_len == sizeof(data) && memcmp(r->data, data, sizeof(data)) == 0);
	CHECK(empty->data && empty->data_len == 0);
	CHECK(memcmp(r->id, none->id, 32) != 0 && memcmp(r->placeholder, none->placeholder, 32) != 0);
	CHECK(capture_request_signed_data(r, &p, &n) && p == r->data && n == sizeof(data));
	CHECK(!capture_request_signed_data(none, &p, &n));
	CHECK(capture_request_signed_data(empty, &p, &n) && n == 0);

	/* what capture_request_new_data refuses */
	CHECK_ERR(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_SHA256_RSA_PKCS,
					   RB_SIG_RSA_PKCS1_SHA256, he, 32, data, sizeof(data), NULL, t0, &back),
		  RB_E_VERIFY);
	CHECK_ERR(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA256,
					   h, 32, data, sizeof(data), NULL, t0, &back), RB_E_INVAL);
	CHECK_ERR(capture_request_new_data(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, h, 32,
					   data, sizeof(data), NULL, t0, &back), RB_E_INVAL);
	CHECK_OK(rb_digest(EVP_sha512(), big, CAPTURE_DATA_MAX + 1, h, &n));
	CHECK_ERR(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_SHA512_RSA_PKCS,
					   RB_SIG_RSA_PKCS1_SHA512, h, 64, big, CAPTURE_DATA_MAX + 1, NULL, t0, &back),
		  RB_E_TOOBIG);
	CHECK_OK(rb_digest(EVP_sha512(), big, CAPTURE_DATA_MAX, h, &n));
	CHECK_OK(capture_request_new_data(build, key("rsa-key"), CAPTURE_MECH_SHA512_RSA_PKCS,
					  RB_SIG_RSA_PKCS1_SHA512, h, 64, big, CAPTURE_DATA_MAX, NULL, t0, &back));
	/* the largest request still fits a request file */
	if (back) {
		text = emit_str(back);
		CHECK(strlen(text) < CAPTURE_REQUEST_MAX_BYTES);
		capture_request_free(back);
		back = NULL;
		CHECK_OK(capture_request_parse(text, strlen(text), "big.json", &man, &back));
		CHECK(back && back->data_len == CAPTURE_DATA_MAX);
		capture_request_free(back);
		back = NULL;
		free(text);
	}

	/* the file: round trip, then edits */
	text = emit_str(r);
	CHECK(strstr(text, "\"data\":\"") != NULL && strstr(text, "\"version\":2") != NULL);
	CHECK_OK(capture_request_parse(text, strlen(text), "d.json", &man, &back));
	CHECK(back && same_request(r, back));
	capture_request_free(back);
	back = NULL;
	CHECK_OK(rb_base64_encode(data, sizeof(data), true, &b64));
	CHECK_OK(rb_base64_encode((const uint8_t *)"V2 signed-data block", sizeof(data), true, &other));
	CHECK_ERR(parse_edited(text, b64, other, &man), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "does not hash to the input") != NULL);
	free(other);
	other = NULL;
	/* removed: the id covers whether data is kept */
	if (asprintf(&other, "\"data\":\"%s\",", b64) > 0)
		CHECK_ERR(parse_edited(text, other, "", &man), RB_E_VERIFY);
	free(other);
	other = NULL;
	/* on a mechanism that passes a digest */
	CHECK_ERR(parse_edited(text, "CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS", &man), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "carries no data") != NULL);
	/* in a version-1 file "data" is an unknown field */
	CHECK_ERR(parse_edited(text, "\"version\":2", "\"version\":1", &man), RB_E_PARSE);
	free(text);

	/* version 1 is still read; CKM_ECDSA_SHA256 is version 2 only */
	{
		const struct capture_request_fields f = { 1, build, CAPTURE_MECH_SHA256_RSA_PKCS,
							  RB_SIG_RSA_PKCS1_SHA256, none->input, 32, NULL, 0 };
		struct capture_request_fields g = f;

		CHECK_OK(capture_request_build(&f, "rsa-key", key("rsa-key")->spki_sha256, none->placeholder_len,
					       "tool", t0, &r1));
		g.mech = CAPTURE_MECH_ECDSA_SHA256;
		g.scheme = RB_SIG_ECDSA_SHA256;
		CHECK_ERR(capture_request_build(&g, "ec-key", key("ec-key")->spki_sha256, 64, NULL, t0, &back),
			  RB_E_INVAL);
		g = f;
		g.data = data;
		g.data_len = sizeof(data);
		CHECK_ERR(capture_request_build(&g, "rsa-key", key("rsa-key")->spki_sha256, none->placeholder_len,
						NULL, t0, &back), RB_E_INVAL);
	}
	if (r1) {
		text = emit_str(r1);
		CHECK(strstr(text, "\"version\":1") != NULL);
		CHECK_OK(capture_request_parse(text, strlen(text), "v1.json", &man, &back));
		CHECK(back && back->version == 1 && !back->data && same_request(r1, back));
		CHECK(memcmp(r1->id, none->id, 32) != 0);
		capture_request_free(back);
		back = NULL;
		free(text);
	}
out:
	free(b64);
	free(big);
	capture_request_free(r);
	capture_request_free(none);
	capture_request_free(empty);
	capture_request_free(r1);
}

/* An oversized Ed25519 message inside a well-formed request. */
static void test_json_eddsa_limit(void)
{
	struct capture_request *r = req_for("small", RB_SIG_ED25519), *back = NULL;
	char *text, *b64 = NULL, *big_b64 = NULL, *from, *edited;
	uint8_t *big = calloc(1, CAPTURE_EDDSA_MAX_MESSAGE + 3);

	if (!r)
		return;
	text = emit_str(r);
	CHECK_OK(rb_base64_encode(r->input, r->input_len, true, &b64));
	CHECK_OK(rb_base64_encode(big, CAPTURE_EDDSA_MAX_MESSAGE + 3, true, &big_b64));
	from = strstr(text, b64);
	CHECK(from != NULL);
	if (from) {
		CHECK(asprintf(&edited, "%.*s%s%s", (int)(from - text), text, big_b64, from + strlen(b64)) > 0);
		CHECK_ERR(capture_request_parse(edited, strlen(edited), "big.json", NULL, &back), RB_E_TOOBIG);
		free(edited);
	}
	free(big);
	free(b64);
	free(big_b64);
	free(text);
	capture_request_free(r);
}

/* ---- spool -------------------------------------------------------------- */

static void spool_path(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static size_t count_dotfiles(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_spool_basic(void)
{
	char dir[512], path[700];
	struct capture_request *a = req_for("a", RB_SIG_ECDSA_SHA256), *b = req_for("b", RB_SIG_ED25519);
	struct capture_request_set *s = NULL;
	struct stat st;

	spool_path("spool-basic/nested", dir, sizeof(dir));
	if (!a || !b)
		return;
	CHECK_OK(capture_spool_write(dir, a));
	CHECK_OK(capture_spool_write(dir, b));
	CHECK_OK(capture_spool_write(dir, a)); /* rewriting is harmless */
	snprintf(path, sizeof(path), "%s/%s.json", dir, a->id_hex);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_OK(capture_spool_load(dir, &man, &s));
	if (s) {
		CHECK(s->n == 2);
		if (s->n == 2) {
			CHECK(memcmp(s->items[0]->id, s->items[1]->id, 32) < 0);
			CHECK(capture_request_set_find(s, a->id) != NULL);
			CHECK(same_request(capture_request_set_find(s, a->id), a));
			CHECK(same_request(capture_request_set_find(s, b->id), b));
		}
		CHECK(capture_request_set_find(s, (const uint8_t[32]){ 0 }) == NULL);
	}
	capture_request_set_free(s);
	s = NULL;

	/* what a spool may also hold: the module log, dotfiles */
	snprintf(path, sizeof(path), "%s/capture.log", dir);
	CHECK_OK(rb_file_write_atomic(path, "log\n", 4, 0644));
	snprintf(path, sizeof(path), "%s/.tmp.partial", dir);
	CHECK_OK(rb_file_write_atomic(path, "{\"format\"", 10, 0644));
	CHECK_OK(capture_spool_load(dir, NULL, &s));
	CHECK(s && s->n == 2);
	capture_request_set_free(s);
	s = NULL;
	unlink(path);

	/* anything else is an error naming the entry */
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	CHECK_OK(rb_file_write_atomic(path, "x", 1, 0644));
	CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "notes.txt") != NULL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.json", dir, a->id_hex);
	path[strlen(path) - 6] = 'A'; /* uppercase hex is not a request name */
	CHECK_OK(rb_file_write_atomic(path, "x", 1, 0644));
	CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_PARSE);
	unlink(path);
	/* a request under another request's name */
	{
		char from[700], to[700];

		snprintf(from, sizeof(from), "%s/%s.json", dir, a->id_hex);
		snprintf(to, sizeof(to), "%s/%064d.json", dir, 0);
		CHECK(rename(from, to) == 0);
		CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_VERIFY);
		CHECK(strstr(rb_err_detail(), "named after its id") != NULL);
		unlink(to);
		/* a symbolic link in place of a request */
		CHECK(symlink("/etc/hostname", from) == 0);
		CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_IO);
		CHECK(strstr(rb_err_detail(), "symbolic links") != NULL);
		unlink(from);
		/* a directory */
		CHECK(mkdir(from, 0755) == 0);
		CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_PARSE);
		rmdir(from);
	}
	/* a corrupted request file */
	CHECK_OK(capture_spool_write(dir, a));
	snprintf(path, sizeof(path), "%s/%s.json", dir, a->id_hex);
	CHECK_OK(rb_file_write_atomic(path, "{}", 2, 0644));
	CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), a->id_hex) != NULL);
	CHECK(s == NULL);
	spool_path("no-such-spool", dir, sizeof(dir));
	CHECK_ERR(capture_spool_load(dir, NULL, &s), RB_E_NOTFOUND);
	capture_request_free(a);
	capture_request_free(b);
}

#define SPOOL_WRITERS 8
#define SPOOL_PER_WRITER 50

static int spool_writer(const char *dir, int w)
{
	int failures = 0;

	for (int i = 0; i < SPOOL_PER_WRITER; i++) {
		struct capture_request *r = NULL, *shared = NULL;
		char msg[64], tool[32];
		uint8_t d[32];
		size_t n;

		snprintf(msg, sizeof(msg), "writer %d request %d", w, i);
		snprintf(tool, sizeof(tool), "writer-%d", w);
		digest_of(msg, RB_SIG_ECDSA_SHA256, d, &n);
		if (capture_request_new(build, key("ec-key"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256,
					d, 32, tool, t0 + i, &r) < 0 ||
		    capture_spool_write(dir, r) < 0)
			failures++;
		/* every writer also rewrites the same request, concurrently */
		if (capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519,
					(const uint8_t *)"shared", 6, tool, t0 + i, &shared) < 0 ||
		    capture_spool_write(dir, shared) < 0)
			failures++;
		capture_request_free(r);
		capture_request_free(shared);
	}
	return failures;
}

static void test_spool_concurrent(void)
{
	char dir[512];
	pid_t pids[SPOOL_WRITERS];
	struct capture_request_set *s = NULL;
	unsigned loads = 0;

	spool_path("spool-concurrent", dir, sizeof(dir));
	CHECK_OK(rb_mkdir_p(dir, 0755));
	for (int w = 0; w < SPOOL_WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			_exit(spool_writer(dir, w) ? 1 : 0);
		CHECK(pids[w] > 0);
	}
	/* a reader running alongside never sees a partial file */
	for (;;) {
		int running = 0;

		for (int w = 0; w < SPOOL_WRITERS; w++)
			if (pids[w] > 0 && waitpid(pids[w], NULL, WNOHANG) == 0)
				running = 1;
		s = NULL;
		CHECK_OK(capture_spool_load(dir, &man, &s));
		capture_request_set_free(s);
		loads++;
		if (!running)
			break;
	}
	(void)loads;
	for (int w = 0; w < SPOOL_WRITERS; w++) {
		int status = 0;

		if (waitpid(pids[w], &status, 0) == pids[w])
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	s = NULL;
	CHECK_OK(capture_spool_load(dir, &man, &s));
	if (s) {
		size_t ec = 0, ed = 0;

		CHECK(s->n == SPOOL_WRITERS * SPOOL_PER_WRITER + 1);
		for (size_t i = 0; i < s->n; i++) {
			if (i > 0)
				CHECK(memcmp(s->items[i - 1]->id, s->items[i]->id, 32) < 0);
			ec += s->items[i]->scheme == RB_SIG_ECDSA_SHA256;
			ed += s->items[i]->scheme == RB_SIG_ED25519;
			CHECK(strncmp(s->items[i]->tool, "writer-", 7) == 0);
		}
		CHECK(ec == SPOOL_WRITERS * SPOOL_PER_WRITER && ed == 1);
	}
	capture_request_set_free(s);
	CHECK(count_dotfiles(dir) == 0);
}

/* ---- resolver ----------------------------------------------------------- */

static struct rb_signer *signer_for(const struct capture_request *r)
{
	switch (r->scheme) {
	case RB_SIG_ECDSA_SHA256:
		return &s_ec;
	case RB_SIG_ED25519:
		return &s_ed;
	default:
		return &s_rsa;
	}
}

/* A real signature for r from the soft key. For ECDSA, want_fit picks
 * one that fits the placeholder's shape (true) or one that does not. */
static uint8_t *soft_sign_request(const struct capture_request *r, bool want_fit, size_t *len)
{
	struct rb_signer *s = signer_for(r);

	for (int tries = 0; tries < 1000; tries++) {
		uint8_t *sig = NULL;

		if (rb_signer_sign(s, r->scheme, r->input, r->input_len, &sig, len) < 0)
			abort();
		if (r->scheme != RB_SIG_ECDSA_SHA256 || capture_ecdsa_sig_fits(sig) == want_fit)
			return sig;
		free(sig);
	}
	abort();
}

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_resolve_buffer(void)
{
	struct capture_request *rsa = req_for("app.apk", RB_SIG_RSA_PKCS1_SHA256),
			       *pss = req_for("ota.zip", RB_SIG_RSA_PSS_SHA512),
			       *ec = req_for("boot.img", RB_SIG_ECDSA_SHA256),
			       *ed = req_for("note", RB_SIG_ED25519),
			       *absent = req_for("elsewhere", RB_SIG_ED25519);
	struct capture_resolution res[5];
	struct capture_resolve_result results[5];
	uint8_t *sig[5], der[70], *data, *orig;
	size_t siglen[5], len = 8192;

	if (!rsa || !pss || !ec || !ed || !absent)
		return;
	sig[0] = soft_sign_request(rsa, true, &siglen[0]);
	sig[1] = soft_sign_request(pss, true, &siglen[1]);
	sig[2] = soft_sign_request(ec, true, &siglen[2]);
	sig[3] = soft_sign_request(ed, true, &siglen[3]);
	sig[4] = soft_sign_request(absent, true, &siglen[4]);
	res[0] = (struct capture_resolution){ rsa, s_rsa.pub, sig[0], siglen[0] };
	res[1] = (struct capture_resolution){ pss, s_rsa.pub, sig[1], siglen[1] };
	res[2] = (struct capture_resolution){ ec, s_ec.pub, sig[2], siglen[2] };
	res[3] = (struct capture_resolution){ ed, s_ed.pub, sig[3], siglen[3] };
	res[4] = (struct capture_resolution){ absent, s_ed.pub, sig[4], siglen[4] };

	/* RSA at offset 0, PSS in the middle, ECDSA in DER form, Ed25519 at
	 * the very end; the fifth request is not in this artifact. */
	data = malloc(len);
	orig = malloc(len);
	fill_random(data, len, 7);
	memcpy(data, rsa->placeholder, 256);
	memcpy(data + 1000, pss->placeholder, 256);
	der[0] = 0x30;
	der[1] = 0x44;
	der[2] = 0x02;
	der[3] = 0x20;
	memcpy(der + 4, ec->placeholder, 32);
	der[36] = 0x02;
	der[37] = 0x20;
	memcpy(der + 38, ec->placeholder + 32, 32);
	memcpy(data + 3001, der, 70);
	memcpy(data + len - 64, ed->placeholder, 64);
	memcpy(orig, data, len);

	CHECK_OK(capture_resolve_buffer(data, len, res, 5, results));
	CHECK(results[0].found == 1 && results[0].replaced);
	CHECK(results[1].found == 1 && results[1].replaced);
	CHECK(results[2].found == 1 && results[2].replaced);
	CHECK(results[3].found == 1 && results[3].replaced);
	CHECK(results[4].found == 0 && !results[4].replaced);
	CHECK(memcmp(data, sig[0], 256) == 0);
	CHECK(memcmp(data + 1000, sig[1], 256) == 0);
	CHECK(memcmp(data + 3001, "\x30\x44\x02\x20", 4) == 0);
	CHECK(memcmp(data + 3005, sig[2], 32) == 0);
	CHECK(memcmp(data + 3037, "\x02\x20", 2) == 0);
	CHECK(memcmp(data + 3039, sig[2] + 32, 32) == 0);
	CHECK(memcmp(data + len - 64, sig[3], 64) == 0);
	/* the DER form the artifact now holds verifies as a DER signature */
	{
		uint8_t raw[64];

		CHECK_OK(rb_ecdsa_der_to_raw(data + 3001, 70, raw));
		CHECK_OK(rb_sig_verify(s_ec.pub, RB_SIG_ECDSA_SHA256, ec->input, 32, raw, 64));
	}
	/* nothing else changed */
	CHECK(memcmp(data + 256, orig + 256, 1000 - 256) == 0);
	CHECK(memcmp(data + 1256, orig + 1256, 3001 - 1256) == 0);
	CHECK(memcmp(data + 3071, orig + 3071, len - 64 - 3071) == 0);
	/* a second run finds nothing left to do */
	memcpy(orig, data, len);
	CHECK_OK(capture_resolve_buffer(data, len, res, 5, results));
	for (int i = 0; i < 5; i++)
		CHECK(results[i].found == 0 && !results[i].replaced);
	CHECK(memcmp(orig, data, len) == 0);

	/* ECDSA in raw form */
	fill_random(data, len, 8);
	memcpy(data + 77, ec->placeholder, 64);
	CHECK_OK(capture_resolve_buffer(data, len, &res[2], 1, results));
	CHECK(results[0].found == 1 && results[0].replaced);
	CHECK(memcmp(data + 77, sig[2], 64) == 0);

	/* found twice: ambiguous, nothing replaced, even for the others */
	fill_random(data, len, 9);
	memcpy(data + 10, pss->placeholder, 256);
	memcpy(data + 500, ed->placeholder, 64);
	memcpy(data + 4000, ed->placeholder, 64);
	memcpy(orig, data, len);
	CHECK_ERR(capture_resolve_buffer(data, len, &res[1], 3, results), RB_E_STATE);
	CHECK(strstr(rb_err_detail(), ed->id_hex) != NULL);
	CHECK(results[2].found == 2 && !results[0].replaced && !results[2].replaced);
	CHECK(memcmp(orig, data, len) == 0);
	/* raw and DER form of the same ECDSA placeholder: also twice */
	fill_random(data, len, 10);
	memcpy(data + 100, ec->placeholder, 64);
	memcpy(data + 1000, der, 70);
	memcpy(orig, data, len);
	CHECK_ERR(capture_resolve_buffer(data, len, &res[2], 1, results), RB_E_STATE);
	CHECK(memcmp(orig, data, len) == 0);

	/* a wrong signature: over another input, or corrupted */
	fill_random(data, len, 11);
	memcpy(data + 10, rsa->placeholder, 256);
	memcpy(data + 300, ed->placeholder, 64);
	memcpy(orig, data, len);
	{
		struct capture_resolution bad[2] = { res[0], res[3] };

		bad[1].sig = sig[4]; /* the Ed25519 signature of another request */
		CHECK_ERR(capture_resolve_buffer(data, len, bad, 2, results), RB_E_VERIFY);
		CHECK(strstr(rb_err_detail(), ed->id_hex) != NULL);
		CHECK(memcmp(orig, data, len) == 0);
		bad[1] = res[3];
		sig[0][100] ^= 1;
		CHECK_ERR(capture_resolve_buffer(data, len, bad, 2, results), RB_E_VERIFY);
		sig[0][100] ^= 1;
		CHECK(memcmp(orig, data, len) == 0);
		/* the right signature with the wrong public key */
		bad[0].pub = s_ec.pub;
		CHECK_ERR(capture_resolve_buffer(data, len, bad, 2, results), RB_E_VERIFY);
		bad[0] = res[0];
		/* wrong length */
		bad[0].sig_len = 255;
		CHECK_ERR(capture_resolve_buffer(data, len, bad, 2, results), RB_E_INVAL);
		CHECK(memcmp(orig, data, len) == 0);
		/* the same request twice */
		bad[0] = res[3];
		CHECK_ERR(capture_resolve_buffer(data, len, bad, 2, results), RB_E_INVAL);
		CHECK(memcmp(orig, data, len) == 0);
	}
	/* a valid ECDSA signature that does not fit the 70-byte shape */
	{
		size_t n;
		uint8_t *unfit = soft_sign_request(ec, false, &n);
		struct capture_resolution r1 = { ec, s_ec.pub, unfit, n };

		CHECK_OK(rb_sig_verify(s_ec.pub, RB_SIG_ECDSA_SHA256, ec->input, 32, unfit, n));
		fill_random(data, len, 12);
		memcpy(data + 5, ec->placeholder, 64);
		memcpy(orig, data, len);
		CHECK_ERR(capture_resolve_buffer(data, len, &r1, 1, results), RB_E_INVAL);
		CHECK(memcmp(orig, data, len) == 0);
		free(unfit);
	}
	/* tiny buffers and no resolutions */
	CHECK_OK(capture_resolve_buffer(data, 7, res, 5, results));
	CHECK(results[0].found == 0);
	CHECK_OK(capture_resolve_buffer(data, len, NULL, 0, NULL));
	/* a placeholder cut off by the end of the buffer is not found */
	fill_random(data, len, 13);
	memcpy(data + len - 63, ed->placeholder, 63);
	CHECK_OK(capture_resolve_buffer(data, len, &res[3], 1, results));
	CHECK(results[0].found == 0);

	for (int i = 0; i < 5; i++)
		free(sig[i]);
	free(data);
	free(orig);
	capture_request_free(rsa);
	capture_request_free(pss);
	capture_request_free(ec);
	capture_request_free(ed);
	capture_request_free(absent);
}

/* Many requests in one artifact: the single-pass search finds each. */
static void test_resolve_many(void)
{
	enum { N = 300 };
	struct capture_request *r[N];
	struct capture_resolution res[N];
	struct capture_resolve_result results[N];
	uint8_t *sig[N], *data;
	size_t len = (size_t)N * 200 + 1000;

	data = malloc(len);
	fill_random(data, len, 99);
	for (int i = 0; i < N; i++) {
		char msg[32];
		size_t n;

		snprintf(msg, sizeof(msg), "file-%d", i);
		r[i] = req_for(msg, i % 2 ? RB_SIG_ED25519 : RB_SIG_ECDSA_SHA256);
		if (!r[i])
			abort();
		sig[i] = soft_sign_request(r[i], true, &n);
		res[i] = (struct capture_resolution){ r[i], i % 2 ? s_ed.pub : s_ec.pub, sig[i], n };
		/* every third request is absent from the artifact */
		if (i % 3 != 2)
			memcpy(data + 500 + (size_t)i * 200, r[i]->placeholder, 64);
	}
	CHECK_OK(capture_resolve_buffer(data, len, res, N, results));
	for (int i = 0; i < N; i++) {
		bool present = i % 3 != 2;

		CHECK(results[i].found == (present ? 1u : 0u) && results[i].replaced == present);
		if (present)
			CHECK(memcmp(data + 500 + (size_t)i * 200, sig[i], 64) == 0);
		free(sig[i]);
		capture_request_free(r[i]);
	}
	free(data);
}

static void test_resolve_file(void)
{
	struct capture_request *ec = req_for("file.bin", RB_SIG_ECDSA_SHA256);
	struct capture_resolve_result result;
	struct capture_resolution res;
	char path[600], link[600];
	uint8_t data[4096], *back = NULL, *sig;
	size_t n, backlen = 0;
	struct stat st, st2;

	if (!ec)
		return;
	sig = soft_sign_request(ec, true, &n);
	res = (struct capture_resolution){ ec, s_ec.pub, sig, n };
	snprintf(path, sizeof(path), "%s/artifact.bin", tmpdir);
	fill_random(data, sizeof(data), 21);
	memcpy(data + 1234, ec->placeholder, 64);
	CHECK_OK(rb_file_write_atomic(path, data, sizeof(data), 0640));
	CHECK(stat(path, &st) == 0);

	CHECK_OK(capture_resolve_file(path, &res, 1, &result));
	CHECK(result.found == 1 && result.replaced);
	CHECK_OK(rb_file_read(path, 1 << 20, &back, &backlen));
	CHECK(backlen == sizeof(data));
	if (back && backlen == sizeof(data)) {
		CHECK(memcmp(back + 1234, sig, 64) == 0);
		CHECK(memcmp(back, data, 1234) == 0);
		CHECK(memcmp(back + 1298, data + 1298, sizeof(data) - 1298) == 0);
	}
	free(back);
	CHECK(stat(path, &st2) == 0 && (st2.st_mode & 07777) == 0640);
	CHECK(st2.st_ino != st.st_ino); /* replaced by rename, not rewritten in place */
	CHECK(count_dotfiles(tmpdir) == 0);
	/* nothing to replace: the file is not rewritten */
	CHECK_OK(capture_resolve_file(path, &res, 1, &result));
	CHECK(result.found == 0 && !result.replaced);
	CHECK(stat(path, &st) == 0 && st.st_ino == st2.st_ino);
	/* a failure leaves the file alone */
	CHECK_OK(rb_file_write_atomic(path, data, sizeof(data), 0600));
	CHECK(stat(path, &st) == 0);
	sig[40] ^= 1;
	CHECK_ERR(capture_resolve_file(path, &res, 1, &result), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "artifact.bin") != NULL);
	sig[40] ^= 1;
	CHECK(stat(path, &st2) == 0 && st.st_ino == st2.st_ino);
	CHECK_OK(rb_file_read(path, 1 << 20, &back, &backlen));
	CHECK(back && memcmp(back, data, sizeof(data)) == 0);
	free(back);
	/* symbolic links, directories, missing files */
	snprintf(link, sizeof(link), "%s/link.bin", tmpdir);
	CHECK(symlink(path, link) == 0);
	CHECK_ERR(capture_resolve_file(link, &res, 1, &result), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "symbolic link") != NULL);
	unlink(link);
	CHECK_ERR(capture_resolve_file(tmpdir, &res, 1, &result), RB_E_INVAL);
	snprintf(link, sizeof(link), "%s/missing.bin", tmpdir);
	CHECK_ERR(capture_resolve_file(link, &res, 1, &result), RB_E_NOTFOUND);
	unlink(path);
	free(sig);
	capture_request_free(ec);
}

/* ---- signing on a SoftHSM2 token ---------------------------------------- */

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *r = NULL;

	if (rb_secret_new(strlen(s), &r) < 0)
		abort();
	memcpy(r->data, s, strlen(s));
	r->len = strlen(s);
	return r;
}

/* A manifest entry for a token key, as provisioning would write it. */
static void key_from_token(struct p11_key *k, struct manifest_key *mk)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(p11_key_public(k), &der);

	memset(mk, 0, sizeof(*mk));
	mk->name = strdup(p11_key_name(k));
	mk->uri = strdup("pkcs11:token=capture-test;type=private");
	mk->alg = p11_key_alg(k);
	mk->bits = p11_key_bits(k);
	mk->status = KEY_ACTIVE;
	mk->created = t0;
	mk->spki = malloc((size_t)n);
	memcpy(mk->spki, der, (size_t)n);
	mk->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(mk));
}

static void test_sign_softhsm(void)
{
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	struct rb_secret *so = secret_of("so-pin-1234"), *user = secret_of("user-pin-5678");
	struct p11_key *rsa = NULL, *ec = NULL, *ed = NULL;
	struct manifest_key mk_rsa, mk_ec, mk_ed;
	char conf[1024], path[600];
	uint8_t id1 = 1, id2 = 2, id3 = 3;

	if (access(ROMBSR_DEFAULT_SOFTHSM_MODULE, R_OK) != 0) {
		fprintf(stderr, "skipping: %s not installed\n", ROMBSR_DEFAULT_SOFTHSM_MODULE);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", tmpdir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	CHECK_OK(rb_file_write_atomic(path, conf, strlen(conf), 0600));
	setenv("SOFTHSM2_CONF", path, 1);
	CHECK_OK(p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &mod));
	if (!mod)
		goto out;
	CHECK_OK(p11_module_init_token(mod, "capture-test", so, user));
	CHECK_OK(p11_token_open(mod, "capture-test", 2, &tok));
	if (!tok)
		goto out;
	CHECK_OK(p11_token_login(tok, CKU_USER, user));
	CHECK_OK(p11_token_generate_key(tok, &(struct p11_keygen){ "cap-rsa", &id1, 1, RB_KEY_RSA, 2048 }, &rsa));
	CHECK_OK(p11_token_generate_key(tok, &(struct p11_keygen){ "cap-ec", &id2, 1, RB_KEY_EC_P256, 256 }, &ec));
	CHECK_OK(p11_token_generate_key(tok, &(struct p11_keygen){ "cap-ed", &id3, 1, RB_KEY_ED25519, 255 }, &ed));
	if (!rsa || !ec || !ed)
		goto out;
	key_from_token(rsa, &mk_rsa);
	key_from_token(ec, &mk_ec);
	key_from_token(ed, &mk_ed);

	/* every scheme, and the real signature resolves the placeholder */
	{
		static const struct {
			enum capture_mech mech;
			enum rb_sig_scheme scheme;
			int key;
		} cases[] = {
			{ CAPTURE_MECH_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA256, 0 },
			{ CAPTURE_MECH_SHA512_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA512, 0 },
			{ CAPTURE_MECH_RSA_PKCS_PSS, RB_SIG_RSA_PSS_SHA256, 0 },
			{ CAPTURE_MECH_RSA_PKCS_PSS, RB_SIG_RSA_PSS_SHA512, 0 },
			{ CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, 1 },
			{ CAPTURE_MECH_EDDSA, RB_SIG_ED25519, 2 },
		};
		struct p11_key *keys[] = { rsa, ec, ed };
		struct manifest_key *mks[] = { &mk_rsa, &mk_ec, &mk_ed };

		for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
			struct capture_request *r = NULL;
			struct capture_resolution res;
			struct capture_resolve_result result;
			uint8_t in[64], *sig = NULL, buf[1024];
			size_t inlen, siglen = 0;

			if (cases[i].scheme == RB_SIG_ED25519) {
				memcpy(in, "a signed note\n", 14);
				inlen = 14;
			} else {
				digest_of("softhsm", cases[i].scheme, in, &inlen);
			}
			CHECK_OK(capture_request_new(build, mks[cases[i].key], cases[i].mech,
						     cases[i].scheme, in, inlen, NULL, t0, &r));
			if (!r)
				continue;
			CHECK_OK(capture_request_sign(keys[cases[i].key], r, &sig, &siglen));
			CHECK(sig && siglen == r->placeholder_len);
			if (!sig) {
				capture_request_free(r);
				continue;
			}
			CHECK_OK(rb_sig_verify(p11_key_public(keys[cases[i].key]), r->scheme, r->input,
					       r->input_len, sig, siglen));
			fill_random(buf, sizeof(buf), (unsigned)i);
			memcpy(buf + 100, r->placeholder, r->placeholder_len);
			res = (struct capture_resolution){ r, mks[cases[i].key]->pub, sig, siglen };
			CHECK_OK(capture_resolve_buffer(buf, sizeof(buf), &res, 1, &result));
			CHECK(result.replaced && memcmp(buf + 100, sig, siglen) == 0);
			free(sig);
			capture_request_free(r);
		}
	}
	/* ECDSA always comes back in the placeholder's shape */
	for (int i = 0; i < 40; i++) {
		struct capture_request *r = NULL;
		uint8_t d[32], *sig = NULL;
		size_t siglen;
		char msg[32];

		snprintf(msg, sizeof(msg), "ecdsa %d", i);
		digest_of(msg, RB_SIG_ECDSA_SHA256, d, &siglen);
		CHECK_OK(capture_request_new(build, &mk_ec, CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
					     32, NULL, t0, &r));
		if (!r)
			break;
		CHECK_OK(capture_request_sign(ec, r, &sig, &siglen));
		CHECK(sig && siglen == 64 && capture_ecdsa_sig_fits(sig));
		free(sig);
		capture_request_free(r);
	}
	/* the request's key, and no other */
	{
		struct capture_request *r = NULL;
		uint8_t d[32] = { 9 }, *sig = NULL;
		size_t siglen;

		CHECK_OK(capture_request_new(build, &mk_rsa, CAPTURE_MECH_RSA_PKCS,
					     RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r));
		CHECK_ERR(capture_request_sign(ec, r, &sig, &siglen), RB_E_KEY);
		CHECK(strstr(rb_err_detail(), "cap-ec") != NULL);
		CHECK(sig == NULL);
		/* a soft key with the same name is still a different key */
		capture_request_free(r);
		r = NULL;
		CHECK_OK(capture_request_new(build, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
					     RB_SIG_RSA_PKCS1_SHA256, d, 32, NULL, t0, &r));
		CHECK_ERR(capture_request_sign(rsa, r, &sig, &siglen), RB_E_KEY);
		capture_request_free(r);
	}
	manifest_key_clear(&mk_rsa);
	manifest_key_clear(&mk_ec);
	manifest_key_clear(&mk_ed);
out:
	p11_token_free(tok);
	p11_module_free(mod);
	rb_secret_free(so);
	rb_secret_free(user);
}

/* ---- configuration ------------------------------------------------------ */

static void clear_env(void)
{
	unsetenv("ROMBSR_CAPTURE_CONFIG");
	unsetenv("ROMBSR_CAPTURE_MANIFEST");
	unsetenv("ROMBSR_CAPTURE_SPOOL");
	unsetenv("ROMBSR_BUILD_ID");
	unsetenv("ROMBSR_CAPTURE_LOG");
	unsetenv("ROMBSR_CAPTURE_PIN_FILE");
}

static int parse_config(const char *text, const char *path, struct capture_config **ret)
{
	*ret = NULL;
	return capture_config_parse(text, strlen(text), path, ret);
}

static void test_config_parse(void)
{
	struct capture_config *c = NULL;

	CHECK_OK(parse_config("{\"format\":\"rombsr-capture-config\",\"version\":1,"
			      "\"manifest\":\"keys/manifest.json\",\"spool\":\"/var/spool/rombsr\","
			      "\"build_id\":\"ci-77\",\"log\":\"../log/capture.log\","
			      "\"pin_file\":\"pin\"}",
			      "/etc/rombsr/capture.json", &c));
	if (c) {
		CHECK(strcmp(c->manifest_path, "/etc/rombsr/keys/manifest.json") == 0);
		CHECK(strcmp(c->spool_dir, "/var/spool/rombsr") == 0);
		CHECK(strcmp(c->build_id, "ci-77") == 0);
		CHECK(strcmp(c->log_path, "/etc/rombsr/../log/capture.log") == 0);
		CHECK(strcmp(c->pin_file, "/etc/rombsr/pin") == 0);
		CHECK(strcmp(c->source, "ROMBSR_CAPTURE_CONFIG=/etc/rombsr/capture.json") == 0);
	}
	capture_config_free(c);
	CHECK_OK(parse_config("{\"format\":\"rombsr-capture-config\",\"version\":1,"
			      "\"manifest\":\"m.json\",\"spool\":\"s\",\"build_id\":\"b\"}",
			      "/cfg.json", &c));
	if (c) {
		CHECK(strcmp(c->manifest_path, "/m.json") == 0);
		CHECK(strcmp(c->spool_dir, "/s") == 0);
		CHECK(c->log_path == NULL && c->pin_file == NULL);
	}
	capture_config_free(c);

#define BAD(text, want, needle)                                         \
	do {                                                            \
		CHECK_ERR(parse_config(text, "/etc/c.json", &c), want); \
		CHECK(strstr(rb_err_detail(), needle) != NULL);         \
		CHECK(strstr(rb_err_detail(), "/etc/c.json") != NULL);  \
		CHECK(c == NULL);                                       \
	} while (0)
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"m\",\"spool\":\"s\","
	    "\"build_id\":\"b\",\"pin\":\"1234\"}", RB_E_PARSE, "pin");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"m\",\"spool\":\"s\"}",
	    RB_E_PARSE, "build_id");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":2,\"manifest\":\"m\",\"spool\":\"s\","
	    "\"build_id\":\"b\"}", RB_E_UNSUPPORTED, "version");
	BAD("{\"format\":\"rombsr-key-manifest\",\"version\":1,\"manifest\":\"m\",\"spool\":\"s\","
	    "\"build_id\":\"b\"}", RB_E_PARSE, "format");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"m\",\"spool\":\"s\","
	    "\"build_id\":\"../b\"}", RB_E_PARSE, "build_id");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"\",\"spool\":\"s\","
	    "\"build_id\":\"b\"}", RB_E_PARSE, "manifest");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"m\",\"spool\":7,"
	    "\"build_id\":\"b\"}", RB_E_PARSE, "spool");
	BAD("{\"format\":\"rombsr-capture-config\",\"version\":1,\"manifest\":\"m\",\"spool\":\"s\","
	    "\"build_id\":\"b\",\"build_id\":\"c\"}", RB_E_PARSE, "duplicate");
	BAD("[1]", RB_E_PARSE, "object");
	BAD("", RB_E_PARSE, "c.json");
#undef BAD
	{
		size_t big = 70 * 1024;
		char *huge = malloc(big);

		memset(huge, ' ', big);
		CHECK_ERR(capture_config_parse(huge, big, "/big.json", &c), RB_E_TOOBIG);
		free(huge);
	}
}

static void test_config_env(void)
{
	struct capture_config *c = NULL;
	char path[600], cwd[512];

	clear_env();
	CHECK_ERR(capture_config_load(&c), RB_E_NOTFOUND);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_MANIFEST is not set") != NULL);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_CONFIG") != NULL);
	setenv("ROMBSR_CAPTURE_MANIFEST", "/m.json", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_NOTFOUND);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_SPOOL") != NULL);
	setenv("ROMBSR_CAPTURE_SPOOL", "spool", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_NOTFOUND);
	CHECK(strstr(rb_err_detail(), "ROMBSR_BUILD_ID") != NULL);
	setenv("ROMBSR_BUILD_ID", "has space\x1b", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROMBSR_BUILD_ID") && strstr(rb_err_detail(), "has space?"));
	setenv("ROMBSR_BUILD_ID", "b-1", 1);
	setenv("ROMBSR_CAPTURE_LOG", "", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_LOG") != NULL);
	unsetenv("ROMBSR_CAPTURE_LOG");
	CHECK_OK(capture_config_load(&c));
	CHECK(c != NULL);
	if (c) {
		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		snprintf(path, sizeof(path), "%s/spool", cwd);
		CHECK(strcmp(c->spool_dir, path) == 0); /* made absolute */
		CHECK(strcmp(c->manifest_path, "/m.json") == 0);
		CHECK(strcmp(c->build_id, "b-1") == 0);
		CHECK(c->log_path == NULL && c->pin_file == NULL);
		CHECK(strcmp(c->source, "environment") == 0);
	}
	capture_config_free(c);
	c = NULL;
	setenv("ROMBSR_CAPTURE_PIN_FILE", "/run/pin", 1);
	setenv("ROMBSR_CAPTURE_LOG", "/tmp/c.log", 1);
	CHECK_OK(capture_config_load(&c));
	if (c)
		CHECK(strcmp(c->pin_file, "/run/pin") == 0 && strcmp(c->log_path, "/tmp/c.log") == 0);
	capture_config_free(c);
	c = NULL;

	/* the config file wins over the variables */
	snprintf(path, sizeof(path), "%s/conf/capture.json", tmpdir);
	{
		char d[600];
		const char *text = "{\"format\":\"rombsr-capture-config\",\"version\":1,"
				   "\"manifest\":\"manifest.json\",\"spool\":\"spool\",\"build_id\":\"from-file\"}";

		snprintf(d, sizeof(d), "%s/conf", tmpdir);
		CHECK_OK(rb_mkdir_p(d, 0755));
		CHECK_OK(rb_file_write_atomic(path, text, strlen(text), 0644));
		setenv("ROMBSR_CAPTURE_CONFIG", path, 1);
		CHECK_OK(capture_config_load(&c));
		if (c) {
			char want[700];

			snprintf(want, sizeof(want), "%s/manifest.json", d);
			CHECK(strcmp(c->manifest_path, want) == 0);
			CHECK(strcmp(c->build_id, "from-file") == 0);
			CHECK(c->pin_file == NULL);
			snprintf(want, sizeof(want), "ROMBSR_CAPTURE_CONFIG=%s", path);
			CHECK(strcmp(c->source, want) == 0);
		}
		capture_config_free(c);
		c = NULL;
		/* a relative ROMBSR_CAPTURE_CONFIG resolves against the cwd */
		CHECK(chdir(tmpdir) == 0);
		setenv("ROMBSR_CAPTURE_CONFIG", "conf/capture.json", 1);
		CHECK_OK(capture_config_load(&c));
		if (c) {
			char want[700];

			snprintf(want, sizeof(want), "%s/conf/spool", tmpdir);
			CHECK(strcmp(c->spool_dir, want) == 0);
		}
		capture_config_free(c);
		c = NULL;
		CHECK(chdir(cwd) == 0);
	}
	setenv("ROMBSR_CAPTURE_CONFIG", "/nonexistent/capture.json", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_NOTFOUND);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_CONFIG=/nonexistent/capture.json") != NULL);
	setenv("ROMBSR_CAPTURE_CONFIG", "", 1);
	CHECK_ERR(capture_config_load(&c), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROMBSR_CAPTURE_CONFIG") != NULL);
	CHECK(c == NULL);
	clear_env();
}

/* ---- main --------------------------------------------------------------- */

static void teardown(void)
{
	char cmd[600];

	for (size_t i = 0; i < man.n_keys; i++)
		manifest_key_clear(&man.keys[i]);
	free(man.keys);
	soft_signer_free(&s_rsa);
	soft_signer_free(&s_ec);
	soft_signer_free(&s_ed);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
	setup();
	RUN(test_digestinfo);
	RUN(test_mech_names);
	RUN(test_build_id);
	RUN(test_request_new_validation);
	RUN(test_request_id);
	RUN(test_request_id_encoding);
	RUN(test_tool_sanitized);
	RUN(test_placeholder_shapes);
	RUN(test_placeholder_der70);
	RUN(test_json_roundtrip);
	RUN(test_json_tamper);
	RUN(test_json_eddsa_limit);
	RUN(test_request_data);
	RUN(test_spool_basic);
	RUN(test_spool_concurrent);
	RUN(test_resolve_buffer);
	RUN(test_resolve_many);
	RUN(test_resolve_file);
	RUN(test_sign_softhsm);
	RUN(test_config_parse);
	RUN(test_config_env);
	teardown();
	TEST_MAIN_END();
}
