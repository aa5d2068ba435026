/* OpenPGP packet framing, MPIs and subpackets (RFC 4880 3.2, 4.2, 5.2.3.1). */
#include "pgp/pgp-internal.h"

#include <string.h>

#include "util/err.h"

int pgp_put_length(struct rb_buf *b, size_t len)
{
	uint8_t x[5];
	size_t n;

	if (len < 192) {
		x[0] = (uint8_t)len;
		n = 1;
	} else if (len < 8384) {
		/* Two octets cover 192..8383: ((o1 - 192) << 8) + o2 + 192. */
		len -= 192;
		x[0] = (uint8_t)((len >> 8) + 192);
		x[1] = (uint8_t)(len & 0xff);
		n = 2;
	} else if (len <= UINT32_MAX) {
		x[0] = 0xff;
		x[1] = (uint8_t)(len >> 24);
		x[2] = (uint8_t)(len >> 16);
		x[3] = (uint8_t)(len >> 8);
		x[4] = (uint8_t)len;
		n = 5;
	} else {
		return rb_err_set(RB_E_TOOBIG, "OpenPGP packet of %zu bytes exceeds the 4 GiB format limit",
				  len);
	}
	return rb_buf_put(b, x, n);
}

int pgp_put_packet(struct rb_buf *b, enum pgp_tag tag, const uint8_t *body, size_t len)
{
	size_t save = b->len;
	int err;

	if ((unsigned)tag > 63)
		return RB_E_INVAL;
	/* Always the new format (bit 6 set): it is the only one that can
	 * encode every tag and every length, and all our verifiers read it. */
	if ((err = rb_buf_put_u8(b, (uint8_t)(0xc0 | tag))) < 0 ||
	    (err = pgp_put_length(b, len)) < 0 || (err = rb_buf_put(b, body, len)) < 0) {
		b->len = save;
		return err;
	}
	return RB_OK;
}

int pgp_put_mpi(struct rb_buf *b, const uint8_t *be, size_t len)
{
	size_t save = b->len;
	unsigned bits, top;
	int err;

	while (len > 0 && be[0] == 0) {
		be++;
		len--;
	}
	if (len > PGP_MPI_MAX_BITS / 8)
		return rb_err_set(RB_E_TOOBIG, "OpenPGP MPI of %zu bytes exceeds %u bits", len,
				  PGP_MPI_MAX_BITS);
	bits = 0;
	if (len > 0) {
		for (top = be[0]; top; top >>= 1)
			bits++;
		bits += (unsigned)(len - 1) * 8;
	}
	if ((err = rb_buf_put_u16be(b, (uint16_t)bits)) < 0 || (err = rb_buf_put(b, be, len)) < 0) {
		b->len = save;
		return err;
	}
	return RB_OK;
}

int pgp_put_subpacket(struct rb_buf *b, uint8_t type, bool critical, const uint8_t *data,
		      size_t len)
{
	size_t save = b->len;
	int err;

	if (type & PGP_SUB_CRITICAL || len > 65535)
		return RB_E_INVAL;
	/* The length counts the type octet. */
	if ((err = pgp_put_length(b, len + 1)) < 0 ||
	    (err = rb_buf_put_u8(b, (uint8_t)(type | (critical ? PGP_SUB_CRITICAL : 0)))) < 0 ||
	    (err = rb_buf_put(b, data, len)) < 0) {
		b->len = save;
		return err;
	}
	return RB_OK;
}

int pgp_get_packet(struct rb_reader *r, uint8_t *ret_tag, const uint8_t **ret_body,
		   size_t *ret_len)
{
	struct rb_reader save = *r;
	const uint8_t *body;
	uint8_t hdr, o1, o2;
	uint16_t l16;
	uint32_t l32;
	size_t len;
	uint8_t tag;
	int err;

	if ((err = rb_reader_get_u8(r, &hdr)) < 0)
		goto bad;
	if (!(hdr & 0x80))
		goto bad;
	if (hdr & 0x40) {
		tag = hdr & 0x3f;
		if ((err = rb_reader_get_u8(r, &o1)) < 0)
			goto bad;
		if (o1 < 192) {
			len = o1;
		} else if (o1 < 224) {
			if ((err = rb_reader_get_u8(r, &o2)) < 0)
				goto bad;
			len = ((size_t)(o1 - 192) << 8) + o2 + 192;
		} else if (o1 == 255) {
			if ((err = rb_reader_get_u32be(r, &l32)) < 0)
				goto bad;
			len = l32;
		} else {
			/* Partial body lengths only occur in streamed data
			 * packets, never in keys or signatures. */
			*r = save;
			return RB_E_UNSUPPORTED;
		}
	} else {
		tag = (hdr >> 2) & 0x0f;
		switch (hdr & 3) {
		case 0:
			if ((err = rb_reader_get_u8(r, &o1)) < 0)
				goto bad;
			len = o1;
			break;
		case 1:
			if ((err = rb_reader_get_u16be(r, &l16)) < 0)
				goto bad;
			len = l16;
			break;
		case 2:
			if ((err = rb_reader_get_u32be(r, &l32)) < 0)
				goto bad;
			len = l32;
			break;
		default:
			*r = save;
			return RB_E_UNSUPPORTED; /* indeterminate length */
		}
	}
	if (tag == 0 || (err = rb_reader_get_bytes(r, len, &body)) < 0)
		goto bad;
	*ret_tag = tag;
	*ret_body = body;
	*ret_len = len;
	return RB_OK;
bad:
	*r = save;
	return RB_E_PARSE;
}

int pgp_get_subpacket_length(struct rb_reader *r, size_t *ret)
{
	struct rb_reader save = *r;
	uint8_t o1, o2;
	uint32_t l32;

	if (rb_reader_get_u8(r, &o1) < 0)
		return RB_E_PARSE;
	if (o1 < 192) {
		*ret = o1;
		return RB_OK;
	}
	if (o1 < 255) {
		if (rb_reader_get_u8(r, &o2) < 0) {
			*r = save;
			return RB_E_PARSE;
		}
		*ret = ((size_t)(o1 - 192) << 8) + o2 + 192;
		return RB_OK;
	}
	if (rb_reader_get_u32be(r, &l32) < 0) {
		*r = save;
		return RB_E_PARSE;
	}
	*ret = l32;
	return RB_OK;
}

int pgp_get_mpi(struct rb_reader *r, const uint8_t **ret, size_t *ret_len)
{
	struct rb_reader save = *r;
	const uint8_t *p;
	uint16_t bits;
	size_t n;
	unsigned topbits = 0, top;

	if (rb_reader_get_u16be(r, &bits) < 0)
		return RB_E_PARSE;
	if (bits > PGP_MPI_MAX_BITS)
		goto bad;
	n = ((size_t)bits + 7) / 8;
	if (rb_reader_get_bytes(r, n, &p) < 0)
		goto bad;
	/* Canonical only: the bit count must match the top byte exactly, so
	 * one integer has one encoding. */
	if (n > 0) {
		for (top = p[0]; top; top >>= 1)
			topbits++;
		if (topbits == 0 || (n - 1) * 8 + topbits != bits)
			goto bad;
	}
	*ret = p;
	*ret_len = n;
	return RB_OK;
bad:
	*r = save;
	return RB_E_PARSE;
}
