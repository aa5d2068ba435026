/* ZIP structure an APK verifier needs: the End of Central Directory
 * record and where the central directory is. Entries themselves are not
 * parsed; the content digests cover them byte for byte. */
#include <string.h>

#include "apk/apk-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP64_LOCATOR_LEN 20
#define ZIP_CD_ENTRY_SIG 0x02014b50u

struct eocd_fields {
	uint16_t disk, cd_disk, entries_disk, entries, comment_len;
	uint32_t cd_size, cd_offset;
};

static int eocd_decode(const uint8_t *p, size_t len, struct eocd_fields *f)
{
	struct rb_reader r;
	uint32_t sig;
	int rc;

	rb_reader_init(&r, p, len);
	if ((rc = rb_reader_get_u32le(&r, &sig)) < 0 || (rc = rb_reader_get_u16le(&r, &f->disk)) < 0 ||
	    (rc = rb_reader_get_u16le(&r, &f->cd_disk)) < 0 ||
	    (rc = rb_reader_get_u16le(&r, &f->entries_disk)) < 0 ||
	    (rc = rb_reader_get_u16le(&r, &f->entries)) < 0 ||
	    (rc = rb_reader_get_u32le(&r, &f->cd_size)) < 0 ||
	    (rc = rb_reader_get_u32le(&r, &f->cd_offset)) < 0 ||
	    (rc = rb_reader_get_u16le(&r, &f->comment_len)) < 0)
		return rc;
	return sig == ZIP_EOCD_SIG ? 0 : RB_E_NOTFOUND;
}

/* Scan back from the end for a record whose comment ends exactly at the
 * end of the file, shortest comment first, as Android's verifier does:
 * bytes inside a comment that look like a record cannot be chosen over the
 * real one unless their length field also reaches the end of the file. */
static int eocd_locate(const uint8_t *tail, size_t tail_len, size_t *ret_pos,
		       struct eocd_fields *ret)
{
	for (size_t comment = 0; comment + APK_EOCD_MIN <= tail_len && comment <= 65535; comment++) {
		size_t pos = tail_len - APK_EOCD_MIN - comment;
		struct eocd_fields f;

		if (eocd_decode(tail + pos, APK_EOCD_MIN, &f) == 0 && f.comment_len == comment) {
			*ret_pos = pos;
			*ret = f;
			return 0;
		}
	}
	return RB_E_NOTFOUND;
}

int apk_zip_find(const struct apk_source *s, struct apk_zip *ret)
{
	_cleanup_free_ uint8_t *scratch = NULL;
	const uint8_t *tail, *p;
	size_t tail_len, pos;
	struct eocd_fields f;
	uint64_t eocd_off;
	uint32_t sig;
	struct rb_reader r;
	int rc;

	if (s->size < APK_EOCD_MIN)
		return rb_err_set(RB_E_PARSE, "%s: %llu bytes is too short for a ZIP file (End of Central Directory is 22 bytes)",
				  s->name, (unsigned long long)s->size);
	tail_len = s->size < APK_EOCD_MAX ? (size_t)s->size : APK_EOCD_MAX;
	if (!s->mem && !(scratch = malloc(tail_len)))
		return RB_E_NOMEM;
	if ((rc = apk_source_view(s, s->size - tail_len, tail_len, scratch, &tail)) < 0)
		return rc;
	if (eocd_locate(tail, tail_len, &pos, &f) < 0)
		return rb_err_set(RB_E_NOTFOUND, "%s: no ZIP End of Central Directory record in the last %zu bytes; not a ZIP/APK file, or truncated",
				  s->name, tail_len);
	eocd_off = s->size - tail_len + pos;

	if (f.disk != 0 || f.cd_disk != 0 || f.entries_disk != f.entries)
		return rb_err_set(RB_E_UNSUPPORTED, "%s: EoCD at offset %llu describes a multi-disk archive; APKs are single files",
				  s->name, (unsigned long long)eocd_off);
	if (f.entries == 0xffff || f.cd_size == 0xffffffffu || f.cd_offset == 0xffffffffu)
		return rb_err_set(RB_E_UNSUPPORTED, "%s: EoCD at offset %llu defers to ZIP64 fields; ZIP64 APKs are not supported",
				  s->name, (unsigned long long)eocd_off);
	if (eocd_off >= ZIP64_LOCATOR_LEN) {
		uint8_t four[4];

		if ((rc = apk_source_view(s, eocd_off - ZIP64_LOCATOR_LEN, 4, four, &p)) < 0)
			return rc;
		rb_reader_init(&r, p, 4);
		if (rb_reader_get_u32le(&r, &sig) == 0 && sig == ZIP64_LOCATOR_SIG)
			return rb_err_set(RB_E_UNSUPPORTED, "%s: ZIP64 End of Central Directory locator at offset %llu; ZIP64 APKs are not supported",
					  s->name, (unsigned long long)(eocd_off - ZIP64_LOCATOR_LEN));
	}
	/* The v2/v3 digests assume the central directory ends where the EoCD
	 * starts; anything between would be covered by neither. */
	if ((uint64_t)f.cd_offset + f.cd_size != eocd_off)
		return rb_err_set(RB_E_PARSE, "%s: central directory (offset %u, size %u) does not end at the EoCD (offset %llu); the EoCD offset field is wrong or the file was altered",
				  s->name, f.cd_offset, f.cd_size, (unsigned long long)eocd_off);
	if (f.entries == 0 || f.cd_size < 46)
		return rb_err_set(RB_E_PARSE, "%s: the central directory at offset %u is empty; an APK has entries",
				  s->name, f.cd_offset);
	{
		uint8_t four[4];

		if ((rc = apk_source_view(s, f.cd_offset, 4, four, &p)) < 0)
			return rc;
		rb_reader_init(&r, p, 4);
		if (rb_reader_get_u32le(&r, &sig) < 0 || sig != ZIP_CD_ENTRY_SIG)
			return rb_err_set(RB_E_PARSE, "%s: no central directory header at offset %u (the EoCD's central directory offset); the EoCD is wrong or the file was altered",
					  s->name, f.cd_offset);
	}

	ret->cd_offset = f.cd_offset;
	ret->cd_size = f.cd_size;
	ret->eocd_offset = eocd_off;
	ret->eocd_len = tail_len - pos;
	memcpy(ret->eocd, tail + pos, ret->eocd_len);
	return 0;
}
