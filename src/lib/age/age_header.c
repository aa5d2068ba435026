/* The age v1 header: version line, stanzas, MAC line. Parsing is strict
 * (one canonical encoding per header) because the MAC covers the exact
 * bytes and a lenient parser would accept headers other implementations
 * reject. */
#include "age/age-internal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

static const char version_line[] = "age-encryption.org/v1";

void age_header_free(struct age_header *h)
{
	size_t i, j;

	if (!h)
		return;
	for (i = 0; i < h->n; i++) {
		for (j = 0; j < h->stanzas[i].nargs; j++)
			free(h->stanzas[i].args[j]);
		if (h->stanzas[i].body)
			rb_wipe(h->stanzas[i].body, h->stanzas[i].body_len);
		free(h->stanzas[i].body);
	}
	free(h->stanzas);
	free(h);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct age_header *, age_header_free);

/* Next line without its '\n'; a missing '\n' is a header failure. */
static int header_next_line(struct rb_reader *r, const uint8_t **ret, size_t *ret_len)
{
	size_t max = r->len < AGE_MAX_LINE ? r->len : AGE_MAX_LINE;
	const uint8_t *nl = memchr(r->p, '\n', max);
	const uint8_t *line;
	int e;

	if (!nl)
		return rb_err_set(RB_E_PARSE, "age header: line %s",
				  r->len > max ? "too long" : "not terminated by a newline");
	e = rb_reader_get_bytes(r, (size_t)(nl - r->p), &line);
	if (e < 0)
		return e;
	e = rb_reader_skip(r, 1);
	if (e < 0)
		return e;
	*ret = line;
	*ret_len = (size_t)(nl - line);
	return RB_OK;
}

static bool is_b64_char(uint8_t c)
{
	return rb_base64_digit((char)c) >= 0;
}

static int header_parse_args(const uint8_t *line, size_t len, struct age_stanza *st)
{
	size_t i = 3, start;

	/* "-> " then args separated by single spaces, each VCHAR only */
	while (i <= len) {
		start = i;
		while (i < len && line[i] != ' ') {
			if (line[i] < 33 || line[i] > 126)
				return rb_err_set(RB_E_PARSE, "age header: invalid character in a stanza line");
			i++;
		}
		if (i == start)
			return rb_err_set(RB_E_PARSE, "age header: empty stanza argument");
		if (st->nargs == AGE_MAX_ARGS)
			return rb_err_set(RB_E_PARSE, "age header: more than %d stanza arguments",
					  AGE_MAX_ARGS);
		st->args[st->nargs] = strndup((const char *)line + start, i - start);
		if (!st->args[st->nargs])
			return RB_E_NOMEM;
		st->nargs++;
		i++; /* the space, or one past the end */
	}
	return RB_OK;
}

static int header_parse_body(struct rb_reader *r, struct age_stanza *st)
{
	struct rb_buf b64 = RB_BUF_INIT;
	const uint8_t *line;
	size_t len, i;
	int e;

	b64.cap = AGE_MAX_BODY * 4 / 3 + 4;
	for (;;) {
		e = header_next_line(r, &line, &len);
		if (e < 0)
			goto out;
		e = RB_E_PARSE;
		if (len > 64) {
			rb_err_set(e, "age header: stanza body line longer than 64 columns");
			goto out;
		}
		for (i = 0; i < len; i++)
			if (!is_b64_char(line[i])) {
				rb_err_set(e, "age header: invalid character in a stanza body");
				goto out;
			}
		e = rb_buf_put(&b64, line, len);
		if (e < 0)
			goto out;
		if (len < 64)
			break; /* a short line, possibly empty, ends the body */
	}
	if (b64.len == 0) {
		st->body = NULL;
		st->body_len = 0;
		e = RB_OK;
		goto out;
	}
	e = rb_base64_decode((const char *)b64.data, b64.len, false, &st->body, &st->body_len);
	if (e < 0)
		rb_err_set(RB_E_PARSE, "age header: stanza body is not canonical base64");
out:
	rb_buf_free(&b64);
	return e < 0 ? (e == RB_E_NOMEM ? e : RB_E_PARSE) : RB_OK;
}

static int header_parse_mac(const uint8_t *line, size_t len, struct age_header *h)
{
	_cleanup_free_ uint8_t *mac = NULL;
	size_t mlen = 0;

	if (len != 4 + 43 || memcmp(line, "--- ", 4) != 0)
		return rb_err_set(RB_E_PARSE, "age header: malformed MAC line");
	if (rb_base64_decode((const char *)line + 4, 43, false, &mac, &mlen) < 0 || mlen != AGE_MAC_LEN)
		return rb_err_set(RB_E_PARSE, "age header: MAC is not canonical base64 of 32 bytes");
	memcpy(h->mac, mac, AGE_MAC_LEN);
	return RB_OK;
}

int age_header_parse(const uint8_t *in, size_t len, struct age_header **ret)
{
	_cleanup_(age_header_freep) struct age_header *h = NULL;
	struct rb_reader r;
	const uint8_t *line;
	size_t llen;
	int e;

	rb_reader_init(&r, in, len);
	h = calloc(1, sizeof(*h));
	if (!h)
		return RB_E_NOMEM;
	e = header_next_line(&r, &line, &llen);
	if (e < 0)
		return e == RB_E_NOMEM ? e : rb_err_set(RB_E_PARSE, "age header: missing version line");
	if (llen != strlen(version_line) || memcmp(line, version_line, llen) != 0)
		return rb_err_set(RB_E_PARSE, "age header: not an age v1 file (unknown version line)");
	for (;;) {
		struct age_stanza *st;
		size_t off = (size_t)(r.p - in);

		e = header_next_line(&r, &line, &llen);
		if (e < 0)
			return e;
		if (llen >= 3 && memcmp(line, "---", 3) == 0) {
			h->mac_covered = off + 3;
			e = header_parse_mac(line, llen, h);
			if (e < 0)
				return e;
			break;
		}
		if (llen < 3 || memcmp(line, "-> ", 3) != 0)
			return rb_err_set(RB_E_PARSE, "age header: expected a stanza (\"-> \") or the MAC line");
		if (h->n == AGE_MAX_STANZAS)
			return rb_err_set(RB_E_PARSE, "age header: more than %d stanzas", AGE_MAX_STANZAS);
		st = realloc(h->stanzas, (h->n + 1) * sizeof(*st));
		if (!st)
			return RB_E_NOMEM;
		h->stanzas = st;
		st = &h->stanzas[h->n++];
		memset(st, 0, sizeof(*st));
		e = header_parse_args(line, llen, st);
		if (e < 0)
			return e;
		e = header_parse_body(&r, st);
		if (e < 0)
			return e;
	}
	h->len = (size_t)(r.p - in);
	*ret = TAKE_PTR(h);
	return RB_OK;
}

int age_header_mac(const uint8_t *file_key, const uint8_t *hdr, size_t len, uint8_t mac[AGE_MAC_LEN])
{
	uint8_t key[32];
	unsigned int mlen = 0;
	int e;

	e = age_hkdf(file_key, AGE_FILE_KEY_LEN, NULL, 0, "header", key, sizeof(key));
	if (e < 0)
		return e;
	if (!HMAC(EVP_sha256(), key, sizeof(key), hdr, len, mac, &mlen) || mlen != AGE_MAC_LEN)
		e = rb_err_set(RB_E_CRYPTO, "age: HMAC-SHA256 failed");
	rb_wipe(key, sizeof(key));
	return e;
}

int age_stanza_write(struct rb_buf *b, const char *const *args, size_t nargs, const uint8_t *body,
		     size_t blen)
{
	_cleanup_free_ char *b64 = NULL;
	size_t i, n;
	int e;

	e = rb_buf_put_str(b, "->");
	for (i = 0; e == 0 && i < nargs; i++) {
		e = rb_buf_put_u8(b, ' ');
		if (e == 0)
			e = rb_buf_put_str(b, args[i]);
	}
	if (e == 0)
		e = rb_buf_put_u8(b, '\n');
	if (e == 0)
		e = rb_base64_encode(body, blen, false, &b64);
	if (e < 0)
		return e;
	n = strlen(b64);
	/* full 64-column lines, then a short (possibly empty) final line */
	for (i = 0; e == 0; i += 64) {
		size_t chunk = n - i < 64 ? n - i : 64;

		e = rb_buf_put(b, b64 + i, chunk);
		if (e == 0)
			e = rb_buf_put_u8(b, '\n');
		if (chunk < 64)
			break;
	}
	return e;
}
