/* The sign node's signing cache releases a signature only after it
 * verifies over the request it is released for: a cached signature whose
 * bytes changed in memory, or one asked for under another key or input,
 * is refused and nothing is handed out. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "harness.h"
#include "signd/cache.h"
#include "util/err.h"

HARNESS_GLOBALS;

static EVP_PKEY *ed25519_new(void)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;

	if (kc && EVP_PKEY_keygen_init(kc) == 1)
		EVP_PKEY_keygen(kc, &k);
	EVP_PKEY_CTX_free(kc);
	return k;
}

static void ed25519_sign(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t sl = 64;

	CHECK(md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
	      EVP_DigestSign(md, sig, &sl, msg, len) == 1 && sl == 64);
	EVP_MD_CTX_free(md);
}

static void test_cache_hit_verified(void)
{
	static const uint8_t msg[] = "request input", other[] = "another input";
	EVP_PKEY *k = ed25519_new(), *k2 = ed25519_new();
	struct signd_cache *c = NULL;
	uint8_t key[SIGND_CACHE_KEY_LEN], key2[SIGND_CACHE_KEY_LEN], sig[64];
	uint8_t *got = NULL;
	size_t n = 0;

	CHECK(k && k2);
	CHECK_OK(signd_cache_new(&c));
	CHECK_OK(signd_cache_key("device", RB_SIG_ED25519, msg, sizeof(msg), key));
	CHECK_OK(signd_cache_key("device2", RB_SIG_ED25519, msg, sizeof(msg), key2));
	CHECK(memcmp(key, key2, sizeof(key)) != 0);
	CHECK_ERR(signd_cache_take(c, key, k, RB_SIG_ED25519, msg, sizeof(msg), &got, &n),
		  RB_E_NOTFOUND);

	ed25519_sign(k, msg, sizeof(msg), sig);
	CHECK_OK(signd_cache_put(c, key, sig, sizeof(sig)));
	CHECK_OK(signd_cache_take(c, key, k, RB_SIG_ED25519, msg, sizeof(msg), &got, &n));
	CHECK(got && n == 64 && memcmp(got, sig, 64) == 0);
	free(got);
	got = NULL;

	/* Not released for another key or another input under the same slot. */
	CHECK_ERR(signd_cache_take(c, key, k2, RB_SIG_ED25519, msg, sizeof(msg), &got, &n),
		  RB_E_VERIFY);
	CHECK(got == NULL);
	CHECK_ERR(signd_cache_take(c, key, k, RB_SIG_ED25519, other, sizeof(other), &got, &n),
		  RB_E_VERIFY);
	CHECK(got == NULL);

	/* The cached bytes change in memory (a bit flip, a bug): refused. */
	for (size_t i = 0; i < c->n; i++)
		c->sigs[i].sig[10] ^= 0x01;
	CHECK_ERR(signd_cache_take(c, key, k, RB_SIG_ED25519, msg, sizeof(msg), &got, &n),
		  RB_E_VERIFY);
	CHECK(got == NULL);
	CHECK(strstr(rb_err_detail(), "not released") != NULL);

	signd_cache_free(c);
	signd_cache_free(NULL);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* Many entries: the table grows and every entry is still found. */
static void test_cache_grows(void)
{
	EVP_PKEY *k = ed25519_new();
	struct signd_cache *c = NULL;

	CHECK(k);
	CHECK_OK(signd_cache_new(&c));
	for (uint32_t i = 0; i < 600; i++) {
		uint8_t key[SIGND_CACHE_KEY_LEN], sig[64];

		CHECK_OK(signd_cache_key("device", RB_SIG_ED25519, (const uint8_t *)&i, sizeof(i), key));
		ed25519_sign(k, (const uint8_t *)&i, sizeof(i), sig);
		CHECK_OK(signd_cache_put(c, key, sig, sizeof(sig)));
	}
	CHECK(c->n == 600);
	for (uint32_t i = 0; i < 600; i += 37) {
		uint8_t key[SIGND_CACHE_KEY_LEN], *got = NULL;
		size_t n;

		CHECK_OK(signd_cache_key("device", RB_SIG_ED25519, (const uint8_t *)&i, sizeof(i), key));
		CHECK_OK(signd_cache_take(c, key, k, RB_SIG_ED25519, (const uint8_t *)&i, sizeof(i), &got, &n));
		free(got);
	}
	signd_cache_free(c);
	EVP_PKEY_free(k);
}

int main(void)
{
	RUN(test_cache_hit_verified);
	RUN(test_cache_grows);
	TEST_MAIN_END();
}
