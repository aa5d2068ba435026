/* Unit tests for src/lib/crypto: an RSA public key from (n, e). */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto/signer.h"
#include "harness.h"
#include "util/err.h"

HARNESS_GLOBALS;

/* The one builder of RSA keys from a modulus and an exponent, for the
 * token's keys and for the capture module's imported ones: the same key
 * back, leading zeros skipped, keys rombsr would never use refused. */
static void test_pkey_from_rsa(void)
{
	EVP_PKEY *gen = EVP_RSA_gen(2048), *pk = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	uint8_t n[1 + 256], e[1 + 8], small[127];
	uint8_t fa[32], fb[32];
	int nl, el;

	CHECK(gen != NULL);
	CHECK(EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_RSA_N, &bn_n) == 1);
	CHECK(EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_RSA_E, &bn_e) == 1);
	n[0] = e[0] = 0;
	nl = BN_bn2bin(bn_n, n + 1);
	el = BN_bn2bin(bn_e, e + 1);
	CHECK(nl == 256 && el == 3);

	CHECK_OK(rb_pkey_from_rsa(n + 1, (size_t)nl, e + 1, (size_t)el, &pk));
	CHECK_OK(rb_pkey_fingerprint(gen, fa));
	CHECK_OK(rb_pkey_fingerprint(pk, fb));
	CHECK(memcmp(fa, fb, 32) == 0);
	EVP_PKEY_free(pk);
	pk = NULL;
	/* A sign byte of zero (Java's BigInteger) changes nothing. */
	CHECK_OK(rb_pkey_from_rsa(n, (size_t)nl + 1, e, (size_t)el + 1, &pk));
	CHECK_OK(rb_pkey_fingerprint(pk, fb));
	CHECK(memcmp(fa, fb, 32) == 0);
	EVP_PKEY_free(pk);
	pk = NULL;

	/* An even modulus. */
	n[nl] ^= 1;
	CHECK_ERR(rb_pkey_from_rsa(n + 1, (size_t)nl, e + 1, (size_t)el, &pk), RB_E_PARSE);
	CHECK(strstr(rb_err_message(RB_E_PARSE), "modulus") != NULL);
	n[nl] ^= 1;
	/* Too short (1016 bits) and too long (over 16384 bits). */
	memset(small, 0xff, sizeof(small));
	CHECK_ERR(rb_pkey_from_rsa(small, sizeof(small), e + 1, (size_t)el, &pk), RB_E_PARSE);
	{
		uint8_t *big = malloc(2049);

		CHECK(big != NULL);
		memset(big, 0xff, 2049);
		CHECK_ERR(rb_pkey_from_rsa(big, 2049, e + 1, (size_t)el, &pk), RB_E_PARSE);
		free(big);
	}
	/* Exponents: 1, even, none, over 64 bits. */
	{
		const uint8_t one[] = { 1 }, even[] = { 1, 0, 0 }, zero[] = { 0, 0 };
		const uint8_t wide[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };

		CHECK_ERR(rb_pkey_from_rsa(n + 1, (size_t)nl, one, 1, &pk), RB_E_PARSE);
		CHECK_ERR(rb_pkey_from_rsa(n + 1, (size_t)nl, even, 3, &pk), RB_E_PARSE);
		CHECK_ERR(rb_pkey_from_rsa(n + 1, (size_t)nl, zero, 2, &pk), RB_E_PARSE);
		CHECK_ERR(rb_pkey_from_rsa(n + 1, (size_t)nl, wide, 9, &pk), RB_E_PARSE);
		CHECK(strstr(rb_err_message(RB_E_PARSE), "exponent") != NULL);
	}
	CHECK(pk == NULL);
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_free(gen);
}

int main(void)
{
	RUN(test_pkey_from_rsa);
	TEST_MAIN_END();
}
