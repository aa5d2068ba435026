/* The queue's documents: request (build node -> sign node), response
 * (sign node -> build node) and approval. Round trips through the
 * emitters and parsers, and every check the parsers make, each with a
 * document edited the way an attacker on the queue would edit it.
 *
 * Keys come from the test-only soft signer; capture requests from
 * capture_request_new(); OpenPGP signatures from src/lib/pgp. With
 * ROMBSR_WRITE_CORPUS=<dir> set, the documents built here are also
 * written as fuzz seeds to <dir>/{request,response,approval}/. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "harness.h"
#include "pgp/pgp.h"
#include "request/approval.h"
#include "request/capture_request.h"
#include "request/claim.h"
#include "request/request.h"
#include "request/response.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"

HARNESS_GLOBALS;

static struct rb_signer s_rsa, s_ec, s_ed, s_rsa2;
static struct manifest man;  /* what the sign node trusts */
static struct manifest man2; /* a different manifest a build node might use */
static const char *build = "build-42";
static const int64_t t0 = 1760000000;
static const uint8_t man_sha[32] = { 0xab, 0xcd };
static uint8_t *file_a, *file_b;
static const size_t file_a_len = 1000, file_b_len = 129;

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
	/* The document format is tested here with keys that may sign every
	 * request kind (an in-memory manifest, never emitted); the purpose
	 * rules have tests of their own (test_request_purposes). */
	k->purposes = KEY_PURPOSES_NODE_DIGEST | KEY_PURPOSE_OPENPGP_DETACHED;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(k));
}

static void setup(void)
{
	if (soft_signer_new("rsa2048", &s_rsa) < 0 || soft_signer_new("p256", &s_ec) < 0 ||
	    soft_signer_new("ed25519", &s_ed) < 0 || soft_signer_new("rsa2048", &s_rsa2) < 0)
		abort();
	man.keys = calloc(5, sizeof(*man.keys));
	make_key("rsa-key", &s_rsa, KEY_ACTIVE, &man.keys[0]);
	make_key("ec-key", &s_ec, KEY_ACTIVE, &man.keys[1]);
	make_key("ed-key", &s_ed, KEY_ACTIVE, &man.keys[2]);
	make_key("old-key", &s_rsa, KEY_RETIRED, &man.keys[3]);
	make_key("bad-key", &s_ec, KEY_REVOKED, &man.keys[4]);
	man.n_keys = 5;
	/* The build node's idea of the keys: old-key and bad-key still
	 * active, a key the sign node does not know, and rsa-key with a
	 * different public key. */
	man2.keys = calloc(4, sizeof(*man2.keys));
	make_key("old-key", &s_rsa, KEY_ACTIVE, &man2.keys[0]);
	make_key("bad-key", &s_ec, KEY_ACTIVE, &man2.keys[1]);
	make_key("new-key", &s_rsa, KEY_ACTIVE, &man2.keys[2]);
	make_key("rsa-key", &s_rsa2, KEY_ACTIVE, &man2.keys[3]);
	man2.n_keys = 4;
	file_a = malloc(file_a_len);
	file_b = malloc(file_b_len);
	for (size_t i = 0; i < file_a_len; i++)
		file_a[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < file_b_len; i++)
		file_b[i] = (uint8_t)(i * 13 + 1);
}

static void teardown(void)
{
	for (size_t i = 0; i < man.n_keys; i++)
		manifest_key_clear(&man.keys[i]);
	for (size_t i = 0; i < man2.n_keys; i++)
		manifest_key_clear(&man2.keys[i]);
	free(man.keys);
	free(man2.keys);
	soft_signer_free(&s_rsa);
	soft_signer_free(&s_ec);
	soft_signer_free(&s_ed);
	soft_signer_free(&s_rsa2);
	free(file_a);
	free(file_b);
}

static struct manifest_key *key(const char *name)
{
	return manifest_find(&man, name);
}

static struct manifest_key *key2(const char *name)
{
	return manifest_find(&man2, name);
}

static void write_seed(const char *kind, const char *name, const void *data, size_t len)
{
	const char *dir = getenv("ROMBSR_WRITE_CORPUS");
	char path[1024];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, kind);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, kind, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(data, 1, len, f) == len);
		fclose(f);
	}
}

/* A capture request with an RSA placeholder over file_a's SHA-256. */
static struct capture_request *capture_for(const char *build_id)
{
	struct capture_request *r = NULL;
	uint8_t d[32];
	size_t dlen;

	CHECK_OK(rb_digest(EVP_sha256(), file_a, file_a_len, d, &dlen));
	CHECK_OK(capture_request_new(build_id, key("rsa-key"), CAPTURE_MECH_RSA_PKCS,
				     RB_SIG_RSA_PKCS1_SHA256, d, dlen, "apksigner", t0, &r));
	return r;
}

/* The full document: three artifacts and one request of every kind and
 * scheme. */
static struct request_doc *full_doc(void)
{
	struct request_doc *doc = NULL;
	struct capture_request *cr = capture_for(build);

	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "app/Foo.apk", file_a, file_a_len));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "dists/stable/Release", file_b, file_b_len));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "empty.bin", "", 0));
	CHECK_OK(request_doc_add_capture(doc, "app/Foo.apk", cr));
	CHECK_OK(request_doc_add_raw(doc, "app/Foo.apk", key("rsa-key"), RB_SIG_RSA_PKCS1_SHA256));
	CHECK_OK(request_doc_add_raw(doc, "app/Foo.apk", key("rsa-key"), RB_SIG_RSA_PSS_SHA512));
	CHECK_OK(request_doc_add_raw(doc, "empty.bin", key("ec-key"), RB_SIG_ECDSA_SHA256));
	CHECK_OK(request_doc_add_raw(doc, "app/Foo.apk", key("ed-key"), RB_SIG_ED25519));
	CHECK_OK(request_doc_add_openpgp(doc, "dists/stable/Release", key("rsa-key"),
					 HASH_STATE_SHA256, true));
	CHECK_OK(request_doc_add_openpgp(doc, "dists/stable/Release", key("ed-key"),
					 HASH_STATE_SHA512, false));
	CHECK_OK(request_doc_add_openpgp(doc, "empty.bin", key("ed-key"), HASH_STATE_SHA256, false));
	CHECK_OK(request_doc_set_comment(doc, "nightly\tbuild\nof main"));
	capture_request_free(cr);
	return doc;
}

static char *emit_doc(const struct request_doc *doc, size_t *len)
{
	struct rb_buf b = RB_BUF_INIT;

	CHECK_OK(request_doc_emit(doc, &b));
	CHECK_OK(rb_buf_terminate(&b));
	return (char *)rb_buf_steal(&b, len);
}

/* Replace the first occurrence of from with to; NULL (and a failed
 * check) when from is absent, so an edit that misses cannot pass. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	size_t n;
	char *out;

	CHECK(p != NULL);
	if (!p)
		return NULL;
	n = strlen(text) - strlen(from) + strlen(to);
	out = malloc(n + 1);
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), to);
	strcat(out, p + strlen(from));
	return out;
}

static int parse_text(const char *text, const struct manifest *m)
{
	struct request_doc *doc = NULL;
	int err;

	if (!text)
		return 1000;
	err = request_doc_parse(text, strlen(text), "test.json", m, 0, &doc);
	CHECK((err == 0) == (doc != NULL));
	request_doc_free(doc);
	return err;
}

static int parse_edited(const char *text, const char *from, const char *to,
			const struct manifest *m)
{
	char *t = edit(text, from, to);
	int err = parse_text(t, m);

	free(t);
	return err;
}

/* The text between the first "<start>" and the following "<end>". */
static char *between(const char *text, const char *start, const char *end)
{
	const char *a = strstr(text, start), *b;
	char *out;

	CHECK(a != NULL);
	if (!a)
		return strdup("");
	a += strlen(start);
	b = strstr(a, end);
	CHECK(b != NULL);
	if (!b)
		return strdup("");
	out = strndup(a, (size_t)(b - a));
	return out;
}

static char *hex_of(const uint8_t *p, size_t n)
{
	char *s = NULL;

	CHECK_OK(rb_hex_encode(p, n, &s));
	return s;
}

/* ---- names -------------------------------------------------------------- */

static void test_artifact_names(void)
{
	char longname[300];

	CHECK(request_artifact_name_valid("app/Foo.apk"));
	CHECK(request_artifact_name_valid("a"));
	CHECK(request_artifact_name_valid("a.b/c+d-e_f/G9"));
	CHECK(request_artifact_name_valid(".hidden/..x/x.."));
	CHECK(!request_artifact_name_valid(NULL));
	CHECK(!request_artifact_name_valid(""));
	CHECK(!request_artifact_name_valid("../x"));
	CHECK(!request_artifact_name_valid("a/../../x"));
	CHECK(!request_artifact_name_valid("a/.."));
	CHECK(!request_artifact_name_valid(".."));
	CHECK(!request_artifact_name_valid("."));
	CHECK(!request_artifact_name_valid("./a"));
	CHECK(!request_artifact_name_valid("a/./b"));
	CHECK(!request_artifact_name_valid("/etc/passwd"));
	CHECK(!request_artifact_name_valid("a//b"));
	CHECK(!request_artifact_name_valid("a/"));
	CHECK(!request_artifact_name_valid("a\\..\\b"));
	CHECK(!request_artifact_name_valid("a b"));
	CHECK(!request_artifact_name_valid("a\nb"));
	CHECK(!request_artifact_name_valid("C:x"));
	CHECK(!request_artifact_name_valid("caf\xc3\xa9"));
	memset(longname, 'a', sizeof(longname));
	longname[REQUEST_ARTIFACT_NAME_MAX] = 0;
	CHECK(request_artifact_name_valid(longname));
	longname[REQUEST_ARTIFACT_NAME_MAX] = 'a';
	longname[REQUEST_ARTIFACT_NAME_MAX + 1] = 0;
	CHECK(!request_artifact_name_valid(longname));
}

static void test_node_names(void)
{
	char n64[65], n65[66];

	memset(n64, 'x', 64);
	n64[64] = 0;
	memset(n65, 'x', 65);
	n65[65] = 0;
	CHECK(request_node_valid("builder1"));
	CHECK(request_node_valid("B.x_y-z"));
	CHECK(request_node_valid(n64));
	CHECK(!request_node_valid(n65));
	CHECK(!request_node_valid(""));
	CHECK(!request_node_valid(NULL));
	CHECK(!request_node_valid(".x"));
	CHECK(!request_node_valid("-x"));
	CHECK(!request_node_valid("a/b"));
	CHECK(!request_node_valid("a b"));
}

/* The one reader of queue paths (guard, sign node, auditor): exactly the
 * four forms, with valid names, and nothing near them. */
static void test_request_path(void)
{
	struct request_path rp;
	char longnode[80];

	CHECK(request_path_parse("requests/node-a/build.1.json", &rp));
	CHECK(rp.area == REQUEST_PATH_REQUEST && !strcmp(rp.node, "node-a") && !strcmp(rp.build, "build.1") &&
	      rp.approver[0] == '\0' && rp.generation == 0);
	CHECK(request_path_parse("approvals/alice/node-a/b1.json", &rp));
	CHECK(rp.area == REQUEST_PATH_APPROVAL && !strcmp(rp.approver, "alice") && !strcmp(rp.node, "node-a") &&
	      !strcmp(rp.build, "b1"));
	CHECK(request_path_parse("responses/node-a/b1.json", &rp));
	CHECK(rp.area == REQUEST_PATH_RESPONSE && !strcmp(rp.node, "node-a") && !strcmp(rp.build, "b1"));
	CHECK(request_path_parse("claims/node-a/b1/12.json", &rp));
	CHECK(rp.area == REQUEST_PATH_CLAIM && !strcmp(rp.node, "node-a") && !strcmp(rp.build, "b1") &&
	      rp.generation == 12);

	/* Missing, empty and extra components. */
	CHECK(!request_path_parse("requests/node-a.json", &rp));
	CHECK(!request_path_parse("requests//b1.json", &rp));
	CHECK(!request_path_parse("requests/node-a/x/b1.json", &rp));
	CHECK(!request_path_parse("requests/node-a/b1.json/", &rp));
	CHECK(!request_path_parse("approvals/node-a/b1.json", &rp));
	CHECK(!request_path_parse("claims/node-a/b1.json", &rp));
	CHECK(!request_path_parse("claims/node-a/b1/0.json", &rp));
	CHECK(!request_path_parse("claims/node-a/b1/01.json", &rp));
	/* Names that are not valid, another area, no .json. */
	CHECK(!request_path_parse("requests/../b1.json", &rp));
	CHECK(!request_path_parse("requests/-node/b1.json", &rp));
	CHECK(!request_path_parse("requests/node-a/.json", &rp));
	CHECK(!request_path_parse("requests/node-a/b 1.json", &rp));
	CHECK(!request_path_parse("requests/node-a/b1.JSON", &rp));
	CHECK(!request_path_parse("requests/node-a/b1", &rp));
	CHECK(!request_path_parse("request/node-a/b1.json", &rp));
	CHECK(!request_path_parse("/requests/node-a/b1.json", &rp));
	CHECK(!request_path_parse("", &rp));
	CHECK(!request_path_parse(NULL, &rp));
	memset(longnode, 'n', 65);
	memcpy(longnode + 65, "/b1.json", 9);
	{
		char path[100];

		snprintf(path, sizeof(path), "requests/%s", longnode);
		CHECK(!request_path_parse(path, &rp));
		/* 64 characters is the longest node name. */
		snprintf(path, sizeof(path), "requests/%s", longnode + 1);
		CHECK(request_path_parse(path, &rp) && strlen(rp.node) == 64);
	}
}

static void test_kind_names(void)
{
	enum request_kind k;

	CHECK_OK(request_kind_from_name("openpgp", &k));
	CHECK(k == REQUEST_KIND_OPENPGP);
	CHECK(strcmp(request_kind_name(REQUEST_KIND_CAPTURE), "capture") == 0);
	CHECK(request_kind_name(0) == NULL);
	CHECK_ERR(request_kind_from_name("Raw", &k), RB_E_PARSE);
	CHECK_ERR(request_kind_from_name(NULL, &k), RB_E_PARSE);
}

/* ---- request: building ---------------------------------------------------- */

static void test_builder_refusals(void)
{
	struct request_doc *doc = NULL;
	struct capture_request *other = capture_for("build-43");

	CHECK_ERR(request_doc_new("-bad", build, man_sha, t0, &doc), RB_E_INVAL);
	CHECK_ERR(request_doc_new("builder1", ".bad", man_sha, t0, &doc), RB_E_INVAL);
	CHECK_ERR(request_doc_new("builder1", build, man_sha, -1, &doc), RB_E_INVAL);
	CHECK(doc == NULL);
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_ERR(request_doc_add_artifact_buffer(doc, "../x", "x", 1), RB_E_INVAL);
	CHECK_ERR(request_doc_add_artifact_buffer(doc, "/etc/passwd", "x", 1), RB_E_INVAL);
	CHECK_OK(request_doc_add_artifact_buffer(doc, "a", "x", 1));
	CHECK_ERR(request_doc_add_artifact_buffer(doc, "a", "y", 1), RB_E_EXISTS);
	CHECK(doc->n_artifacts == 1);
	CHECK_ERR(request_doc_add_raw(doc, "nope", key("rsa-key"), RB_SIG_RSA_PKCS1_SHA256),
		  RB_E_NOTFOUND);
	CHECK_ERR(request_doc_add_raw(doc, "a", key("old-key"), RB_SIG_RSA_PKCS1_SHA256), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "retired") != NULL);
	CHECK_ERR(request_doc_add_raw(doc, "a", key("bad-key"), RB_SIG_ECDSA_SHA256), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "revoked") != NULL);
	CHECK_ERR(request_doc_add_raw(doc, "a", key("rsa-key"), RB_SIG_ECDSA_SHA256),
		  RB_E_UNSUPPORTED);
	CHECK_ERR(request_doc_add_raw(doc, "a", key("ed-key"), RB_SIG_RSA_PSS_SHA256),
		  RB_E_UNSUPPORTED);
	CHECK_ERR(request_doc_add_openpgp(doc, "a", key("ec-key"), HASH_STATE_SHA256, false),
		  RB_E_UNSUPPORTED);
	CHECK_ERR(request_doc_add_openpgp(doc, "a", key("old-key"), HASH_STATE_SHA256, false),
		  RB_E_PERM);
	CHECK_ERR(request_doc_add_capture(doc, "a", other), RB_E_INVAL);
	CHECK_OK(request_doc_add_raw(doc, "a", key("rsa-key"), RB_SIG_RSA_PKCS1_SHA256));
	CHECK_ERR(request_doc_add_raw(doc, "a", key("rsa-key"), RB_SIG_RSA_PKCS1_SHA256), RB_E_EXISTS);
	CHECK(doc->n_entries == 1);
	CHECK_ERR(request_doc_set_comment(doc, "bell\a"), RB_E_INVAL);
	CHECK_ERR(request_doc_set_comment(doc, ""), RB_E_INVAL);
	capture_request_free(other);
	request_doc_free(doc);
	request_doc_free(NULL);
}

static void test_builder_artifact_file(void)
{
	char dir[] = "/tmp/rombsr-request-XXXXXX", path[128], link[128];
	struct request_doc *doc = NULL;
	const struct request_artifact *a;
	uint8_t want[64];
	size_t n;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(link, sizeof(link), "%s/l", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, file_a, file_a_len) == (ssize_t)file_a_len);
	close(fd);
	CHECK(symlink(path, link) == 0);
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_file(doc, "f", path));
	CHECK_ERR(request_doc_add_artifact_file(doc, "l", link), RB_E_INVAL);
	CHECK_ERR(request_doc_add_artifact_file(doc, "d", dir), RB_E_INVAL);
	CHECK_ERR(request_doc_add_artifact_file(doc, "m", "/nonexistent/x"), RB_E_NOTFOUND);
	a = request_doc_find_artifact(doc, "f");
	CHECK(a != NULL);
	if (a) {
		CHECK(a->size == file_a_len);
		CHECK_OK(rb_digest(EVP_sha512(), file_a, file_a_len, want, &n));
		CHECK(a->has_sha512 && memcmp(a->sha512, want, 64) == 0);
		CHECK_OK(rb_digest(EVP_sha256(), file_a, file_a_len, want, &n));
		CHECK(memcmp(a->sha256, want, 32) == 0);
	}
	CHECK(request_doc_find_artifact(doc, "l") == NULL);
	request_doc_free(doc);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

/* An artifact cap: the 10001st artifact is refused. */
static void test_builder_artifact_cap(void)
{
	struct request_doc *doc = NULL;
	char name[32];

	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	for (int i = 0; i < REQUEST_MAX_ARTIFACTS; i++) {
		snprintf(name, sizeof(name), "f%05d", i);
		if (request_doc_add_artifact_buffer(doc, name, "", 0) != 0) {
			CHECK(!"artifact refused below the cap");
			break;
		}
	}
	CHECK_ERR(request_doc_add_artifact_buffer(doc, "one-more", "", 0), RB_E_LIMIT);
	CHECK(request_doc_find_artifact(doc, "f04711") != NULL);
	request_doc_free(doc);
}

/* ---- request: round trip -------------------------------------------------- */

static bool same_doc(const struct request_doc *a, const struct request_doc *b)
{
	if (strcmp(a->node, b->node) || strcmp(a->build_id, b->build_id) ||
	    a->created != b->created || memcmp(a->manifest_sha256, b->manifest_sha256, 32) ||
	    a->n_artifacts != b->n_artifacts || a->n_entries != b->n_entries ||
	    (a->comment == NULL) != (b->comment == NULL) ||
	    (a->comment && strcmp(a->comment, b->comment)))
		return false;
	for (size_t i = 0; i < a->n_artifacts; i++) {
		const struct request_artifact *x = &a->artifacts[i], *y = &b->artifacts[i];

		if (strcmp(x->name, y->name) || x->size != y->size || memcmp(x->sha256, y->sha256, 32) ||
		    x->has_sha512 != y->has_sha512 || memcmp(x->sha512, y->sha512, 64))
			return false;
	}
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct request_entry *x = &a->entries[i], *y = &b->entries[i];

		if (x->kind != y->kind || memcmp(x->id, y->id, 32) || strcmp(x->id_hex, y->id_hex) ||
		    x->artifact != y->artifact || strcmp(x->key_name, y->key_name) ||
		    memcmp(x->key_spki_sha256, y->key_spki_sha256, 32) || x->scheme != y->scheme ||
		    x->input_len != y->input_len ||
		    (x->input_len && memcmp(x->input, y->input, x->input_len)) || x->hash != y->hash ||
		    x->armor != y->armor || (x->state == NULL) != (y->state == NULL) ||
		    (x->capture == NULL) != (y->capture == NULL))
			return false;
		if (x->state && hash_state_get_length(x->state) != hash_state_get_length(y->state))
			return false;
	}
	return true;
}

static void test_request_roundtrip(void)
{
	struct request_doc *doc = full_doc(), *back = NULL, *bare = NULL;
	size_t len = 0, len2 = 0;
	char *text = emit_doc(doc, &len), *again = NULL;
	uint8_t d[32];
	size_t dn;

	write_seed("request", "full.json", text, len);
	CHECK(len > 0 && text[len - 1] == '\n' && strchr(text, '\n') == text + len - 1);
	{
		const char *start = "{\"format\":\"rombsr-request\",\"optional\":{\"comment\":";

		CHECK(strncmp(text, start, strlen(start)) == 0);
	}
	CHECK_OK(request_doc_parse(text, len, "full.json", &man, 0, &back));
	CHECK_OK(request_doc_parse(text, len, "full.json", NULL, 0, &bare));
	if (back && bare) {
		CHECK(same_doc(doc, back));
		CHECK(same_doc(doc, bare));
		again = emit_doc(back, &len2);
		CHECK(len2 == len && memcmp(again, text, len) == 0);
		/* parsed documents carry no builder states */
		CHECK(back->artifacts[0].state256 == NULL);
		for (size_t i = 0; i < doc->n_entries; i++)
			CHECK(request_doc_find(back, doc->entries[i].id) == &back->entries[i]);
		d[0] = 0;
		memset(d, 0x5a, sizeof(d));
		CHECK(request_doc_find(back, d) == NULL);
		CHECK(request_doc_find_artifact(back, "empty.bin") == &back->artifacts[2]);
		CHECK(request_doc_find_artifact(back, "nope") == NULL);
	}
	/* The raw Ed25519 request signs the file's SHA-256 as its message. */
	CHECK_OK(rb_digest(EVP_sha256(), file_a, file_a_len, d, &dn));
	CHECK(doc->entries[4].scheme == RB_SIG_ED25519 && doc->entries[4].input_len == 32 &&
	      memcmp(doc->entries[4].input, d, 32) == 0);
	/* The capture entry carries capture's own id and input. */
	CHECK(doc->entries[0].kind == REQUEST_KIND_CAPTURE && doc->entries[0].capture &&
	      memcmp(doc->entries[0].id, doc->entries[0].capture->id, 32) == 0);
	free(text);
	free(again);
	request_doc_free(doc);
	request_doc_free(back);
	request_doc_free(bare);
}

/* On the sign node: the parsed openpgp entry's state is all that is
 * needed to make a signature that verifies over the artifact. */
static void test_request_openpgp_sign(void)
{
	struct request_doc *doc = full_doc(), *back = NULL;
	size_t len = 0;
	char *text = emit_doc(doc, &len);
	struct pgp_key *pk = NULL;

	CHECK_OK(request_doc_parse(text, len, "full.json", &man, 0, &back));
	CHECK_OK(pgp_key_new(&s_ed, t0, &pk));
	for (size_t i = 0; back && pk && i < back->n_entries; i++) {
		const struct request_entry *e = &back->entries[i];
		_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx sc = { 0 };
		struct rb_buf sig = RB_BUF_INIT;
		EVP_MD_CTX *md = NULL;
		bool is_b;

		if (e->kind != REQUEST_KIND_OPENPGP || strcmp(e->key_name, "ed-key") != 0)
			continue;
		is_b = strcmp(back->artifacts[e->artifact].name, "dists/stable/Release") == 0;
		CHECK_OK(hash_state_md_ctx(e->state, &md));
		CHECK_OK(pgp_sig_init_from_state(&sc, pk, md, t0 + 10));
		CHECK_OK(pgp_sig_finish(&sc, &sig));
		/* The trailer is the sign node's own: a v4 binary-document
		 * signature (type 0x00) with its creation time; nothing in the
		 * request can make it a revocation or certification. */
		{
			size_t off = sig.data[0] == 0xc2 ? (sig.data[1] < 192 ? 2 : 3)
				   : sig.data[0] == 0x88 ? 2 : sig.data[0] == 0x89 ? 3 : 0;

			CHECK(off && sig.len > off + 10 && sig.data[off] == 4 && sig.data[off + 1] == 0x00);
			/* first hashed subpacket: creation time (type 2) */
			if (off && sig.len > off + 12)
				CHECK((sig.data[off + 7] & 0x7f) == 2 &&
				      ((uint32_t)sig.data[off + 8] << 24 | (uint32_t)sig.data[off + 9] << 16 |
				       (uint32_t)sig.data[off + 10] << 8 | sig.data[off + 11]) == (uint32_t)(t0 + 10));
		}
		CHECK_OK(pgp_sig_verify_buffer(pk, sig.data, sig.len, is_b ? file_b : (const uint8_t *)"",
					       is_b ? file_b_len : 0));
		if (is_b)
			CHECK_ERR(pgp_sig_verify_buffer(pk, sig.data, sig.len, file_a, file_b_len),
				  RB_E_VERIFY);
		EVP_MD_CTX_free(md);
		rb_buf_free(&sig);
	}
	pgp_key_free(pk);
	free(text);
	request_doc_free(doc);
	request_doc_free(back);
}

/* The largest capture request there is (an Ed25519 message of 1 MiB)
 * survives the round trip inside a request document. */
static void test_request_capture_large(void)
{
	struct request_doc *doc = NULL, *back = NULL;
	struct capture_request *cr = NULL;
	uint8_t *msg = malloc(CAPTURE_EDDSA_MAX_MESSAGE);
	size_t len = 0;
	char *text;

	memset(msg, 'm', CAPTURE_EDDSA_MAX_MESSAGE);
	CHECK_OK(capture_request_new(build, key("ed-key"), CAPTURE_MECH_EDDSA, RB_SIG_ED25519, msg,
				     CAPTURE_EDDSA_MAX_MESSAGE, "git", t0, &cr));
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "note", msg, 10));
	CHECK_OK(request_doc_add_capture(doc, "note", cr));
	text = emit_doc(doc, &len);
	CHECK(len > CAPTURE_EDDSA_MAX_MESSAGE);
	CHECK_OK(request_doc_parse(text, len, "big.json", &man, 0, &back));
	if (back) {
		CHECK(back->entries[0].input_len == CAPTURE_EDDSA_MAX_MESSAGE);
		CHECK(memcmp(back->entries[0].input, msg, CAPTURE_EDDSA_MAX_MESSAGE) == 0);
	}
	free(text);
	free(msg);
	capture_request_free(cr);
	request_doc_free(doc);
	request_doc_free(back);
}

/* ---- request: what the parser refuses -------------------------------------- */

static void test_request_envelope(void)
{
	struct request_doc *doc = full_doc();
	size_t len = 0;
	char *text = emit_doc(doc, &len);
	struct request_doc *out = NULL;

	/* unknown top-level key, unknown required field, missing field */
	CHECK_ERR(parse_edited(text, "{\"format\"", "{\"extra\":1,\"format\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"required\":{", "\"required\":{\"priority\":1,", &man),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "priority") != NULL);
	CHECK(strncmp(rb_err_detail(), "test.json: ", 11) == 0);
	CHECK_ERR(parse_edited(text, "\"node\":\"builder1\",", "", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"format\":\"rombsr-request\"", "\"format\":\"rombsr-response\"",
			       &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"version\":1}", "\"version\":2}", &man), RB_E_UNSUPPORTED);
	CHECK_ERR(parse_edited(text, "\"version\":1}", "\"version\":\"1\"}", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"optional\":{", "\"optional\":[],\"x\":{", &man), RB_E_PARSE);
	/* unknown optional fields are ignored, whatever they hold */
	CHECK_OK(parse_edited(text, "\"optional\":{",
			      "\"optional\":{\"ci\":{\"url\":\"https://ci/1\",\"n\":[1,2,null,true]},", &man));
	/* a known optional field is still checked */
	CHECK_ERR(parse_edited(text, "\"comment\":\"nightly", "\"comment\":7,\"x\":\"", &man),
		  RB_E_PARSE);
	/* optional may be absent */
	{
		char *c = between(text, "\"optional\":", ",\"required\"");
		char *from = NULL;

		CHECK(asprintf(&from, "\"optional\":%s,", c) > 0);
		CHECK_OK(parse_edited(text, from, "", &man));
		free(c);
		free(from);
	}
	/* syntax: trailing data, not JSON, not an object, empty */
	{
		char *t = NULL;

		CHECK(asprintf(&t, "%s{}", text) > 0);
		CHECK_ERR(parse_text(t, &man), RB_E_PARSE);
		free(t);
	}
	CHECK_ERR(parse_text("[]", &man), RB_E_PARSE);
	CHECK_ERR(parse_text("", &man), RB_E_PARSE);
	CHECK_ERR(request_doc_parse(NULL, 0, "x", NULL, 0, &out), RB_E_PARSE);
	/* bad time, bad hex */
	CHECK_ERR(parse_edited(text, "\"created\":\"2025-10-09T08:53:20Z\"",
			       "\"created\":\"2025-10-09 08:53:20\"", &man), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"manifest_sha256\":\"abcd", "\"manifest_sha256\":\"ABCD", &man),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"manifest_sha256\":\"abcd", "\"manifest_sha256\":\"abc", &man),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"node\":\"builder1\"", "\"node\":\"../builder1\"", &man),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "],\"build_id\":\"build-42\"", "],\"build_id\":\"-x\"", &man),
		  RB_E_PARSE);
	CHECK(out == NULL);
	free(text);
	request_doc_free(doc);
}

static void test_request_caps(void)
{
	struct request_doc *doc = full_doc(), *out = NULL;
	size_t len = 0;
	char *text = emit_doc(doc, &len), *big;
	struct rb_buf b = RB_BUF_INIT;

	/* the caller's lower cap, and the hard cap */
	CHECK_ERR(request_doc_parse(text, len, "x", &man, len - 1, &out), RB_E_TOOBIG);
	CHECK_OK(request_doc_parse(text, len, "x", &man, len, &out));
	request_doc_free(out);
	out = NULL;
	big = calloc(1, REQUEST_MAX_BYTES + 1);
	memset(big, ' ', REQUEST_MAX_BYTES + 1);
	memcpy(big, text, len);
	CHECK_ERR(request_doc_parse(big, REQUEST_MAX_BYTES + 1, "x", &man, 0, &out), RB_E_TOOBIG);
	CHECK_ERR(request_doc_parse(big, REQUEST_MAX_BYTES + 1, "x", &man, REQUEST_MAX_BYTES * 2, &out),
		  RB_E_TOOBIG);
	/* exactly at the cap, with whitespace padding, is accepted */
	CHECK_OK(request_doc_parse(big, REQUEST_MAX_BYTES, "x", &man, 0, &out));
	request_doc_free(out);
	out = NULL;
	free(big);
	/* too many artifacts */
	CHECK_OK(rb_buf_put_str(&b, "{\"format\":\"rombsr-request\",\"version\":1,\"required\":{"
			       "\"node\":\"n\",\"build_id\":\"b\",\"created\":\"2026-01-01T00:00:00Z\","
			       "\"manifest_sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
			       "\",\"requests\":[],\"artifacts\":["));
	for (int i = 0; i <= REQUEST_MAX_ARTIFACTS; i++)
		CHECK_OK(rb_buf_printf(&b, "%s{\"name\":\"f%d\",\"size\":0,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}",
				       i ? "," : "", i));
	CHECK_OK(rb_buf_put_str(&b, "]}}"));
	CHECK_ERR(request_doc_parse((const char *)b.data, b.len, "x", NULL, 0, &out), RB_E_TOOBIG);
	rb_buf_free(&b);
	/* too many requests: refused by count before any is parsed */
	CHECK_OK(rb_buf_put_str(&b, "{\"format\":\"rombsr-request\",\"version\":1,\"required\":{"
			       "\"node\":\"n\",\"build_id\":\"b\",\"created\":\"2026-01-01T00:00:00Z\","
			       "\"manifest_sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
			       "\",\"artifacts\":[],\"requests\":["));
	for (int i = 0; i <= REQUEST_MAX_ENTRIES; i++)
		CHECK_OK(rb_buf_put_str(&b, i ? ",{}" : "{}"));
	CHECK_OK(rb_buf_put_str(&b, "]}}"));
	CHECK_ERR(request_doc_parse((const char *)b.data, b.len, "x", NULL, 0, &out), RB_E_TOOBIG);
	rb_buf_free(&b);
	CHECK(out == NULL);
	free(text);
	request_doc_free(doc);
}

static void test_request_artifacts_refused(void)
{
	struct request_doc *doc = full_doc();
	size_t len = 0;
	char *text = emit_doc(doc, &len);
	char *arts = between(text, "\"artifacts\":[", "],\"build_id\"");
	char *from = NULL, *to = NULL;
	static const char *const bad_names[] = {
		"../x", "a/../../x", "/etc/passwd", "a//b", "a/", ".", "..", "a\\\\b", "a b", "",
		"a\\u0000b", "caf\\u00e9",
	};
	char longname[REQUEST_ARTIFACT_NAME_MAX + 2];

	for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
		char *t = NULL;

		CHECK(asprintf(&t, "\"name\":\"%s\"", bad_names[i]) > 0);
		CHECK_ERR(parse_edited(text, "\"name\":\"app/Foo.apk\"", t, NULL), RB_E_PARSE);
		free(t);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK(asprintf(&to, "\"name\":\"%s\"", longname) > 0);
	CHECK_ERR(parse_edited(text, "\"name\":\"app/Foo.apk\"", to, NULL), RB_E_PARSE);
	free(to);
	/* the same artifact twice */
	CHECK(asprintf(&from, "\"artifacts\":[%s]", arts) > 0);
	CHECK(asprintf(&to, "\"artifacts\":[%s,%s]", arts, arts) > 0);
	CHECK_ERR(parse_edited(text, from, to, NULL), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "twice") != NULL);
	free(from);
	free(to);
	/* a request naming an artifact that is not listed */
	CHECK_ERR(parse_edited(text, "\"artifact\":\"empty.bin\"", "\"artifact\":\"other.bin\"", NULL),
		  RB_E_PARSE);
	/* unknown artifact member, negative size, bad sha256 */
	CHECK_ERR(parse_edited(text, "{\"name\":\"app/Foo.apk\"", "{\"mode\":420,\"name\":\"app/Foo.apk\"",
			       NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"size\":0", "\"size\":-1", NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"sha256\":\"e3b0", "\"sha256\":\"E3B0", NULL), RB_E_PARSE);
	free(arts);
	free(text);
	request_doc_free(doc);
}

static void test_request_ids_refused(void)
{
	struct request_doc *doc = full_doc();
	size_t len = 0;
	char *text = emit_doc(doc, &len);
	const struct request_entry *raw = &doc->entries[1], *pgp = &doc->entries[5];
	char *reqs = between(text, "\"requests\":[", "]},\"version\"");
	char *from = NULL, *to = NULL, *idf = NULL, *idt = NULL;

	CHECK(raw->kind == REQUEST_KIND_RAW && pgp->kind == REQUEST_KIND_OPENPGP);
	/* a raw id edited by one digit */
	CHECK(asprintf(&idf, "\"id\":\"%s\"", raw->id_hex) > 0);
	idt = strdup(idf);
	idt[7] = idt[7] == '0' ? '1' : '0';
	CHECK_ERR(parse_edited(text, idf, idt, NULL), RB_E_VERIFY);
	free(idf);
	free(idt);
	/* an openpgp id edited */
	CHECK(asprintf(&idf, "\"id\":\"%s\"", pgp->id_hex) > 0);
	idt = strdup(idf);
	idt[60] = idt[60] == 'a' ? 'b' : 'a';
	CHECK_ERR(parse_edited(text, idf, idt, NULL), RB_E_VERIFY);
	free(idf);
	free(idt);
	/* the same request twice */
	CHECK(asprintf(&from, "\"requests\":[%s]", reqs) > 0);
	CHECK(asprintf(&to, "\"requests\":[%s,%s]", reqs, reqs) > 0);
	CHECK_ERR(parse_edited(text, from, to, NULL), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "twice") != NULL);
	free(from);
	free(to);
	/* moving a raw request to another artifact changes what it signs:
	 * its id no longer matches */
	CHECK_ERR(parse_edited(text, "\"artifact\":\"app/Foo.apk\",\"id\"",
			       "\"artifact\":\"empty.bin\",\"id\"", NULL), RB_E_VERIFY);
	/* another key fingerprint under the same id */
	{
		char *fpr = hex_of(key("rsa-key")->spki_sha256, 32), *fpr2 = hex_of(key("ec-key")->spki_sha256, 32);

		CHECK_ERR(parse_edited(text, fpr, fpr2, NULL), RB_E_VERIFY);
		free(fpr);
		free(fpr2);
	}
	/* unknown kind, unknown member in an entry, scheme unknown */
	CHECK_ERR(parse_edited(text, "\"kind\":\"raw\"", "\"kind\":\"cms\"", NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"kind\":\"raw\"", "\"kind\":\"raw\",\"force\":true", NULL),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"scheme\":\"rsa-pss-sha512\"", "\"scheme\":\"rsa-pss-sha384\"",
			       NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"armor\":true", "\"armor\":1", NULL), RB_E_PARSE);
	free(reqs);
	free(text);
	request_doc_free(doc);
}

static void test_request_hashes_refused(void)
{
	struct request_doc *doc = full_doc();
	size_t len = 0;
	char *text = emit_doc(doc, &len);
	const struct request_artifact *b = &doc->artifacts[1], *a = &doc->artifacts[0];
	char *h = hex_of(b->sha512, 64), *h2 = strdup(h), *sa = hex_of(a->sha512, 64), *from = NULL;

	/* the artifact's SHA-512 no longer matches the openpgp state */
	h2[0] = h2[0] == 'f' ? 'e' : 'f';
	CHECK_ERR(parse_edited(text, h, h2, NULL), RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "finalize") != NULL);
	/* a state for a different length */
	CHECK_ERR(parse_edited(text, "\"length\":129,", "\"length\":193,", NULL), RB_E_VERIFY);
	/* a state that is not a state */
	CHECK_ERR(parse_edited(text, "\"length\":129,", "\"length\":130,", NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "{\"alg\":\"sha512\"", "{\"alg\":\"sha256\"", NULL), RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"hash\":\"sha512\"", "\"hash\":\"sha256\"", NULL), RB_E_PARSE);
	/* an artifact without sha512, under a *-sha512 scheme / hash */
	CHECK(asprintf(&from, ",\"sha512\":\"%s\"", sa) > 0);
	CHECK_ERR(parse_edited(text, from, "", NULL), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "sha512") != NULL);
	free(from);
	CHECK(asprintf(&from, ",\"sha512\":\"%s\"", h) > 0);
	CHECK_ERR(parse_edited(text, from, "", NULL), RB_E_PARSE);
	free(from);
	free(h);
	free(h2);
	free(sa);
	free(text);
	request_doc_free(doc);
}

/* A document made only of a capture request of build B. */
static char *capture_doc_text(const char *capture_build)
{
	struct request_doc *doc = NULL;
	struct capture_request *cr = capture_for(capture_build);
	size_t len;
	char *text;

	CHECK_OK(request_doc_new("builder1", capture_build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "app/Foo.apk", file_a, file_a_len));
	CHECK_OK(request_doc_add_capture(doc, "app/Foo.apk", cr));
	text = emit_doc(doc, &len);
	capture_request_free(cr);
	request_doc_free(doc);
	return text;
}

static void test_request_capture_refused(void)
{
	char *text = capture_doc_text(build);

	write_seed("request", "capture.json", text, strlen(text));
	CHECK_OK(parse_text(text, &man));
	/* the document claims build-43, the embedded request is build-42 */
	CHECK_ERR(parse_edited(text, "],\"build_id\":\"build-42\"", "],\"build_id\":\"build-43\"", &man),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "belongs to build") != NULL);
	/* an edited embedded request fails capture's own checks */
	CHECK_ERR(parse_edited(text, "\"tool\":\"apksigner\"", "\"tool\":\"apksigner\",\"x\":1", &man),
		  RB_E_PARSE);
	CHECK_ERR(parse_edited(text, "\"mechanism\":\"CKM_RSA_PKCS\"",
			       "\"mechanism\":\"CKM_SHA256_RSA_PKCS\"", &man), RB_E_VERIFY);
	CHECK_ERR(parse_edited(text, "\"request\":{", "\"id\":\"00\",\"request\":{", &man), RB_E_PARSE);
	free(text);
}

static void test_request_manifest_policy(void)
{
	struct request_doc *doc = NULL;
	size_t len;
	char *text;
	struct { const char *key; enum rb_sig_scheme scheme; int want; const char *detail; } cases[] = {
		{ "old-key", RB_SIG_RSA_PKCS1_SHA256, RB_E_PERM, "retired" },
		{ "bad-key", RB_SIG_ECDSA_SHA256, RB_E_PERM, "revoked" },
		{ "new-key", RB_SIG_RSA_PKCS1_SHA256, RB_E_KEY, "not in the manifest" },
		{ "rsa-key", RB_SIG_RSA_PKCS1_SHA256, RB_E_VERIFY, "fingerprint" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
		CHECK_OK(request_doc_add_artifact_buffer(doc, "f", file_a, file_a_len));
		CHECK_OK(request_doc_add_raw(doc, "f", key2(cases[i].key), cases[i].scheme));
		text = emit_doc(doc, &len);
		/* structure alone is fine (the guard without a manifest) */
		CHECK_OK(parse_text(text, NULL));
		CHECK_ERR(parse_text(text, &man), cases[i].want);
		CHECK(strstr(rb_err_detail(), cases[i].detail) != NULL);
		CHECK(strstr(rb_err_detail(), cases[i].key) != NULL);
		free(text);
		request_doc_free(doc);
		doc = NULL;
	}
	/* the same for openpgp requests */
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "f", file_a, file_a_len));
	CHECK_OK(request_doc_add_openpgp(doc, "f", key2("old-key"), HASH_STATE_SHA512, true));
	text = emit_doc(doc, &len);
	CHECK_OK(parse_text(text, NULL));
	CHECK_ERR(parse_text(text, &man), RB_E_PERM);
	free(text);
	request_doc_free(doc);
}

/* A consistent document (id recomputed) asking for a scheme the key
 * cannot make: only the manifest can tell. */
static void test_request_scheme_fit(void)
{
	struct request_doc *doc = NULL;
	const struct manifest_key *ed = key("ed-key"), *ec = key("ec-key");
	uint8_t id[32];
	char *text, *oldid = NULL, *newid = NULL, *t1, *hex;
	size_t len;

	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "f", file_a, file_a_len));
	CHECK_OK(request_doc_add_raw(doc, "f", ed, RB_SIG_ED25519));
	text = emit_doc(doc, &len);
	CHECK_OK(request_direct_id(build, REQUEST_KIND_RAW, ed->spki_sha256, "rsa-pkcs1-sha256", "f",
				   doc->artifacts[0].sha256, 32, id));
	hex = hex_of(id, 32);
	CHECK(asprintf(&oldid, "\"id\":\"%s\"", doc->entries[0].id_hex) > 0);
	CHECK(asprintf(&newid, "\"id\":\"%s\"", hex) > 0);
	t1 = edit(text, "\"scheme\":\"ed25519\"", "\"scheme\":\"rsa-pkcs1-sha256\"");
	CHECK_ERR(parse_text(t1, NULL), RB_E_VERIFY);
	CHECK_OK(parse_edited(t1, oldid, newid, NULL));
	CHECK_ERR(parse_edited(t1, oldid, newid, &man), RB_E_UNSUPPORTED);
	free(t1);
	free(text);
	free(hex);
	free(oldid);
	free(newid);
	request_doc_free(doc);
	/* openpgp with a P-256 key (recomputed id, same trick) */
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "f", file_a, file_a_len));
	CHECK_OK(request_doc_add_openpgp(doc, "f", ed, HASH_STATE_SHA256, false));
	text = emit_doc(doc, &len);
	CHECK_OK(request_direct_id(build, REQUEST_KIND_OPENPGP, ec->spki_sha256, "sha256", "f",
				   doc->artifacts[0].sha256, 32, id));
	hex = hex_of(id, 32);
	CHECK(asprintf(&oldid, "\"id\":\"%s\"", doc->entries[0].id_hex) > 0);
	CHECK(asprintf(&newid, "\"id\":\"%s\"", hex) > 0);
	{
		char *fe = hex_of(ed->spki_sha256, 32), *fc = hex_of(ec->spki_sha256, 32);
		char *t2 = edit(text, "\"name\":\"ed-key\"", "\"name\":\"ec-key\"");
		char *t3 = t2 ? edit(t2, fe, fc) : NULL;

		CHECK_OK(parse_edited(t3, oldid, newid, NULL));
		CHECK_ERR(parse_edited(t3, oldid, newid, &man), RB_E_UNSUPPORTED);
		free(fe);
		free(fc);
		free(t2);
		free(t3);
	}
	free(text);
	free(hex);
	free(oldid);
	free(newid);
	request_doc_free(doc);
}

/* The id encoding, byte by byte as docs/formats/request.md states it. */
static void test_request_id_encoding(void)
{
	static const uint8_t fpr[32] = { 0 };
	uint8_t d[32], got[32], want[32];
	struct rb_buf b = RB_BUF_INIT;
	unsigned int n;

	memset(d, 0x11, sizeof(d));
	CHECK_OK(request_direct_id("b", REQUEST_KIND_RAW, fpr, "ed25519", "a/f", d, 32, got));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x18" "rombsr-direct-request-v1", 28));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x01" "b", 5));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x03" "raw", 7));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x20", 4));
	CHECK_OK(rb_buf_put(&b, fpr, 32));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x07" "ed25519", 11));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x03" "a/f", 7));
	CHECK_OK(rb_buf_put(&b, "\x00\x00\x00\x20", 4));
	CHECK_OK(rb_buf_put(&b, d, 32));
	CHECK(EVP_Digest(b.data, b.len, want, &n, EVP_sha256(), NULL) == 1);
	CHECK(memcmp(got, want, 32) == 0);
	/* kind is part of the id */
	CHECK_OK(request_direct_id("b", REQUEST_KIND_OPENPGP, fpr, "ed25519", "a/f", d, 32, want));
	CHECK(memcmp(got, want, 32) != 0);
	CHECK_ERR(request_direct_id("b", REQUEST_KIND_CAPTURE, fpr, "x", "a", d, 32, want), RB_E_INVAL);
	rb_buf_free(&b);
}

/* ---- response ------------------------------------------------------------ */

static struct response_doc *full_response(const struct request_doc *req)
{
	struct response_doc *r = NULL;
	uint8_t rsa_sig[256], ec_sig[64], proof[3][RESPONSE_HASH_LEN];
	struct response_audit audit = { .leaf = 7, .checkpoint = "rombsr.example/log\n8\nAAAA\n",
					.proof = proof, .n_proof = 3 };
	struct pgp_key *pk = NULL;
	struct rb_buf pgp = RB_BUF_INIT;

	memset(rsa_sig, 0x33, sizeof(rsa_sig));
	memset(ec_sig, 0x44, sizeof(ec_sig));
	memset(proof, 0x55, sizeof(proof));
	CHECK_OK(pgp_key_new(&s_ed, t0, &pk));
	CHECK_OK(pgp_sign_buffer(pk, PGP_SIG_BINARY, PGP_HASH_SHA512, t0, file_b, file_b_len, &pgp));
	CHECK_OK(response_doc_new("builder1", build, "0123456789ABCDEF0123456789abcdef01234567", man_sha,
				  t0 + 60, &r));
	CHECK_OK(response_add_signed(r, req->entries[1].id, REQUEST_KIND_RAW, "rsa-key",
				     key("rsa-key")->spki_sha256, RB_SIG_RSA_PKCS1_SHA256, rsa_sig,
				     sizeof(rsa_sig), &audit));
	CHECK_OK(response_add_signed(r, req->entries[3].id, REQUEST_KIND_RAW, "ec-key",
				     key("ec-key")->spki_sha256, RB_SIG_ECDSA_SHA256, ec_sig,
				     sizeof(ec_sig), NULL));
	CHECK_OK(response_add_signed(r, req->entries[6].id, REQUEST_KIND_OPENPGP, "ed-key",
				     key("ed-key")->spki_sha256, RB_SIG_ED25519, pgp.data, pgp.len,
				     &(struct response_audit){ .leaf = 9 }));
	CHECK_OK(response_add_rejected(r, req->entries[0].id, REQUEST_KIND_CAPTURE,
				       RESPONSE_REASON_QUOTA_HOUR, "node builder1 used 100 of 100 signatures this hour"));
	CHECK_OK(response_add_rejected(r, req->entries[2].id, 0, RESPONSE_REASON_KEY_NOT_ALLOWED,
				       "builder1 may not use rsa-key"));
	pgp_key_free(pk);
	rb_buf_free(&pgp);
	return r;
}

static char *emit_response(const struct response_doc *r, size_t *len)
{
	struct rb_buf b = RB_BUF_INIT;

	CHECK_OK(response_doc_emit(r, &b));
	CHECK_OK(rb_buf_terminate(&b));
	return (char *)rb_buf_steal(&b, len);
}

static int parse_response_edited(const char *text, const char *from, const char *to)
{
	char *t = edit(text, from, to);
	struct response_doc *r = NULL;
	int err;

	if (!t)
		return 1000;
	err = response_doc_parse(t, strlen(t), "resp.json", &r);
	CHECK((err == 0) == (r != NULL));
	response_doc_free(r);
	free(t);
	return err;
}

static void test_response_roundtrip(void)
{
	struct request_doc *req = full_doc();
	struct response_doc *r = full_response(req), *back = NULL;
	size_t len = 0, len2 = 0;
	char *text = emit_response(r, &len), *again = NULL;
	const struct response_entry *e;

	write_seed("response", "full.json", text, len);
	CHECK(text[len - 1] == '\n' && strchr(text, '\n') == text + len - 1);
	CHECK(strcmp(r->request_commit, "0123456789abcdef0123456789abcdef01234567") == 0);
	CHECK_OK(response_doc_parse(text, len, "resp.json", &back));
	if (back) {
		again = emit_response(back, &len2);
		CHECK(len == len2 && memcmp(text, again, len) == 0);
		CHECK(back->n_entries == 5 && back->signed_at == t0 + 60);
		e = response_doc_find(back, req->entries[1].id);
		CHECK(e && e->status == RESPONSE_SIGNED && e->signature_len == 256 &&
		      e->audit.leaf == 7 && e->audit.n_proof == 3 && e->audit.proof[2][31] == 0x55 &&
		      e->audit.checkpoint && strcmp(e->audit.checkpoint, r->entries[0].audit.checkpoint) == 0);
		e = response_doc_find(back, req->entries[6].id);
		CHECK(e && e->kind == REQUEST_KIND_OPENPGP && e->scheme == RB_SIG_ED25519 &&
		      e->audit.checkpoint == NULL && e->audit.n_proof == 0);
		if (e) {
			struct pgp_key *pk = NULL;

			CHECK_OK(pgp_key_new(&s_ed, t0, &pk));
			CHECK_OK(pgp_sig_verify_buffer(pk, e->signature, e->signature_len, file_b,
						       file_b_len));
			pgp_key_free(pk);
		}
		e = response_doc_find(back, req->entries[2].id);
		CHECK(e && e->status == RESPONSE_REJECTED && e->kind == 0 &&
		      e->reason == RESPONSE_REASON_KEY_NOT_ALLOWED);
		CHECK(response_doc_find(back, req->entries[4].id) == NULL);
	}
	free(text);
	free(again);
	response_doc_free(r);
	response_doc_free(back);
	request_doc_free(req);
	response_doc_free(NULL);
}

static void test_response_refused(void)
{
	struct request_doc *req = full_doc();
	struct response_doc *r = full_response(req), *out = NULL;
	size_t len = 0;
	char *text = emit_response(r, &len);
	char *entries = between(text, "\"entries\":[", "],\"node\"");
	char *from = NULL, *to = NULL;

	CHECK_ERR(parse_response_edited(text, "\"reason\":\"quota-hour\"", "\"reason\":\"quota-day\""),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"status\":\"rejected\"", "\"status\":\"deferred\""),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"status\":\"rejected\"", "\"status\":\"signed\""),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"kind\":\"raw\"", "\"kind\":\"x509\""), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"audit\":{\"leaf\":9}", "\"audit\":{}"), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"audit\":{\"leaf\":9}", "\"audit\":{\"leaf\":-9}"),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"audit\":{\"leaf\":9}",
					"\"audit\":{\"leaf\":9,\"root\":\"x\"}"), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"proof\":[\"", "\"proof\":[\"AAAA\",\""), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"request_commit\":\"0123", "\"request_commit\":\"0123A"),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"request_commit\":\"0123", "\"request_commit\":\"123"),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"message\":\"builder1", "\"message\":\"\\u001b[2Jbuilder1"),
		  RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"message\":\"builder1 may not use rsa-key\"",
					"\"message\":\"\""), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"required\":{", "\"required\":{\"x\":1,"), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "{\"format\"", "{\"x\":1,\"format\""), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"version\":1}", "\"version\":4}"), RB_E_UNSUPPORTED);
	CHECK_OK(parse_response_edited(text, "\"optional\":{}", "\"optional\":{\"x\":[1]}"));
	CHECK_ERR(parse_response_edited(text, "\"optional\":{}", "\"optional\":[]"), RB_E_PARSE);
	CHECK_ERR(parse_response_edited(text, "\"optional\":{}", "\"optional\":null"), RB_E_PARSE);
	/* a 64-byte ECDSA signature cut to 63 bytes; an RSA one under ECDSA */
	{
		uint8_t ec[64];
		char *b64 = NULL, *b63 = NULL;

		memset(ec, 0x44, sizeof(ec));
		CHECK_OK(rb_base64_encode(ec, 64, true, &b64));
		CHECK_OK(rb_base64_encode(ec, 63, true, &b63));
		CHECK_ERR(parse_response_edited(text, b64, b63), RB_E_PARSE);
		free(b64);
		free(b63);
	}
	CHECK_ERR(parse_response_edited(text, "\"scheme\":\"rsa-pkcs1-sha256\"",
					"\"scheme\":\"ecdsa-p256-sha256\""), RB_E_PARSE);
	/* openpgp signatures are never ECDSA */
	CHECK_ERR(parse_response_edited(text, "\"scheme\":\"ed25519\"", "\"scheme\":\"ecdsa-p256-sha256\""),
		  RB_E_PARSE);
	/* two entries for one id */
	CHECK(asprintf(&from, "\"entries\":[%s]", entries) > 0);
	CHECK(asprintf(&to, "\"entries\":[%s,%s]", entries, entries) > 0);
	CHECK_ERR(parse_response_edited(text, from, to), RB_E_PARSE);
	free(from);
	free(to);
	CHECK_ERR(response_doc_parse(text, RESPONSE_MAX_BYTES + 1, "x", &out), RB_E_TOOBIG);
	CHECK(out == NULL);
	free(entries);
	free(text);
	response_doc_free(r);
	request_doc_free(req);
}

static void test_response_builder(void)
{
	struct response_doc *r = NULL;
	uint8_t id[32] = { 1 }, sig[1025];
	const uint8_t *fpr = key("rsa-key")->spki_sha256;
	struct response_audit bad = { .leaf = 1, .checkpoint = "bell\a" };

	memset(sig, 1, sizeof(sig));
	CHECK_ERR(response_doc_new("builder1", build, "0123", man_sha, t0, &r), RB_E_INVAL);
	CHECK_ERR(response_doc_new("builder1", build, "0123456789abcdef0123456789abcdef0123456g",
				   man_sha, t0, &r), RB_E_INVAL);
	CHECK_ERR(response_doc_new("../x", build, "0123456789abcdef0123456789abcdef01234567", man_sha,
				   t0, &r), RB_E_INVAL);
	CHECK(r == NULL);
	CHECK_OK(response_doc_new("builder1", build, "0123456789abcdef0123456789abcdef01234567", man_sha,
				  t0, &r));
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_RAW, "rsa-key", fpr, RB_SIG_RSA_PKCS1_SHA256,
				      sig, 255, NULL), RB_E_INVAL);
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_RAW, "rsa-key", fpr, RB_SIG_RSA_PKCS1_SHA256,
				      sig, 1025, NULL), RB_E_INVAL);
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_CAPTURE, "ec-key", fpr, RB_SIG_ECDSA_SHA256,
				      sig, 65, NULL), RB_E_INVAL);
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_OPENPGP, "ec-key", fpr, RB_SIG_ECDSA_SHA256,
				      sig, 64, NULL), RB_E_INVAL);
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_RAW, "Bad Key", fpr, RB_SIG_ED25519, sig, 64,
				      NULL), RB_E_INVAL);
	CHECK_ERR(response_add_signed(r, id, REQUEST_KIND_RAW, "ed-key", fpr, RB_SIG_ED25519, sig, 64,
				      &bad), RB_E_INVAL);
	CHECK_OK(response_add_signed(r, id, REQUEST_KIND_RAW, "ed-key", fpr, RB_SIG_ED25519, sig, 64,
				     NULL));
	CHECK_ERR(response_add_rejected(r, id, 0, RESPONSE_REASON_REPLAY, "again"), RB_E_EXISTS);
	id[0] = 2;
	CHECK_ERR(response_add_rejected(r, id, 0, 0, "x"), RB_E_INVAL);
	CHECK_ERR(response_add_rejected(r, id, 0, RESPONSE_REASON_REPLAY, "line\nbreak"), RB_E_INVAL);
	CHECK_OK(response_add_rejected(r, id, 0, RESPONSE_REASON_REPLAY, "seen in build-41"));
	CHECK(r->n_entries == 2 && response_doc_find(r, id) == &r->entries[1]);
	response_doc_free(r);
}

static void test_response_reasons(void)
{
	static const char *const names[] = { "unsigned-commit", "unknown-signer", "key-not-allowed",
					     "key-revoked", "key-retired", "key-unknown",
					     "quota-hour", "quota-build", "replay", "hash-mismatch",
					     "schema", "approval-missing", "too-large", "path",
					     "hsm-error", "key-purpose", "structure" };
	enum response_reason r;

	CHECK(ELEMENTSOF(names) == RESPONSE_REASON_MAX);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		CHECK_OK(response_reason_from_name(names[i], &r));
		CHECK(r == (enum response_reason)(i + 1));
		CHECK(strcmp(response_reason_name(r), names[i]) == 0);
	}
	CHECK(response_reason_name(0) == NULL);
	CHECK(response_reason_name(RESPONSE_REASON_MAX + 1) == NULL);
	/* the response version each code came with */
	CHECK(response_reason_version(RESPONSE_REASON_UNSIGNED_COMMIT) == 1 &&
	      response_reason_version(RESPONSE_REASON_HSM_ERROR) == 1 &&
	      response_reason_version(RESPONSE_REASON_KEY_PURPOSE) == 2 &&
	      response_reason_version(RESPONSE_REASON_STRUCTURE) == 3 && response_reason_version(0) == 0 &&
	      response_reason_version(RESPONSE_REASON_MAX + 1) == 0);
	CHECK_ERR(response_reason_from_name("Replay", &r), RB_E_PARSE);
	CHECK_ERR(response_reason_from_name(NULL, &r), RB_E_PARSE);
	CHECK(strcmp(response_status_name(RESPONSE_REJECTED), "rejected") == 0);
}

/* Each key signs only in its own domains: the builder, the parser with a
 * manifest and request_key_purpose_check() agree. */
static void test_request_purposes(void)
{
	struct manifest_key *rsa = key("rsa-key"), *ed = key("ed-key");
	unsigned saved_rsa = rsa->purposes, saved_ed = ed->purposes;
	struct request_doc *doc = NULL, *back = NULL;
	char *text;
	size_t len;

	CHECK(request_kind_purposes(REQUEST_KIND_RAW) == KEY_PURPOSE_RAW_DETACHED);
	CHECK(request_kind_purposes(REQUEST_KIND_OPENPGP) == KEY_PURPOSE_OPENPGP_DETACHED);
	CHECK(request_kind_purposes(REQUEST_KIND_CAPTURE) == KEY_PURPOSES_CAPTURE);
	CHECK(request_kind_purposes(0) == 0);

	/* An OpenPGP key: no raw digest, no capture. */
	rsa->purposes = KEY_PURPOSE_OPENPGP_DETACHED;
	CHECK_OK(request_key_purpose_check(REQUEST_KIND_OPENPGP, rsa));
	CHECK_ERR(request_key_purpose_check(REQUEST_KIND_RAW, rsa), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "rsa-key") && strstr(rb_err_detail(), "raw-detached"));
	CHECK_ERR(request_key_purpose_check(REQUEST_KIND_CAPTURE, rsa), RB_E_PERM);
	/* An APK key: capture only. */
	rsa->purposes = KEY_PURPOSE_APK;
	CHECK_OK(request_key_purpose_check(REQUEST_KIND_CAPTURE, rsa));
	CHECK_ERR(request_key_purpose_check(REQUEST_KIND_RAW, rsa), RB_E_PERM);
	CHECK_ERR(request_key_purpose_check(REQUEST_KIND_OPENPGP, rsa), RB_E_PERM);
	/* The sign node's keys: nothing, with their own message. */
	ed->purposes = KEY_PURPOSE_QUEUE_RESPONSE;
	for (enum request_kind k = REQUEST_KIND_CAPTURE; k <= REQUEST_KIND_OPENPGP; k++) {
		CHECK_ERR(request_key_purpose_check(k, ed), RB_E_PERM);
		CHECK(strstr(rb_err_detail(), "sign node itself composes") != NULL);
	}
	ed->purposes = KEY_PURPOSE_AUDIT_CHECKPOINT;
	CHECK_ERR(request_key_purpose_check(REQUEST_KIND_RAW, ed), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "audit checkpoints") != NULL);

	/* The builder refuses before adding anything. */
	rsa->purposes = KEY_PURPOSE_OPENPGP_DETACHED;
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "a.bin", file_a, file_a_len));
	CHECK_ERR(request_doc_add_raw(doc, "a.bin", rsa, RB_SIG_RSA_PKCS1_SHA256), RB_E_PERM);
	CHECK_ERR(request_doc_add_raw(doc, "a.bin", ed, RB_SIG_ED25519), RB_E_PERM);
	CHECK_ERR(request_doc_add_openpgp(doc, "a.bin", ed, HASH_STATE_SHA256, false), RB_E_PERM);
	CHECK(doc->n_entries == 0);
	CHECK_OK(request_doc_add_openpgp(doc, "a.bin", rsa, HASH_STATE_SHA256, false));

	/* The parser with a manifest: a raw request made while the key
	 * still had raw-detached is refused once it no longer has it. */
	rsa->purposes = saved_rsa;
	CHECK_OK(request_doc_add_raw(doc, "a.bin", rsa, RB_SIG_RSA_PKCS1_SHA256));
	text = emit_doc(doc, &len);
	CHECK_OK(request_doc_parse(text, len, "doc.json", &man, 0, &back));
	request_doc_free(back);
	back = NULL;
	rsa->purposes = KEY_PURPOSE_OPENPGP_DETACHED;
	CHECK_ERR(request_doc_parse(text, len, "doc.json", &man, 0, &back), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "raw") != NULL);
	/* Without a manifest (the guard without one) only structure counts. */
	CHECK_OK(request_doc_parse(text, len, "doc.json", NULL, 0, &back));
	request_doc_free(back);
	free(text);
	request_doc_free(doc);
	rsa->purposes = saved_rsa;
	ed->purposes = saved_ed;
}

/* "key-purpose" is a version-2 reason and "structure" a version-3 one: a
 * response is the lowest version that has every code it carries, and a
 * document of an older version with a newer code is refused. */
static void test_response_key_purpose(void)
{
	struct response_doc *r = NULL, *back = NULL;
	struct rb_buf b = RB_BUF_INIT;
	uint8_t id[REQUEST_ID_LEN] = { 1 }, id2[REQUEST_ID_LEN] = { 2 };
	char *t;

	CHECK_OK(response_doc_new("builder1", build, "0123456789abcdef0123456789abcdef01234567", man_sha, t0, &r));
	CHECK_OK(response_add_rejected(r, id, REQUEST_KIND_RAW, RESPONSE_REASON_KEY_NOT_ALLOWED, "no"));
	CHECK_OK(response_doc_emit(r, &b));
	CHECK_OK(rb_buf_terminate(&b));
	CHECK(strstr((const char *)b.data, "\"version\":1") != NULL);
	rb_buf_free(&b);
	CHECK_OK(response_add_rejected(r, id2, REQUEST_KIND_RAW, RESPONSE_REASON_KEY_PURPOSE,
				       "key testkey does not sign raw requests"));
	CHECK_OK(response_doc_emit(r, &b));
	CHECK_OK(rb_buf_terminate(&b));
	CHECK(strstr((const char *)b.data, "\"version\":2") != NULL);
	CHECK_OK(response_doc_parse((const char *)b.data, b.len, "r.json", &back));
	CHECK(back->n_entries == 2 && response_doc_find(back, id2) &&
	      response_doc_find(back, id2)->reason == RESPONSE_REASON_KEY_PURPOSE);
	response_doc_free(back);
	back = NULL;
	t = edit((const char *)b.data, "\"version\":2", "\"version\":1");
	CHECK_ERR(response_doc_parse(t, strlen(t), "r.json", &back), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "key-purpose") != NULL);
	free(t);
	t = edit((const char *)b.data, "\"version\":2", "\"version\":4");
	CHECK_ERR(response_doc_parse(t, strlen(t), "r.json", &back), RB_E_UNSUPPORTED);
	free(t);
	rb_buf_free(&b);
	id[0] = 3;
	CHECK_OK(response_add_rejected(r, id, REQUEST_KIND_CAPTURE, RESPONSE_REASON_STRUCTURE,
				       "capture request 0300 for key 'platform' is not what apksigner signs"));
	CHECK_OK(response_doc_emit(r, &b));
	CHECK_OK(rb_buf_terminate(&b));
	CHECK(strstr((const char *)b.data, "\"version\":3") != NULL);
	CHECK_OK(response_doc_parse((const char *)b.data, b.len, "r.json", &back));
	CHECK(back && response_doc_find(back, id) && response_doc_find(back, id)->reason == RESPONSE_REASON_STRUCTURE);
	response_doc_free(back);
	back = NULL;
	for (int v = 1; v <= 2; v++) {
		char to[16];

		snprintf(to, sizeof(to), "\"version\":%d", v);
		t = edit((const char *)b.data, "\"version\":3", to);
		CHECK_ERR(response_doc_parse(t, strlen(t), "r.json", &back), RB_E_PARSE);
		/* version 1 lacks key-purpose too, which may be met first */
		CHECK(strstr(rb_err_detail(), "structure") != NULL ||
		      (v == 1 && strstr(rb_err_detail(), "key-purpose") != NULL));
		free(t);
	}
	rb_buf_free(&b);
	response_doc_free(r);
}

/* ---- claim ----------------------------------------------------------------- */

static int parse_claim_edited(const char *text, const char *from, const char *to)
{
	char *t = edit(text, from, to);
	struct claim_doc *c = NULL;
	int err;

	if (!t)
		return 1000;
	err = claim_doc_parse(t, strlen(t), "claims/builder1/b/1.json", &c);
	CHECK((err == 0) == (c != NULL));
	claim_doc_free(c);
	free(t);
	return err;
}

static void test_claim(void)
{
	struct claim_doc c = { .generation = 3, .claimed = 1765147875, .expires = 1765148175 };
	struct claim_doc *back = NULL;
	struct rb_buf b = RB_BUF_INIT, b2 = RB_BUF_INIT;
	char path[300];
	uint32_t g = 0;
	char *text;

	snprintf(c.node, sizeof(c.node), "builder1");
	snprintf(c.build_id, sizeof(c.build_id), "%s", build);
	snprintf(c.sign_node, sizeof(c.sign_node), "sa");
	snprintf(c.origin, sizeof(c.origin), "rombsr-audit/rombsr/sa");
	memset(c.instance, 0xab, sizeof(c.instance));
	memcpy(c.request_sha256, man_sha, 32);
	CHECK_OK(claim_doc_emit(&c, &b));
	write_seed("claim", "generation-3.json", b.data, b.len);
	CHECK(b.data[b.len - 1] == '\n');
	CHECK_OK(claim_doc_parse((const char *)b.data, b.len, "claim.json", &back));
	if (back) {
		CHECK_OK(claim_doc_emit(back, &b2));
		CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
		CHECK(back->generation == 3 && back->expires - back->claimed == 300);
		CHECK(strcmp(back->origin, c.origin) == 0 && memcmp(back->instance, c.instance, 16) == 0);
	}
	CHECK_OK(rb_buf_terminate(&b));
	text = (char *)b.data;
	/* a lease over an hour, or one that ends before it starts */
	CHECK_ERR(parse_claim_edited(text, "\"expires\":\"2025-12-07T22:56:15Z\"",
				     "\"expires\":\"2025-12-08T00:00:00Z\""), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "3600") != NULL);
	CHECK_ERR(parse_claim_edited(text, "\"expires\":\"2025-12-07T22:56:15Z\"",
				     "\"expires\":\"2025-12-07T22:51:15Z\""), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"generation\":3", "\"generation\":0"), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"generation\":3", "\"generation\":1000001"), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"node\":\"builder1\"", "\"node\":\"../x\""), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"origin\":\"rombsr-audit/rombsr/sa\"", "\"origin\":\"a b\""),
		  RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"instance\":\"abab", "\"instance\":\"ab"), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"required\":{", "\"required\":{\"x\":1,"), RB_E_PARSE);
	CHECK_ERR(parse_claim_edited(text, "\"version\":1}", "\"version\":2}"), RB_E_UNSUPPORTED);
	CHECK_ERR(claim_doc_parse(text, CLAIM_MAX_BYTES + 1, "x", &back), RB_E_TOOBIG);
	c.expires = c.claimed;
	CHECK_ERR(claim_doc_emit(&c, &b2), RB_E_INVAL);

	CHECK_OK(claim_path("builder1", "b42", 7, path, sizeof(path)));
	CHECK(strcmp(path, "claims/builder1/b42/7.json") == 0);
	CHECK_ERR(claim_path("builder1", "b42", 0, path, sizeof(path)), RB_E_INVAL);
	CHECK(claim_file_generation("1.json", &g) && g == 1);
	CHECK(claim_file_generation("1000000.json", &g) && g == 1000000);
	CHECK(!claim_file_generation("1000001.json", &g) && !claim_file_generation("01.json", &g) &&
	      !claim_file_generation("0.json", &g) && !claim_file_generation("1.jsonx", &g) &&
	      !claim_file_generation("12345678.json", &g) && !claim_file_generation(".json", &g));
	claim_doc_free(back);
	rb_buf_free(&b);
	rb_buf_free(&b2);
}

/* ---- approval -------------------------------------------------------------- */

static int parse_approval_edited(const char *text, const char *from, const char *to)
{
	char *t = edit(text, from, to);
	struct approval_doc *a = NULL;
	int err;

	if (!t)
		return 1000;
	err = approval_doc_parse(t, strlen(t), "approval.json", &a);
	CHECK((err == 0) == (a != NULL));
	approval_doc_free(a);
	free(t);
	return err;
}

static void test_approval(void)
{
	static const char *const keys[] = { "avb_root", "platform", "ota_key" };
	static const char *const dup[] = { "avb_root", "platform", "avb_root" };
	static const char *const bad[] = { "avb_root", "Platform" };
	struct approval_doc *a = NULL, *back = NULL;
	struct rb_buf b = RB_BUF_INIT, b2 = RB_BUF_INIT;
	char *text;

	CHECK_ERR(approval_doc_new("alice", "builder1", build, man_sha, dup, 3, &a), RB_E_INVAL);
	CHECK_ERR(approval_doc_new("alice", "builder1", build, man_sha, bad, 2, &a), RB_E_INVAL);
	CHECK_ERR(approval_doc_new("alice", "builder1", build, man_sha, keys, 0, &a), RB_E_INVAL);
	CHECK_ERR(approval_doc_new("-alice", "builder1", build, man_sha, keys, 3, &a), RB_E_INVAL);
	CHECK(a == NULL);
	CHECK_OK(approval_doc_new("alice", "builder1", build, man_sha, keys, 3, &a));
	CHECK_OK(approval_doc_emit(a, &b));
	write_seed("approval", "three-keys.json", b.data, b.len);
	CHECK(b.data[b.len - 1] == '\n');
	CHECK_OK(approval_doc_parse((const char *)b.data, b.len, "approval.json", &back));
	if (back) {
		CHECK_OK(approval_doc_emit(back, &b2));
		CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
		CHECK(back->n_keys == 3 && strcmp(back->keys[2], "ota_key") == 0);
		CHECK(approval_doc_has_key(back, "platform"));
		CHECK(!approval_doc_has_key(back, "platfor"));
		CHECK(strcmp(back->approver, "alice") == 0 && memcmp(back->request_sha256, man_sha, 32) == 0);
	}
	CHECK_OK(rb_buf_terminate(&b));
	text = (char *)b.data;
	CHECK_ERR(parse_approval_edited(text, "\"keys\":[\"avb_root\",", "\"keys\":[\"ota_key\","),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "twice") != NULL);
	CHECK_ERR(parse_approval_edited(text, "\"keys\":[\"avb_root\",\"platform\",\"ota_key\"]",
					"\"keys\":[]"), RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"avb_root\"", "\"AVB root\""), RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"avb_root\"", "7"), RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"approver\":\"alice\"", "\"approver\":\"../alice\""),
		  RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"required\":{", "\"required\":{\"all_keys\":true,"),
		  RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"request_sha256\":\"abcd", "\"request_sha256\":\"abc"),
		  RB_E_PARSE);
	CHECK_ERR(parse_approval_edited(text, "\"version\":1}", "\"version\":2}"), RB_E_UNSUPPORTED);
	CHECK_OK(parse_approval_edited(text, "\"optional\":{}", "\"optional\":{\"note\":\"ok\"}"));
	CHECK_ERR(approval_doc_parse(text, APPROVAL_MAX_BYTES + 1, "x", &back), RB_E_TOOBIG);
	approval_doc_free(a);
	approval_doc_free(back);
	approval_doc_free(NULL);
	rb_buf_free(&b);
	rb_buf_free(&b2);
}

/* ---- fuzz seeds ------------------------------------------------------------ */

/* With ROMBSR_WRITE_CORPUS set: documents for the fuzz targets' fixed
 * manifest (RFC 8032 test 1 key as active "ed-key" and retired
 * "old-key"), so fuzzing starts past the manifest checks. */
static void write_fuzz_seeds(void)
{
	static const uint8_t ed_seed[32] = {
		0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
		0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
	};
	struct rb_signer fixed = { .name = "ed-key", .alg = RB_KEY_ED25519 };
	struct manifest_key ked, kold;
	struct request_doc *doc = NULL;
	struct capture_request *cr = NULL;
	struct response_doc *r = NULL;
	struct approval_doc *a = NULL;
	static const char *const one[] = { "ed-key" };
	struct rb_buf b = RB_BUF_INIT;
	uint8_t sig[64];
	size_t len;
	char *text;

	if (!getenv("ROMBSR_WRITE_CORPUS"))
		return;
	fixed.pub = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed, 32);
	make_key("ed-key", &fixed, KEY_ACTIVE, &ked);
	make_key("old-key", &fixed, KEY_ACTIVE, &kold);
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "pool/main/f/foo_1.0.deb", file_a, file_a_len));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "dists/stable/InRelease", file_b, file_b_len));
	CHECK_OK(request_doc_add_raw(doc, "pool/main/f/foo_1.0.deb", &ked, RB_SIG_ED25519));
	CHECK_OK(request_doc_add_openpgp(doc, "dists/stable/InRelease", &ked, HASH_STATE_SHA512, true));
	CHECK_OK(request_doc_add_openpgp(doc, "pool/main/f/foo_1.0.deb", &ked, HASH_STATE_SHA256, false));
	CHECK_OK(capture_request_new(build, &ked, CAPTURE_MECH_EDDSA, RB_SIG_ED25519,
				     (const uint8_t *)"signed note body", 16, "git", t0, &cr));
	CHECK_OK(request_doc_add_capture(doc, "dists/stable/InRelease", cr));
	text = emit_doc(doc, &len);
	write_seed("request", "fixed-key.json", text, len);
	free(text);
	request_doc_free(doc);
	capture_request_free(cr);
	CHECK_OK(request_doc_new("builder1", build, man_sha, t0, &doc));
	CHECK_OK(request_doc_add_artifact_buffer(doc, "a", "x", 1));
	CHECK_OK(request_doc_add_openpgp(doc, "a", &kold, HASH_STATE_SHA512, false));
	text = emit_doc(doc, &len);
	write_seed("request", "retired-key.json", text, len);
	free(text);
	request_doc_free(doc);
	CHECK_OK(request_doc_new("n", "b", man_sha, 0, &doc));
	text = emit_doc(doc, &len);
	write_seed("request", "empty.json", text, len);
	free(text);
	request_doc_free(doc);

	memset(sig, 0x66, sizeof(sig));
	CHECK_OK(response_doc_new("builder1", build, "0123456789abcdef0123456789abcdef01234567", man_sha,
				  t0, &r));
	CHECK_OK(response_add_rejected(r, man_sha, REQUEST_KIND_RAW, RESPONSE_REASON_KEY_RETIRED,
				       "key old-key is retired"));
	CHECK_OK(response_add_signed(r, ked.spki_sha256, REQUEST_KIND_CAPTURE, "ed-key", ked.spki_sha256,
				     RB_SIG_ED25519, sig, 64, NULL));
	CHECK_OK(response_doc_emit(r, &b));
	write_seed("response", "small.json", b.data, b.len);
	rb_buf_free(&b);
	response_doc_free(r);
	CHECK_OK(approval_doc_new("bob", "builder1", build, man_sha, one, 1, &a));
	CHECK_OK(approval_doc_emit(a, &b));
	write_seed("approval", "one-key.json", b.data, b.len);
	rb_buf_free(&b);
	approval_doc_free(a);
	manifest_key_clear(&ked);
	manifest_key_clear(&kold);
	EVP_PKEY_free(fixed.pub);
}

int main(void)
{
	setup();
	RUN(test_artifact_names);
	RUN(test_request_path);
	RUN(test_node_names);
	RUN(test_kind_names);
	RUN(test_builder_refusals);
	RUN(test_builder_artifact_file);
	RUN(test_builder_artifact_cap);
	RUN(test_request_roundtrip);
	RUN(test_request_openpgp_sign);
	RUN(test_request_capture_large);
	RUN(test_request_envelope);
	RUN(test_request_caps);
	RUN(test_request_artifacts_refused);
	RUN(test_request_ids_refused);
	RUN(test_request_hashes_refused);
	RUN(test_request_capture_refused);
	RUN(test_request_manifest_policy);
	RUN(test_request_scheme_fit);
	RUN(test_request_id_encoding);
	RUN(test_response_roundtrip);
	RUN(test_response_refused);
	RUN(test_response_builder);
	RUN(test_response_reasons);
	RUN(test_request_purposes);
	RUN(test_response_key_purpose);
	RUN(test_approval);
	RUN(test_claim);
	RUN(write_fuzz_seeds);
	teardown();
	TEST_MAIN_END();
}
