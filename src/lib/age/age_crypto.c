/* The primitives age v1 is built from, on OpenSSL 3: HKDF-SHA256,
 * ChaCha20-Poly1305, X25519, and the Ed25519 -> X25519 map that the
 * ssh-ed25519 recipient needs. */
#include "age/age-internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

#include "util/err.h"
#include "util/secret.h"

int age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
	     uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5], *q = p;
	static const uint8_t empty[1];
	int ok;

	EVP_KDF_free(kdf);
	if (!ctx)
		return rb_err_set(RB_E_CRYPTO, "age: HKDF unavailable in OpenSSL");
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	/* OpenSSL refuses an empty key; age's ssh-ed25519 tweak uses one,
	 * which HKDF-Extract treats exactly like a zero-length buffer */
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(ikmlen ? ikm : empty),
						 ikmlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(saltlen ? salt : empty),
						 saltlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*q = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, outlen, p) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok)
		return rb_err_set(RB_E_CRYPTO, "age: HKDF-SHA256 failed");
	return RB_OK;
}

static int aead_run(bool seal, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
		    size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0, r = RB_E_CRYPTO;
	size_t dlen = seal ? len : len - AGE_TAG_LEN;

	if (!ctx)
		return RB_E_NOMEM;
	if (len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce, seal) != 1)
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AGE_TAG_LEN,
					 (void *)(in + dlen)) != 1)
		goto out;
	if (dlen && EVP_CipherUpdate(ctx, out, &outl, in, (int)dlen) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + outl, &fin) != 1) {
		/* only decryption can fail here: the tag did not verify */
		r = RB_E_VERIFY;
		rb_wipe(out, dlen);
		goto out;
	}
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AGE_TAG_LEN, out + len) != 1)
		goto out;
	r = RB_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int age_aead_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
		  uint8_t *out)
{
	return aead_run(true, key, nonce, in, len, out);
}

int age_aead_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
		  uint8_t *out)
{
	if (len < AGE_TAG_LEN)
		return RB_E_VERIFY;
	return aead_run(false, key, nonce, in, len, out);
}

int age_x25519(const uint8_t scalar[32], const uint8_t point[32], uint8_t out[32])
{
	static const uint8_t zero[32];
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, scalar, 32);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, point, 32);
	EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
	size_t outlen = 32;
	int r = RB_E_CRYPTO;

	if (!priv || !peer || !ctx)
		goto out;
	if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1)
		goto out;
	/* OpenSSL refuses an all-zero result; either way it is a low-order
	 * point and must fail */
	if (EVP_PKEY_derive(ctx, out, &outlen) != 1 || outlen != 32) {
		r = RB_E_VERIFY;
		goto out;
	}
	r = rb_ct_equal(out, 32, zero, 32) ? RB_E_VERIFY : RB_OK;
	if (r < 0)
		rb_wipe(out, 32);
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(peer);
	return r;
}

int age_x25519_base(const uint8_t scalar[32], uint8_t out[32])
{
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, scalar, 32);
	size_t outlen = 32;
	int ok;

	if (!priv)
		return rb_err_set(RB_E_CRYPTO, "age: X25519 key setup failed");
	ok = EVP_PKEY_get_raw_public_key(priv, out, &outlen) == 1 && outlen == 32;
	EVP_PKEY_free(priv);
	return ok ? RB_OK : rb_err_set(RB_E_CRYPTO, "age: X25519 public key failed");
}

/* u = (1 + y) / (1 - y) mod p, after checking that y is canonical and
 * that the point decompresses (x^2 = (y^2 - 1) / (d y^2 + 1) is a square).
 * Public data only, so BIGNUM is fine here. */
int age_ed25519_to_x25519(const uint8_t ed[32], uint8_t out[32])
{
	static const char p_hex[] = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
	static const char d_hex[] = "52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3";
	uint8_t be[32];
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = NULL, *d = NULL, *y, *one, *num, *den, *t, *e;
	int i, r = RB_E_NOMEM;

	if (!ctx)
		return RB_E_NOMEM;
	BN_CTX_start(ctx);
	y = BN_CTX_get(ctx);
	one = BN_CTX_get(ctx);
	num = BN_CTX_get(ctx);
	den = BN_CTX_get(ctx);
	t = BN_CTX_get(ctx);
	e = BN_CTX_get(ctx);
	if (!e || !BN_hex2bn(&p, p_hex) || !BN_hex2bn(&d, d_hex))
		goto out;
	for (i = 0; i < 32; i++)
		be[i] = ed[31 - i];
	be[0] &= 0x7f; /* the top bit is the sign of x */
	if (!BN_bin2bn(be, 32, y) || !BN_one(one))
		goto out;
	r = RB_E_PARSE;
	if (BN_cmp(y, p) >= 0 || BN_is_one(y))
		goto out;
	r = RB_E_NOMEM;
	/* decompression check: (y^2 - 1) * (d y^2 + 1)^(p-2) must be a square */
	if (!BN_mod_sqr(t, y, p, ctx) || !BN_mod_sub(num, t, one, p, ctx) ||
	    !BN_mod_mul(den, d, t, p, ctx) || !BN_mod_add(den, den, one, p, ctx) ||
	    !BN_mod_inverse(den, den, p, ctx) || !BN_mod_mul(t, num, den, p, ctx))
		goto out;
	if (!BN_sub(e, p, one) || !BN_rshift1(e, e) || !BN_mod_exp(e, t, e, p, ctx))
		goto out;
	r = RB_E_PARSE;
	if (!BN_is_zero(e) && !BN_is_one(e))
		goto out;
	r = RB_E_NOMEM;
	if (!BN_mod_add(num, one, y, p, ctx) || !BN_mod_sub(den, one, y, p, ctx) ||
	    !BN_mod_inverse(den, den, p, ctx) || !BN_mod_mul(t, num, den, p, ctx))
		goto out;
	if (BN_bn2binpad(t, be, 32) != 32)
		goto out;
	for (i = 0; i < 32; i++)
		out[i] = be[31 - i];
	r = RB_OK;
out:
	BN_free(p);
	BN_free(d);
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return r;
}
