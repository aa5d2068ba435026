/* C2SP signed-note: verifier keys, parsing, signing and verification. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "audit/note.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

/* U+2014 EM DASH, then a space: the start of every signature line. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4

int note_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NOTE_MAX_NAME)
		return 0;
	/* Printable ASCII without space or '+': stricter than C2SP (which
	 * allows non-space Unicode), so a name is always safe to print. */
	for (size_t i = 0; i < n; i++)
		if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '+')
			return 0;
	return 1;
}

void note_key_id(const char *name, const uint8_t pub[32], uint8_t ret[NOTE_KEY_ID_LEN])
{
	uint8_t h[SHA256_DIGEST_LENGTH], sep[2] = { '\n', NOTE_ALG_ED25519 };
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;

	/* SHA-256 cannot fail short of allocation failure; then the id is zero
	 * and no signature matches it. */
	memset(h, 0, sizeof(h));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, name, strlen(name)) == 1 && EVP_DigestUpdate(c, sep, 2) == 1 &&
	    EVP_DigestUpdate(c, pub, 32) == 1)
		EVP_DigestFinal_ex(c, h, &n);
	EVP_MD_CTX_free(c);
	memcpy(ret, h, NOTE_KEY_ID_LEN);
}

void note_verifier_free(struct note_verifier *v)
{
	if (!v)
		return;
	free(v->name);
	EVP_PKEY_free(v->pkey);
	free(v);
}

static int verifier_new(const char *name, size_t name_len, const uint8_t pub[32],
			struct note_verifier **ret)
{
	struct note_verifier *v = calloc(1, sizeof(*v));

	if (!v || !(v->name = strndup(name, name_len))) {
		free(v);
		return RB_E_NOMEM;
	}
	memcpy(v->pub, pub, 32);
	note_key_id(v->name, pub, v->key_id);
	v->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (!v->pkey) {
		note_verifier_free(v);
		return rb_err_set(RB_E_CRYPTO, "cannot load Ed25519 public key");
	}
	*ret = v;
	return RB_OK;
}

int note_verifier_parse(const char *vkey, struct note_verifier **ret)
{
	const char *p1, *p2;
	_cleanup_free_ uint8_t *key = NULL;
	_cleanup_free_ char *name = NULL;
	uint8_t id[NOTE_KEY_ID_LEN];
	size_t key_len, len = strnlen(vkey, 1024);
	struct note_verifier *v;
	int err;

	if (len >= 1024)
		return rb_err_set(RB_E_PARSE, "verifier key is longer than 1023 bytes");
	p1 = strchr(vkey, '+');
	p2 = p1 ? strchr(p1 + 1, '+') : NULL;
	/* The name has no '+'; the base64 key may. */
	if (!p1 || !p2)
		return rb_err_set(RB_E_PARSE, "verifier key: expected name+keyid+key; pass e.g. "
				  "--key 'log.example+1a2b3c4d+AeX...'");
	if (!(name = strndup(vkey, (size_t)(p1 - vkey))))
		return RB_E_NOMEM;
	if (!note_name_valid(name))
		return rb_err_set(RB_E_PARSE, "verifier key: the name is empty or has spaces, '+' or "
				  "non-ASCII characters");
	/* Lowercase only, as the C2SP examples and Go's note package write it. */
	if (rb_hex_decode_lower(p1 + 1, (size_t)(p2 - p1 - 1), id, NOTE_KEY_ID_LEN) < 0)
		return rb_err_set(RB_E_PARSE, "verifier key: key id must be 8 lowercase hex digits");
	if (rb_base64_decode(p2 + 1, strlen(p2 + 1), true, &key, &key_len) < 0 || key_len < 1)
		return rb_err_set(RB_E_PARSE, "verifier key: the key is not base64");
	if (key[0] != NOTE_ALG_ED25519)
		return rb_err_set(RB_E_UNSUPPORTED, "verifier key: type 0x%02x; only Ed25519 (0x01) "
				  "is supported", key[0]);
	if (key_len != 33)
		return rb_err_set(RB_E_PARSE, "verifier key: an Ed25519 key is 32 bytes, got %zu",
				  key_len - 1);
	if ((err = verifier_new(name, strlen(name), key + 1, &v)) < 0)
		return err;
	if (memcmp(v->key_id, id, NOTE_KEY_ID_LEN) != 0) {
		note_verifier_free(v);
		return rb_err_set(RB_E_VERIFY, "verifier key: key id does not match the name and key; "
				  "the key string was altered or mistyped");
	}
	*ret = v;
	return RB_OK;
}

int note_verifier_from_pkey(const char *name, EVP_PKEY *pub, struct note_verifier **ret)
{
	uint8_t raw[32];
	size_t len = sizeof(raw);

	if (!note_name_valid(name))
		return rb_err_set(RB_E_INVAL, "log origin '%.64s' cannot name a note key: use printable "
				  "ASCII without spaces or '+'", name);
	if (EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pub, raw, &len) != 1 || len != 32)
		return rb_err_set(RB_E_UNSUPPORTED, "checkpoint key for '%.64s' is not Ed25519; the "
				  "audit key must be Ed25519", name);
	return verifier_new(name, strlen(name), raw, ret);
}

int note_verifier_format(const struct note_verifier *v, char **ret)
{
	uint8_t key[33];
	_cleanup_free_ char *hex = NULL, *b64 = NULL;
	char *s;
	int err;

	key[0] = NOTE_ALG_ED25519;
	memcpy(key + 1, v->pub, 32);
	if ((err = rb_hex_encode(v->key_id, NOTE_KEY_ID_LEN, &hex)) < 0 ||
	    (err = rb_base64_encode(key, sizeof(key), true, &b64)) < 0)
		return err;
	if (asprintf(&s, "%s+%s+%s", v->name, hex, b64) < 0)
		return RB_E_NOMEM;
	*ret = s;
	return RB_OK;
}

void note_free(struct note *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_sigs; i++) {
		free(n->sigs[i].name);
		free(n->sigs[i].sig);
	}
	free(n->sigs);
	free(n->text);
	free(n);
}

/* Note text: valid UTF-8 without control characters except '\n'. */
static int text_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += n;
	}
	return 1;
}

static int parse_sig_line(const char *line, size_t len, struct note_sig *ret)
{
	const char *name, *sp;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t name_len, raw_len;
	char *nm;

	if (len < SIG_PREFIX_LEN || memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
		return rb_err_set(RB_E_PARSE, "note: a signature line does not start with an em dash "
				  "and a space");
	name = line + SIG_PREFIX_LEN;
	sp = memchr(name, ' ', len - SIG_PREFIX_LEN);
	if (!sp)
		return rb_err_set(RB_E_PARSE, "note: a signature line has no space after the name");
	name_len = (size_t)(sp - name);
	if (!(nm = strndup(name, name_len)))
		return RB_E_NOMEM;
	if (!note_name_valid(nm) || strlen(nm) != name_len) {
		free(nm);
		return rb_err_set(RB_E_PARSE, "note: a signature line has an invalid key name");
	}
	if (rb_base64_decode(sp + 1, len - (size_t)(sp + 1 - line), true, &raw, &raw_len) < 0 ||
	    raw_len < NOTE_KEY_ID_LEN + 1) {
		int err = rb_err_set(RB_E_PARSE, "note: signature by '%.64s' is not base64 of a key id "
				     "and a signature", nm);

		free(nm);
		return err;
	}
	ret->name = nm;
	memcpy(ret->key_id, raw, NOTE_KEY_ID_LEN);
	ret->sig_len = raw_len - NOTE_KEY_ID_LEN;
	memmove(raw, raw + NOTE_KEY_ID_LEN, ret->sig_len);
	ret->sig = TAKE_PTR(raw);
	return RB_OK;
}

int note_parse(const void *msg, size_t len, struct note **ret)
{
	const char *m = msg, *split = NULL, *p, *end;
	struct note *n;
	int err;

	if (len > NOTE_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "note is %zu bytes, more than %u", len, NOTE_MAX_BYTES);
	if (!text_valid(msg, len))
		return rb_err_set(RB_E_PARSE, "note is not UTF-8 text without control characters");
	/* The text ends at the last blank line: signatures cannot contain one. */
	for (size_t i = len; i >= 2; i--)
		if (m[i - 1] == '\n' && m[i - 2] == '\n') {
			split = m + i - 2;
			break;
		}
	if (!split || split == m)
		return rb_err_set(RB_E_PARSE, "note has no text followed by a blank line and signatures");
	if (m[len - 1] != '\n')
		return rb_err_set(RB_E_PARSE, "note does not end with a newline");
	if (!(n = calloc(1, sizeof(*n))))
		return RB_E_NOMEM;
	n->text_len = (size_t)(split - m) + 1;
	if (!(n->text = strndup(m, n->text_len)) || !(n->sigs = calloc(NOTE_MAX_SIGS, sizeof(*n->sigs)))) {
		note_free(n);
		return RB_E_NOMEM;
	}
	p = split + 2;
	end = m + len;
	if (p == end) {
		note_free(n);
		return rb_err_set(RB_E_PARSE, "note has no signatures");
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (n->n_sigs == NOTE_MAX_SIGS) {
			note_free(n);
			return rb_err_set(RB_E_TOOBIG, "note has more than %d signatures", NOTE_MAX_SIGS);
		}
		if ((err = parse_sig_line(p, (size_t)(nl - p), &n->sigs[n->n_sigs])) < 0) {
			note_free(n);
			return err;
		}
		n->n_sigs++;
		p = nl + 1;
	}
	*ret = n;
	return RB_OK;
}

int note_verify(const void *msg, size_t len, struct note_verifier *const *vs, size_t nv,
		struct note **ret)
{
	_cleanup_(note_freep) struct note *n = NULL;
	size_t verified = 0;
	int err;

	if ((err = note_parse(msg, len, &n)) < 0)
		return err;
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *s = &n->sigs[i];

		for (size_t k = 0; k < nv; k++) {
			const struct note_verifier *v = vs[k];

			if (strcmp(v->name, s->name) != 0 ||
			    memcmp(v->key_id, s->key_id, NOTE_KEY_ID_LEN) != 0)
				continue;
			/* A known key: its signature must be good, and appear once. */
			for (size_t j = 0; j < i; j++)
				if (strcmp(n->sigs[j].name, s->name) == 0 &&
				    memcmp(n->sigs[j].key_id, s->key_id, NOTE_KEY_ID_LEN) == 0)
					return rb_err_set(RB_E_PARSE, "note: key '%s' signed twice", v->name);
			if (rb_sig_verify(v->pkey, RB_SIG_ED25519, (const uint8_t *)n->text, n->text_len,
					  s->sig, s->sig_len) < 0)
				return rb_err_set(RB_E_VERIFY, "note: the signature by key '%s' does not "
						  "verify: the note was altered or forged", v->name);
			verified++;
		}
	}
	if (verified == 0)
		return rb_err_set(RB_E_VERIFY, "note: signed by no known key (%zu signature%s); check "
				  "that you have the right verifier key for this log", n->n_sigs,
				  n->n_sigs == 1 ? "" : "s");
	if (ret)
		*ret = TAKE_PTR(n);
	return RB_OK;
}

int note_sign(const char *text, const char *name, const struct rb_signer *signer, char **ret)
{
	size_t len = strlen(text), siglen = 0;
	_cleanup_free_ uint8_t *sig = NULL, *blob = NULL;
	_cleanup_free_ char *b64 = NULL;
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
	char *out;
	int err;

	if (len == 0 || text[len - 1] != '\n' || len > NOTE_MAX_BYTES / 2 ||
	    !text_valid((const uint8_t *)text, len) || strstr(text, "\n\n"))
		return rb_err_set(RB_E_INVAL, "note text must be non-empty UTF-8 lines without blank "
				  "lines, ending in a newline");
	if (signer->alg != RB_KEY_ED25519)
		return rb_err_set(RB_E_UNSUPPORTED, "key '%s' is %s; notes are signed with Ed25519",
				  signer->name, rb_key_alg_name(signer->alg));
	if ((err = note_verifier_from_pkey(name, signer->pub, &v)) < 0)
		return err;
	if ((err = rb_signer_sign(signer, RB_SIG_ED25519, (const uint8_t *)text, len, &sig, &siglen)) < 0)
		return err;
	/* Check before anything leaves: the signer promises it, we make sure. */
	if (siglen != 64 || rb_sig_verify(v->pkey, RB_SIG_ED25519, (const uint8_t *)text, len, sig,
					   siglen) < 0)
		return rb_err_set(RB_E_VERIFY, "key '%s' returned a signature that does not verify",
				  signer->name);
	if (!(blob = malloc(NOTE_KEY_ID_LEN + siglen)))
		return RB_E_NOMEM;
	memcpy(blob, v->key_id, NOTE_KEY_ID_LEN);
	memcpy(blob + NOTE_KEY_ID_LEN, sig, siglen);
	if ((err = rb_base64_encode(blob, NOTE_KEY_ID_LEN + siglen, true, &b64)) < 0)
		return err;
	if (asprintf(&out, "%s\n%s%s %s\n", text, sig_prefix, name, b64) < 0)
		return RB_E_NOMEM;
	*ret = out;
	return RB_OK;
}
