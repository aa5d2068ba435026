/* The STREAM payload: payload key = HKDF(file key, nonce, "payload"),
 * 64 KiB ChaCha20-Poly1305 chunks, nonce = 11-byte big-endian counter ||
 * last-chunk flag. The whole ciphertext is in memory, so which chunk is
 * last follows from the length: it is the one that reaches the end. A
 * truncated file then fails because its new final chunk was sealed with
 * the flag clear, and an extended one because its old final chunk was
 * sealed with the flag set. */
#include "age/age-internal.h"

#include <string.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/secret.h"

static void stream_nonce(uint64_t counter, bool last, uint8_t nonce[12])
{
	int i;

	memset(nonce, 0, 12);
	for (i = 0; i < 8; i++)
		nonce[10 - i] = (uint8_t)(counter >> (8 * i));
	nonce[11] = last ? 1 : 0;
}

int age_stream_seal(const uint8_t *file_key, const uint8_t *pt, size_t len, struct rb_buf *out)
{
	uint8_t nonce[AGE_NONCE_LEN], key[32], cn[12];
	uint64_t counter = 0;
	size_t off = 0;
	int e;

	e = rb_random_bytes(nonce, sizeof(nonce));
	if (e == 0)
		e = age_hkdf(file_key, AGE_FILE_KEY_LEN, nonce, sizeof(nonce), "payload", key,
			     sizeof(key));
	if (e == 0)
		e = rb_buf_put(out, nonce, sizeof(nonce));
	/* an empty payload is one empty final chunk; otherwise no chunk is
	 * empty, so a multiple of 64 KiB ends with a full final chunk */
	while (e == 0) {
		size_t n = len - off > AGE_CHUNK_LEN ? AGE_CHUNK_LEN : len - off;
		bool last = off + n == len;

		e = rb_buf_reserve(out, n + AGE_TAG_LEN);
		if (e < 0)
			break;
		stream_nonce(counter++, last, cn);
		e = age_aead_seal(key, cn, pt + off, n, out->data + out->len);
		if (e < 0)
			break;
		out->len += n + AGE_TAG_LEN;
		off += n;
		if (last)
			break;
	}
	rb_wipe(key, sizeof(key));
	return e;
}

int age_stream_open(const uint8_t *file_key, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		    size_t *ret_len)
{
	uint8_t key[32], cn[12];
	uint64_t counter = 0;
	size_t off = AGE_NONCE_LEN, olen = 0;
	int e;

	if (len < AGE_NONCE_LEN)
		return rb_err_set(RB_E_PARSE, "age: payload nonce truncated");
	if (len == AGE_NONCE_LEN)
		return rb_err_set(RB_E_CRYPTO, "age payload: no chunks (file truncated)");
	e = age_hkdf(file_key, AGE_FILE_KEY_LEN, in, AGE_NONCE_LEN, "payload", key, sizeof(key));
	if (e < 0)
		return e;
	while (off < len) {
		size_t rest = len - off, n = rest > AGE_ENC_CHUNK_LEN ? AGE_ENC_CHUNK_LEN : rest;
		bool last = off + n == len;

		if (n < AGE_TAG_LEN) {
			e = rb_err_set(RB_E_CRYPTO, "age payload: chunk %llu truncated",
				       (unsigned long long)counter);
			break;
		}
		if (last && n == AGE_TAG_LEN && counter > 0) {
			e = rb_err_set(RB_E_CRYPTO,
				       "age payload: empty final chunk after data (file was extended or truncated)");
			break;
		}
		if (olen + n - AGE_TAG_LEN > cap) {
			e = rb_err_set(RB_E_TOOBIG, "age payload: plaintext larger than %zu bytes", cap);
			break;
		}
		stream_nonce(counter, last, cn);
		e = age_aead_open(key, cn, in + off, n, out + olen);
		if (e < 0) {
			e = rb_err_set(RB_E_CRYPTO,
				       "age payload: chunk %llu does not authenticate (corrupted, truncated or extended)",
				       (unsigned long long)counter);
			break;
		}
		olen += n - AGE_TAG_LEN;
		off += n;
		counter++;
	}
	rb_wipe(key, sizeof(key));
	if (e < 0) {
		rb_wipe(out, olen);
		return e;
	}
	*ret_len = olen;
	return RB_OK;
}
