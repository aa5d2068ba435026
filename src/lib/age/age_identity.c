/* Identities: age identity files ("AGE-SECRET-KEY-1..." lines) and
 * OpenSSH ed25519 keys, and unwrapping a stanza with one of them. A stanza
 * that is not for the identity (other type, other SSH key tag, a body that
 * does not open) is "no match"; a malformed stanza of a known type is a
 * header failure, as in the age reference. */
#include "age/age-internal.h"

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
#define MAX_IDENTITIES 64
#define MAX_IDENTITY_TEXT (64 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

void age_identities_free(struct age_identity *list, size_t n)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < n; i++)
		rb_secret_free(list[i].sk);
	free(list);
}

static int identity_append(struct age_identity **list, size_t *n, struct age_identity *id)
{
	struct age_identity *l;

	if (*n >= MAX_IDENTITIES) {
		rb_secret_free(id->sk);
		return rb_err_set(RB_E_LIMIT, "age: more than %d identities", MAX_IDENTITIES);
	}
	l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l) {
		rb_secret_free(id->sk);
		return RB_E_NOMEM;
	}
	l[(*n)++] = *id;
	*list = l;
	return RB_OK;
}

static int identity_parse_x25519(const char *line, size_t len, struct age_identity *ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *sk = NULL;
	size_t n = 0;
	int e;

	e = rb_secret_new(64, &sk);
	if (e < 0)
		return e;
	if (len < 15 || memcmp(line, "AGE-SECRET-KEY-", 15) != 0)
		return rb_err_set(RB_E_PARSE, "not a valid AGE-SECRET-KEY-1... identity (it does not start "
				  "with AGE-SECRET-KEY-)");
	if ((e = bech32_decode(line, len, "age-secret-key-", sk->data, sk->size, &n)) < 0 || n != 32)
		return rb_err_set(RB_E_PARSE, "not a valid AGE-SECRET-KEY-1... identity (%s)",
				  e < 0 ? rb_err_message(e) : "not 32 bytes of key");
	sk->len = 32;
	e = age_x25519_base(sk->data, ret->pk);
	if (e < 0)
		return e;
	ret->type = AGE_KEY_X25519;
	ret->sk = TAKE_PTR(sk);
	return RB_OK;
}

int age_identities_parse(const struct rb_secret *text, struct age_identity **list, size_t *n)
{
	const char *t, *end, *p;
	size_t lineno = 0, before = *n;
	int e;

	if (!text)
		return rb_err_set(RB_E_INVAL, "age: NULL identity");
	if (text->len > MAX_IDENTITY_TEXT)
		return rb_err_set(RB_E_TOOBIG, "age identity file: over %d bytes", MAX_IDENTITY_TEXT);
	t = (const char *)text->data;
	end = t + text->len;
	p = t;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if ((size_t)(end - p) >= 11 && memcmp(p, "-----BEGIN ", 11) == 0) {
		struct age_identity id = { 0 };

		e = age_ssh_parse_private(t, text->len, &id);
		if (e < 0)
			return e;
		return identity_append(list, n, &id);
	}
	for (p = t; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct age_identity id = { 0 };

		lineno++;
		if (len && p[len - 1] == '\r')
			len--;
		if (len && p[0] != '#') {
			e = identity_parse_x25519(p, len, &id);
			if (e < 0)
				return rb_err_set(e, "age identity file, line %zu: %s", lineno,
						  rb_err_message(e));
			e = identity_append(list, n, &id);
			if (e < 0)
				return e;
		}
		p = nl ? nl + 1 : end;
	}
	if (*n == before)
		return rb_err_set(RB_E_PARSE, "age identity file: no identity found");
	return RB_OK;
}

struct unwrap_ws {
	uint8_t shared[32];
	uint8_t tweak[32];
	uint8_t wrap_key[32];
	uint8_t file_key[AGE_FILE_KEY_LEN];
};

int age_identity_unwrap(const struct age_identity *id, const struct age_stanza *st,
			uint8_t *file_key)
{
	static const uint8_t zero_nonce[12];
	_cleanup_(rb_secret_freep) struct rb_secret *mem = NULL;
	_cleanup_free_ uint8_t *share = NULL;
	bool ssh = id->type == AGE_KEY_SSH_ED25519;
	const char *type = ssh ? "ssh-ed25519" : "X25519";
	size_t want_args = ssh ? 3 : 2, slen = 0;
	struct unwrap_ws *ws;
	uint8_t salt[64];
	int e;

	if (strcmp(st->args[0], type) != 0)
		return RB_E_KEY;
	if (st->nargs != want_args)
		return rb_err_set(RB_E_PARSE, "age header: %s stanza with %zu arguments", type,
				  st->nargs - 1);
	if (rb_base64_decode(st->args[want_args - 1], strlen(st->args[want_args - 1]), false, &share,
			     &slen) < 0 ||
	    slen != 32)
		return rb_err_set(RB_E_PARSE, "age header: %s share is not canonical base64 of 32 bytes",
				  type);
	if (ssh && strcmp(st->args[1], id->ssh_tag) != 0)
		return RB_E_KEY;
	if (st->body_len != AGE_FILE_KEY_LEN + AGE_TAG_LEN)
		return rb_err_set(RB_E_PARSE, "age header: %s stanza body is not a 16-byte file key",
				  type);
	e = rb_secret_new(sizeof(*ws), &mem);
	if (e < 0)
		return e;
	ws = (struct unwrap_ws *)mem->data;
	e = age_x25519(id->sk->data, share, ws->shared);
	if (e == RB_E_VERIFY)
		return rb_err_set(RB_E_PARSE, "age header: %s share is a low-order point", type);
	if (e < 0)
		return e;
	if (ssh) {
		e = age_hkdf(NULL, 0, id->ssh_wire, AGE_SSH_WIRE_LEN, SSH_LABEL, ws->tweak, 32);
		if (e == 0)
			e = age_x25519(ws->tweak, ws->shared, ws->shared);
		if (e < 0)
			return e == RB_E_VERIFY ? RB_E_PARSE : e;
	}
	memcpy(salt, share, 32);
	memcpy(salt + 32, id->pk, 32);
	e = age_hkdf(ws->shared, 32, salt, sizeof(salt), ssh ? SSH_LABEL : X25519_LABEL, ws->wrap_key,
		     32);
	if (e < 0)
		return e;
	if (age_aead_open(ws->wrap_key, zero_nonce, st->body, st->body_len, ws->file_key) < 0)
		return RB_E_KEY;
	memcpy(file_key, ws->file_key, AGE_FILE_KEY_LEN);
	return RB_OK;
}

int age_x25519_generate(struct rb_secret **ret_identity, char **ret_recipient)
{
	_cleanup_(rb_secret_freep) struct rb_secret *sk = NULL, *text = NULL;
	uint8_t pk[32];
	size_t n;
	int e;

	if (!ret_identity || !ret_recipient)
		return rb_err_set(RB_E_INVAL, "age_x25519_generate: NULL argument");
	e = rb_secret_new(32, &sk);
	if (e == 0)
		e = rb_secret_new(128, &text);
	if (e == 0)
		e = rb_random_bytes(sk->data, 32);
	if (e == 0)
		e = age_x25519_base(sk->data, pk);
	if (e == 0)
		e = bech32_encode_to("age-secret-key-", sk->data, 32, true, (char *)text->data,
				     text->size + 1, &n);
	if (e < 0)
		return e;
	text->len = n;
	e = bech32_encode("age", pk, 32, false, ret_recipient);
	if (e < 0)
		return e;
	*ret_identity = TAKE_PTR(text);
	return RB_OK;
}

int age_identity_to_recipient(const struct rb_secret *identity, char **ret)
{
	struct age_identity *list = NULL;
	size_t n = 0;
	int e;

	if (!ret)
		return rb_err_set(RB_E_INVAL, "age_identity_to_recipient: NULL argument");
	e = age_identities_parse(identity, &list, &n);
	if (e == 0) {
		if (list[0].type == AGE_KEY_X25519) {
			e = bech32_encode("age", list[0].pk, 32, false, ret);
		} else {
			_cleanup_free_ char *b64 = NULL;
			struct rb_buf b = RB_BUF_INIT;

			e = rb_base64_encode(list[0].ssh_wire, AGE_SSH_WIRE_LEN, true, &b64);
			if (e == 0)
				e = rb_buf_printf(&b, "ssh-ed25519 %s", b64);
			if (e == 0)
				e = rb_buf_terminate(&b);
			if (e == 0)
				*ret = (char *)rb_buf_steal(&b, NULL);
			rb_buf_free(&b);
		}
	}
	age_identities_free(list, n);
	return e;
}
