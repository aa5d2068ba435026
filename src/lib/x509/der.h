/* A minimal DER writer: just enough ASN.1 to build X.509 certificates.
 *
 * There is no DER *reader* here on purpose: rombsr never parses
 * certificates itself; OpenSSL (d2i_X509) checks what this writer made.
 *
 * Nesting: der_begin() opens a constructed element (SEQUENCE, SET, a
 * context tag, or an OCTET STRING that wraps DER, as extnValue does) and
 * der_end() closes the innermost one, inserting its definite length. The
 * content is written first and the length slid in afterwards, so the
 * caller never computes a length by hand.
 *
 * Errors are sticky: once a call fails, every later call does nothing and
 * returns the same error, and der_writer_finish() reports it. A builder may
 * therefore check each call, or only the finish - either is correct.
 *
 * Ownership: the writer owns its buffer. der_writer_finish() hands it to
 * the caller (free() it); der_writer_free() wipes and frees whatever is left
 * and accepts a writer that was finished, failed, or never used.
 *
 * Only low tag numbers (0..30) exist in X.509, so the high-tag-number form
 * is rejected rather than supported.
 */
#ifndef ROMBSR_X509_DER_H
#define ROMBSR_X509_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"

#define DER_BOOLEAN 0x01
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_UTF8_STRING 0x0c
#define DER_PRINTABLE_STRING 0x13
#define DER_IA5_STRING 0x16
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_SEQUENCE 0x30
#define DER_SET 0x31
/* [n] IMPLICIT on a primitive, and [n] EXPLICIT / constructed. */
#define DER_CONTEXT(n) ((uint8_t)(0x80 | (n)))
#define DER_CONTEXT_CONS(n) ((uint8_t)(0xa0 | (n)))

/* Deep enough for a certificate (7 levels: Certificate, TBS, [3],
 * Extensions, Extension, extnValue, AuthorityKeyIdentifier) with room. */
#define DER_MAX_DEPTH 16

struct der_writer {
	struct rb_buf buf;
	size_t open[DER_MAX_DEPTH]; /* offset just past each open tag byte */
	size_t depth;
	int err; /* first failure, sticky; 0 while all is well */
};

/* Start an empty writer whose output may not exceed cap bytes (0 means
 * RB_BUF_DEFAULT_CAP). Cannot fail. */
void der_writer_init(struct der_writer *w, size_t cap);
/* Wipe and free the buffer. Accepts NULL. */
void der_writer_free(struct der_writer *w);
/* Hand the encoding to the caller (free() it). RB_E_STATE if an element is
 * still open, or the first error any earlier call hit. On failure nothing
 * is handed over and neither *ret nor *ret_len is touched. */
int der_writer_finish(struct der_writer *w, uint8_t **ret, size_t *ret_len);

/* Open / close a constructed element; see the nesting note above. */
int der_begin(struct der_writer *w, uint8_t tag);
int der_end(struct der_writer *w);

/* One complete element with the given tag and content. */
int der_put_tlv(struct der_writer *w, uint8_t tag, const void *content, size_t len);
/* Bytes that are already DER (a SubjectPublicKeyInfo, a TBSCertificate). */
int der_put_raw(struct der_writer *w, const void *p, size_t len);

/* INTEGER from an unsigned big-endian magnitude (len >= 1): leading zero
 * bytes are dropped and one 0x00 is added when the top bit is set, so the
 * value is always non-negative and minimally encoded. */
int der_put_uint_bytes(struct der_writer *w, const uint8_t *be, size_t len);
int der_put_uint(struct der_writer *w, uint64_t v);
/* OBJECT IDENTIFIER from dotted form ("2.5.29.19"); RB_E_INVAL unless the
 * text is canonical: at least two arcs, first 0..2, second < 40 under 0
 * and 1, no empty arcs, no leading zeros, each arc < 2^64. */
int der_put_oid(struct der_writer *w, const char *dotted);
/* BIT STRING of len bytes whose last unused_bits (0..7) bits are unused;
 * DER requires those bits to be zero, so they are checked. */
int der_put_bit_string(struct der_writer *w, const uint8_t *p, size_t len,
		       unsigned unused_bits);
int der_put_octet_string(struct der_writer *w, const void *p, size_t len);
int der_put_boolean(struct der_writer *w, bool v);
int der_put_null(struct der_writer *w);
/* X.509 Time (RFC 5280 4.1.2.5): UTCTime YYMMDDHHMMSSZ for 1950..2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ otherwise; RB_E_INVAL outside years
 * 0000..9999. */
int der_put_time(struct der_writer *w, time_t t);

/* Encode a definite length (1..9 bytes) into out; returns the byte count.
 * Exposed for known-answer tests. */
size_t der_encode_length(size_t len, uint8_t out[9]);

#endif
