/* Fuzz the OpenPGP readers: the signature-packet parser and verifier, and
 * the ASCII-armor decoder. The first input byte picks the reader.
 *
 * The verifier uses a fixed Ed25519 key (the public half of a throwaway
 * SoftHSM2 key that signed the seeds in fuzz/corpus/pgp/ over SEED_DATA),
 * so seeds reach the end of the verification path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgp/pgp-internal.h"
#include "pgp/pgp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed_pub[32] = {   0x79, 0x65, 0x42, 0xc0, 0x61, 0x51, 0xbf, 0x3b, 0x78, 0xe7, 0xc8, 0xba,  0xd7, 0xb4, 0xb9, 0x20, 0x77, 0xef, 0xdb, 0x3e, 0xfd, 0xe2, 0x66, 0x0b,  0x06, 0x5b, 0x37, 0x25, 0x08, 0x9c, 0x44, 0xb4 };
static const uint32_t seed_created = 1795336600;
static const char seed_data[] = "rombsr fuzz seed\n";

static struct pgp_key *seed_key(void)
{
	static struct rb_signer signer;
	static struct pgp_key *key;

	if (!key) {
		signer.name = "fuzz";
		signer.alg = RB_KEY_ED25519;
		signer.pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, seed_pub, 32);
		if (!signer.pub || pgp_key_new(&signer, seed_created, &key) != 0)
			abort();
	}
	return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgp_sig_parsed parsed;
	struct rb_buf out = RB_BUF_INIT;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		(void)pgp_sig_parse(data + 1, size - 1, &parsed);
		break;
	case 1:
		(void)pgp_sig_verify_buffer(seed_key(), data + 1, size - 1, seed_data, strlen(seed_data));
		break;
	case 2:
		if (pgp_dearmor(PGP_ARMOR_SIGNATURE, (const char *)data + 1, size - 1, &out) == 0)
			(void)pgp_sig_verify_buffer(seed_key(), out.data, out.len, seed_data, strlen(seed_data));
		break;
	}
	rb_buf_free(&out);
	return 0;
}
