/* The wrap key in software: generation and the fingerprint recipe of
 * docs/formats/wrapped-key.md, so a ceremony can name a key (and compare
 * recombined keys) without importing it anywhere. */
#include <string.h>

#include <openssl/evp.h>

#include "ceremony/ceremony.h"
#include "crypto/signer.h"
#include "util/err.h"
#include "util/secret.h"

static const char fpr_key_label[] = "rombsr-wrap-fingerprint-v1/key";
static const char fpr_hash_label[] = "rombsr-wrap-fingerprint-v1/fpr";

int ceremony_key_generate(struct rb_secret **ret)
{
	struct rb_secret *k = NULL;
	int err;

	if ((err = rb_secret_new(CEREMONY_KEY_LEN, &k)) < 0)
		return err;
	if ((err = rb_random_bytes(k->data, CEREMONY_KEY_LEN)) < 0) {
		rb_secret_free(k);
		return err;
	}
	k->len = CEREMONY_KEY_LEN;
	*ret = k;
	return RB_OK;
}

int ceremony_key_fingerprint(const struct rb_secret *key, uint8_t ret[P11_WRAP_FPR_LEN])
{
	uint8_t k0[32], w[48], fpr[P11_WRAP_FPR_LEN];
	size_t k0len = 0;
	unsigned mdlen = 0;
	int n = 0, m = 0, err = RB_E_CRYPTO;
	EVP_CIPHER_CTX *c = NULL;
	EVP_MD_CTX *md = NULL;

	if (!key || key->len != CEREMONY_KEY_LEN)
		return rb_err_set(RB_E_INVAL, "a wrap key is %d bytes (AES-256), not %zu", CEREMONY_KEY_LEN,
				  key ? key->len : 0);
	if ((err = rb_digest(EVP_sha256(), fpr_key_label, sizeof(fpr_key_label) - 1, k0, &k0len)) < 0)
		return err;
	err = RB_E_CRYPTO;
	/* RFC 5649 with the default IV, as CKM_AES_KEY_WRAP_PAD: 32 bytes in,
	 * 40 out. The cipher context holds the key schedule; freeing it wipes
	 * it (OpenSSL cleanses cipher data on free). */
	if (!(c = EVP_CIPHER_CTX_new()))
		goto out;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key->data, NULL) != 1 ||
	    EVP_EncryptUpdate(c, w, &n, k0, (int)k0len) != 1 || EVP_EncryptFinal_ex(c, w + n, &m) != 1 ||
	    n + m != 40)
		goto out;
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, fpr_hash_label, sizeof(fpr_hash_label) - 1) != 1 ||
	    EVP_DigestUpdate(md, w, (size_t)(n + m)) != 1 || EVP_DigestFinal_ex(md, fpr, &mdlen) != 1 ||
	    mdlen != P11_WRAP_FPR_LEN)
		goto out;
	memcpy(ret, fpr, P11_WRAP_FPR_LEN);
	err = RB_OK;
out:
	if (err < 0)
		rb_err_set(err, "computing the wrap key fingerprint with OpenSSL (AES key wrap with padding) failed");
	EVP_CIPHER_CTX_free(c);
	EVP_MD_CTX_free(md);
	return err;
}
