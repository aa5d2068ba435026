/* Bounds-checked reader and growable writer.
 *
 * All parsing of untrusted bytes in rombsr goes through struct rb_reader:
 * every get checks the remaining length first and returns RB_E_PARSE on a
 * short read, leaving the reader unchanged. Parsers finish with
 * rb_reader_expect_end() so trailing data is rejected.
 *
 * struct rb_buf is a growable byte buffer for building output. It has a
 * hard cap (set at init) so a runaway writer fails with RB_E_TOOBIG instead
 * of eating memory. rb_buf_free() wipes before freeing, so a buffer may hold
 * secrets. The buffer owns its storage; rb_buf_steal() hands it over.
 */
#ifndef ROMBSR_UTIL_BUF_H
#define ROMBSR_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rb_reader {
	const uint8_t *p;
	size_t len; /* bytes remaining */
};

static inline void rb_reader_init(struct rb_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
}

int rb_reader_get_u8(struct rb_reader *r, uint8_t *ret);
int rb_reader_get_u16be(struct rb_reader *r, uint16_t *ret);
int rb_reader_get_u32be(struct rb_reader *r, uint32_t *ret);
int rb_reader_get_u16le(struct rb_reader *r, uint16_t *ret);
int rb_reader_get_u32le(struct rb_reader *r, uint32_t *ret);
int rb_reader_get_u64le(struct rb_reader *r, uint64_t *ret);
/* Point *ret at the next n bytes (no copy) and advance. */
int rb_reader_get_bytes(struct rb_reader *r, size_t n, const uint8_t **ret);
int rb_reader_copy(struct rb_reader *r, void *dst, size_t n);
int rb_reader_skip(struct rb_reader *r, size_t n);
int rb_reader_peek_u8(const struct rb_reader *r, uint8_t *ret);
/* RB_E_PARSE unless the reader is exhausted. */
int rb_reader_expect_end(const struct rb_reader *r);

#define RB_BUF_DEFAULT_CAP (64u * 1024 * 1024)

struct rb_buf {
	uint8_t *data;
	size_t len;
	size_t alloc;
	size_t cap; /* maximum len; 0 means RB_BUF_DEFAULT_CAP */
};

#define RB_BUF_INIT { NULL, 0, 0, 0 }

int rb_buf_reserve(struct rb_buf *b, size_t extra);
int rb_buf_put(struct rb_buf *b, const void *p, size_t n);
int rb_buf_put_u8(struct rb_buf *b, uint8_t v);
int rb_buf_put_u16be(struct rb_buf *b, uint16_t v);
int rb_buf_put_u32be(struct rb_buf *b, uint32_t v);
int rb_buf_put_str(struct rb_buf *b, const char *s);
int rb_buf_printf(struct rb_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* NUL-terminate without counting the NUL in len (for use as a C string). */
int rb_buf_terminate(struct rb_buf *b);
/* Hand the storage to the caller (caller frees with free()); b is reset. */
uint8_t *rb_buf_steal(struct rb_buf *b, size_t *ret_len);
/* Wipe and free the storage; b is reset. Accepts an empty buffer. */
void rb_buf_free(struct rb_buf *b);

#endif
