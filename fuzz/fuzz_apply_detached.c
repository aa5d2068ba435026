/* Fuzz rombsr verify's signature-file dispatch: armored and binary
 * OpenPGP, and raw RSA / ECDSA DER / Ed25519 against an in-memory
 * manifest of one key per algorithm. Input: two bytes (little-endian)
 * giving the length of the signed file, the file, then the signature
 * file's contents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "apply/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_keygen(const char *alg, const char *param, const char *value)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *pkey = NULL;

	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1)
		abort();
	if (param && EVP_PKEY_CTX_ctrl_str(ctx, param, value) != 1)
		abort();
	if (EVP_PKEY_keygen(ctx, &pkey) != 1)
		abort();
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static const struct manifest *fuzz_manifest(void)
{
	static struct manifest m;
	static struct manifest_key keys[3];

	if (m.n_keys)
		return &m;
	keys[0] = (struct manifest_key){ .name = "rsa", .alg = RB_KEY_RSA, .status = KEY_ACTIVE,
					 .created = 1700000000,
					 .pub = fuzz_keygen("RSA", "rsa_keygen_bits", "2048") };
	keys[1] = (struct manifest_key){ .name = "ec", .alg = RB_KEY_EC_P256, .status = KEY_RETIRED,
					 .created = 1700000000,
					 .pub = fuzz_keygen("EC", "ec_paramgen_curve", "P-256") };
	keys[2] = (struct manifest_key){ .name = "ed", .alg = RB_KEY_ED25519, .status = KEY_REVOKED,
					 .created = 1700000000,
					 .pub = fuzz_keygen("ED25519", NULL, NULL) };
	m.keys = keys;
	m.n_keys = 3;
	return &m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apply_verify_result r;
	size_t file_len;

	if (size < 2)
		return 0;
	file_len = (size_t)data[0] | (size_t)data[1] << 8;
	if (file_len > size - 2)
		file_len = size - 2;
	(void)apply_verify_detached(fuzz_manifest(), data + 2, file_len, data + 2 + file_len,
				    size - 2 - file_len, "fuzz", &r);
	return 0;
}
