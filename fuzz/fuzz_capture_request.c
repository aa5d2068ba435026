/* Fuzz the signing-request parser: the file a build node hands the sign
 * node. Each input is parsed without a manifest and against a small fixed
 * one (an Ed25519 key from a fixed seed, plus a retired twin). Whatever is
 * accepted must re-emit canonically and re-parse to the same request (its
 * version and kept data included), and its placeholder must have the
 * documented shape. The corpus holds version-1 and version-2 requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "request/capture_request.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8032 test 1 secret key; the corpus holds requests for it. */
static const uint8_t ed_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static struct manifest man;
static struct manifest_key keys[2];

static void init_manifest(void)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed, sizeof(ed_seed));
	unsigned char *der = NULL;
	int n;

	if (!pk)
		abort();
	n = i2d_PUBKEY(pk, &der);
	if (n <= 0)
		abort();
	for (int i = 0; i < 2; i++) {
		keys[i].name = strdup(i == 0 ? "ed-key" : "old-key");
		keys[i].alg = RB_KEY_ED25519;
		keys[i].bits = 255;
		keys[i].status = i == 0 ? KEY_ACTIVE : KEY_RETIRED;
		keys[i].spki = malloc((size_t)n);
		memcpy(keys[i].spki, der, (size_t)n);
		keys[i].spki_len = (size_t)n;
		if (manifest_key_derive(&keys[i]) != 0)
			abort();
	}
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	man.keys = keys;
	man.n_keys = 2;
}

static void check(const uint8_t *data, size_t size, const struct manifest *m)
{
	struct capture_request *r = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT;

	if (capture_request_parse((const char *)data, size, "fuzz", m, &r) != 0) {
		if (r)
			abort();
		return;
	}
	if (r->scheme == RB_SIG_ECDSA_SHA256 && !capture_ecdsa_sig_fits(r->placeholder))
		abort();
	if (r->scheme != RB_SIG_ECDSA_SHA256 && r->scheme != RB_SIG_ED25519 &&
	    (r->placeholder[0] == 0 || r->placeholder[0] >= 0x40))
		abort();
	if (capture_request_emit(r, &out) != 0)
		abort();
	if (capture_request_parse((const char *)out.data, out.len, "fuzz-again", m, &again) != 0)
		abort();
	if (memcmp(r->id, again->id, CAPTURE_ID_LEN) != 0 ||
	    r->placeholder_len != again->placeholder_len ||
	    memcmp(r->placeholder, again->placeholder, r->placeholder_len) != 0 ||
	    r->created != again->created || r->input_len != again->input_len ||
	    r->version != again->version || !r->data != !again->data || r->data_len != again->data_len ||
	    (r->data && memcmp(r->data, again->data, r->data_len) != 0))
		abort();
	/* Kept data is only ever what a hashing mechanism was given, in a
	 * version-2 request, within the cap. */
	if (r->data && (r->version != 2 || !capture_mech_hashes(r->mechanism) || r->data_len > CAPTURE_DATA_MAX))
		abort();
	rb_buf_free(&out);
	capture_request_free(r);
	capture_request_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!man.keys)
		init_manifest();
	check(data, size, NULL);
	check(data, size, &man);
	return 0;
}
