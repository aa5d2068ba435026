/* The text form of inclusion and consistency proofs (docs/formats/audit-log.md). */
#include <inttypes.h>
#include <string.h>

#include "audit/log.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

#define PROOF_HEADER "rombsr-audit-proof/v1"

int audit_proof_format(const struct audit_proof *p, struct rb_buf *out)
{
	const char *kind = p->kind == AUDIT_PROOF_INCLUSION ? "inclusion" : "consistency";
	int err;

	if (p->kind != AUDIT_PROOF_INCLUSION && p->kind != AUDIT_PROOF_CONSISTENCY)
		return rb_err_set(RB_E_INVAL, "unknown proof kind %d", (int)p->kind);
	if ((err = rb_buf_printf(out, PROOF_HEADER "\n%s %" PRIu64 " %" PRIu64 "\n", kind, p->a,
				 p->size)) < 0)
		return err;
	for (size_t i = 0; i < p->proof.n; i++) {
		_cleanup_free_ char *b64 = NULL;

		if ((err = rb_base64_encode(p->proof.hash[i], MERKLE_HASH_LEN, true, &b64)) < 0 ||
		    (err = rb_buf_printf(out, "%s\n", b64)) < 0)
			return err;
	}
	return RB_OK;
}

static int parse_dec(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return RB_E_PARSE;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return RB_E_PARSE;
		v = v * 10 + d;
	}
	*ret = v;
	return RB_OK;
}

int audit_proof_parse(const void *text, size_t len, struct audit_proof *ret)
{
	const char *p = text, *end = p + len;
	struct audit_proof out;
	size_t line = 0;

	memset(&out, 0, sizeof(out));
	if (len > AUDIT_PROOF_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "proof is %zu bytes, more than %u", len,
				  AUDIT_PROOF_MAX_BYTES);
	if (len == 0 || p[len - 1] != '\n')
		return rb_err_set(RB_E_PARSE, "proof must be lines, each ending in a newline");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);

		line++;
		if (line == 1) {
			if (n != strlen(PROOF_HEADER) || memcmp(p, PROOF_HEADER, n) != 0)
				return rb_err_set(RB_E_PARSE, "proof line 1: expected \"" PROOF_HEADER "\"");
		} else if (line == 2) {
			const char *sp1 = memchr(p, ' ', n), *sp2;

			sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
			if (!sp2)
				return rb_err_set(RB_E_PARSE, "proof line 2: expected \"inclusion INDEX SIZE\" "
						  "or \"consistency OLD SIZE\"");
			if ((size_t)(sp1 - p) == 9 && memcmp(p, "inclusion", 9) == 0)
				out.kind = AUDIT_PROOF_INCLUSION;
			else if ((size_t)(sp1 - p) == 11 && memcmp(p, "consistency", 11) == 0)
				out.kind = AUDIT_PROOF_CONSISTENCY;
			else
				return rb_err_set(RB_E_PARSE, "proof line 2: unknown proof kind");
			if (parse_dec(sp1 + 1, (size_t)(sp2 - sp1 - 1), &out.a) < 0 ||
			    parse_dec(sp2 + 1, (size_t)(nl - sp2 - 1), &out.size) < 0)
				return rb_err_set(RB_E_PARSE, "proof line 2: numbers must be decimal without "
						  "leading zeros");
		} else {
			_cleanup_free_ uint8_t *h = NULL;
			size_t hlen;

			if (out.proof.n == MERKLE_MAX_PROOF)
				return rb_err_set(RB_E_TOOBIG, "proof has more than %d hashes", MERKLE_MAX_PROOF);
			if (rb_base64_decode(p, n, true, &h, &hlen) < 0 || hlen != MERKLE_HASH_LEN)
				return rb_err_set(RB_E_PARSE, "proof line %zu: expected the base64 of a "
						  "32-byte hash", line);
			memcpy(out.proof.hash[out.proof.n++], h, MERKLE_HASH_LEN);
		}
		p = nl + 1;
	}
	if (line < 2)
		return rb_err_set(RB_E_PARSE, "proof has no kind line");
	*ret = out;
	return RB_OK;
}
