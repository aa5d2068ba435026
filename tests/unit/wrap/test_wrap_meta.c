/* The wrapped key metadata parser (every rejection) and the store directory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "p11/wrap.h"
#include "soft_signer.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char dir[] = "/tmp/rombsr-wrapmeta-XXXXXX";

/* The fields of a metadata document as raw JSON values, in emit order;
 * a test overrides, drops or adds one and renders the text. */
#define NFIELDS 12
static const char *const field_names[NFIELDS] = {
	"format", "version", "name", "id", "algorithm", "bits", "created", "mechanism",
	"wrap_key_fingerprint", "spki_sha256", "spki", "blob",
};
static char *base_values[NFIELDS];
static struct rb_signer rsa, p256, ed;
static uint8_t blob[40];

static char *quoted(const char *s)
{
	char *r = NULL;

	if (asprintf(&r, "\"%s\"", s) < 0)
		abort();
	return r;
}

static char *render(const char *override_key, const char *override_value, const char *extra)
{
	struct rb_buf b = RB_BUF_INIT;
	bool first = true;
	size_t len;

	rb_buf_put_str(&b, "{");
	for (int i = 0; i < NFIELDS; i++) {
		const char *v = base_values[i];

		if (override_key && strcmp(override_key, field_names[i]) == 0)
			v = override_value;
		if (!v)
			continue;
		rb_buf_printf(&b, "%s\"%s\": %s", first ? "" : ", ", field_names[i], v);
		first = false;
	}
	if (extra)
		rb_buf_printf(&b, ", %s", extra);
	rb_buf_put_str(&b, "}\n");
	rb_buf_terminate(&b);
	return (char *)rb_buf_steal(&b, &len);
}

/* Fill base_values from a real emitted document for pub. */
static void set_base(EVP_PKEY *pub)
{
	uint8_t fpr[P11_WRAP_FPR_LEN], id[4] = { 1, 2, 3, 4 };
	struct wrap_meta *m = NULL;
	char *spki = NULL, *sha = NULL, *f = NULL, *b64 = NULL, *idhex = NULL, *bits = NULL;

	memset(fpr, 0xab, sizeof(fpr));
	CHECK_OK(wrap_meta_new("dev-0001", id, sizeof(id), pub, fpr, 1795000000, blob, sizeof(blob), &m));
	if (!m)
		abort();
	for (int i = 0; i < NFIELDS; i++)
		free(base_values[i]);
	rb_base64_encode(m->spki, m->spki_len, true, &spki);
	rb_hex_encode(m->spki_sha256, 32, &sha);
	rb_hex_encode(m->wrap_fpr, 32, &f);
	rb_base64_encode(m->blob, m->blob_len, true, &b64);
	rb_hex_encode(m->id, m->id_len, &idhex);
	if (asprintf(&bits, "%u", m->bits) < 0)
		abort();
	base_values[0] = quoted("rombsr-wrapped-key");
	base_values[1] = strdup("1");
	base_values[2] = quoted("dev-0001");
	base_values[3] = quoted(idhex);
	base_values[4] = quoted(rb_key_alg_name(m->alg));
	base_values[5] = bits;
	base_values[6] = quoted("2026-11-18T09:46:40Z");
	base_values[7] = quoted("CKM_AES_KEY_WRAP_PAD");
	base_values[8] = quoted(f);
	base_values[9] = quoted(sha);
	base_values[10] = quoted(spki);
	base_values[11] = quoted(b64);
	free(spki);
	free(sha);
	free(f);
	free(b64);
	free(idhex);
	wrap_meta_free(m);
}

static int parse_text(const char *text)
{
	struct wrap_meta *m = NULL;
	int err = wrap_meta_parse(text, strlen(text), "test.json", &m);

	CHECK((err == RB_OK) == (m != NULL));
	wrap_meta_free(m);
	return err;
}

/* Parse base with one field replaced (NULL value: removed). */
static int parse_with(const char *key, const char *value)
{
	char *t = render(key, value, NULL);
	int err = parse_text(t);

	free(t);
	return err;
}

static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	CHECK_OK(soft_signer_new("rsa2048", &rsa));
	CHECK_OK(soft_signer_new("p256", &p256));
	CHECK_OK(soft_signer_new("ed25519", &ed));
}

static void test_round_trip(void)
{
	EVP_PKEY *keys[] = { rsa.pub, p256.pub, ed.pub };
	unsigned want_bits[] = { 2048, 256, 255 };

	for (size_t i = 0; i < 3; i++) {
		struct wrap_meta *m = NULL, *m2 = NULL;
		struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;
		uint8_t fpr[P11_WRAP_FPR_LEN] = { 9 }, id[16] = { 7 };

		CHECK_OK(wrap_meta_new("k1", id, sizeof(id), keys[i], fpr, 1795000000, blob, sizeof(blob), &m));
		if (!m)
			continue;
		CHECK(m->bits == want_bits[i]);
		CHECK_OK(wrap_meta_emit(m, &out));
		CHECK_OK(wrap_meta_parse((const char *)out.data, out.len, "rt.json", &m2));
		if (m2) {
			CHECK(strcmp(m2->name, "k1") == 0 && m2->alg == m->alg && m2->bits == m->bits);
			CHECK(m2->created == 1795000000);
			CHECK(m2->blob_len == sizeof(blob) && memcmp(m2->blob, blob, sizeof(blob)) == 0);
			CHECK(memcmp(m2->wrap_fpr, fpr, sizeof(fpr)) == 0);
			CHECK(EVP_PKEY_eq(m2->pub, keys[i]) == 1);
			CHECK_OK(wrap_meta_emit(m2, &out2));
			CHECK(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0);
		}
		rb_buf_free(&out);
		rb_buf_free(&out2);
		wrap_meta_free(m);
		wrap_meta_free(m2);
	}
}

static void test_new_rejects(void)
{
	struct wrap_meta *m = NULL;
	uint8_t fpr[32] = { 0 }, id[1] = { 1 }, big[WRAP_BLOB_MAX + 8] = { 0 };

	CHECK_ERR(wrap_meta_new("../etc", id, 1, p256.pub, fpr, 0, blob, sizeof(blob), &m), RB_E_INVAL);
	CHECK_ERR(wrap_meta_new("Upper", id, 1, p256.pub, fpr, 0, blob, sizeof(blob), &m), RB_E_INVAL);
	CHECK_ERR(wrap_meta_new("k", id, 0, p256.pub, fpr, 0, blob, sizeof(blob), &m), RB_E_INVAL);
	CHECK_ERR(wrap_meta_new("k", id, 1, p256.pub, fpr, 0, blob, 12, &m), RB_E_INVAL);
	CHECK_ERR(wrap_meta_new("k", id, 1, p256.pub, fpr, 0, big, sizeof(big), &m), RB_E_INVAL);
	CHECK(m == NULL);
}

static void test_parse_valid_base(void)
{
	set_base(p256.pub);
	CHECK_OK(parse_with(NULL, NULL));
	set_base(rsa.pub);
	CHECK_OK(parse_with(NULL, NULL));
	set_base(ed.pub);
	CHECK_OK(parse_with(NULL, NULL));
}

static void test_parse_structure(void)
{
	char *t, *big;
	size_t n = WRAP_META_MAX_BYTES + 1;

	set_base(p256.pub);
	CHECK_ERR(parse_text(""), RB_E_PARSE);
	CHECK_ERR(parse_text("[]"), RB_E_PARSE);
	CHECK_ERR(parse_text("{} {}"), RB_E_PARSE);
	t = render(NULL, NULL, NULL);
	t[strlen(t) - 1] = 'x'; /* trailing data after the object */
	CHECK_ERR(parse_text(t), RB_E_PARSE);
	free(t);
	/* every required key, missing */
	for (int i = 0; i < NFIELDS; i++) {
		CHECK_ERR(parse_with(field_names[i], NULL), RB_E_PARSE);
		CHECK(strstr(rb_err_detail(), "test.json") != NULL);
	}
	/* unknown and duplicate keys */
	t = render(NULL, NULL, "\"comment\": \"hi\"");
	CHECK_ERR(parse_text(t), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "comment") != NULL);
	free(t);
	t = render(NULL, NULL, "\"name\": \"dev-0001\"");
	CHECK_ERR(parse_text(t), RB_E_PARSE);
	free(t);
	/* nesting where none belongs */
	CHECK_ERR(parse_with("name", "{\"a\": 1}"), RB_E_PARSE);
	CHECK_ERR(parse_with("blob", "[\"AAAA\"]"), RB_E_PARSE);
	/* oversized input */
	big = malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = 0;
	CHECK_ERR(parse_text(big), RB_E_TOOBIG);
	free(big);
}

static void test_parse_fields(void)
{
	char longhex[2 * WRAP_ID_MAX + 5];

	set_base(p256.pub);
	CHECK_ERR(parse_with("format", "\"rombsr-key-manifest\""), RB_E_PARSE);
	CHECK_ERR(parse_with("format", "1"), RB_E_PARSE);
	CHECK_ERR(parse_with("version", "2"), RB_E_UNSUPPORTED);
	CHECK(strstr(rb_err_detail(), "upgrade") != NULL);
	CHECK_ERR(parse_with("version", "\"1\""), RB_E_PARSE);
	CHECK_ERR(parse_with("name", "\"../../etc/passwd\""), RB_E_PARSE);
	CHECK_ERR(parse_with("name", "\"\""), RB_E_PARSE);
	CHECK_ERR(parse_with("name", "\"Dev\""), RB_E_PARSE);
	CHECK_ERR(parse_with("name", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""), RB_E_PARSE);
	CHECK_ERR(parse_with("mechanism", "\"CKM_AES_KEY_WRAP\""), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_with("algorithm", "\"dsa\""), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_with("bits", "512"), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_with("bits", "-1"), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_with("bits", "\"256\""), RB_E_PARSE);
	CHECK_ERR(parse_with("created", "\"yesterday\""), RB_E_PARSE);
	CHECK_ERR(parse_with("created", "1795000000"), RB_E_PARSE);
	CHECK_ERR(parse_with("id", "\"\""), RB_E_PARSE);
	CHECK_ERR(parse_with("id", "\"010\""), RB_E_PARSE);
	CHECK_ERR(parse_with("id", "\"0A0B\""), RB_E_PARSE);
	CHECK_ERR(parse_with("id", "\"zz\""), RB_E_PARSE);
	memset(longhex, '0', sizeof(longhex));
	longhex[0] = '"';
	longhex[sizeof(longhex) - 2] = '"';
	longhex[sizeof(longhex) - 1] = 0;
	CHECK_ERR(parse_with("id", longhex), RB_E_PARSE);
	CHECK_ERR(parse_with("wrap_key_fingerprint", "\"abcd\""), RB_E_PARSE);
	CHECK_ERR(parse_with("spki_sha256", "\"00\""), RB_E_PARSE);
	/* a well-formed but wrong spki_sha256: the file was altered */
	CHECK_ERR(parse_with("spki_sha256", "\"0000000000000000000000000000000000000000000000000000000000000000\""),
		  RB_E_VERIFY);
	CHECK_ERR(parse_with("spki", "\"not base64!\""), RB_E_PARSE);
	CHECK_ERR(parse_with("spki", "\"AAAA\""), RB_E_PARSE);
	CHECK_ERR(parse_with("spki", "\"\""), RB_E_TOOBIG);
	CHECK_ERR(parse_with("blob", "\"\""), RB_E_TOOBIG);
	CHECK_ERR(parse_with("blob", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\""), RB_E_PARSE); /* 20 bytes */
	CHECK_ERR(parse_with("blob", "\"AAAAAAAAAAA=\""), RB_E_PARSE);                 /* 8 bytes */
	CHECK_ERR(parse_with("blob", "\"AAAAAAAAAAAAAAAAAAAAAA\""), RB_E_PARSE);       /* unpadded */
	{
		/* a blob over the cap */
		size_t n = WRAP_BLOB_MAX + 8;
		uint8_t *raw = calloc(1, n);
		char *b64 = NULL, *q;

		rb_base64_encode(raw, n, true, &b64);
		q = quoted(b64);
		CHECK_ERR(parse_with("blob", q), RB_E_TOOBIG);
		free(q);
		free(b64);
		free(raw);
	}
	/* declared algorithm or size disagreeing with the public key */
	CHECK_ERR(parse_with("algorithm", "\"rsa\""), RB_E_UNSUPPORTED); /* rsa with bits 256 */
	CHECK_ERR(parse_with("algorithm", "\"ed25519\""), RB_E_UNSUPPORTED);
	set_base(rsa.pub);
	CHECK_ERR(parse_with("bits", "4096"), RB_E_VERIFY);
	CHECK_ERR(parse_with("bits", "3072"), RB_E_VERIFY);
	/* a P-256 spki (with its correct hash) under an RSA header */
	set_base(p256.pub);
	free(base_values[4]);
	base_values[4] = quoted("rsa");
	free(base_values[5]);
	base_values[5] = strdup("2048");
	CHECK_ERR(parse_with(NULL, NULL), RB_E_VERIFY);
	{
		/* DER followed by junk: decode, append, re-encode */
		struct wrap_meta *m = NULL;
		uint8_t fpr[32] = { 0 }, id[1] = { 1 };
		uint8_t *der;
		char *b64 = NULL, *q;

		CHECK_OK(wrap_meta_new("dev-0001", id, 1, rsa.pub, fpr, 0, blob, sizeof(blob), &m));
		der = malloc(m->spki_len + 2);
		memcpy(der, m->spki, m->spki_len);
		der[m->spki_len] = 0;
		der[m->spki_len + 1] = 0;
		rb_base64_encode(der, m->spki_len + 2, true, &b64);
		q = quoted(b64);
		CHECK_ERR(parse_with("spki", q), RB_E_PARSE);
		CHECK(strstr(rb_err_detail(), "SubjectPublicKeyInfo") != NULL);
		free(q);
		free(b64);
		free(der);
		wrap_meta_free(m);
	}
}

static void test_store(void)
{
	char sdir[600], path[700];
	struct wrap_meta *m = NULL, *got = NULL;
	uint8_t fpr[32] = { 3 }, id[2] = { 5, 6 };
	uint8_t *before = NULL, *after = NULL;
	size_t blen, alen;
	char *p = NULL;

	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	CHECK_ERR(wrap_store_load(sdir, "absent", &got), RB_E_NOTFOUND);
	CHECK_ERR(wrap_store_path(sdir, "../escape", &p), RB_E_INVAL);
	CHECK_ERR(wrap_store_path(sdir, "a/b", &p), RB_E_INVAL);
	CHECK_ERR(wrap_store_load(sdir, "..", &got), RB_E_INVAL);
	CHECK_OK(wrap_meta_new("dev-1", id, sizeof(id), p256.pub, fpr, 1795000000, blob, sizeof(blob), &m));
	CHECK_OK(wrap_store_add(sdir, m));
	snprintf(path, sizeof(path), "%s/dev-1.json", sdir);
	CHECK_OK(rb_file_read(path, 1 << 20, &before, &blen));
	CHECK_OK(wrap_store_load(sdir, "dev-1", &got));
	CHECK(got && EVP_PKEY_eq(got->pub, p256.pub) == 1);
	wrap_meta_free(got);
	got = NULL;

	/* Never replaced: a second key with the same name is refused and the
	 * file keeps its bytes. */
	wrap_meta_free(m);
	m = NULL;
	CHECK_OK(wrap_meta_new("dev-1", id, sizeof(id), rsa.pub, fpr, 1795000001, blob, sizeof(blob), &m));
	CHECK_ERR(wrap_store_add(sdir, m), RB_E_EXISTS);
	CHECK(strstr(rb_err_detail(), "never replaced") != NULL);
	CHECK_OK(rb_file_read(path, 1 << 20, &after, &alen));
	CHECK(blen == alen && memcmp(before, after, blen) == 0);
	free(after);
	after = NULL;

	/* A file copied under another key's name is refused. */
	snprintf(path, sizeof(path), "%s/dev-2.json", sdir);
	CHECK_OK(rb_file_write_atomic(path, before, blen, 0644));
	CHECK_ERR(wrap_store_load(sdir, "dev-2", &got), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "dev-1") != NULL);
	/* A corrupt file: a clear error naming it. */
	CHECK_OK(rb_file_write_atomic(path, "{\"format\": 1", 12, 0644));
	CHECK_ERR(wrap_store_load(sdir, "dev-2", &got), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "dev-2.json") != NULL);
	/* No temporary files left behind. */
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", sdir);
		CHECK(system(cmd) == 0);
	}
	free(before);
	wrap_meta_free(m);
}

int main(void)
{
	setup();
	RUN(test_round_trip);
	RUN(test_new_rejects);
	RUN(test_parse_valid_base);
	RUN(test_parse_structure);
	RUN(test_parse_fields);
	RUN(test_store);
	for (int i = 0; i < NFIELDS; i++)
		free(base_values[i]);
	soft_signer_free(&rsa);
	soft_signer_free(&p256);
	soft_signer_free(&ed);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	TEST_MAIN_END();
}
