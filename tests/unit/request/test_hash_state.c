/* SHA-2 midstates: an OpenPGP signature made on a "sign node" from a state
 * exported on a "build node", sent as JSON and imported, must be the very
 * signature made over the whole file; the importer refuses every
 * inconsistent state. Keys come from the test-only soft signer. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "harness.h"
#include "json/json.h"
#include "pgp/pgp.h"
#include "request/hash_state.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/err.h"

HARNESS_GLOBALS;

static const int64_t t_key = 1760000000, t_sig = 1760000100;
static const size_t lengths[] = { 0, 1, 55, 63, 64, 65, 111, 112, 127, 128, 129, 255, 256,
				  1024 * 1024 + 3 };

static uint8_t *make_data(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = 0x12345678u ^ (uint32_t)n;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

/* Export after feeding data in uneven pieces (so the tail logic runs at
 * every offset), through JSON text, and import again. */
static struct hash_state *roundtrip(enum hash_state_alg alg, const uint8_t *data, size_t n)
{
	struct hash_state *st = NULL, *back = NULL;
	struct json_value *j = NULL, *parsed = NULL;
	struct rb_buf text = RB_BUF_INIT;
	size_t off = 0, step = 1;

	CHECK_OK(hash_state_new(alg, &st));
	while (off < n) {
		size_t k = step < n - off ? step : n - off;

		CHECK_OK(hash_state_update(st, data + off, k));
		off += k;
		step = step * 3 + 1;
		if (step > 70000)
			step = 5;
	}
	CHECK(hash_state_get_length(st) == n);
	CHECK_OK(hash_state_to_json(st, &j));
	CHECK_OK(json_emit(j, JSON_CANONICAL, &text));
	CHECK_OK(json_parse(text.data, text.len, NULL, &parsed));
	CHECK_OK(hash_state_from_json(parsed, &back));
	json_free(j);
	json_free(parsed);
	rb_buf_free(&text);
	hash_state_free(st);
	return back;
}

static void check_alg(enum hash_state_alg alg, const struct pgp_key *key)
{
	const EVP_MD *want_md = alg == HASH_STATE_SHA256 ? EVP_sha256() : EVP_sha512();
	enum pgp_hash_algo ph = alg == HASH_STATE_SHA256 ? PGP_HASH_SHA256 : PGP_HASH_SHA512;

	for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
		size_t n = lengths[i];
		_cleanup_free_ uint8_t *data = make_data(n);
		struct hash_state *st = roundtrip(alg, data, n);
		_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx sc = { 0 };
		struct rb_buf from_state = RB_BUF_INIT, whole = RB_BUF_INIT;
		uint8_t want[64], got[64], evp_out[64];
		unsigned int evp_len = 0;
		size_t wlen = 0, glen = 0;
		EVP_MD_CTX *md = NULL, *copy = EVP_MD_CTX_new();

		if (!st)
			continue;
		CHECK_OK(rb_digest(want_md, data, n, want, &wlen));
		CHECK_OK(hash_state_final(st, got, &glen));
		CHECK(glen == wlen && memcmp(want, got, wlen) == 0);

		CHECK_OK(hash_state_md_ctx(st, &md));
		CHECK(EVP_MD_get_type(EVP_MD_CTX_get0_md(md)) ==
		      (alg == HASH_STATE_SHA256 ? NID_sha256 : NID_sha512));
		/* A copy finalizes to the file's digest, the original lives on. */
		CHECK(EVP_MD_CTX_copy_ex(copy, md) == 1);
		CHECK(EVP_DigestFinal_ex(copy, evp_out, &evp_len) == 1);
		CHECK(evp_len == wlen && memcmp(evp_out, want, wlen) == 0);

		CHECK_OK(pgp_sig_init_from_state(&sc, key, md, t_sig));
		CHECK_OK(pgp_sig_finish(&sc, &from_state));
		CHECK_OK(pgp_sign_buffer(key, PGP_SIG_BINARY, ph, t_sig, data, n, &whole));
		/* RSA PKCS#1 v1.5 and Ed25519 are deterministic: the packets
		 * are equal exactly when the hashed bytes are. */
		CHECK(from_state.len == whole.len && from_state.len > 0 &&
		      memcmp(from_state.data, whole.data, whole.len) == 0);
		CHECK_OK(pgp_sig_verify_buffer(key, from_state.data, from_state.len, data, n));
		if (n) {
			data[n / 2] ^= 1;
			CHECK_ERR(pgp_sig_verify_buffer(key, from_state.data, from_state.len, data, n),
				  RB_E_VERIFY);
		}
		EVP_MD_CTX_free(md);
		EVP_MD_CTX_free(copy);
		rb_buf_free(&from_state);
		rb_buf_free(&whole);
		hash_state_free(st);
	}
}

static void test_pgp_from_state(void)
{
	struct rb_signer rsa, ed;
	struct pgp_key *krsa = NULL, *ked = NULL;

	if (soft_signer_new("rsa2048", &rsa) < 0 || soft_signer_new("ed25519", &ed) < 0)
		abort();
	CHECK_OK(pgp_key_new(&rsa, t_key, &krsa));
	CHECK_OK(pgp_key_new(&ed, t_key, &ked));
	check_alg(HASH_STATE_SHA256, krsa);
	check_alg(HASH_STATE_SHA512, krsa);
	check_alg(HASH_STATE_SHA256, ked);
	check_alg(HASH_STATE_SHA512, ked);
	pgp_key_free(krsa);
	pgp_key_free(ked);
	soft_signer_free(&rsa);
	soft_signer_free(&ed);
}

/* A file hashed from an fd gives the same state as from memory. */
static void test_update_fd(void)
{
	char path[] = "/tmp/rombsr-hash-state-XXXXXX";
	size_t n = 300000;
	_cleanup_free_ uint8_t *data = make_data(n);
	struct hash_state *a = NULL, *b = NULL;
	uint8_t da[64], db[64];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, data, n) == (ssize_t)n);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_OK(hash_state_new(HASH_STATE_SHA512, &a));
	CHECK_OK(hash_state_new(HASH_STATE_SHA512, &b));
	CHECK_OK(hash_state_update_fd(a, fd));
	CHECK_OK(hash_state_update(b, data, n));
	CHECK_OK(hash_state_final(a, da, NULL));
	CHECK_OK(hash_state_final(b, db, NULL));
	CHECK(memcmp(da, db, 64) == 0);
	CHECK(hash_state_get_length(a) == n);
	/* final does not consume: more data can follow */
	CHECK_OK(hash_state_update(a, "x", 1));
	CHECK(hash_state_get_length(a) == n + 1);
	close(fd);
	unlink(path);
	hash_state_free(a);
	hash_state_free(b);
}

static int import_text(const char *text)
{
	struct json_value *v = NULL;
	struct hash_state *st = NULL;
	int err;

	if (json_parse(text, strlen(text), NULL, &v) < 0)
		return 1000;
	err = hash_state_from_json(v, &st);
	CHECK((err == 0) == (st != NULL));
	hash_state_free(st);
	json_free(v);
	return err;
}

#define IV256 "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"
#define H256X "0a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"

static void test_import_strict(void)
{
	/* accepted: empty state, one byte of tail */
	CHECK_OK(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":0,\"tail\":\"\"}"));
	CHECK_OK(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":1,\"tail\":\"YQ==\"}"));
	CHECK_OK(import_text("{\"alg\":\"sha256\",\"h\":\"" H256X "\",\"length\":64,\"tail\":\"\"}"));
	/* unknown alg, unknown or missing key */
	CHECK_ERR(import_text("{\"alg\":\"sha1\",\"h\":\"" IV256 "\",\"length\":0,\"tail\":\"\"}"),
		  RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":0,\"tail\":\"\","
			      "\"x\":1}"), RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":0}"), RB_E_PARSE);
	CHECK_ERR(import_text("[]"), RB_E_PARSE);
	/* h: wrong length (SHA-512 length for SHA-256), uppercase */
	CHECK_ERR(import_text("{\"alg\":\"sha512\",\"h\":\"" IV256 "\",\"length\":0,\"tail\":\"\"}"),
		  RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"6A09E667bb67ae853c6ef372a54ff53a510e527f"
			      "9b05688c1f83d9ab5be0cd19\",\"length\":0,\"tail\":\"\"}"), RB_E_PARSE);
	/* a chaining value other than the IV before the first block */
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" H256X "\",\"length\":3,\"tail\":\"YWJj\"}"),
		  RB_E_PARSE);
	/* length and tail disagree */
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":2,\"tail\":\"YQ==\"}"),
		  RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" H256X "\",\"length\":64,\"tail\":\"YQ==\"}"),
		  RB_E_PARSE);
	/* a tail of a whole block (64 bytes of 'a') */
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":64,\"tail\":\""
			      "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
			      "YWFhYWFhYWFhYWFhYWFhYQ==\"}"), RB_E_PARSE);
	/* negative, over the maximum, not base64 */
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":-1,\"tail\":\"\"}"),
		  RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" H256X "\",\"length\":2305843009213693952,"
			      "\"tail\":\"\"}"), RB_E_PARSE);
	CHECK_ERR(import_text("{\"alg\":\"sha256\",\"h\":\"" IV256 "\",\"length\":1,\"tail\":\"YQ\"}"),
		  RB_E_PARSE);
}

/* A state at the maximum length takes no more bytes. */
static void test_max_length(void)
{
	struct json_value *v = NULL;
	struct hash_state *st = NULL;
	struct rb_buf b = RB_BUF_INIT;
	struct json_value *o = NULL;

	/* 2^61 - 1 = 63 mod 64: a 63-byte tail */
	CHECK_OK(rb_buf_printf(&b, "{\"alg\":\"sha256\",\"h\":\"" H256X "\",\"length\":%llu,\"tail\":\"",
			       (unsigned long long)HASH_STATE_MAX_LENGTH));
	for (int i = 0; i < 21; i++)
		CHECK_OK(rb_buf_put_str(&b, "YWFh"));
	CHECK_OK(rb_buf_put_str(&b, "\"}"));
	CHECK_OK(json_parse(b.data, b.len, NULL, &v));
	CHECK_OK(hash_state_from_json(v, &st));
	if (st) {
		CHECK_ERR(hash_state_update(st, "x", 1), RB_E_TOOBIG);
		CHECK(hash_state_get_length(st) == HASH_STATE_MAX_LENGTH);
		CHECK_OK(hash_state_update(st, "", 0));
		CHECK_OK(hash_state_to_json(st, &o));
	}
	json_free(o);
	json_free(v);
	rb_buf_free(&b);
	hash_state_free(st);
}

static void test_names(void)
{
	enum hash_state_alg a;

	CHECK_OK(hash_state_alg_from_name("sha512", &a));
	CHECK(a == HASH_STATE_SHA512);
	CHECK_ERR(hash_state_alg_from_name("SHA512", &a), RB_E_PARSE);
	CHECK_ERR(hash_state_alg_from_name(NULL, &a), RB_E_PARSE);
	CHECK(strcmp(hash_state_alg_name(HASH_STATE_SHA256), "sha256") == 0);
	CHECK(hash_state_alg_name(0) == NULL);
	CHECK(hash_state_block_len(HASH_STATE_SHA512) == 128);
	CHECK(hash_state_digest_len(HASH_STATE_SHA256) == 32);
	CHECK_ERR(hash_state_new(0, &(struct hash_state *){ NULL }), RB_E_INVAL);
	hash_state_free(NULL);
}

int main(void)
{
	RUN(test_names);
	RUN(test_pgp_from_state);
	RUN(test_update_fd);
	RUN(test_import_strict);
	RUN(test_max_length);
	TEST_MAIN_END();
}
