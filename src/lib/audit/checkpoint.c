/* C2SP tlog-checkpoint: the text of a signed note naming a tree. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/note.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

void checkpoint_free(struct checkpoint *c)
{
	if (!c)
		return;
	free(c->origin);
	for (size_t i = 0; i < c->n_ext; i++)
		free(c->ext[i]);
	free(c);
}

/* Decimal without sign, leading zeros or overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return RB_E_PARSE;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return RB_E_PARSE;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return RB_E_PARSE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return RB_OK;
}

int checkpoint_parse(const char *text, size_t len, struct checkpoint **ret)
{
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	const char *p = text, *end = text + len, *lines[3 + CHECKPOINT_MAX_EXT];
	size_t lens[3 + CHECKPOINT_MAX_EXT], n = 0;
	_cleanup_free_ uint8_t *root = NULL;
	size_t root_len;

	if (len > NOTE_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "checkpoint is %zu bytes, more than %u", len, NOTE_MAX_BYTES);
	if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len))
		return rb_err_set(RB_E_PARSE, "checkpoint text must be lines ending in a newline");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (n == ELEMENTSOF(lines))
			return rb_err_set(RB_E_TOOBIG, "checkpoint has more than %d extension lines",
					  CHECKPOINT_MAX_EXT);
		if (nl == p)
			return rb_err_set(RB_E_PARSE, "checkpoint line %zu is empty", n + 1);
		lines[n] = p;
		lens[n++] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (n < 3)
		return rb_err_set(RB_E_PARSE, "checkpoint needs origin, size and root hash lines, got %zu", n);
	if (!(c = calloc(1, sizeof(*c))) || !(c->origin = strndup(lines[0], lens[0])))
		return RB_E_NOMEM;
	if (!note_name_valid(c->origin) || strlen(c->origin) != lens[0])
		return rb_err_set(RB_E_PARSE, "checkpoint origin is empty or has spaces, '+' or "
				  "non-ASCII characters");
	if (parse_u64(lines[1], lens[1], &c->size) < 0)
		return rb_err_set(RB_E_PARSE, "checkpoint size is not a decimal number without leading "
				  "zeros");
	if (rb_base64_decode(lines[2], lens[2], true, &root, &root_len) < 0 ||
	    root_len != MERKLE_HASH_LEN)
		return rb_err_set(RB_E_PARSE, "checkpoint root is not the base64 of 32 bytes");
	memcpy(c->root, root, MERKLE_HASH_LEN);
	for (size_t i = 3; i < n; i++) {
		if (!(c->ext[c->n_ext] = strndup(lines[i], lens[i])))
			return RB_E_NOMEM;
		c->n_ext++;
		if (strlen(c->ext[c->n_ext - 1]) != lens[i])
			return rb_err_set(RB_E_PARSE, "checkpoint extension line contains NUL");
	}
	*ret = TAKE_PTR(c);
	return RB_OK;
}

int checkpoint_format(const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
		      char **ret)
{
	_cleanup_free_ char *b64 = NULL;
	char *s;
	int err;

	if (!note_name_valid(origin))
		return rb_err_set(RB_E_INVAL, "log origin '%.64s' must be printable ASCII without "
				  "spaces or '+'", origin);
	if ((err = rb_base64_encode(root, MERKLE_HASH_LEN, true, &b64)) < 0)
		return err;
	if (asprintf(&s, "%s\n%" PRIu64 "\n%s\n", origin, size, b64) < 0)
		return RB_E_NOMEM;
	*ret = s;
	return RB_OK;
}

bool checkpoint_origin_is(const char *text, const char *origin)
{
	size_t n = strlen(origin);

	return strncmp(text, origin, n) == 0 && text[n] == '\n';
}

int checkpoint_verify(const void *msg, size_t len, const struct note_verifier *v,
		      struct checkpoint **ret)
{
	_cleanup_(note_freep) struct note *n = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	struct note_verifier *vs[1] = { (struct note_verifier *)v };
	int err;

	if ((err = note_verify(msg, len, vs, 1, &n)) < 0)
		return err;
	if ((err = checkpoint_parse(n->text, n->text_len, &c)) < 0)
		return err;
	if (strcmp(c->origin, v->name) != 0)
		return rb_err_set(RB_E_VERIFY, "checkpoint is for log '%s', the key for '%s'",
				  c->origin, v->name);
	*ret = TAKE_PTR(c);
	return RB_OK;
}
