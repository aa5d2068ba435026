/* OpenSSH ed25519 private keys ("openssh-key-v1", unencrypted only) as
 * age identities. age maps the key to X25519: the scalar is the first
 * half of SHA-512(seed), the point the Montgomery form of the public key. */
#include "age/age-internal.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

#define SSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define SSH_END "-----END OPENSSH PRIVATE KEY-----"
#define SSH_MAX_KEY 8192

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

int age_ssh_tag(const uint8_t wire[AGE_SSH_WIRE_LEN], char tag[8])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t h[SHA256_DIGEST_LENGTH];
	uint32_t v;

	SHA256(wire, AGE_SSH_WIRE_LEN, h);
	/* unpadded base64 of the first 4 bytes: 6 characters */
	v = ((uint32_t)h[0] << 16) | ((uint32_t)h[1] << 8) | h[2];
	tag[0] = b64[(v >> 18) & 63];
	tag[1] = b64[(v >> 12) & 63];
	tag[2] = b64[(v >> 6) & 63];
	tag[3] = b64[v & 63];
	tag[4] = b64[h[3] >> 2];
	tag[5] = b64[(h[3] & 3) << 4];
	tag[6] = '\0';
	tag[7] = '\0';
	return RB_OK;
}

static int ssh_get_string(struct rb_reader *r, const uint8_t **ret, uint32_t *ret_len)
{
	uint32_t n;
	int e = rb_reader_get_u32be(r, &n);

	if (e == 0)
		e = rb_reader_get_bytes(r, n, ret);
	if (e < 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: truncated");
	*ret_len = n;
	return RB_OK;
}

static bool ssh_string_is(const uint8_t *p, uint32_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* Base64 of the PEM body (lines between the markers) into *ret. */
static int ssh_unarmor(const char *text, size_t len, struct rb_secret **ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *b64 = NULL, *bin = NULL;
	const char *p = text, *end = text + len, *body, *stop;
	size_t n = 0, pad = 0;
	int e, dl;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if ((size_t)(end - p) < strlen(SSH_BEGIN) || memcmp(p, SSH_BEGIN, strlen(SSH_BEGIN)) != 0)
		return rb_err_set(RB_E_PARSE, "identity: not an OpenSSH private key");
	body = p + strlen(SSH_BEGIN);
	stop = memmem(body, (size_t)(end - body), SSH_END, strlen(SSH_END));
	if (!stop)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: missing \"%s\"", SSH_END);
	for (p = stop + strlen(SSH_END); p < end; p++)
		if (!(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			return rb_err_set(RB_E_PARSE, "OpenSSH key: data after the end marker");
	if ((size_t)(stop - body) > SSH_MAX_KEY)
		return rb_err_set(RB_E_TOOBIG, "OpenSSH key: over %d bytes", SSH_MAX_KEY);
	e = rb_secret_new((size_t)(stop - body), &b64);
	if (e < 0)
		return e;
	for (p = body; p < stop; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '+' || *p == '/' || *p == '='))
			return rb_err_set(RB_E_PARSE, "OpenSSH key: invalid base64 character");
		b64->data[n++] = (uint8_t)*p;
	}
	if (n == 0 || n % 4)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: base64 length is not a multiple of 4");
	while (pad < 2 && b64->data[n - 1 - pad] == '=')
		pad++;
	e = rb_secret_new(n / 4 * 3, &bin);
	if (e < 0)
		return e;
	dl = EVP_DecodeBlock(bin->data, b64->data, (int)n);
	if (dl < 0 || (size_t)dl < pad)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: invalid base64");
	bin->len = (size_t)dl - pad;
	*ret = TAKE_PTR(bin);
	return RB_OK;
}

int age_ssh_parse_private(const char *text, size_t len, struct age_identity *ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *bin = NULL, *sk = NULL;
	struct rb_reader r, priv;
	const uint8_t *cipher, *kdf, *kdfopt, *pub, *privp, *type, *pk, *skp, *comment;
	uint32_t lc, lk, lo, nkeys, lpub, lpriv, c1, c2, lt, lpk, lsk, lcm;
	uint8_t h[SHA512_DIGEST_LENGTH], conv[32];
	size_t i;
	int e;

	e = ssh_unarmor(text, len, &bin);
	if (e < 0)
		return e;
	rb_reader_init(&r, bin->data, bin->len);
	if (rb_reader_get_bytes(&r, 15, &cipher) < 0 || memcmp(cipher, "openssh-key-v1\0", 15) != 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: not an openssh-key-v1 key");
	if (ssh_get_string(&r, &cipher, &lc) < 0 || ssh_get_string(&r, &kdf, &lk) < 0 ||
	    ssh_get_string(&r, &kdfopt, &lo) < 0 || rb_reader_get_u32be(&r, &nkeys) < 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: truncated");
	if (!ssh_string_is(cipher, lc, "none") || !ssh_string_is(kdf, lk, "none"))
		return rb_err_set(RB_E_UNSUPPORTED,
				  "OpenSSH key is passphrase-protected; rombsr reads only unencrypted keys (use an age identity, or a copy without passphrase on the offline machine)");
	if (nkeys != 1)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: %u keys in one file; expected 1", nkeys);
	if (ssh_get_string(&r, &pub, &lpub) < 0 || ssh_get_string(&r, &privp, &lpriv) < 0 ||
	    rb_reader_expect_end(&r) < 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: malformed");
	if (lpub != AGE_SSH_WIRE_LEN || memcmp(pub, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19) != 0)
		return rb_err_set(RB_E_UNSUPPORTED, "OpenSSH key: not an ssh-ed25519 key");
	rb_reader_init(&priv, privp, lpriv);
	if (rb_reader_get_u32be(&priv, &c1) < 0 || rb_reader_get_u32be(&priv, &c2) < 0 || c1 != c2)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: check bytes differ (corrupted key)");
	if (ssh_get_string(&priv, &type, &lt) < 0 || !ssh_string_is(type, lt, "ssh-ed25519") ||
	    ssh_get_string(&priv, &pk, &lpk) < 0 || lpk != 32 || ssh_get_string(&priv, &skp, &lsk) < 0 ||
	    lsk != 64 || ssh_get_string(&priv, &comment, &lcm) < 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: malformed private section");
	if (memcmp(pk, pub + 19, 32) != 0 || memcmp(skp + 32, pk, 32) != 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: public and private halves disagree");
	/* deterministic padding 1, 2, 3, ... to the cipher block size */
	for (i = 1; priv.len > 0; i++) {
		uint8_t b;

		if (rb_reader_get_u8(&priv, &b) < 0 || b != (uint8_t)i || i > 8)
			return rb_err_set(RB_E_PARSE, "OpenSSH key: bad padding");
	}
	(void)kdfopt;
	(void)comment;
	e = rb_secret_new(32, &sk);
	if (e < 0)
		return e;
	SHA512(skp, 32, h);
	memcpy(sk->data, h, 32);
	sk->len = 32;
	rb_wipe(h, sizeof(h));
	e = age_x25519_base(sk->data, ret->pk);
	if (e < 0)
		return e;
	/* the scalar and the converted public key must describe one key */
	e = age_ed25519_to_x25519(pk, conv);
	if (e < 0 || memcmp(conv, ret->pk, 32) != 0)
		return rb_err_set(RB_E_PARSE, "OpenSSH key: private key does not match its public key");
	memcpy(ret->ssh_wire, pub, AGE_SSH_WIRE_LEN);
	age_ssh_tag(ret->ssh_wire, ret->ssh_tag);
	ret->type = AGE_KEY_SSH_ED25519;
	ret->sk = TAKE_PTR(sk);
	return RB_OK;
}
