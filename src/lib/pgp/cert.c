/* Transferable public keys (RFC 4880 11.1): key, user ID, self-signature. */
#include "pgp/pgp-internal.h"

#include <string.h>

#include "util/err.h"

#define KEY_FLAG_CERTIFY 0x01
#define KEY_FLAG_SIGN 0x02
#define FEATURE_SEIPD_V1 0x01

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
 * without control characters: the user ID is shown by every tool that
 * lists the key, so it must be printable and unambiguous. */
static bool user_id_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += k + 1;
	}
	return true;
}

int pgp_cert_write(const struct rb_signer *signer, int64_t creation_time, const char *user_id,
		   int64_t sig_time, struct rb_buf *out)
{
	_cleanup_(pgp_key_freep) struct pgp_key *key = NULL;
	_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx ctx = { 0 };
	struct rb_buf extra = RB_BUF_INIT, sig = RB_BUF_INIT, cert = RB_BUF_INIT;
	static const uint8_t flags = KEY_FLAG_CERTIFY | KEY_FLAG_SIGN;
	static const uint8_t features = FEATURE_SEIPD_V1;
	static const uint8_t pref_hash[] = { PGP_HASH_SHA512, PGP_HASH_SHA256 };
	uint8_t khdr[3], uhdr[5];
	size_t uid_len;
	int err;

	if (!signer || !user_id || !out)
		return RB_E_INVAL;
	uid_len = strnlen(user_id, PGP_USER_ID_MAX + 1);
	if (uid_len == 0 || uid_len > PGP_USER_ID_MAX ||
	    !user_id_valid((const uint8_t *)user_id, uid_len))
		return rb_err_set(RB_E_INVAL,
				  "OpenPGP user ID must be 1..%d bytes of UTF-8 without control characters",
				  PGP_USER_ID_MAX);
	if ((err = pgp_key_new(signer, creation_time, &key)) < 0)
		return err;

	if ((err = pgp_put_subpacket(&extra, PGP_SUB_KEY_FLAGS, false, &flags, 1)) < 0 ||
	    (err = pgp_put_subpacket(&extra, PGP_SUB_FEATURES, false, &features, 1)) < 0 ||
	    (err = pgp_put_subpacket(&extra, PGP_SUB_PREF_HASH, false, pref_hash,
				     sizeof(pref_hash))) < 0)
		goto out;
	if ((err = pgp_sig_start(&ctx, key, PGP_SIG_POSITIVE_CERT, PGP_HASH_SHA512, sig_time,
				 extra.data, extra.len)) < 0)
		goto out;

	/* RFC 4880 5.2.4: a certification hashes the key as 0x99 || len16 ||
	 * body and the user ID as 0xb4 || len32 || uid. */
	khdr[0] = 0x99;
	khdr[1] = (uint8_t)(key->body_len >> 8);
	khdr[2] = (uint8_t)key->body_len;
	uhdr[0] = 0xb4;
	uhdr[1] = (uint8_t)(uid_len >> 24);
	uhdr[2] = (uint8_t)(uid_len >> 16);
	uhdr[3] = (uint8_t)(uid_len >> 8);
	uhdr[4] = (uint8_t)uid_len;
	if (EVP_DigestUpdate(ctx.md, khdr, 3) != 1 ||
	    EVP_DigestUpdate(ctx.md, key->body, key->body_len) != 1 ||
	    EVP_DigestUpdate(ctx.md, uhdr, 5) != 1 ||
	    EVP_DigestUpdate(ctx.md, user_id, uid_len) != 1) {
		err = RB_E_CRYPTO;
		goto out;
	}
	if ((err = pgp_sig_finish(&ctx, &sig)) < 0)
		goto out;

	if ((err = pgp_key_write_packet(key, &cert)) < 0 ||
	    (err = pgp_put_packet(&cert, PGP_TAG_USER_ID, (const uint8_t *)user_id, uid_len)) < 0 ||
	    (err = rb_buf_put(&cert, sig.data, sig.len)) < 0)
		goto out;
	err = rb_buf_put(out, cert.data, cert.len);
out:
	rb_buf_free(&extra);
	rb_buf_free(&sig);
	rb_buf_free(&cert);
	return err;
}
