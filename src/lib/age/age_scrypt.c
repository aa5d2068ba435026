/* The scrypt passphrase recipient. The work factor is untrusted input
 * that sets memory and time (2^N * 1 KiB), so decryption caps it. */
#include "age/age-internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define SCRYPT_SALT_LEN 16

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

struct scrypt_ws {
	uint8_t key[32];
	uint8_t file_key[AGE_FILE_KEY_LEN];
	uint8_t body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
};

static int scrypt_derive(const struct rb_secret *pass, const uint8_t salt[SCRYPT_SALT_LEN],
			 unsigned log_n, uint8_t key[32])
{
	uint8_t full[sizeof(SCRYPT_LABEL) - 1 + SCRYPT_SALT_LEN];
	uint64_t n = (uint64_t)1 << log_n;
	/* scrypt needs 128 * r * N bytes for V plus small buffers */
	uint64_t maxmem = 128 * 8 * n + (4u << 20);

	memcpy(full, SCRYPT_LABEL, sizeof(SCRYPT_LABEL) - 1);
	memcpy(full + sizeof(SCRYPT_LABEL) - 1, salt, SCRYPT_SALT_LEN);
	if (EVP_PBE_scrypt((const char *)pass->data, pass->len, full, sizeof(full), n, 8, 1, maxmem,
			   key, 32) != 1)
		return rb_err_set(RB_E_CRYPTO, "age: scrypt with work factor %u failed (out of memory?)",
				  log_n);
	return RB_OK;
}

int age_scrypt_wrap(const struct rb_secret *pass, unsigned log_n, const uint8_t *file_key,
		    struct rb_buf *hdr)
{
	static const uint8_t zero_nonce[12];
	_cleanup_(rb_secret_freep) struct rb_secret *mem = NULL;
	_cleanup_free_ char *salt_b64 = NULL;
	uint8_t salt[SCRYPT_SALT_LEN];
	char logn[8];
	struct scrypt_ws *ws;
	int e;

	if (log_n < 1 || log_n > AGE_SCRYPT_MAX_LOG_N)
		return rb_err_set(RB_E_INVAL, "age: scrypt work factor %u; use 1 to %d", log_n,
				  AGE_SCRYPT_MAX_LOG_N);
	e = rb_secret_new(sizeof(*ws), &mem);
	if (e < 0)
		return e;
	ws = (struct scrypt_ws *)mem->data;
	e = rb_random_bytes(salt, sizeof(salt));
	if (e == 0)
		e = scrypt_derive(pass, salt, log_n, ws->key);
	if (e == 0)
		e = age_aead_seal(ws->key, zero_nonce, file_key, AGE_FILE_KEY_LEN, ws->body);
	if (e == 0)
		e = rb_base64_encode(salt, sizeof(salt), false, &salt_b64);
	if (e == 0) {
		const char *args[3] = { "scrypt", salt_b64, logn };

		snprintf(logn, sizeof(logn), "%u", log_n);
		e = age_stanza_write(hdr, args, 3, ws->body, sizeof(ws->body));
	}
	return e;
}

/* Decimal without sign, leading zeros or other characters. */
static int scrypt_parse_log_n(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 2 || s[0] == '0')
		return rb_err_set(RB_E_PARSE, "age header: scrypt work factor \"%.8s\" is not a decimal 1..%u",
				  s, max);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return rb_err_set(RB_E_PARSE,
					  "age header: scrypt work factor \"%.8s\" is not a decimal 1..%u", s,
					  max);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return rb_err_set(RB_E_PARSE,
				  "age header: scrypt work factor %u over the cap of %u; raise scrypt_max_log_n if the file is trusted",
				  v, max);
	*ret = v;
	return RB_OK;
}

int age_scrypt_unwrap(const struct rb_secret *pass, unsigned max_log_n, const struct age_stanza *st,
		      uint8_t *file_key)
{
	static const uint8_t zero_nonce[12];
	_cleanup_(rb_secret_freep) struct rb_secret *mem = NULL;
	_cleanup_free_ uint8_t *salt = NULL;
	struct scrypt_ws *ws;
	size_t slen = 0;
	unsigned log_n = 0;
	int e;

	if (strcmp(st->args[0], "scrypt") != 0)
		return RB_E_KEY;
	if (st->nargs != 3)
		return rb_err_set(RB_E_PARSE, "age header: scrypt stanza with %zu arguments",
				  st->nargs - 1);
	if (rb_base64_decode(st->args[1], strlen(st->args[1]), false, &salt, &slen) < 0 ||
	    slen != SCRYPT_SALT_LEN)
		return rb_err_set(RB_E_PARSE, "age header: scrypt salt is not canonical base64 of 16 bytes");
	e = scrypt_parse_log_n(st->args[2], max_log_n, &log_n);
	if (e < 0)
		return e;
	if (st->body_len != AGE_FILE_KEY_LEN + AGE_TAG_LEN)
		return rb_err_set(RB_E_PARSE, "age header: scrypt stanza body is not a 16-byte file key");
	e = rb_secret_new(sizeof(*ws), &mem);
	if (e < 0)
		return e;
	ws = (struct scrypt_ws *)mem->data;
	e = scrypt_derive(pass, salt, log_n, ws->key);
	if (e < 0)
		return e;
	if (age_aead_open(ws->key, zero_nonce, st->body, st->body_len, ws->file_key) < 0)
		return RB_E_KEY;
	memcpy(file_key, ws->file_key, AGE_FILE_KEY_LEN);
	return RB_OK;
}
