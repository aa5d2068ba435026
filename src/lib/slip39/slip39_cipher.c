/* The SLIP-0039 passphrase encryption: a 4-round Feistel network whose
 * round function is PBKDF2-HMAC-SHA256(i || passphrase, salt || R,
 * 2500 << e). Non-extendable shares salt with "shamir" || id, so the same
 * passphrase gives a different key per share set; extendable ones use an
 * empty salt so new share sets can be made for the same encrypted secret. */
#include "slip39/slip39-internal.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

#define MAX_PASSPHRASE 1024

struct cipher_ws {
	uint8_t l[SLIP39_MAX_SECRET / 2];
	uint8_t r[SLIP39_MAX_SECRET / 2];
	uint8_t f[SLIP39_MAX_SECRET / 2];
	uint8_t salt[8 + SLIP39_MAX_SECRET / 2];
	uint8_t pass[1 + MAX_PASSPHRASE];
};

int slip39_cipher_run(const uint8_t *in, size_t len, const struct rb_secret *passphrase,
		      uint8_t iteration_exponent, uint16_t identifier, bool extendable, bool encrypt,
		      uint8_t *out)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	struct cipher_ws *ws;
	size_t half = len / 2, plen = passphrase ? passphrase->len : 0, prefix = 0, i;
	uint32_t iterations;
	int round, r;

	if (len % 2 || len < SLIP39_MIN_SECRET || len > SLIP39_MAX_SECRET)
		return rb_err_set(RB_E_INVAL, "slip39: master secret of %zu bytes; use 16 to 32, even",
				  len);
	if (iteration_exponent > SLIP39_MAX_ITERATION_EXPONENT)
		return rb_err_set(RB_E_INVAL, "slip39: iteration exponent %u over %d",
				  iteration_exponent, SLIP39_MAX_ITERATION_EXPONENT);
	if (plen > MAX_PASSPHRASE)
		return rb_err_set(RB_E_TOOBIG, "slip39: passphrase over %d bytes", MAX_PASSPHRASE);
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct cipher_ws *)ws_mem->data;
	iterations = (uint32_t)(SLIP39_BASE_ITERATIONS << iteration_exponent) / SLIP39_ROUNDS;
	if (!extendable) {
		memcpy(ws->salt, "shamir", 6);
		ws->salt[6] = (uint8_t)(identifier >> 8);
		ws->salt[7] = (uint8_t)identifier;
		prefix = 8;
	}
	if (plen)
		memcpy(ws->pass + 1, passphrase->data, plen);
	memcpy(ws->l, in, half);
	memcpy(ws->r, in + half, half);
	for (i = 0; i < SLIP39_ROUNDS; i++) {
		round = encrypt ? (int)i : SLIP39_ROUNDS - 1 - (int)i;
		ws->pass[0] = (uint8_t)round;
		memcpy(ws->salt + prefix, ws->r, half);
		if (PKCS5_PBKDF2_HMAC((const char *)ws->pass, (int)(plen + 1), ws->salt,
				      (int)(prefix + half), (int)iterations, EVP_sha256(), (int)half,
				      ws->f) != 1)
			return rb_err_set(RB_E_CRYPTO, "slip39: PBKDF2 failed");
		/* (L, R) <- (R, L xor F(R)) */
		for (size_t k = 0; k < half; k++) {
			uint8_t t = ws->r[k];

			ws->r[k] = ws->l[k] ^ ws->f[k];
			ws->l[k] = t;
		}
	}
	memcpy(out, ws->r, half);
	memcpy(out + half, ws->l, half);
	return RB_OK;
}
