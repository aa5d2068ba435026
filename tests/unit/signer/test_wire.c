/* The orchestrator <-> key holder wire (src/signer/wire.h): what one side
 * encodes the other decodes to the same fields; anything malformed - a
 * short field, trailing bytes, an unknown type, purpose or version, a
 * name over its cap or with a NUL, an ERROR that claims success - is
 * refused; a frame over the cap is refused before its body is read. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "signer/wire.h"
#include "util/err.h"

HARNESS_GLOBALS;

/* Encode m, return the body (after the length prefix). */
static uint8_t *encode(const struct signer_msg *m, size_t *ret_len)
{
	struct rb_buf b = RB_BUF_INIT;
	uint8_t *out;

	CHECK_OK(signer_msg_encode(m, &b));
	CHECK(b.len >= 4);
	CHECK(((size_t)b.data[0] << 24 | (size_t)b.data[1] << 16 | (size_t)b.data[2] << 8 | b.data[3]) ==
	      b.len - 4);
	*ret_len = b.len - 4;
	out = malloc(*ret_len);
	memcpy(out, b.data + 4, *ret_len);
	rb_buf_free(&b);
	return out;
}

static void test_sign_round_trip(void)
{
	static const uint8_t digest[32] = { 1, 2, 3 };
	struct signer_msg m = { .type = SIGNER_MSG_SIGN, .purpose = SIGNER_FOR_CAPTURE, .scheme = 5,
				.key = "apk-platform", .node = "builder-1", .placeholder_len = 72,
				.input = digest, .input_len = sizeof(digest) }, d;
	size_t len;
	uint8_t *body = encode(&m, &len);

	CHECK_OK(signer_msg_decode(body, len, &d));
	CHECK(d.type == SIGNER_MSG_SIGN && d.purpose == SIGNER_FOR_CAPTURE && d.scheme == 5);
	CHECK(strcmp(d.key, "apk-platform") == 0 && strcmp(d.node, "builder-1") == 0);
	CHECK(d.placeholder_len == 72 && d.input_len == 32 && memcmp(d.input, digest, 32) == 0);
	/* every truncation is refused, and so is one byte more */
	for (size_t n = 0; n < len; n++)
		CHECK_ERR(signer_msg_decode(body, n, &d), RB_E_PARSE);
	{
		uint8_t *longer = malloc(len + 1);

		memcpy(longer, body, len);
		longer[len] = 0;
		CHECK_ERR(signer_msg_decode(longer, len + 1, &d), RB_E_PARSE);
		free(longer);
	}
	/* another version, type or purpose */
	body[0] = 2;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	body[0] = 1;
	body[1] = 0x7f;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	body[1] = SIGNER_MSG_SIGN;
	body[2] = 9;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	body[2] = SIGNER_FOR_CAPTURE;
	/* a NUL inside the key name */
	body[6] = 0;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	free(body);
}

static void test_caps(void)
{
	char name[SIGNER_NAME_MAX + 2];
	struct signer_msg m = { .type = SIGNER_MSG_SIGN, .purpose = SIGNER_FOR_RAW, .scheme = 1, .node = "n" };
	struct rb_buf b = RB_BUF_INIT;
	uint8_t body[16] = { 1, SIGNER_MSG_PROBE, 0, SIGNER_NAME_MAX + 1 };
	struct signer_msg d;

	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	m.key = name;
	CHECK_ERR(signer_msg_encode(&m, &b), RB_E_INVAL);
	rb_buf_free(&b);
	/* a PROBE whose key length is over the cap (the bytes are there) */
	{
		uint8_t big[4 + SIGNER_NAME_MAX + 1];

		memcpy(big, body, 4);
		memset(big + 4, 'k', SIGNER_NAME_MAX + 1);
		CHECK_ERR(signer_msg_decode(big, sizeof(big), &d), RB_E_PARSE);
	}
}

static void test_error_codes(void)
{
	struct signer_msg m = { .type = SIGNER_MSG_ERROR, .err = RB_E_PERM, .text = "node 'x' may not use key 'y'" }, d;
	size_t len;
	uint8_t *body = encode(&m, &len);

	CHECK_OK(signer_msg_decode(body, len, &d));
	CHECK(d.err == RB_E_PERM && strcmp(d.text, "node 'x' may not use key 'y'") == 0);
	/* an ERROR that says success, or a code the library has not */
	body[2] = body[3] = body[4] = body[5] = 0;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	body[2] = 0xff, body[3] = 0xff, body[4] = 0xff, body[5] = 0x00;
	CHECK_ERR(signer_msg_decode(body, len, &d), RB_E_PARSE);
	free(body);
}

static void test_frames(void)
{
	struct signer_msg m = { .type = SIGNER_MSG_STATUS_REPLY, .sessions = 3 }, d;
	uint8_t over[4] = { 0, 0x20, 0, 0 }; /* 2 MiB: over SIGNER_MSG_MAX */
	uint8_t *body = NULL;
	size_t len;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_OK(signer_msg_send(sv[0], &m));
	CHECK_OK(signer_frame_read(sv[1], &body, &len));
	CHECK_OK(signer_msg_decode(body, len, &d));
	CHECK(d.type == SIGNER_MSG_STATUS_REPLY && d.sessions == 3);
	free(body);
	body = NULL;
	CHECK(write(sv[0], over, 4) == 4);
	CHECK_ERR(signer_frame_read(sv[1], &body, &len), RB_E_TOOBIG);
	/* a frame cut short by the other side closing */
	CHECK(write(sv[0], (uint8_t[]){ 0, 0, 0, 9, 1, 2 }, 6) == 6);
	close(sv[0]);
	CHECK_ERR(signer_frame_read(sv[1], &body, &len), RB_E_IO);
	CHECK_ERR(signer_frame_read(sv[1], &body, &len), RB_E_NOTFOUND);
	close(sv[1]);
}

int main(void)
{
	RUN(test_sign_round_trip);
	RUN(test_caps);
	RUN(test_error_codes);
	RUN(test_frames);
	TEST_MAIN_END();
}
