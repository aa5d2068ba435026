/* ASCII armor (RFC 4880 6.2, RFC 9580 6.2) with the CRC-24 checksum. */
#include "pgp/pgp-internal.h"

#include <string.h>

#include "util/encode.h"
#include "util/err.h"

#define ARMOR_COLUMNS 64
/* RFC 9580 6.2: armored lines MUST NOT exceed 76 characters. */
#define ARMOR_LINE_MAX 76

uint32_t pgp_crc24(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xb704ce;

	while (n--) {
		crc ^= (uint32_t)*p++ << 16;
		for (int i = 0; i < 8; i++) {
			crc <<= 1;
			if (crc & 0x1000000)
				crc ^= 0x1864cfb;
		}
	}
	return crc & 0xffffff;
}

static bool armor_type_valid(const char *type)
{
	/* A fixed list: the type lands verbatim in the BEGIN/END lines. */
	static const char *const types[] = { PGP_ARMOR_SIGNATURE, PGP_ARMOR_PUBLIC_KEY,
					     PGP_ARMOR_MESSAGE };

	if (!type)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

int pgp_armor(const char *type, const uint8_t *data, size_t len, struct rb_buf *out)
{
	_cleanup_free_ char *b64 = NULL;
	_cleanup_free_ char *crc64 = NULL;
	struct rb_buf tmp = RB_BUF_INIT;
	uint32_t crc;
	uint8_t crcb[3];
	size_t n, i;
	int err;

	if (!out || (!data && len))
		return RB_E_INVAL;
	if (!armor_type_valid(type))
		return rb_err_set(RB_E_INVAL, "armor: unknown armor type '%s'", type ? type : "(null)");
	if ((err = rb_base64_encode(data, len, true, &b64)) < 0)
		return err;
	crc = pgp_crc24(data, len);
	crcb[0] = (uint8_t)(crc >> 16);
	crcb[1] = (uint8_t)(crc >> 8);
	crcb[2] = (uint8_t)crc;
	if ((err = rb_base64_encode(crcb, 3, true, &crc64)) < 0)
		return err;

	tmp.cap = out->cap;
	/* No "Version:" or other header: they are unsigned, and gpg and sq
	 * need none. The empty line ends the (empty) header block. */
	if ((err = rb_buf_printf(&tmp, "-----BEGIN %s-----\n\n", type)) < 0)
		goto out;
	n = strlen(b64);
	for (i = 0; i < n; i += ARMOR_COLUMNS) {
		size_t l = n - i < ARMOR_COLUMNS ? n - i : ARMOR_COLUMNS;

		if ((err = rb_buf_put(&tmp, b64 + i, l)) < 0 || (err = rb_buf_put_u8(&tmp, '\n')) < 0)
			goto out;
	}
	if ((err = rb_buf_printf(&tmp, "=%s\n-----END %s-----\n", crc64, type)) < 0)
		goto out;
	err = rb_buf_put(out, tmp.data, tmp.len);
out:
	rb_buf_free(&tmp);
	return err;
}

/* Next line without its terminator; a trailing CR and trailing blanks are
 * dropped (RFC 4880 6.2 lets armor lines carry trailing whitespace). */
static int armor_next_line(struct rb_reader *r, const char **ret, size_t *ret_len)
{
	const uint8_t *nl, *p;
	size_t n, take;

	if (r->len == 0)
		return RB_E_PARSE;
	nl = memchr(r->p, '\n', r->len);
	n = nl ? (size_t)(nl - r->p) : r->len;
	take = nl ? n + 1 : n;
	if (rb_reader_get_bytes(r, take, &p) < 0)
		return RB_E_PARSE;
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*ret = (const char *)p;
	*ret_len = n;
	return RB_OK;
}

static bool line_is(const char *line, size_t n, const char *what, const char *type)
{
	size_t wl = strlen(what), tl = strlen(type);

	return n == 5 + wl + tl + 5 && memcmp(line, "-----", 5) == 0 &&
	       memcmp(line + 5, what, wl) == 0 && memcmp(line + 5 + wl, type, tl) == 0 &&
	       memcmp(line + 5 + wl + tl, "-----", 5) == 0;
}

int pgp_dearmor(const char *type, const char *text, size_t len, struct rb_buf *out)
{
	_cleanup_free_ uint8_t *bin = NULL;
	_cleanup_free_ uint8_t *crcb = NULL;
	struct rb_buf b64 = RB_BUF_INIT;
	struct rb_reader r;
	const char *line;
	size_t n, binlen = 0, crclen = 0;
	bool have_crc = false;
	int err;

	if (!text || !out)
		return RB_E_INVAL;
	if (!armor_type_valid(type))
		return rb_err_set(RB_E_INVAL, "dearmor: unknown armor type '%s'", type ? type : "(null)");
	if (len > RB_BUF_DEFAULT_CAP)
		return rb_err_set(RB_E_TOOBIG, "dearmor: %zu bytes of armor exceed the %u byte cap", len,
				  RB_BUF_DEFAULT_CAP);
	rb_reader_init(&r, text, len);
	b64.cap = len; /* the base64 text can only shrink */

	if (armor_next_line(&r, &line, &n) < 0 || !line_is(line, n, "BEGIN ", type)) {
		err = rb_err_set(RB_E_PARSE, "dearmor: expected '-----BEGIN %s-----' on the first line",
				 type);
		goto out;
	}
	/* Armor headers ("Key: value") up to the empty line; their content is
	 * not signed, so it is skipped, but the syntax is still checked. */
	for (;;) {
		if (armor_next_line(&r, &line, &n) < 0) {
			err = rb_err_set(RB_E_PARSE, "dearmor: missing empty line after the armor headers");
			goto out;
		}
		if (n == 0)
			break;
		if (n > ARMOR_LINE_MAX || !memmem(line, n, ": ", 2)) {
			err = rb_err_set(RB_E_PARSE, "dearmor: malformed armor header line");
			goto out;
		}
	}
	for (;;) {
		if (armor_next_line(&r, &line, &n) < 0) {
			err = rb_err_set(RB_E_PARSE, "dearmor: missing '-----END %s-----' line", type);
			goto out;
		}
		if (line_is(line, n, "END ", type))
			break;
		if (have_crc) {
			err = rb_err_set(RB_E_PARSE, "dearmor: data after the checksum line");
			goto out;
		}
		if (n > ARMOR_LINE_MAX) {
			err = rb_err_set(RB_E_PARSE, "dearmor: armor line longer than %d characters",
					 ARMOR_LINE_MAX);
			goto out;
		}
		if (n == 5 && line[0] == '=') {
			if (rb_base64_decode(line + 1, 4, true, &crcb, &crclen) < 0 || crclen != 3) {
				err = rb_err_set(RB_E_PARSE, "dearmor: malformed checksum line");
				goto out;
			}
			have_crc = true;
			continue;
		}
		if ((err = rb_buf_put(&b64, line, n)) < 0)
			goto out;
	}
	/* Only blank lines may follow. */
	while (r.len > 0) {
		if (armor_next_line(&r, &line, &n) < 0 || n != 0) {
			err = rb_err_set(RB_E_PARSE, "dearmor: trailing data after the END line");
			goto out;
		}
	}
	if ((err = rb_base64_decode(b64.len ? (const char *)b64.data : "", b64.len, true, &bin,
				    &binlen)) < 0) {
		err = rb_err_set(RB_E_PARSE, "dearmor: invalid base64 in the armor body");
		goto out;
	}
	if (have_crc) {
		uint32_t want = (uint32_t)crcb[0] << 16 | (uint32_t)crcb[1] << 8 | crcb[2];

		if (pgp_crc24(bin, binlen) != want) {
			err = rb_err_set(RB_E_VERIFY, "dearmor: CRC-24 checksum mismatch: armor is corrupt");
			goto out;
		}
	}
	err = rb_buf_put(out, bin, binlen);
out:
	rb_buf_free(&b64);
	return err;
}
