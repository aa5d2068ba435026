#include "x509/der.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"

void der_writer_init(struct der_writer *w, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf.cap = cap;
}

void der_writer_free(struct der_writer *w)
{
	if (!w)
		return;
	rb_buf_free(&w->buf);
	w->depth = 0;
}

/* Record the first failure so later calls become no-ops that repeat it. */
static int fail(struct der_writer *w, int err)
{
	if (w->err == 0)
		w->err = err;
	return w->err;
}

static int put(struct der_writer *w, const void *p, size_t n)
{
	int err;

	if (w->err)
		return w->err;
	if ((err = rb_buf_put(&w->buf, p, n)) < 0)
		return fail(w, err);
	return RB_OK;
}

size_t der_encode_length(size_t len, uint8_t out[9])
{
	size_t n = 0, i;

	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	/* Long form: 0x80 | count, then the length big-endian without leading
	 * zero bytes (X.690 10.1 requires the minimum number of octets). */
	for (size_t v = len; v; v >>= 8)
		n++;
	out[0] = (uint8_t)(0x80 | n);
	for (i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return 1 + n;
}

static int check_tag(struct der_writer *w, uint8_t tag)
{
	if ((tag & 0x1f) == 0x1f)
		return fail(w, rb_err_set(RB_E_INVAL, "der: high tag numbers are not supported"));
	return RB_OK;
}

int der_put_tlv(struct der_writer *w, uint8_t tag, const void *content, size_t len)
{
	uint8_t l[9];
	size_t ln;
	int err;

	if (w->err)
		return w->err;
	if ((err = check_tag(w, tag)) < 0)
		return err;
	if (len && !content)
		return fail(w, RB_E_INVAL);
	ln = der_encode_length(len, l);
	/* Reserve the whole element first so a failure leaves no partial TLV. */
	if (len > SIZE_MAX - 1 - ln)
		return fail(w, RB_E_TOOBIG);
	if ((err = rb_buf_reserve(&w->buf, 1 + ln + len)) < 0)
		return fail(w, err);
	put(w, &tag, 1);
	put(w, l, ln);
	return put(w, content, len);
}

int der_put_raw(struct der_writer *w, const void *p, size_t len)
{
	return put(w, p, len);
}

int der_begin(struct der_writer *w, uint8_t tag)
{
	int err;

	if (w->err)
		return w->err;
	if ((err = check_tag(w, tag)) < 0)
		return err;
	if (w->depth >= DER_MAX_DEPTH)
		return fail(w, rb_err_set(RB_E_LIMIT, "der: nesting deeper than %d",
					  DER_MAX_DEPTH));
	if ((err = put(w, &tag, 1)) < 0)
		return err;
	w->open[w->depth++] = w->buf.len;
	return RB_OK;
}

int der_end(struct der_writer *w)
{
	uint8_t l[9];
	size_t start, clen, ln;
	int err;

	if (w->err)
		return w->err;
	if (w->depth == 0)
		return fail(w, rb_err_set(RB_E_STATE, "der: der_end() without der_begin()"));
	start = w->open[w->depth - 1];
	clen = w->buf.len - start;
	ln = der_encode_length(clen, l);
	/* Slide the content up to make room for the length. The buffer's cap
	 * applies to the finished encoding, so reserve through it. */
	if ((err = rb_buf_reserve(&w->buf, ln)) < 0)
		return fail(w, err);
	memmove(w->buf.data + start + ln, w->buf.data + start, clen);
	memcpy(w->buf.data + start, l, ln);
	w->buf.len += ln;
	w->depth--;
	return RB_OK;
}

int der_writer_finish(struct der_writer *w, uint8_t **ret, size_t *ret_len)
{
	size_t n;
	uint8_t *p;

	if (w->err)
		return w->err;
	if (w->depth != 0)
		return fail(w, rb_err_set(RB_E_STATE, "der: %zu element(s) still open",
					  w->depth));
	if (w->buf.len == 0)
		return fail(w, rb_err_set(RB_E_STATE, "der: nothing was written"));
	p = rb_buf_steal(&w->buf, &n);
	*ret = p;
	*ret_len = n;
	return RB_OK;
}

int der_put_uint_bytes(struct der_writer *w, const uint8_t *be, size_t len)
{
	int err;

	if (w->err)
		return w->err;
	if (!be || len == 0)
		return fail(w, RB_E_INVAL);
	/* Keep one byte so zero encodes as 02 01 00. */
	while (len > 1 && be[0] == 0) {
		be++;
		len--;
	}
	if (be[0] & 0x80) {
		uint8_t hdr[1 + 9 + 1];
		size_t ln;

		if (len > SIZE_MAX / 2)
			return fail(w, RB_E_TOOBIG);
		ln = der_encode_length(len + 1, hdr + 1);
		hdr[0] = DER_INTEGER;
		hdr[1 + ln] = 0x00; /* the sign byte: the value is non-negative */
		if ((err = rb_buf_reserve(&w->buf, 2 + ln + len)) < 0)
			return fail(w, err);
		put(w, hdr, 2 + ln);
		return put(w, be, len);
	}
	return der_put_tlv(w, DER_INTEGER, be, len);
}

int der_put_uint(struct der_writer *w, uint64_t v)
{
	uint8_t be[8];

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(v >> (56 - 8 * i));
	return der_put_uint_bytes(w, be, sizeof(be));
}

/* Parse one decimal arc with no sign, no leading zero and no overflow. */
static int oid_arc(const char **s, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return RB_E_INVAL;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return RB_E_INVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return RB_E_INVAL;
		v = v * 10 + d;
	}
	*s = p;
	*ret = v;
	return RB_OK;
}

/* Base-128, most significant group first, high bit set on all but the
 * last byte (X.690 8.19.2). */
static size_t oid_put_arc(uint64_t v, uint8_t out[10])
{
	uint8_t tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (uint8_t)(v & 0x7f);
		v >>= 7;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
	return n;
}

int der_put_oid(struct der_writer *w, const char *dotted)
{
	/* No OID in this code base comes near 64 bytes of content. */
	uint8_t content[64];
	size_t clen = 0;
	uint64_t a0, a1, arc;
	const char *s = dotted;

	if (w->err)
		return w->err;
	if (!s || oid_arc(&s, &a0) < 0 || a0 > 2 || *s++ != '.' || oid_arc(&s, &a1) < 0)
		goto bad;
	if (a0 < 2 && a1 >= 40)
		goto bad;
	if (a1 > UINT64_MAX - 80)
		goto bad;
	clen += oid_put_arc(a0 * 40 + a1, content);
	while (*s) {
		if (*s++ != '.' || oid_arc(&s, &arc) < 0)
			goto bad;
		if (clen + 10 > sizeof(content))
			return fail(w, rb_err_set(RB_E_TOOBIG, "der: OID %s is too long", dotted));
		clen += oid_put_arc(arc, content + clen);
	}
	return der_put_tlv(w, DER_OID, content, clen);
bad:
	return fail(w, rb_err_set(RB_E_INVAL, "der: '%s' is not a canonical dotted OID",
				  dotted ? dotted : "(null)"));
}

int der_put_bit_string(struct der_writer *w, const uint8_t *p, size_t len,
		       unsigned unused_bits)
{
	uint8_t hdr[1 + 9 + 1];
	size_t ln;
	int err;

	if (w->err)
		return w->err;
	if (unused_bits > 7 || (len == 0 && unused_bits != 0) || (len && !p) ||
	    (len && (p[len - 1] & ((1u << unused_bits) - 1)) != 0))
		return fail(w, rb_err_set(RB_E_INVAL, "der: bad BIT STRING padding"));
	if (len > SIZE_MAX / 2)
		return fail(w, RB_E_TOOBIG);
	ln = der_encode_length(len + 1, hdr + 1);
	hdr[0] = DER_BIT_STRING;
	hdr[1 + ln] = (uint8_t)unused_bits;
	if ((err = rb_buf_reserve(&w->buf, 2 + ln + len)) < 0)
		return fail(w, err);
	put(w, hdr, 2 + ln);
	return put(w, p, len);
}

int der_put_octet_string(struct der_writer *w, const void *p, size_t len)
{
	return der_put_tlv(w, DER_OCTET_STRING, p, len);
}

int der_put_boolean(struct der_writer *w, bool v)
{
	/* DER: TRUE is exactly 0xff (X.690 11.1). */
	uint8_t b = v ? 0xff : 0x00;

	return der_put_tlv(w, DER_BOOLEAN, &b, 1);
}

int der_put_null(struct der_writer *w)
{
	return der_put_tlv(w, DER_NULL, NULL, 0);
}

int der_put_time(struct der_writer *w, time_t t)
{
	struct tm tm;
	char s[16];
	long long year;
	int n;

	if (w->err)
		return w->err;
	if (!gmtime_r(&t, &tm))
		return fail(w, rb_err_set(RB_E_INVAL, "der: time %lld is out of range",
					  (long long)t));
	year = (long long)tm.tm_year + 1900;
	if (year < 0 || year > 9999)
		return fail(w, rb_err_set(RB_E_INVAL, "der: year %lld cannot be encoded", year));
	/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050;
	 * UTCTime's two-digit year means 1950..2049, so earlier years need
	 * GeneralizedTime too. Seconds are always present, no fractions (DER). */
	if (year >= 1950 && year <= 2049) {
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", (int)(year % 100),
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		return der_put_tlv(w, DER_UTC_TIME, s, (size_t)n);
	}
	n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", (int)year, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return der_put_tlv(w, DER_GENERALIZED_TIME, s, (size_t)n);
}
