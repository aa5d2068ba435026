/* Recipients: "age1..." (X25519) and "ssh-ed25519 AAAA... [comment]".
 * Wrapping makes a fresh ephemeral X25519 key per stanza. */
#include "age/age-internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "age/bech32.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

#define X25519_LABEL "age-encryption.org/v1/X25519"
#define SSH_LABEL "age-encryption.org/v1/ssh-ed25519"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

static int recipient_parse_ssh(const char *s, struct age_recipient *ret)
{
	_cleanup_free_ uint8_t *wire = NULL;
	const char *b64 = s + strlen("ssh-ed25519 "), *end = strchr(b64, ' ');
	size_t blen = end ? (size_t)(end - b64) : strlen(b64), wlen = 0;
	struct rb_reader r;
	uint32_t l1 = 0, l2 = 0;
	const uint8_t *type = NULL, *pk = NULL;

	if (rb_base64_decode(b64, blen, true, &wire, &wlen) < 0 || wlen != AGE_SSH_WIRE_LEN)
		return rb_err_set(RB_E_PARSE,
				  "ssh-ed25519 recipient: the key is not base64 of an Ed25519 public key");
	rb_reader_init(&r, wire, wlen);
	if (rb_reader_get_u32be(&r, &l1) < 0 || l1 != 11 || rb_reader_get_bytes(&r, 11, &type) < 0 ||
	    memcmp(type, "ssh-ed25519", 11) != 0 || rb_reader_get_u32be(&r, &l2) < 0 || l2 != 32 ||
	    rb_reader_get_bytes(&r, 32, &pk) < 0 || rb_reader_expect_end(&r) < 0)
		return rb_err_set(RB_E_PARSE, "ssh-ed25519 recipient: malformed public key blob");
	if (age_ed25519_to_x25519(pk, ret->pk) < 0)
		return rb_err_set(RB_E_PARSE, "ssh-ed25519 recipient: not a valid Ed25519 point");
	memcpy(ret->ssh_wire, wire, AGE_SSH_WIRE_LEN);
	ret->type = AGE_KEY_SSH_ED25519;
	return RB_OK;
}

int age_recipient_parse(const char *s, struct age_recipient *ret)
{
	size_t n = 0;
	int err;

	if (!s)
		return rb_err_set(RB_E_INVAL, "age: NULL recipient");
	memset(ret, 0, sizeof(*ret));
	if (strncmp(s, "ssh-ed25519 ", 12) == 0)
		return recipient_parse_ssh(s, ret);
	if (strncmp(s, "ssh-", 4) == 0)
		return rb_err_set(RB_E_UNSUPPORTED,
				  "recipient \"%.20s...\": only ssh-ed25519 SSH keys are supported", s);
	if ((err = bech32_decode(s, strlen(s), "age", ret->pk, sizeof(ret->pk), &n)) < 0 || n != 32 ||
	    strncmp(s, "age1", 4) != 0)
		return rb_err_set(RB_E_PARSE,
				  "recipient \"%.70s\": not an age1... X25519 key or an ssh-ed25519 line (%s)",
				  s, err < 0 ? rb_err_message(err) : n != 32 ? "not 32 bytes of key" : "no age1 prefix");
	ret->type = AGE_KEY_X25519;
	return RB_OK;
}

int age_recipient_check(const char *recipient)
{
	struct age_recipient r;

	return age_recipient_parse(recipient, &r);
}

struct wrap_ws {
	uint8_t eph[32];
	uint8_t shared[32];
	uint8_t tweak[32];
	uint8_t wrap_key[32];
	uint8_t body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
};

int age_recipient_wrap(const struct age_recipient *rc, const uint8_t *file_key, struct rb_buf *hdr)
{
	static const uint8_t zero_nonce[12];
	_cleanup_(rb_secret_freep) struct rb_secret *mem = NULL;
	_cleanup_free_ char *share_b64 = NULL;
	char tag[8];
	uint8_t share[32], salt[64];
	struct wrap_ws *ws;
	bool ssh = rc->type == AGE_KEY_SSH_ED25519;
	const char *label = ssh ? SSH_LABEL : X25519_LABEL;
	int e;

	e = rb_secret_new(sizeof(*ws), &mem);
	if (e < 0)
		return e;
	ws = (struct wrap_ws *)mem->data;
	e = rb_random_bytes(ws->eph, sizeof(ws->eph));
	if (e == 0)
		e = age_x25519_base(ws->eph, share);
	if (e == 0)
		e = age_x25519(ws->eph, rc->pk, ws->shared);
	if (e < 0)
		return e == RB_E_VERIFY ? rb_err_set(RB_E_PARSE, "age: recipient is a low-order point") : e;
	if (ssh) {
		/* the tweak binds the shared secret to the whole SSH key, not
		 * only to its X25519 image */
		e = age_hkdf(NULL, 0, rc->ssh_wire, AGE_SSH_WIRE_LEN, SSH_LABEL, ws->tweak, 32);
		if (e == 0)
			e = age_x25519(ws->tweak, ws->shared, ws->shared);
		if (e < 0)
			return e;
	}
	memcpy(salt, share, 32);
	memcpy(salt + 32, rc->pk, 32);
	e = age_hkdf(ws->shared, 32, salt, sizeof(salt), label, ws->wrap_key, 32);
	if (e == 0)
		e = age_aead_seal(ws->wrap_key, zero_nonce, file_key, AGE_FILE_KEY_LEN, ws->body);
	if (e == 0)
		e = rb_base64_encode(share, 32, false, &share_b64);
	if (e < 0)
		return e;
	if (ssh) {
		const char *args[3] = { "ssh-ed25519", tag, share_b64 };

		e = age_ssh_tag(rc->ssh_wire, tag);
		if (e == 0)
			e = age_stanza_write(hdr, args, 3, ws->body, sizeof(ws->body));
	} else {
		const char *args[2] = { "X25519", share_b64 };

		e = age_stanza_write(hdr, args, 2, ws->body, sizeof(ws->body));
	}
	return e;
}
