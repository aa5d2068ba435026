/* Encoding and decoding of the orchestrator <-> key holder messages
 * (wire.h, docs/formats/signer-wire.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "signer/wire.h"
#include "util/err.h"

static int wire_get_str(struct rb_reader *r, const char *field, char *buf, size_t cap)
{
	const uint8_t *p;
	uint16_t n;

	if (rb_reader_get_u16be(r, &n) < 0 || rb_reader_get_bytes(r, n, &p) < 0)
		return rb_err_set(RB_E_PARSE, "signer message: %s runs past the end", field);
	if (n > cap)
		return rb_err_set(RB_E_PARSE, "signer message: %s is %u bytes, at most %zu", field, n, cap);
	if (memchr(p, 0, n))
		return rb_err_set(RB_E_PARSE, "signer message: %s holds a NUL byte", field);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return RB_OK;
}

static int wire_get_bytes(struct rb_reader *r, const char *field, size_t cap, const uint8_t **ret,
			  size_t *ret_len)
{
	uint32_t n;

	if (rb_reader_get_u32be(r, &n) < 0 || rb_reader_get_bytes(r, n, ret) < 0)
		return rb_err_set(RB_E_PARSE, "signer message: %s runs past the end", field);
	if (n > cap)
		return rb_err_set(RB_E_PARSE, "signer message: %s is %u bytes, at most %zu", field, n, cap);
	*ret_len = n;
	return RB_OK;
}

static int wire_get_u8(struct rb_reader *r, const char *field, uint8_t *ret)
{
	if (rb_reader_get_u8(r, ret) < 0)
		return rb_err_set(RB_E_PARSE, "signer message: %s runs past the end", field);
	return RB_OK;
}

static int wire_get_u32(struct rb_reader *r, const char *field, uint32_t *ret)
{
	if (rb_reader_get_u32be(r, ret) < 0)
		return rb_err_set(RB_E_PARSE, "signer message: %s runs past the end", field);
	return RB_OK;
}

int signer_msg_decode(const uint8_t *body, size_t len, struct signer_msg *ret)
{
	struct rb_reader r;
	uint8_t version, type, purpose;
	uint32_t u;
	int err;

	memset(ret, 0, sizeof(*ret));
	ret->key = ret->key_buf;
	ret->node = ret->node_buf;
	ret->text = ret->text_buf;
	rb_reader_init(&r, body, len);
	if ((err = wire_get_u8(&r, "version", &version)) < 0 || (err = wire_get_u8(&r, "type", &type)) < 0)
		return err;
	if (version != SIGNER_WIRE_VERSION)
		return rb_err_set(RB_E_PARSE, "signer message: version %u, this side speaks %u; "
				  "install rombsr-sign and rombsr-signer from one release", version,
				  SIGNER_WIRE_VERSION);
	ret->type = type;
	switch (type) {
	case SIGNER_MSG_SIGN:
		if ((err = wire_get_u8(&r, "purpose", &purpose)) < 0 ||
		    (err = wire_get_u8(&r, "scheme", &ret->scheme)) < 0 ||
		    (err = wire_get_str(&r, "key", ret->key_buf, SIGNER_NAME_MAX)) < 0 ||
		    (err = wire_get_str(&r, "node", ret->node_buf, SIGNER_NAME_MAX)) < 0 ||
		    (err = wire_get_u32(&r, "placeholder length", &ret->placeholder_len)) < 0 ||
		    (err = wire_get_bytes(&r, "input", SIGNER_INPUT_MAX, &ret->input, &ret->input_len)) < 0)
			return err;
		if (purpose < SIGNER_FOR_CAPTURE || purpose > SIGNER_FOR_CHECKPOINT)
			return rb_err_set(RB_E_PARSE, "signer message: unknown purpose %u", purpose);
		ret->purpose = purpose;
		break;
	case SIGNER_MSG_PROBE:
		if ((err = wire_get_str(&r, "key", ret->key_buf, SIGNER_NAME_MAX)) < 0)
			return err;
		break;
	case SIGNER_MSG_STATUS:
	case SIGNER_MSG_OK:
		break;
	case SIGNER_MSG_READY:
		if ((err = wire_get_str(&r, "token label", ret->text_buf, SIGNER_DETAIL_MAX)) < 0)
			return err;
		break;
	case SIGNER_MSG_SIG:
		if ((err = wire_get_bytes(&r, "signature", SIGNER_SIG_MAX, &ret->input, &ret->input_len)) < 0)
			return err;
		break;
	case SIGNER_MSG_ERROR:
		if ((err = wire_get_u32(&r, "error", &u)) < 0 ||
		    (err = wire_get_str(&r, "detail", ret->text_buf, SIGNER_DETAIL_MAX)) < 0)
			return err;
		ret->err = (int32_t)u;
		/* Only a failure code: an ERROR that says RB_OK, or a code the
		 * library does not have, would make a failure look like
		 * success or confuse the exit code. */
		if (ret->err >= 0 || ret->err < RB_E_GONE)
			return rb_err_set(RB_E_PARSE, "signer message: error code %d is not a failure code",
					  ret->err);
		break;
	case SIGNER_MSG_STATUS_REPLY:
		if ((err = wire_get_u32(&r, "sessions", &ret->sessions)) < 0)
			return err;
		break;
	default:
		return rb_err_set(RB_E_PARSE, "signer message: unknown type 0x%02x", type);
	}
	if (rb_reader_expect_end(&r) < 0)
		return rb_err_set(RB_E_PARSE, "signer message: %zu bytes after the last field of type 0x%02x",
				  r.len, type);
	return RB_OK;
}

static int wire_put_str(struct rb_buf *b, const char *field, const char *s, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	int err;

	if (n > cap)
		return rb_err_set(RB_E_INVAL, "signer message: %s is %zu bytes, at most %zu", field, n, cap);
	if ((err = rb_buf_put_u16be(b, (uint16_t)n)) < 0)
		return err;
	return rb_buf_put(b, s, n);
}

static int wire_put_bytes(struct rb_buf *b, const char *field, const uint8_t *p, size_t n, size_t cap)
{
	int err;

	if (n > cap)
		return rb_err_set(RB_E_INVAL, "signer message: %s is %zu bytes, at most %zu", field, n, cap);
	if ((err = rb_buf_put_u32be(b, (uint32_t)n)) < 0)
		return err;
	return rb_buf_put(b, p, n);
}

int signer_msg_encode(const struct signer_msg *m, struct rb_buf *out)
{
	size_t start = out->len;
	int err;

	/* The length is patched in once the body is written. */
	if ((err = rb_buf_put_u32be(out, 0)) < 0 || (err = rb_buf_put_u8(out, SIGNER_WIRE_VERSION)) < 0 ||
	    (err = rb_buf_put_u8(out, (uint8_t)m->type)) < 0)
		return err;
	switch (m->type) {
	case SIGNER_MSG_SIGN:
		if ((err = rb_buf_put_u8(out, (uint8_t)m->purpose)) < 0 ||
		    (err = rb_buf_put_u8(out, m->scheme)) < 0 ||
		    (err = wire_put_str(out, "key", m->key, SIGNER_NAME_MAX)) < 0 ||
		    (err = wire_put_str(out, "node", m->node, SIGNER_NAME_MAX)) < 0 ||
		    (err = rb_buf_put_u32be(out, m->placeholder_len)) < 0 ||
		    (err = wire_put_bytes(out, "input", m->input, m->input_len, SIGNER_INPUT_MAX)) < 0)
			return err;
		break;
	case SIGNER_MSG_PROBE:
		err = wire_put_str(out, "key", m->key, SIGNER_NAME_MAX);
		break;
	case SIGNER_MSG_STATUS:
	case SIGNER_MSG_OK:
		break;
	case SIGNER_MSG_READY:
		err = wire_put_str(out, "token label", m->text, SIGNER_DETAIL_MAX);
		break;
	case SIGNER_MSG_SIG:
		err = wire_put_bytes(out, "signature", m->input, m->input_len, SIGNER_SIG_MAX);
		break;
	case SIGNER_MSG_ERROR: {
		/* A detail is cut to fit rather than lost. */
		char detail[SIGNER_DETAIL_MAX + 1];

		snprintf(detail, sizeof(detail), "%s", m->text ? m->text : "");
		if ((err = rb_buf_put_u32be(out, (uint32_t)m->err)) == RB_OK)
			err = wire_put_str(out, "detail", detail, SIGNER_DETAIL_MAX);
		break;
	}
	case SIGNER_MSG_STATUS_REPLY:
		err = rb_buf_put_u32be(out, m->sessions);
		break;
	default:
		return rb_err_set(RB_E_INVAL, "signer message: unknown type 0x%02x", (unsigned)m->type);
	}
	if (err < 0)
		return err;
	{
		size_t body = out->len - start - 4;

		out->data[start] = (uint8_t)(body >> 24);
		out->data[start + 1] = (uint8_t)(body >> 16);
		out->data[start + 2] = (uint8_t)(body >> 8);
		out->data[start + 3] = (uint8_t)body;
	}
	return RB_OK;
}

/* read() exactly n bytes: 0 done, 1 a clean end before the first byte,
 * RB_E_IO otherwise. */
static int wire_read_exact(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return rb_err_set(RB_E_IO, "signer socket: read failed: %s", strerror(errno));
		if (r == 0) {
			if (got == 0)
				return 1;
			return rb_err_set(RB_E_IO, "signer socket: the stream ended inside a message "
					  "(%zu of %zu bytes)", got, n);
		}
		got += (size_t)r;
	}
	return 0;
}

int signer_frame_read(int fd, uint8_t **ret_body, size_t *ret_len)
{
	uint8_t hdr[4];
	uint8_t *body;
	uint32_t len;
	int err;

	if ((err = wire_read_exact(fd, hdr, 4)) < 0)
		return err;
	if (err == 1)
		return rb_err_set(RB_E_NOTFOUND, "signer socket: the other side closed it");
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > SIGNER_MSG_MAX)
		return rb_err_set(RB_E_TOOBIG, "signer socket: a message of %u bytes (1..%zu allowed)", len,
				  SIGNER_MSG_MAX);
	if (!(body = malloc(len)))
		return RB_E_NOMEM;
	if ((err = wire_read_exact(fd, body, len)) != 0) {
		free(body);
		return err < 0 ? err : rb_err_set(RB_E_IO, "signer socket: the stream ended inside a message");
	}
	*ret_body = body;
	*ret_len = len;
	return RB_OK;
}

int signer_msg_send(int fd, const struct signer_msg *m)
{
	struct rb_buf b = { .cap = SIGNER_MSG_MAX + 4 };
	int err;

	if ((err = signer_msg_encode(m, &b)) < 0)
		goto out;
	/* send(MSG_NOSIGNAL), not write(): a key holder that died must be an
	 * error here, not a SIGPIPE that kills the orchestrator. */
	for (size_t off = 0; off < b.len;) {
		ssize_t n = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = rb_err_set(RB_E_IO, "signer socket: send failed: %s", strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
out:
	rb_buf_free(&b);
	return err;
}
