/* ASCII armor: strict PEM with the "AGE ENCRYPTED FILE" label, padded
 * canonical base64 in 64-column lines, LF or CRLF line ends, whitespace
 * allowed only before the first and after the last line (as the CCTV
 * vectors require). */
#include "age/age-internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

static const char begin_line[] = "-----BEGIN AGE ENCRYPTED FILE-----";
static const char end_line[] = "-----END AGE ENCRYPTED FILE-----";

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool age_armor_detect(const uint8_t *in, size_t len)
{
	size_t i = 0;

	while (i < len && is_ws(in[i]))
		i++;
	return len - i >= 5 && memcmp(in + i, "-----", 5) == 0;
}

/* One line without its LF or CRLF; *ret_eol tells whether one was seen. */
static void armor_line(const uint8_t *in, size_t len, size_t *pos, const uint8_t **ret,
		       size_t *ret_len, bool *ret_eol)
{
	const uint8_t *nl = memchr(in + *pos, '\n', len - *pos);
	size_t end = nl ? (size_t)(nl - in) : len, l;

	*ret = in + *pos;
	l = end - *pos;
	if (nl && l > 0 && in[end - 1] == '\r')
		l--;
	*ret_len = l;
	*ret_eol = nl != NULL;
	*pos = nl ? end + 1 : len;
}

int age_armor_decode(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	struct rb_buf b64 = RB_BUF_INIT;
	const uint8_t *line;
	size_t pos = 0, llen, i;
	bool eol, short_seen = false;
	uint8_t *out = NULL;
	size_t olen = 0;
	int e = RB_E_PARSE;

	b64.cap = AGE_MAX_INPUT;
	while (pos < len && is_ws(in[pos]))
		pos++;
	armor_line(in, len, &pos, &line, &llen, &eol);
	if (!eol || llen != strlen(begin_line) || memcmp(line, begin_line, llen) != 0) {
		rb_err_set(e, "age armor: expected \"%s\"", begin_line);
		goto out;
	}
	for (;;) {
		if (pos >= len) {
			rb_err_set(e, "age armor: missing \"%s\"", end_line);
			goto out;
		}
		armor_line(in, len, &pos, &line, &llen, &eol);
		if (llen == strlen(end_line) && memcmp(line, end_line, llen) == 0)
			break;
		if (short_seen || llen == 0 || llen > 64) {
			rb_err_set(e, "age armor: base64 lines must be 64 columns, the last 1 to 64");
			goto out;
		}
		for (i = 0; i < llen; i++)
			if (!((line[i] >= 'A' && line[i] <= 'Z') || (line[i] >= 'a' && line[i] <= 'z') ||
			      (line[i] >= '0' && line[i] <= '9') || line[i] == '+' || line[i] == '/' ||
			      line[i] == '=')) {
				rb_err_set(e, "age armor: invalid character in the armored data");
				goto out;
			}
		if (llen < 64)
			short_seen = true;
		if (!eol) {
			rb_err_set(e, "age armor: missing \"%s\"", end_line);
			goto out;
		}
		e = rb_buf_put(&b64, line, llen);
		if (e < 0)
			goto out;
		e = RB_E_PARSE;
	}
	for (; pos < len; pos++)
		if (!is_ws(in[pos])) {
			rb_err_set(e, "age armor: data after \"%s\"", end_line);
			goto out;
		}
	if (b64.len == 0) {
		out = calloc(1, 1);
		if (!out) {
			e = RB_E_NOMEM;
			goto out;
		}
	} else if (rb_base64_decode((const char *)b64.data, b64.len, true, &out, &olen) < 0) {
		rb_err_set(e, "age armor: base64 is not canonical or badly padded");
		goto out;
	}
	*ret = out;
	*ret_len = olen;
	e = RB_OK;
out:
	rb_buf_free(&b64);
	return e;
}

int age_armor_encode(const uint8_t *in, size_t len, struct rb_buf *out)
{
	_cleanup_free_ char *b64 = NULL;
	size_t n, i;
	int e;

	e = rb_base64_encode(in, len, true, &b64);
	if (e < 0)
		return e;
	n = strlen(b64);
	e = rb_buf_printf(out, "%s\n", begin_line);
	for (i = 0; e == 0 && i < n; i += 64) {
		e = rb_buf_put(out, b64 + i, n - i < 64 ? n - i : 64);
		if (e == 0)
			e = rb_buf_put_u8(out, '\n');
	}
	if (e == 0)
		e = rb_buf_printf(out, "%s\n", end_line);
	return e;
}
