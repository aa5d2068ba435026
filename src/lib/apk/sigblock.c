/* The APK Signing Block: it ends exactly where the central directory
 * starts, and both of its size fields must agree, so the block cannot be
 * resized or shifted without the digests noticing (the EoCD copy that is
 * digested points at it). */
#include <stdlib.h>
#include <string.h>

#include "apk/apk-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static const uint8_t sig_block_magic[16] = "APK Sig Block 42";

static int pairs_parse(const char *name, struct apk_sig_block *b)
{
	struct rb_reader r;
	size_t idx = 0;
	int rc;

	/* The pairs sit between the leading size field and the footer. */
	rb_reader_init(&r, b->data + 8, b->len - 8 - APK_SIG_BLOCK_FOOTER);
	while (r.len > 0) {
		uint64_t off = b->offset + 8 + (uint64_t)(r.p - (b->data + 8));
		uint64_t plen;
		uint32_t id;
		const uint8_t *value;

		if ((rc = rb_reader_get_u64le(&r, &plen)) < 0)
			return rb_err_set(rc, "%s: APK Signing Block pair #%zu at offset %llu: truncated length field",
					  name, idx, (unsigned long long)off);
		if (plen < 4 || plen > r.len)
			return rb_err_set(RB_E_PARSE, "%s: APK Signing Block pair #%zu at offset %llu: length %llu outside 4..%zu",
					  name, idx, (unsigned long long)off, (unsigned long long)plen, r.len);
		if ((rc = rb_reader_get_u32le(&r, &id)) < 0 ||
		    (rc = rb_reader_get_bytes(&r, (size_t)plen - 4, &value)) < 0)
			return rc;
		if (id == APK_BLOCK_ID_V2 || id == APK_BLOCK_ID_V3) {
			const uint8_t **slot = id == APK_BLOCK_ID_V2 ? &b->v2 : &b->v3;
			size_t *slot_len = id == APK_BLOCK_ID_V2 ? &b->v2_len : &b->v3_len;

			/* Two blocks of one scheme would let a verifier pick
			 * the other one than Android does. */
			if (*slot)
				return rb_err_set(RB_E_PARSE, "%s: APK Signing Block pair #%zu at offset %llu: second %s block",
						  name, idx, (unsigned long long)off,
						  id == APK_BLOCK_ID_V2 ? "v2" : "v3");
			*slot = value;
			*slot_len = (size_t)plen - 4;
		}
		idx++;
	}
	return 0;
}

int apk_sig_block_read(const struct apk_source *s, const struct apk_zip *z,
		       struct apk_sig_block *ret)
{
	struct apk_sig_block b = { 0 };
	uint8_t footer[APK_SIG_BLOCK_FOOTER];
	const uint8_t *p;
	uint64_t size_footer, size_header, total;
	struct rb_reader r;
	int rc;

	if (z->cd_offset < APK_SIG_BLOCK_FOOTER + 8)
		return rb_err_set(RB_E_NOTFOUND, "%s: no room for an APK Signing Block before the central directory at offset %llu; the APK is not v2/v3-signed",
				  s->name, (unsigned long long)z->cd_offset);
	if ((rc = apk_source_view(s, z->cd_offset - APK_SIG_BLOCK_FOOTER, APK_SIG_BLOCK_FOOTER, footer,
				  &p)) < 0)
		return rc;
	rb_reader_init(&r, p, APK_SIG_BLOCK_FOOTER);
	if ((rc = rb_reader_get_u64le(&r, &size_footer)) < 0)
		return rc;
	if (memcmp(r.p, sig_block_magic, sizeof(sig_block_magic)) != 0)
		return rb_err_set(RB_E_NOTFOUND, "%s: no APK Signing Block magic at offset %llu (just before the central directory); the APK is not v2/v3-signed",
				  s->name, (unsigned long long)(z->cd_offset - 16));
	/* size counts everything after the leading size field. */
	if (size_footer < APK_SIG_BLOCK_FOOTER)
		return rb_err_set(RB_E_PARSE, "%s: APK Signing Block size %llu in the footer at offset %llu is smaller than the footer",
				  s->name, (unsigned long long)size_footer,
				  (unsigned long long)(z->cd_offset - APK_SIG_BLOCK_FOOTER));
	if (size_footer > APK_SIG_BLOCK_MAX_BYTES - 8)
		return rb_err_set(RB_E_TOOBIG, "%s: APK Signing Block size %llu is over the %u-byte cap",
				  s->name, (unsigned long long)size_footer, APK_SIG_BLOCK_MAX_BYTES);
	total = size_footer + 8;
	if (total > z->cd_offset)
		return rb_err_set(RB_E_PARSE, "%s: APK Signing Block of %llu bytes would start before the file (central directory at offset %llu)",
				  s->name, (unsigned long long)total, (unsigned long long)z->cd_offset);
	b.offset = z->cd_offset - total;
	b.len = (size_t)total;
	if (!(b.data = malloc(b.len)))
		return RB_E_NOMEM;
	if ((rc = apk_source_view(s, b.offset, b.len, b.data, &p)) < 0)
		goto fail;
	if (p != b.data)
		memcpy(b.data, p, b.len);
	rb_reader_init(&r, b.data, 8);
	if ((rc = rb_reader_get_u64le(&r, &size_header)) < 0)
		goto fail;
	if (size_header != size_footer) {
		rc = rb_err_set(RB_E_PARSE, "%s: APK Signing Block at offset %llu: leading size %llu and footer size %llu disagree",
				s->name, (unsigned long long)b.offset, (unsigned long long)size_header,
				(unsigned long long)size_footer);
		goto fail;
	}
	if ((rc = pairs_parse(s->name, &b)) < 0)
		goto fail;
	*ret = b;
	return 0;
fail:
	free(b.data);
	return rc;
}

void apk_sig_block_clear(struct apk_sig_block *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}
