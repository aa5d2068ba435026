/* Placeholder signatures: what the capture module returns from C_Sign.
 *
 * A placeholder is SHAKE-256("rombsr-capture-placeholder v1" || id), as
 * many bytes as the real signature will have, with the top byte(s) bent
 * into a range the real signature can also be made to meet, so that the
 * artifact's encoding around it (lengths, DER integers) does not change
 * when the real signature is put in its place. */
#include <string.h>

#include <openssl/evp.h>

#include "request/capture-internal.h"
#include "util/err.h"

#define PLACEHOLDER_DOMAIN "rombsr-capture-placeholder v1"

/* Map any byte into 0x01..0x7f. */
static uint8_t into_1_7f(uint8_t b)
{
	return (uint8_t)(b % 0x7f + 1);
}

/* Map any byte into 0x01..0x3f. */
static uint8_t into_1_3f(uint8_t b)
{
	return (uint8_t)(b % 0x3f + 1);
}

int capture_placeholder(const uint8_t id[CAPTURE_ID_LEN], enum rb_key_alg alg, size_t len,
			uint8_t *out)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (!id || !out)
		return rb_err_set(RB_E_INVAL, "placeholder: missing argument");
	switch (alg) {
	case RB_KEY_RSA:
		if (len < CAPTURE_RSA_MIN_BYTES || len > CAPTURE_RSA_MAX_BYTES)
			return rb_err_set(RB_E_INVAL,
					  "placeholder: RSA signature length %zu is outside %d..%d bytes",
					  len, CAPTURE_RSA_MIN_BYTES, CAPTURE_RSA_MAX_BYTES);
		break;
	case RB_KEY_EC_P256:
	case RB_KEY_ED25519:
		if (len != 64)
			return rb_err_set(RB_E_INVAL, "placeholder: %s signatures are 64 bytes, not %zu",
					  rb_key_alg_name(alg), len);
		break;
	default:
		return rb_err_set(RB_E_INVAL, "placeholder: unknown key algorithm %d", (int)alg);
	}

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return RB_E_NOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_shake256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, PLACEHOLDER_DOMAIN, strlen(PLACEHOLDER_DOMAIN)) == 1 &&
	     EVP_DigestUpdate(ctx, id, CAPTURE_ID_LEN) == 1 &&
	     EVP_DigestFinalXOF(ctx, out, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return rb_err_set(RB_E_CRYPTO, "placeholder: SHAKE-256 failed");

	switch (alg) {
	case RB_KEY_RSA:
		/* Below any full-size modulus, and never a leading zero a tool
		 * might strip. */
		out[0] = into_1_3f(out[0]);
		break;
	case RB_KEY_EC_P256:
		/* DER INTEGERs of exactly 32 bytes: no sign pad, no stripping. */
		out[0] = into_1_7f(out[0]);
		out[32] = into_1_7f(out[32]);
		break;
	case RB_KEY_ED25519:
		break;
	}
	return RB_OK;
}

bool capture_ecdsa_sig_fits(const uint8_t raw[64])
{
	if (!raw)
		return false;
	return raw[0] >= 0x01 && raw[0] <= 0x7f && raw[32] >= 0x01 && raw[32] <= 0x7f;
}

void capture_ecdsa_der70(const uint8_t raw[64], uint8_t out[CAPTURE_ECDSA_DER_LEN])
{
	out[0] = 0x30;
	out[1] = 0x44;
	out[2] = 0x02;
	out[3] = 0x20;
	memcpy(out + 4, raw, 32);
	out[36] = 0x02;
	out[37] = 0x20;
	memcpy(out + 38, raw + 32, 32);
}
