#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/secret.h"

int rb_reader_get_bytes(struct rb_reader *r, size_t n, const uint8_t **ret)
{
	/* A detail of its own, so that a parser that passes the error up
	 * bare still says what went wrong (its caller names the input). */
	if (n > r->len)
		return rb_err_set(RB_E_PARSE, "truncated: %zu more bytes expected, %zu left", n, r->len);
	*ret = r->p;
	r->p += n;
	r->len -= n;
	return RB_OK;
}

int rb_reader_copy(struct rb_reader *r, void *dst, size_t n)
{
	const uint8_t *p;
	int err = rb_reader_get_bytes(r, n, &p);

	if (err == RB_OK && n)
		memcpy(dst, p, n);
	return err;
}

int rb_reader_skip(struct rb_reader *r, size_t n)
{
	const uint8_t *p;

	return rb_reader_get_bytes(r, n, &p);
}

int rb_reader_get_u8(struct rb_reader *r, uint8_t *ret)
{
	return rb_reader_copy(r, ret, 1);
}

int rb_reader_peek_u8(const struct rb_reader *r, uint8_t *ret)
{
	if (r->len < 1)
		return rb_err_set(RB_E_PARSE, "truncated: the data ends where a byte is expected");
	*ret = r->p[0];
	return RB_OK;
}

int rb_reader_get_u16be(struct rb_reader *r, uint16_t *ret)
{
	const uint8_t *p;
	int err = rb_reader_get_bytes(r, 2, &p);

	if (err == RB_OK)
		*ret = (uint16_t)((p[0] << 8) | p[1]);
	return err;
}

int rb_reader_get_u32be(struct rb_reader *r, uint32_t *ret)
{
	const uint8_t *p;
	int err = rb_reader_get_bytes(r, 4, &p);

	if (err == RB_OK)
		*ret = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		       ((uint32_t)p[2] << 8) | p[3];
	return err;
}

int rb_reader_get_u16le(struct rb_reader *r, uint16_t *ret)
{
	const uint8_t *p;
	int err = rb_reader_get_bytes(r, 2, &p);

	if (err == RB_OK)
		*ret = (uint16_t)(p[0] | (p[1] << 8));
	return err;
}

int rb_reader_get_u32le(struct rb_reader *r, uint32_t *ret)
{
	const uint8_t *p;
	int err = rb_reader_get_bytes(r, 4, &p);

	if (err == RB_OK)
		*ret = p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
		       ((uint32_t)p[3] << 24);
	return err;
}

int rb_reader_get_u64le(struct rb_reader *r, uint64_t *ret)
{
	uint32_t lo, hi;
	struct rb_reader save = *r;
	int err;

	if ((err = rb_reader_get_u32le(r, &lo)) < 0 ||
	    (err = rb_reader_get_u32le(r, &hi)) < 0) {
		*r = save;
		return err;
	}
	*ret = ((uint64_t)hi << 32) | lo;
	return RB_OK;
}

int rb_reader_expect_end(const struct rb_reader *r)
{
	return r->len == 0 ? RB_OK : rb_err_set(RB_E_PARSE, "%zu bytes of trailing data", r->len);
}

int rb_buf_reserve(struct rb_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : RB_BUF_DEFAULT_CAP;
	size_t want, n;
	uint8_t *p;

	if (extra > cap || b->len > cap - extra)
		return RB_E_TOOBIG;
	want = b->len + extra + 1; /* room for rb_buf_terminate() */
	if (want <= b->alloc)
		return RB_OK;
	n = b->alloc ? b->alloc : 64;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	/* Never realloc(): the old block may hold secrets and must be wiped. */
	p = malloc(n);
	if (!p)
		return RB_E_NOMEM;
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data) {
		rb_wipe(b->data, b->alloc);
		free(b->data);
	}
	b->data = p;
	b->alloc = n;
	return RB_OK;
}

int rb_buf_put(struct rb_buf *b, const void *p, size_t n)
{
	int err = rb_buf_reserve(b, n);

	if (err < 0)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return RB_OK;
}

int rb_buf_put_u8(struct rb_buf *b, uint8_t v)
{
	return rb_buf_put(b, &v, 1);
}

int rb_buf_put_u16be(struct rb_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return rb_buf_put(b, x, 2);
}

int rb_buf_put_u32be(struct rb_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	return rb_buf_put(b, x, 4);
}

int rb_buf_put_str(struct rb_buf *b, const char *s)
{
	return rb_buf_put(b, s, strlen(s));
}

int rb_buf_printf(struct rb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return RB_E_INVAL;
	if ((err = rb_buf_reserve(b, (size_t)n)) < 0)
		return err;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return RB_OK;
}

int rb_buf_terminate(struct rb_buf *b)
{
	int err = rb_buf_reserve(b, 0);

	if (err < 0)
		return err;
	b->data[b->len] = '\0';
	return RB_OK;
}

uint8_t *rb_buf_steal(struct rb_buf *b, size_t *ret_len)
{
	uint8_t *p = b->data;

	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = b->alloc = 0;
	return p;
}

void rb_buf_free(struct rb_buf *b)
{
	if (!b)
		return;
	if (b->data) {
		rb_wipe(b->data, b->alloc);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->alloc = 0;
}
