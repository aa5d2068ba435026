/* v4 signature packets (RFC 4880 5.2.3, 5.2.4) made through an rb_signer. */
#include "pgp/pgp-internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/objects.h>

#include "util/err.h"

enum {
	SIG_CTX_EMPTY = 0,
	SIG_CTX_ACTIVE = 1,
	SIG_CTX_SPENT = 2,
};

#define SIGN_FD_CHUNK (64u * 1024)

const EVP_MD *pgp_hash_md(enum pgp_hash_algo hash)
{
	switch (hash) {
	case PGP_HASH_SHA256:
		return EVP_sha256();
	case PGP_HASH_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

int pgp_key_scheme(const struct pgp_key *key, enum pgp_hash_algo hash, enum rb_sig_scheme *ret)
{
	switch (key->algo) {
	case PGP_PK_RSA:
		if (hash == PGP_HASH_SHA256) {
			*ret = RB_SIG_RSA_PKCS1_SHA256;
			return RB_OK;
		}
		if (hash == PGP_HASH_SHA512) {
			*ret = RB_SIG_RSA_PKCS1_SHA512;
			return RB_OK;
		}
		break;
	case PGP_PK_EDDSA_LEGACY:
		/* EdDSALegacy signs the digest bytes as the Ed25519 message;
		 * the hash must be at least 256 bits (RFC 9580 5.2.3.3). */
		if (hash == PGP_HASH_SHA256 || hash == PGP_HASH_SHA512) {
			*ret = RB_SIG_ED25519;
			return RB_OK;
		}
		break;
	}
	return rb_err_set(RB_E_UNSUPPORTED, "OpenPGP hash algorithm %d is not supported (use SHA-256 or SHA-512)",
			  (int)hash);
}

int pgp_check_time(int64_t t, const char *what, uint32_t *ret)
{
	/* v4 timestamps are unsigned 32-bit: refuse rather than wrap. */
	if (t < 0 || t > (int64_t)UINT32_MAX)
		return rb_err_set(RB_E_INVAL, "%s %lld does not fit an OpenPGP v4 timestamp (0..%u)",
				  what, (long long)t, UINT32_MAX);
	*ret = (uint32_t)t;
	return RB_OK;
}

int pgp_sig_start(struct pgp_sig_ctx *ctx, const struct pgp_key *key, enum pgp_sig_type type,
		  enum pgp_hash_algo hash, int64_t sig_time, const uint8_t *extra,
		  size_t extra_len)
{
	struct rb_buf sub = RB_BUF_INIT;
	enum rb_sig_scheme scheme;
	uint8_t t[4], ifpr[1 + PGP_FPR_LEN];
	uint32_t stime;
	int err;

	if (!ctx)
		return RB_E_INVAL;
	memset(ctx, 0, sizeof(*ctx));
	if (!key || !key->signer || (!extra && extra_len))
		return RB_E_INVAL;
	if ((err = pgp_key_scheme(key, hash, &scheme)) < 0)
		return err;
	if ((err = pgp_check_time(sig_time, "signature time", &stime)) < 0)
		return err;
	/* gpg and sq reject a signature older than its key. */
	if (stime < key->creation_time)
		return rb_err_set(RB_E_INVAL,
				  "signature time %u is before the key's creation time %u: check the clock and the key manifest",
				  stime, key->creation_time);

	t[0] = (uint8_t)(stime >> 24);
	t[1] = (uint8_t)(stime >> 16);
	t[2] = (uint8_t)(stime >> 8);
	t[3] = (uint8_t)stime;
	ifpr[0] = 4;
	memcpy(ifpr + 1, key->fpr, PGP_FPR_LEN);
	sub.cap = 65535; /* 2-octet subpacket area length */
	/* Creation time is critical: every implementation knows it, and a
	 * verifier that ignored it could not order the signature. */
	if ((err = pgp_put_subpacket(&sub, PGP_SUB_CREATION_TIME, true, t, 4)) < 0 ||
	    (err = pgp_put_subpacket(&sub, PGP_SUB_ISSUER_FPR, false, ifpr, sizeof(ifpr))) < 0 ||
	    (err = rb_buf_put(&sub, extra, extra_len)) < 0)
		goto fail;

	ctx->hashed.cap = 6 + 65535;
	if ((err = rb_buf_put_u8(&ctx->hashed, 4)) < 0 ||
	    (err = rb_buf_put_u8(&ctx->hashed, (uint8_t)type)) < 0 ||
	    (err = rb_buf_put_u8(&ctx->hashed, (uint8_t)key->algo)) < 0 ||
	    (err = rb_buf_put_u8(&ctx->hashed, (uint8_t)hash)) < 0 ||
	    (err = rb_buf_put_u16be(&ctx->hashed, (uint16_t)sub.len)) < 0 ||
	    (err = rb_buf_put(&ctx->hashed, sub.data, sub.len)) < 0)
		goto fail;

	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md) {
		err = RB_E_NOMEM;
		goto fail;
	}
	if (EVP_DigestInit_ex(ctx->md, pgp_hash_md(hash), NULL) != 1) {
		err = rb_err_set(RB_E_CRYPTO, "OpenPGP signature: cannot initialise the hash");
		goto fail;
	}
	ctx->key = key;
	ctx->type = type;
	ctx->hash = hash;
	ctx->state = SIG_CTX_ACTIVE;
	rb_buf_free(&sub);
	return RB_OK;
fail:
	rb_buf_free(&sub);
	pgp_sig_ctx_clear(ctx);
	return err;
}

int pgp_sig_init(struct pgp_sig_ctx *ctx, const struct pgp_key *key, enum pgp_sig_type type,
		 enum pgp_hash_algo hash, int64_t sig_time)
{
	if (ctx)
		memset(ctx, 0, sizeof(*ctx));
	/* Certifications are made only by pgp_cert_write, which derives the
	 * key and user ID it certifies itself. */
	if (type != PGP_SIG_BINARY && type != PGP_SIG_TEXT)
		return rb_err_set(RB_E_INVAL,
				  "OpenPGP signature type 0x%02x is not a document signature", (unsigned)type);
	return pgp_sig_start(ctx, key, type, hash, sig_time, NULL, 0);
}

int pgp_sig_init_from_state(struct pgp_sig_ctx *ctx, const struct pgp_key *key,
			    const EVP_MD_CTX *state, int64_t sig_time)
{
	enum pgp_hash_algo hash;
	const EVP_MD *md;
	int err;

	if (ctx)
		memset(ctx, 0, sizeof(*ctx));
	if (!state || !(md = EVP_MD_CTX_get0_md(state)))
		return rb_err_set(RB_E_INVAL, "OpenPGP signature: hash state is not initialised");
	switch (EVP_MD_get_type(md)) {
	case NID_sha256:
		hash = PGP_HASH_SHA256;
		break;
	case NID_sha512:
		hash = PGP_HASH_SHA512;
		break;
	default:
		return rb_err_set(RB_E_UNSUPPORTED,
				  "OpenPGP signature: hash state uses %s; only SHA-256 and SHA-512 are accepted",
				  EVP_MD_get0_name(md));
	}
	if ((err = pgp_sig_start(ctx, key, PGP_SIG_BINARY, hash, sig_time, NULL, 0)) < 0)
		return err;
	if (EVP_MD_CTX_copy_ex(ctx->md, state) != 1) {
		pgp_sig_ctx_clear(ctx);
		return rb_err_set(RB_E_CRYPTO, "OpenPGP signature: cannot copy the hash state");
	}
	return RB_OK;
}

int pgp_sig_update(struct pgp_sig_ctx *ctx, const void *data, size_t len)
{
	int err;

	if (!ctx || ctx->state != SIG_CTX_ACTIVE)
		return RB_E_STATE;
	if (!data && len)
		return RB_E_INVAL;
	if (len == 0)
		return RB_OK;
	if (ctx->type == PGP_SIG_TEXT) {
		if ((err = pgp_text_update(ctx->md, &ctx->text_cr, data, len)) < 0) {
			/* A half-converted stream can never be signed. */
			ctx->state = SIG_CTX_SPENT;
			return err;
		}
		return RB_OK;
	}
	if (EVP_DigestUpdate(ctx->md, data, len) != 1) {
		ctx->state = SIG_CTX_SPENT;
		return RB_E_CRYPTO;
	}
	return RB_OK;
}

EVP_MD_CTX *pgp_sig_md(struct pgp_sig_ctx *ctx)
{
	if (!ctx || ctx->state != SIG_CTX_ACTIVE || ctx->type != PGP_SIG_BINARY)
		return NULL;
	return ctx->md;
}

int pgp_sig_hash_trailer(EVP_MD_CTX *md, const uint8_t *hashed, size_t hashed_len,
			 uint8_t *digest, size_t *ret_len)
{
	uint8_t tr[6] = { 4, 0xff, (uint8_t)(hashed_len >> 24), (uint8_t)(hashed_len >> 16),
			  (uint8_t)(hashed_len >> 8), (uint8_t)hashed_len };
	unsigned int n = 0;

	if (EVP_DigestUpdate(md, hashed, hashed_len) != 1 || EVP_DigestUpdate(md, tr, 6) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &n) != 1)
		return RB_E_CRYPTO;
	*ret_len = n;
	return RB_OK;
}

static int sig_put_mpis(struct rb_buf *b, const struct pgp_key *key, const uint8_t *sig,
			size_t siglen)
{
	int err;

	switch (key->algo) {
	case PGP_PK_RSA:
		/* One MPI: m^d mod n. A leading zero octet (1 in 256
		 * signatures) is dropped; verifiers pad it back. */
		if (siglen != (size_t)EVP_PKEY_get_size(key->signer->pub))
			return rb_err_set(RB_E_CRYPTO,
					  "key '%s': signer returned %zu bytes, not the modulus length",
					  key->signer->name, siglen);
		return pgp_put_mpi(b, sig, siglen);
	case PGP_PK_EDDSA_LEGACY:
		/* Two MPIs, r and s, each with its own leading zeros
		 * stripped (a zero top octet is common: ~1 in 128). */
		if (siglen != 64)
			return rb_err_set(RB_E_CRYPTO, "key '%s': signer returned a %zu-byte Ed25519 signature",
					  key->signer->name, siglen);
		if ((err = pgp_put_mpi(b, sig, 32)) < 0)
			return err;
		return pgp_put_mpi(b, sig + 32, 32);
	}
	return RB_E_UNSUPPORTED;
}

int pgp_sig_finish(struct pgp_sig_ctx *ctx, struct rb_buf *out)
{
	_cleanup_md_ctx_ EVP_MD_CTX *before = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	struct rb_buf body = RB_BUF_INIT, pkt = RB_BUF_INIT;
	const struct pgp_key *key;
	enum rb_sig_scheme scheme;
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t dlen = 0, siglen = 0;
	int err;

	if (!ctx || ctx->state != SIG_CTX_ACTIVE)
		return RB_E_STATE;
	if (!out)
		return RB_E_INVAL;
	ctx->state = SIG_CTX_SPENT;
	key = ctx->key;
	if (ctx->type == PGP_SIG_TEXT && ctx->text_cr)
		return rb_err_set(RB_E_INVAL,
				  "canonical text signature: the data ends with a CR not followed by LF; sign it as binary");
	if ((err = pgp_key_scheme(key, ctx->hash, &scheme)) < 0)
		return err;

	/* Keep the state before the trailer so the finished packet can be
	 * re-verified from its own bytes. */
	before = EVP_MD_CTX_new();
	if (!before)
		return RB_E_NOMEM;
	if (EVP_MD_CTX_copy_ex(before, ctx->md) != 1)
		return RB_E_CRYPTO;
	if ((err = pgp_sig_hash_trailer(ctx->md, ctx->hashed.data, ctx->hashed.len, digest, &dlen)) < 0)
		return rb_err_set(err, "OpenPGP signature: hashing failed");

	if ((err = rb_signer_sign(key->signer, scheme, digest, dlen, &sig, &siglen)) < 0)
		return err;

	if ((err = rb_buf_put(&body, ctx->hashed.data, ctx->hashed.len)) < 0)
		goto out;
	/* Unhashed: issuer key ID, for verifiers that predate subpacket 33. */
	if ((err = rb_buf_put_u16be(&body, 1 + 1 + PGP_KEYID_LEN)) < 0 ||
	    (err = pgp_put_subpacket(&body, PGP_SUB_ISSUER_KEYID, false, key->keyid,
				     PGP_KEYID_LEN)) < 0 ||
	    (err = rb_buf_put(&body, digest, 2)) < 0 ||
	    (err = sig_put_mpis(&body, key, sig, siglen)) < 0)
		goto out;
	if ((err = pgp_put_packet(&pkt, PGP_TAG_SIGNATURE, body.data, body.len)) < 0)
		goto out;

	/* Signing discipline: what leaves here has been parsed back and
	 * verified against the public key, not just produced. */
	if ((err = pgp_sig_verify_state(key, pkt.data, pkt.len, before, ctx->type)) < 0) {
		err = rb_err_set(RB_E_VERIFY,
				 "key '%s': the OpenPGP signature just made does not verify (%s); not releasing it",
				 key->signer->name, rb_strerror(err));
		goto out;
	}
	err = rb_buf_put(out, pkt.data, pkt.len);
out:
	rb_buf_free(&body);
	rb_buf_free(&pkt);
	return err;
}

void pgp_sig_ctx_clear(struct pgp_sig_ctx *ctx)
{
	if (!ctx)
		return;
	EVP_MD_CTX_free(ctx->md);
	rb_buf_free(&ctx->hashed);
	memset(ctx, 0, sizeof(*ctx));
}

int pgp_sign_buffer(const struct pgp_key *key, enum pgp_sig_type type, enum pgp_hash_algo hash,
		    int64_t sig_time, const void *data, size_t len, struct rb_buf *out)
{
	_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx ctx = { 0 };
	int err;

	if ((err = pgp_sig_init(&ctx, key, type, hash, sig_time)) < 0 ||
	    (err = pgp_sig_update(&ctx, data, len)) < 0)
		return err;
	return pgp_sig_finish(&ctx, out);
}

int pgp_sign_fd(const struct pgp_key *key, enum pgp_sig_type type, enum pgp_hash_algo hash,
		int64_t sig_time, int fd, struct rb_buf *out)
{
	_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx ctx = { 0 };
	_cleanup_free_ uint8_t *chunk = NULL;
	int err;

	if (fd < 0)
		return RB_E_INVAL;
	if ((err = pgp_sig_init(&ctx, key, type, hash, sig_time)) < 0)
		return err;
	chunk = malloc(SIGN_FD_CHUNK);
	if (!chunk)
		return RB_E_NOMEM;
	for (;;) {
		ssize_t n = read(fd, chunk, SIGN_FD_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rb_err_set(RB_E_IO, "OpenPGP signature: reading the data to sign failed: %s",
					  strerror(errno));
		}
		if (n == 0)
			break;
		if ((err = pgp_sig_update(&ctx, chunk, (size_t)n)) < 0)
			return err;
	}
	return pgp_sig_finish(&ctx, out);
}
