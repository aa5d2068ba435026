/* Portable SHA-256 / SHA-512 midstates (docs/formats/request.md, "Hash
 * state").
 *
 * OpenSSL 3 has no API to export or load the chaining value of a hash:
 * providers keep it private. The low-level SHA256_CTX / SHA512_CTX are the
 * only way, and they are deprecated, hence OPENSSL_SUPPRESS_DEPRECATED in
 * this one file. We feed those contexts whole blocks only and keep the
 * unprocessed tail ourselves, so the only fields we touch are the public
 * chaining words h[] and the bit counters Nl/Nh; the layout of OpenSSL's
 * internal block buffer never matters.
 *
 * For pgp_sig_init_from_state(), which copies an EVP_MD_CTX and switches
 * on its digest's NID, we register a legacy EVP_MD (EVP_MD_meth_new) with
 * NID_sha256 / NID_sha512 whose callbacks drive the same low-level
 * contexts. A legacy digest keeps its state in EVP_MD_CTX_md_data(), which
 * is exactly an SHA*_CTX (app_datasize), so a loaded state can be placed
 * there and every later EVP_DigestUpdate / EVP_MD_CTX_copy_ex /
 * EVP_DigestFinal_ex works as with OpenSSL's own SHA-2.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "request/hash_state.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>

#include "json/json.h"
#include "request/request-internal.h"
#include "util/err.h"

#define HS_MAX_BLOCK 128
#define HS_FD_CHUNK (64u * 1024)

struct hash_state {
	enum hash_state_alg alg;
	union {
		SHA256_CTX s256;
		SHA512_CTX s512;
	} c; /* has absorbed exactly length - tail_len bytes, whole blocks */
	uint64_t length;
	uint8_t tail[HS_MAX_BLOCK];
	size_t tail_len;
};

const char *hash_state_alg_name(enum hash_state_alg alg)
{
	switch (alg) {
	case HASH_STATE_SHA256:
		return "sha256";
	case HASH_STATE_SHA512:
		return "sha512";
	}
	return NULL;
}

int hash_state_alg_from_name(const char *name, enum hash_state_alg *ret)
{
	if (name && strcmp(name, "sha256") == 0)
		*ret = HASH_STATE_SHA256;
	else if (name && strcmp(name, "sha512") == 0)
		*ret = HASH_STATE_SHA512;
	else
		return RB_E_PARSE;
	return RB_OK;
}

size_t hash_state_digest_len(enum hash_state_alg alg)
{
	return alg == HASH_STATE_SHA256 ? 32 : alg == HASH_STATE_SHA512 ? 64 : 0;
}

size_t hash_state_block_len(enum hash_state_alg alg)
{
	return alg == HASH_STATE_SHA256 ? 64 : alg == HASH_STATE_SHA512 ? 128 : 0;
}

static void hs_absorb_blocks(struct hash_state *st, const uint8_t *p, size_t n)
{
	if (st->alg == HASH_STATE_SHA256)
		SHA256_Update(&st->c.s256, p, n);
	else
		SHA512_Update(&st->c.s512, p, n);
}

int hash_state_new(enum hash_state_alg alg, struct hash_state **ret)
{
	struct hash_state *st;

	if (!ret || !hash_state_block_len(alg))
		return RB_E_INVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return RB_E_NOMEM;
	st->alg = alg;
	if (alg == HASH_STATE_SHA256)
		SHA256_Init(&st->c.s256);
	else
		SHA512_Init(&st->c.s512);
	*ret = st;
	return RB_OK;
}

int hash_state_update(struct hash_state *st, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t block, take;

	if (!st || (!data && len))
		return RB_E_INVAL;
	if (len > HASH_STATE_MAX_LENGTH - st->length)
		return rb_err_set(RB_E_TOOBIG, "hash state: more than %llu bytes",
				  (unsigned long long)HASH_STATE_MAX_LENGTH);
	block = hash_state_block_len(st->alg);
	st->length += len;
	if (st->tail_len) {
		take = block - st->tail_len < len ? block - st->tail_len : len;
		memcpy(st->tail + st->tail_len, p, take);
		st->tail_len += take;
		p += take;
		len -= take;
		if (st->tail_len < block)
			return RB_OK;
		hs_absorb_blocks(st, st->tail, block);
		st->tail_len = 0;
	}
	take = len - len % block;
	if (take)
		hs_absorb_blocks(st, p, take);
	memcpy(st->tail, p + take, len - take);
	st->tail_len = len - take;
	return RB_OK;
}

int hash_state_update_fd(struct hash_state *st, int fd)
{
	_cleanup_free_ uint8_t *buf = malloc(HS_FD_CHUNK);
	ssize_t n;
	int err;

	if (!buf)
		return RB_E_NOMEM;
	for (;;) {
		n = read(fd, buf, HS_FD_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_err_set(RB_E_IO, "hash state: read failed: %s", strerror(errno));
		if (n == 0)
			return RB_OK;
		if ((err = hash_state_update(st, buf, (size_t)n)) < 0)
			return err;
	}
}

int hash_state_copy(const struct hash_state *st, struct hash_state **ret)
{
	struct hash_state *c;

	if (!st || !ret)
		return RB_E_INVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return RB_E_NOMEM;
	memcpy(c, st, sizeof(*c));
	*ret = c;
	return RB_OK;
}

void hash_state_free(struct hash_state *st)
{
	if (!st)
		return;
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

enum hash_state_alg hash_state_get_alg(const struct hash_state *st)
{
	return st ? st->alg : 0;
}

uint64_t hash_state_get_length(const struct hash_state *st)
{
	return st ? st->length : 0;
}

int hash_state_final(const struct hash_state *st, uint8_t *out, size_t *ret_len)
{
	struct hash_state c;

	if (!st || !out)
		return RB_E_INVAL;
	c = *st;
	if (c.alg == HASH_STATE_SHA256) {
		SHA256_Update(&c.c.s256, c.tail, c.tail_len);
		SHA256_Final(out, &c.c.s256);
	} else {
		SHA512_Update(&c.c.s512, c.tail, c.tail_len);
		SHA512_Final(out, &c.c.s512);
	}
	OPENSSL_cleanse(&c, sizeof(c));
	if (ret_len)
		*ret_len = hash_state_digest_len(st->alg);
	return RB_OK;
}

/* The chaining words, big-endian: 32 bytes for SHA-256, 64 for SHA-512. */
static size_t hs_words_len(enum hash_state_alg alg)
{
	return alg == HASH_STATE_SHA256 ? 32 : 64;
}

static void hs_get_words(const struct hash_state *st, uint8_t *out)
{
	for (int i = 0; i < 8; i++) {
		if (st->alg == HASH_STATE_SHA256) {
			uint32_t w = st->c.s256.h[i];

			for (int j = 0; j < 4; j++)
				out[4 * i + j] = (uint8_t)(w >> (24 - 8 * j));
		} else {
			uint64_t w = st->c.s512.h[i];

			for (int j = 0; j < 8; j++)
				out[8 * i + j] = (uint8_t)(w >> (56 - 8 * j));
		}
	}
}

/* Load chaining words into a freshly initialised context and set its bit
 * counter to the bytes it has absorbed (always whole blocks, num = 0). */
static void hs_set_words(struct hash_state *st, const uint8_t *in, uint64_t absorbed)
{
	uint64_t bits = absorbed * 8; /* absorbed < 2^61: no overflow */

	for (int i = 0; i < 8; i++) {
		if (st->alg == HASH_STATE_SHA256) {
			uint32_t w = 0;

			for (int j = 0; j < 4; j++)
				w = w << 8 | in[4 * i + j];
			st->c.s256.h[i] = w;
		} else {
			uint64_t w = 0;

			for (int j = 0; j < 8; j++)
				w = w << 8 | in[8 * i + j];
			st->c.s512.h[i] = w;
		}
	}
	if (st->alg == HASH_STATE_SHA256) {
		st->c.s256.Nl = (SHA_LONG)bits;
		st->c.s256.Nh = (SHA_LONG)(bits >> 32);
	} else {
		st->c.s512.Nl = bits;
		st->c.s512.Nh = 0;
	}
}

int hash_state_to_json(const struct hash_state *st, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	uint8_t words[64];
	int err;

	if (!st || !ret)
		return RB_E_INVAL;
	hs_get_words(st, words);
	if ((err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "alg", hash_state_alg_name(st->alg))) < 0 ||
	    (err = rq_set_hex(o, "h", words, hs_words_len(st->alg))) < 0 ||
	    (err = json_object_set_int(o, "length", (int64_t)st->length)) < 0 ||
	    (err = rq_set_b64(o, "tail", st->tail, st->tail_len)) < 0)
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

int hash_state_from_json(const struct json_value *v, struct hash_state **ret)
{
	static const char *const keys[] = { "alg", "h", "length", "tail", NULL };
	_cleanup_(hash_state_freep) struct hash_state *st = NULL, *fresh = NULL;
	_cleanup_free_ uint8_t *tail = NULL;
	uint8_t words[64], iv[64];
	enum hash_state_alg alg;
	const char *s;
	size_t tail_len, block;
	int64_t length;
	int err;

	if ((err = json_expect_type(v, JSON_OBJECT)) < 0 ||
	    (err = json_object_check_keys(v, keys, NULL)) < 0 ||
	    (err = json_get_string(v, "alg", &s)) < 0)
		return err;
	if (hash_state_alg_from_name(s, &alg) < 0)
		return json_err_set(json_object_get(v, "alg"), RB_E_PARSE,
				    "alg must be \"sha256\" or \"sha512\"");
	block = hash_state_block_len(alg);
	if ((err = rq_get_hex(v, "h", words, hs_words_len(alg))) < 0 ||
	    (err = json_get_int_range(v, "length", 0, (int64_t)HASH_STATE_MAX_LENGTH, &length)) < 0 ||
	    (err = rq_get_b64(v, "tail", 0, block - 1, &tail, &tail_len)) < 0)
		return err;
	if ((uint64_t)length % block != tail_len)
		return json_err_set(json_object_get(v, "tail"), RB_E_PARSE,
				    "tail is %zu bytes, but length %lld leaves %llu bytes after the "
				    "last whole %zu-byte block", tail_len, (long long)length,
				    (unsigned long long)((uint64_t)length % block), block);
	if ((err = hash_state_new(alg, &st)) < 0 || (err = hash_state_new(alg, &fresh)) < 0)
		return err;
	/* Before the first whole block the chaining value can only be the
	 * initial one; anything else is a forged or corrupted state. */
	hs_get_words(fresh, iv);
	if ((uint64_t)length < block && memcmp(words, iv, hs_words_len(alg)) != 0)
		return json_err_set(json_object_get(v, "h"), RB_E_PARSE,
				    "h must be the %s initial value while length is under one block",
				    hash_state_alg_name(alg));
	hs_set_words(st, words, (uint64_t)length - tail_len);
	memcpy(st->tail, tail, tail_len);
	st->tail_len = tail_len;
	st->length = (uint64_t)length;
	*ret = TAKE_PTR(st);
	return RB_OK;
}

/* ---- the EVP_MD bridge --------------------------------------------------- */

static int md256_init(EVP_MD_CTX *ctx)
{
	return SHA256_Init(EVP_MD_CTX_md_data(ctx));
}

static int md256_update(EVP_MD_CTX *ctx, const void *data, size_t len)
{
	return SHA256_Update(EVP_MD_CTX_md_data(ctx), data, len);
}

static int md256_final(EVP_MD_CTX *ctx, unsigned char *md)
{
	return SHA256_Final(md, EVP_MD_CTX_md_data(ctx));
}

static int md512_init(EVP_MD_CTX *ctx)
{
	return SHA512_Init(EVP_MD_CTX_md_data(ctx));
}

static int md512_update(EVP_MD_CTX *ctx, const void *data, size_t len)
{
	return SHA512_Update(EVP_MD_CTX_md_data(ctx), data, len);
}

static int md512_final(EVP_MD_CTX *ctx, unsigned char *md)
{
	return SHA512_Final(md, EVP_MD_CTX_md_data(ctx));
}

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha512;

static EVP_MD *md_make(int nid, int size, int block, int ctx_size, int (*init)(EVP_MD_CTX *),
		       int (*update)(EVP_MD_CTX *, const void *, size_t),
		       int (*final)(EVP_MD_CTX *, unsigned char *))
{
	EVP_MD *md = EVP_MD_meth_new(nid, NID_undef);

	if (!md)
		return NULL;
	if (EVP_MD_meth_set_result_size(md, size) != 1 ||
	    EVP_MD_meth_set_input_blocksize(md, block) != 1 ||
	    EVP_MD_meth_set_app_datasize(md, ctx_size) != 1 || EVP_MD_meth_set_init(md, init) != 1 ||
	    EVP_MD_meth_set_update(md, update) != 1 || EVP_MD_meth_set_final(md, final) != 1) {
		EVP_MD_meth_free(md);
		return NULL;
	}
	return md;
}

/* Made once and kept for the life of the process: every EVP_MD_CTX made
 * from it, and every copy of one, points at it. */
static void md_once_init(void)
{
	md_sha256 = md_make(NID_sha256, SHA256_DIGEST_LENGTH, SHA256_CBLOCK, sizeof(SHA256_CTX),
			    md256_init, md256_update, md256_final);
	md_sha512 = md_make(NID_sha512, SHA512_DIGEST_LENGTH, SHA512_CBLOCK, sizeof(SHA512_CTX),
			    md512_init, md512_update, md512_final);
}

int hash_state_md_ctx(const struct hash_state *st, EVP_MD_CTX **ret)
{
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
	void *data;

	if (!st || !ret)
		return RB_E_INVAL;
	if (pthread_once(&md_once, md_once_init) != 0)
		return rb_err_set(RB_E_CRYPTO, "hash state: cannot set up the SHA-2 digest");
	md = st->alg == HASH_STATE_SHA256 ? md_sha256 : md_sha512;
	if (!md)
		return rb_err_set(RB_E_CRYPTO, "hash state: OpenSSL refused the SHA-2 digest");
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return RB_E_NOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || !(data = EVP_MD_CTX_md_data(ctx))) {
		EVP_MD_CTX_free(ctx);
		return rb_err_set(RB_E_CRYPTO, "hash state: cannot initialise the SHA-2 digest");
	}
	if (st->alg == HASH_STATE_SHA256)
		memcpy(data, &st->c.s256, sizeof(SHA256_CTX));
	else
		memcpy(data, &st->c.s512, sizeof(SHA512_CTX));
	if (st->tail_len && EVP_DigestUpdate(ctx, st->tail, st->tail_len) != 1) {
		EVP_MD_CTX_free(ctx);
		return rb_err_set(RB_E_CRYPTO, "hash state: cannot load the SHA-2 state");
	}
	*ret = ctx;
	return RB_OK;
}
