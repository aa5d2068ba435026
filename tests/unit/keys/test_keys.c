/* Key spec and key manifest: parsing, validation and cross-checks. Keys
 * come from the test-only soft signer so no token is needed here; the
 * integration tests cover the same formats with SoftHSM2 keys. */
#include <string.h>

#include <openssl/x509.h>

#include "harness.h"
#include "keys/keyspec.h"
#include "keys/purpose.h"
#include "keys/manifest.h"
#include "pgp/pgp.h"
#include "soft_signer.h"
#include "util/encode.h"
#include "util/err.h"
#include "x509/x509.h"

HARNESS_GLOBALS;

static void test_default_keyspec(void)
{
	struct keyspec *ks = NULL;
	static const char *const want[] = { "platform", "media", "shared", "networkstack", "sdk_sandbox",
					    "bluetooth", "testkey", "avb_root", "avb_intermediate", "ota_key" };

	CHECK_OK(keyspec_default(&ks));
	if (!ks)
		return;
	CHECK(ks->n_keys == 13);
	for (size_t i = 0; i < 10; i++) {
		CHECK(strcmp(ks->keys[i].name, want[i]) == 0);
		CHECK(ks->keys[i].alg == RB_KEY_RSA && ks->keys[i].bits == 4096);
		CHECK(strstr(ks->keys[i].subject, "CN=Android") != NULL);
	}
	CHECK(strcmp(ks->keys[10].name, "release") == 0 && ks->keys[10].purposes == KEY_PURPOSE_OPENPGP_DETACHED);
	CHECK(strcmp(ks->keys[11].name, "queue") == 0 && ks->keys[11].alg == RB_KEY_ED25519);
	CHECK(strcmp(ks->keys[12].name, "audit") == 0 && ks->keys[12].alg == RB_KEY_ED25519);
	keyspec_free(ks);
}

static int parse_spec(const char *text)
{
	struct keyspec *ks = NULL;
	int err = keyspec_parse(text, strlen(text), "spec.json", &ks);

	keyspec_free(ks);
	return err;
}

static void test_keyspec_rejects(void)
{
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"rsa-1024\"}]}"),
		  RB_E_UNSUPPORTED);
	CHECK(strstr(rb_err_detail(), "spec.json") && strstr(rb_err_detail(), "rsa-1024"));
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":3,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\"}]}"),
		  RB_E_UNSUPPORTED);
	CHECK_ERR(parse_spec("{\"format\":\"other\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\"}]}"),
		  RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[]}"), RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"A\",\"algorithm\":\"ed25519\"}]}"),
		  RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\"},"
			     "{\"name\":\"a\",\"algorithm\":\"ed25519\"}]}"),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "twice") != NULL);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\",\"validity_days\":0}]}"),
		  RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\",\"extra\":1}]}"),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "extra") != NULL);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\"}]} x"),
		  RB_E_PARSE);
	CHECK_OK(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a-b_1\",\"algorithm\":\"ec-p256\"}]}"));
	/* certificate and OpenPGP fields are checked before any token work */
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\",\"subject\":\"/XX=nope\"}]}"),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "subject") != NULL);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":[{\"name\":\"a\",\"algorithm\":\"ed25519\",\"openpgp_uid\":\"a\\u0007b\"}]}"),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "openpgp_uid") != NULL);
}

/* Build one manifest key from a soft signer, as provisioning does. */
static void make_key(const char *name, const char *kind, struct rb_signer *s, struct manifest_key *k)
{
	struct x509_cert_params cp = { .subject = "/O=rombsr/CN=test", .serial = { 1, 2, 3 }, .serial_len = 3,
				       .not_before = 1700000000, .not_after = 1900000000 };
	struct rb_buf pgp = RB_BUF_INIT;
	unsigned char *der = NULL;
	int n;

	CHECK_OK(soft_signer_new(kind, s));
	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->id = malloc(2);
	k->id[0] = 0xab;
	k->id[1] = 0xcd;
	k->id_len = 2;
	k->uri = strdup("pkcs11:token=t;object=x;type=private");
	k->alg = s->alg;
	k->bits = (unsigned)(s->alg == RB_KEY_RSA ? EVP_PKEY_get_bits(s->pub) : s->alg == RB_KEY_EC_P256 ? 256 : 255);
	k->purposes = s->alg == RB_KEY_ED25519 ? KEY_PURPOSE_OPENPGP_DETACHED : KEY_PURPOSE_APK | KEY_PURPOSE_RAW_DETACHED;
	k->status = KEY_ACTIVE;
	k->created = 1700000000;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(x509_cert_build_selfsigned(s, &cp, &k->cert, &k->cert_len));
	if (s->alg != RB_KEY_EC_P256) {
		CHECK_OK(pgp_cert_write(s, k->created, "test <t@example.org>", k->created, &pgp));
		k->openpgp = rb_buf_steal(&pgp, &k->openpgp_len);
	}
	CHECK_OK(manifest_key_derive(k));
}

static struct rb_signer sa, sb, sc;
static struct manifest m;
static char *good;

static void test_manifest_roundtrip(void)
{
	struct manifest *back = NULL;
	struct rb_buf out = RB_BUF_INIT;

	m.generated = 1700000000;
	m.token_label = strdup("t");
	m.token_uri = strdup("pkcs11:token=t");
	m.keys = calloc(3, sizeof(*m.keys));
	make_key("alpha", "rsa2048", &sa, &m.keys[0]);
	make_key("beta", "ed25519", &sb, &m.keys[1]);
	make_key("gamma", "p256", &sc, &m.keys[2]);
	m.n_keys = 3;
	CHECK_OK(manifest_emit(&m, &out));
	CHECK_OK(rb_buf_terminate(&out));
	good = strdup((char *)out.data);
	CHECK_OK(manifest_parse(good, strlen(good), "m.json", &back));
	if (back) {
		CHECK(back->n_keys == 3);
		CHECK(manifest_find(back, "beta") != NULL);
		CHECK(manifest_find(back, "nope") == NULL);
		CHECK(memcmp(manifest_find(back, "alpha")->spki_sha256, m.keys[0].spki_sha256, 32) == 0);
		CHECK(memcmp(manifest_find(back, "beta")->openpgp_fpr, m.keys[1].openpgp_fpr, 20) == 0);
		CHECK(EVP_PKEY_eq(manifest_find(back, "gamma")->pub, sc.pub) == 1);
	}
	manifest_free(back);
	rb_buf_free(&out);
}

/* Parse good with the first occurrence of from replaced by to. */
static int parse_edited(const char *from, const char *to)
{
	struct manifest *back = NULL;
	const char *at = strstr(good, from);
	char *edited;
	int err;

	if (!at) {
		fprintf(stderr, "edit anchor '%s' not found\n", from);
		return 999;
	}
	edited = malloc(strlen(good) + strlen(to) + 1);
	memcpy(edited, good, (size_t)(at - good));
	strcpy(edited + (at - good), to);
	strcat(edited, at + strlen(from));
	err = manifest_parse(edited, strlen(edited), "m.json", &back);
	manifest_free(back);
	free(edited);
	return err;
}

static void test_manifest_tamper(void)
{
	char *hex = NULL;

	/* status and version */
	CHECK_ERR(parse_edited("\"status\": \"active\"", "\"status\": \"trusted\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"version\": 2", "\"version\": 3"), RB_E_UNSUPPORTED);
	CHECK(strstr(rb_err_detail(), "m.json") != NULL);
	/* version 1 has no purposes field: a version-2 document relabelled
	 * as version 1 is refused, not read with its purposes dropped */
	CHECK_ERR(parse_edited("\"version\": 2", "\"version\": 1"), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "purposes") != NULL);
	/* purposes: required in version 2, checked like the key spec's */
	CHECK_ERR(parse_edited("\"openpgp-detached\"", "\"openpgp-detached\", \"raw-detached\""), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "beta") != NULL);
	CHECK_ERR(parse_edited("\"openpgp-detached\"", "\"queue-response\", \"openpgp-detached\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"openpgp-detached\"", "\"everything\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"purposes\"", "\"purposes_\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"name\": \"beta\"", "\"name\": \"alpha\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"algorithm\": \"ed25519\"", "\"algorithm\": \"rsa-4096\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"created\": \"2023-11-14T22:13:20Z\"", "\"created\": \"2023-11-14 22:13:20\""), RB_E_PARSE);
	CHECK_ERR(parse_edited("\"name\": \"alpha\"", "\"name\": \"alpha\", \"colour\": \"red\""), RB_E_PARSE);
	/* a fingerprint that does not match the key */
	rb_hex_encode(m.keys[0].spki_sha256, 32, &hex);
	{
		char bad[65];

		memcpy(bad, hex, 65);
		bad[0] = bad[0] == '0' ? '1' : '0';
		CHECK_ERR(parse_edited(hex, bad), RB_E_VERIFY);
	}
	free(hex);
	/* an OpenPGP creation time that differs from "created" changes the
	 * key packet: caught */
	CHECK_ERR(parse_edited("\"created\": \"2023-11-14T22:13:20Z\"", "\"created\": \"2023-11-14T22:13:21Z\""), RB_E_VERIFY);
}

static void test_manifest_swapped_material(void)
{
	struct manifest *back = NULL;
	struct rb_buf out = RB_BUF_INIT;
	uint8_t *saved;
	size_t saved_len;

	/* alpha's certificate replaced by beta's: the certificate no longer
	 * carries alpha's SPKI */
	saved = m.keys[0].cert;
	saved_len = m.keys[0].cert_len;
	m.keys[0].cert = m.keys[1].cert;
	m.keys[0].cert_len = m.keys[1].cert_len;
	CHECK_OK(manifest_emit(&m, &out));
	m.keys[0].cert = saved;
	m.keys[0].cert_len = saved_len;
	CHECK_ERR(manifest_parse((char *)out.data, out.len, "m.json", &back), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "alpha") != NULL);
	rb_buf_free(&out);

	/* beta's OpenPGP certificate replaced by a certificate of another key */
	{
		struct rb_signer other;
		struct rb_buf pgp = RB_BUF_INIT;

		CHECK_OK(soft_signer_new("ed25519", &other));
		CHECK_OK(pgp_cert_write(&other, m.keys[1].created, "x <x@example.org>", m.keys[1].created, &pgp));
		saved = m.keys[1].openpgp;
		saved_len = m.keys[1].openpgp_len;
		m.keys[1].openpgp = pgp.data;
		m.keys[1].openpgp_len = pgp.len;
		CHECK_OK(manifest_emit(&m, &out));
		m.keys[1].openpgp = saved;
		m.keys[1].openpgp_len = saved_len;
		CHECK_ERR(manifest_parse((char *)out.data, out.len, "m.json", &back), RB_E_VERIFY);
		rb_buf_free(&out);
		rb_buf_free(&pgp);
		soft_signer_free(&other);
	}
	manifest_free(back);
}

static void test_manifest_limits(void)
{
	struct manifest *back = NULL;

	CHECK_ERR(manifest_parse(good, MANIFEST_MAX_BYTES + 1, "m.json", &back), RB_E_TOOBIG);
	CHECK_ERR(manifest_parse("", 0, "m.json", &back), RB_E_PARSE);
	CHECK_ERR(manifest_parse(good, strlen(good) / 2, "m.json", &back), RB_E_PARSE);
}

int main(void)
{
	RUN(test_default_keyspec);
	RUN(test_keyspec_rejects);
	RUN(test_manifest_roundtrip);
	RUN(test_manifest_tamper);
	RUN(test_manifest_swapped_material);
	RUN(test_manifest_limits);
	for (size_t i = 0; i < m.n_keys; i++)
		manifest_key_clear(&m.keys[i]);
	free(m.keys);
	free(m.token_label);
	free(m.token_uri);
	free(good);
	soft_signer_free(&sa);
	soft_signer_free(&sb);
	soft_signer_free(&sc);
	TEST_MAIN_END();
}
