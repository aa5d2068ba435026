/* v4 public-key packet bodies and fingerprints (RFC 4880 5.5.2, 12.2;
 * EdDSALegacy as in RFC 9580 5.5.5.5 / draft-koch-eddsa-for-openpgp). */
#include "pgp/pgp-internal.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "util/err.h"
#include "util/encode.h"

/* 1.3.6.1.4.1.11591.15.1 (Ed25519), DER content octets without tag and
 * length, as OpenPGP writes curve OIDs. */
static const uint8_t oid_ed25519[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01 };

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

static void bn_freep(BIGNUM **p)
{
	BN_free(*p);
}

static int put_bn_mpi(struct rb_buf *b, const BIGNUM *bn)
{
	_cleanup_free_ uint8_t *be = NULL;
	int n = BN_num_bytes(bn);

	if (n <= 0)
		return pgp_put_mpi(b, NULL, 0);
	be = malloc((size_t)n);
	if (!be)
		return RB_E_NOMEM;
	if (BN_bn2bin(bn, be) != n)
		return RB_E_CRYPTO;
	return pgp_put_mpi(b, be, (size_t)n);
}

static int key_body_rsa(EVP_PKEY *pub, const char *name, struct rb_buf *b)
{
	_cleanup_(bn_freep) BIGNUM *n = NULL;
	_cleanup_(bn_freep) BIGNUM *e = NULL;
	int bits, err;

	if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		return rb_err_set(RB_E_CRYPTO, "key '%s': cannot read the RSA public key", name);
	bits = BN_num_bits(n);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
		return rb_err_set(RB_E_UNSUPPORTED,
				  "key '%s': RSA-%d is outside the %d..%d bits OpenPGP keys may have",
				  name, bits, RSA_MIN_BITS, RSA_MAX_BITS);
	if (BN_is_zero(e) || !BN_is_odd(e))
		return rb_err_set(RB_E_KEY, "key '%s': invalid RSA public exponent", name);
	if ((err = rb_buf_put_u8(b, PGP_PK_RSA)) < 0 || (err = put_bn_mpi(b, n)) < 0 ||
	    (err = put_bn_mpi(b, e)) < 0)
		return err;
	return RB_OK;
}

static int key_body_ed25519(EVP_PKEY *pub, const char *name, struct rb_buf *b)
{
	uint8_t point[33];
	size_t len = 32;
	int err;

	if (EVP_PKEY_get_raw_public_key(pub, point + 1, &len) != 1 || len != 32)
		return rb_err_set(RB_E_CRYPTO, "key '%s': cannot read the Ed25519 public key", name);
	/* 0x40 marks a native (compressed) point: a 263-bit MPI. */
	point[0] = 0x40;
	if ((err = rb_buf_put_u8(b, PGP_PK_EDDSA_LEGACY)) < 0 ||
	    (err = rb_buf_put_u8(b, sizeof(oid_ed25519))) < 0 ||
	    (err = rb_buf_put(b, oid_ed25519, sizeof(oid_ed25519))) < 0 ||
	    (err = pgp_put_mpi(b, point, sizeof(point))) < 0)
		return err;
	return RB_OK;
}

int pgp_key_new(const struct rb_signer *signer, int64_t creation_time, struct pgp_key **ret)
{
	struct rb_buf body = RB_BUF_INIT;
	struct pgp_key *key = NULL;
	enum rb_key_alg alg;
	const char *name;
	uint8_t hdr[3];
	uint32_t ctime;
	unsigned int mdlen = 0;
	uint8_t fpr[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *md = NULL;
	int err;

	if (!signer || !signer->pub || !ret)
		return RB_E_INVAL;
	name = signer->name ? signer->name : "(unnamed)";
	if ((err = pgp_check_time(creation_time, "key creation time", &ctime)) < 0)
		return err;
	if (rb_pkey_alg(signer->pub, &alg) < 0 || alg != signer->alg)
		return rb_err_set(RB_E_UNSUPPORTED,
				  "key '%s': public key type does not match the signer's algorithm", name);

	body.cap = 65535; /* the fingerprint prefix has a 2-octet length */
	if ((err = rb_buf_put_u8(&body, 4)) < 0 || (err = rb_buf_put_u32be(&body, ctime)) < 0)
		goto out;
	switch (alg) {
	case RB_KEY_RSA:
		err = key_body_rsa(signer->pub, name, &body);
		break;
	case RB_KEY_ED25519:
		err = key_body_ed25519(signer->pub, name, &body);
		break;
	default:
		err = rb_err_set(RB_E_UNSUPPORTED,
				 "key '%s': %s keys are not supported for OpenPGP (use RSA or Ed25519)",
				 name, rb_key_alg_name(alg));
		break;
	}
	if (err < 0)
		goto out;

	/* v4 fingerprint: SHA-1 over 0x99, the 2-octet body length, body. */
	hdr[0] = 0x99;
	hdr[1] = (uint8_t)(body.len >> 8);
	hdr[2] = (uint8_t)body.len;
	md = EVP_MD_CTX_new();
	if (!md) {
		err = RB_E_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(md, hdr, 3) != 1 ||
	    EVP_DigestUpdate(md, body.data, body.len) != 1 ||
	    EVP_DigestFinal_ex(md, fpr, &mdlen) != 1 || mdlen != PGP_FPR_LEN) {
		err = rb_err_set(RB_E_CRYPTO, "key '%s': SHA-1 for the v4 fingerprint failed", name);
		goto out;
	}

	key = calloc(1, sizeof(*key));
	if (!key) {
		err = RB_E_NOMEM;
		goto out;
	}
	key->signer = signer;
	key->algo = alg == RB_KEY_RSA ? PGP_PK_RSA : PGP_PK_EDDSA_LEGACY;
	key->creation_time = ctime;
	memcpy(key->fpr, fpr, PGP_FPR_LEN);
	memcpy(key->keyid, fpr + PGP_FPR_LEN - PGP_KEYID_LEN, PGP_KEYID_LEN);
	key->body = rb_buf_steal(&body, &key->body_len);
	*ret = key;
	err = RB_OK;
out:
	EVP_MD_CTX_free(md);
	rb_buf_free(&body);
	return err;
}

void pgp_key_free(struct pgp_key *key)
{
	if (!key)
		return;
	free(key->body);
	free(key);
}

int pgp_key_fingerprint_hex(const struct pgp_key *key, char **ret)
{
	char *s;

	if (!key || !ret)
		return RB_E_INVAL;
	s = malloc(2 * PGP_FPR_LEN + 1);
	if (!s)
		return RB_E_NOMEM;
	rb_hex_format_upper(key->fpr, PGP_FPR_LEN, s);
	*ret = s;
	return RB_OK;
}

int pgp_key_write_packet(const struct pgp_key *key, struct rb_buf *out)
{
	if (!key || !out)
		return RB_E_INVAL;
	return pgp_put_packet(out, PGP_TAG_PUBLIC_KEY, key->body, key->body_len);
}
