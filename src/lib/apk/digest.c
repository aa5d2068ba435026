/* The v2/v3 content digest: the file as three sections - the ZIP entries
 * before the signing block, the central directory, and the EoCD with its
 * central directory offset pointing at the signing block - cut into 1 MiB
 * chunks (never across sections). Each chunk digest is
 * H(0xa5 || u32le len || chunk); the result is
 * H(0x5a || u32le count || chunk digests). The chunk count is known from
 * the section sizes, so the top-level hash is streamed too and memory use
 * does not grow with the file. */
#include <string.h>

#include "apk/apk-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

struct chunk_hasher {
	const EVP_MD *md;
	EVP_MD_CTX *top;
	EVP_MD_CTX *chunk;
};

static void le32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)v;
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)(v >> 16);
	out[3] = (uint8_t)(v >> 24);
}

static int hasher_init(struct chunk_hasher *h, const EVP_MD *md, uint32_t count)
{
	uint8_t prefix[5] = { 0x5a };

	h->md = md;
	if (!(h->top = EVP_MD_CTX_new()) || !(h->chunk = EVP_MD_CTX_new()))
		return RB_E_NOMEM;
	le32(prefix + 1, count);
	if (EVP_DigestInit_ex(h->top, md, NULL) != 1 || EVP_DigestUpdate(h->top, prefix, 5) != 1)
		return RB_E_CRYPTO;
	return 0;
}

static int hasher_chunk(struct chunk_hasher *h, const uint8_t *p, size_t len)
{
	uint8_t prefix[5] = { 0xa5 }, d[EVP_MAX_MD_SIZE];
	unsigned dlen;

	le32(prefix + 1, (uint32_t)len);
	if (EVP_DigestInit_ex(h->chunk, h->md, NULL) != 1 || EVP_DigestUpdate(h->chunk, prefix, 5) != 1 ||
	    EVP_DigestUpdate(h->chunk, p, len) != 1 || EVP_DigestFinal_ex(h->chunk, d, &dlen) != 1 ||
	    EVP_DigestUpdate(h->top, d, dlen) != 1)
		return RB_E_CRYPTO;
	return 0;
}

static void hasher_clear(struct chunk_hasher *h)
{
	EVP_MD_CTX_free(h->top);
	EVP_MD_CTX_free(h->chunk);
	h->top = h->chunk = NULL;
}

static uint64_t chunks_of(uint64_t len)
{
	return len / APK_CHUNK_BYTES + (len % APK_CHUNK_BYTES != 0);
}

struct section {
	uint64_t off;
	uint64_t len;
	const uint8_t *mem; /* in memory already (the rewritten EoCD), else NULL */
};

int apk_digest_compute(const struct apk_source *s, const struct apk_zip *z,
		       uint64_t sig_block_offset, bool want256, bool want512, uint8_t out256[32],
		       uint8_t out512[64])
{
	struct chunk_hasher h[2] = { 0 };
	_cleanup_free_ uint8_t *scratch = NULL;
	uint8_t eocd[APK_EOCD_MAX];
	struct section sec[3];
	uint64_t count = 0;
	unsigned n = 0;
	int rc = 0;

	if (sig_block_offset > 0xffffffffu || z->eocd_len < APK_EOCD_MIN)
		return RB_E_INVAL;
	/* The signing block is not digested; the EoCD is digested as if the
	 * central directory started where the signing block does. */
	memcpy(eocd, z->eocd, z->eocd_len);
	le32(eocd + 16, (uint32_t)sig_block_offset);
	sec[0] = (struct section){ 0, sig_block_offset, NULL };
	sec[1] = (struct section){ z->cd_offset, z->cd_size, NULL };
	sec[2] = (struct section){ 0, z->eocd_len, eocd };
	for (size_t i = 0; i < 3; i++)
		count += chunks_of(sec[i].len);
	if (count > 0xffffffffu)
		return rb_err_set(RB_E_TOOBIG, "%s: %llu chunks to digest", s->name, (unsigned long long)count);

	if (!s->mem && !(scratch = malloc(APK_CHUNK_BYTES)))
		return RB_E_NOMEM;
	if (want256 && (rc = hasher_init(&h[n++], EVP_sha256(), (uint32_t)count)) < 0)
		goto out;
	if (want512 && (rc = hasher_init(&h[n++], EVP_sha512(), (uint32_t)count)) < 0)
		goto out;

	for (size_t i = 0; i < 3; i++) {
		for (uint64_t done = 0; done < sec[i].len;) {
			size_t len = sec[i].len - done > APK_CHUNK_BYTES ? APK_CHUNK_BYTES
									 : (size_t)(sec[i].len - done);
			const uint8_t *p;

			if (sec[i].mem)
				p = sec[i].mem + done;
			else if ((rc = apk_source_view(s, sec[i].off + done, len, scratch, &p)) < 0)
				goto out;
			for (unsigned k = 0; k < n; k++)
				if ((rc = hasher_chunk(&h[k], p, len)) < 0)
					goto out;
			done += len;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		uint8_t *dst = h[k].md == EVP_sha256() ? out256 : out512;

		if (EVP_DigestFinal_ex(h[k].top, dst, NULL) != 1) {
			rc = RB_E_CRYPTO;
			goto out;
		}
	}
out:
	for (unsigned k = 0; k < 2; k++)
		hasher_clear(&h[k]);
	if (rc == RB_E_CRYPTO)
		rb_err_set(rc, "%s: OpenSSL failed computing the content digest", s->name);
	return rc;
}
