/* The wire between the sign orchestrator (rombsr-sign, unprivileged: it
 * parses what build nodes write) and the key holder (rombsr-signer, the
 * only process that loads the PKCS#11 module and sees the PIN).
 * docs/formats/signer-wire.md describes it; this is version 1.
 *
 * A message is a frame: a 4-byte big-endian length L (1..SIGNER_MSG_MAX),
 * then L bytes: version (1), type, and the type's fields. Integers are
 * big-endian, a string is a u16 length and that many bytes (no NUL, none
 * inside), bytes are a u32 length and the bytes. A message is decoded
 * whole: a field past the end, trailing bytes, an unknown type or version
 * is RB_E_PARSE. Both sides decode what the other sends; the key holder
 * treats everything it reads as hostile.
 *
 * Ownership: decoded messages point into the frame they were decoded from
 * (no copies); the frame outlives them. Encoders append to an rb_buf.
 */
#ifndef ROMBSR_SIGNER_WIRE_H
#define ROMBSR_SIGNER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define SIGNER_WIRE_VERSION 1
/* The largest Ed25519 message a capture request may ask for is 1 MiB
 * (CAPTURE_EDDSA_MAX_MESSAGE); the rest is room for the fields. */
#define SIGNER_INPUT_MAX ((size_t)1024 * 1024)
#define SIGNER_MSG_MAX (SIGNER_INPUT_MAX + 4096)
#define SIGNER_NAME_MAX 64       /* key and node names */
#define SIGNER_DETAIL_MAX 511    /* an error's detail */
#define SIGNER_SIG_MAX 1024      /* RSA-8192 is 1024 bytes */

/* The fd of the socket in rombsr-signer (the orchestrator puts it there). */
#define SIGNER_FD 3

enum signer_msg_type {
	/* orchestrator -> key holder */
	SIGNER_MSG_SIGN = 1,     /* sign input with a key, for a purpose */
	SIGNER_MSG_PROBE = 2,    /* is the key still on the token? */
	SIGNER_MSG_STATUS = 3,   /* open sessions */
	/* key holder -> orchestrator */
	SIGNER_MSG_READY = 0x81, /* token open, logged in, keys checked */
	SIGNER_MSG_SIG = 0x82,   /* the signature (verified by the key holder) */
	SIGNER_MSG_OK = 0x83,
	SIGNER_MSG_ERROR = 0x84, /* an rb_err and its detail */
	SIGNER_MSG_STATUS_REPLY = 0x85,
};

/* What a signature is for: the key holder checks the key's purposes, the
 * node's allowance and the shape of the input against it. */
enum signer_purpose {
	SIGNER_FOR_CAPTURE = 1,  /* a capture request of node (REQUEST_KIND_CAPTURE) */
	SIGNER_FOR_RAW = 2,      /* a raw request of node */
	SIGNER_FOR_OPENPGP = 3,  /* an OpenPGP request of node: the OpenPGP hash */
	SIGNER_FOR_QUEUE = 4,    /* a response commit (queue key, OpenPGP hash) */
	SIGNER_FOR_CHECKPOINT = 5, /* an audit checkpoint note (audit key, the note body) */
};

struct signer_msg {
	enum signer_msg_type type;
	/* SIGN */
	enum signer_purpose purpose;
	uint8_t scheme;              /* enum rb_sig_scheme */
	const char *key;             /* NUL-terminated copies in name_buf */
	const char *node;            /* "" for queue and checkpoint */
	uint32_t placeholder_len;    /* capture: the placeholder's length; else 0 */
	const uint8_t *input;        /* SIGN: input; SIG: the signature */
	size_t input_len;
	/* ERROR */
	int32_t err;
	/* ERROR: detail; READY: token label (NUL-terminated copy in text_buf) */
	const char *text;
	/* STATUS_REPLY */
	uint32_t sessions;

	char key_buf[SIGNER_NAME_MAX + 1];
	char node_buf[SIGNER_NAME_MAX + 1];
	char text_buf[SIGNER_DETAIL_MAX + 1];
};

/* Decode one message body (after the length prefix). RB_E_PARSE with a
 * detail for anything malformed. */
int signer_msg_decode(const uint8_t *body, size_t len, struct signer_msg *ret);
/* Append the framed message m (length prefix included) to out. RB_E_INVAL
 * if a field is over its cap. */
int signer_msg_encode(const struct signer_msg *m, struct rb_buf *out);

/* Read one frame from fd into a malloc()ed body. RB_E_NOTFOUND on a clean
 * end of stream before the frame, RB_E_IO on a read error or a stream cut
 * inside it, RB_E_TOOBIG over SIGNER_MSG_MAX. */
int signer_frame_read(int fd, uint8_t **ret_body, size_t *ret_len);
/* Encode m and write the frame to fd. */
int signer_msg_send(int fd, const struct signer_msg *m);

#endif
