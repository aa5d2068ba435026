/* The digest share's check value: HMAC-SHA256(key = R, msg = S)[:4]. It
 * lets combine detect wrong or corrupted shares before handing back a
 * wrong secret. */
#include "slip39/slip39-internal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/err.h"
#include "util/secret.h"

int slip39_digest(const uint8_t *random, size_t rlen, const uint8_t *secret, size_t slen,
		  uint8_t out[SLIP39_DIGEST_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!HMAC(EVP_sha256(), random, (int)rlen, secret, slen, mac, &maclen) || maclen < 4) {
		rb_wipe(mac, sizeof(mac));
		return rb_err_set(RB_E_CRYPTO, "slip39: HMAC-SHA256 failed");
	}
	for (int i = 0; i < SLIP39_DIGEST_LEN; i++)
		out[i] = mac[i];
	rb_wipe(mac, sizeof(mac));
	return RB_OK;
}
