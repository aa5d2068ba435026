/* The fast entry reader: one scan over the bytes that accepts exactly
 * what audit_entry_parse() accepts (strict JSON, parsed, checked against
 * the field table and re-emitted canonical), without the tree and the
 * re-emission. Opening and verifying a log reads every entry, so this is
 * what sets their speed (docs/formats/audit-entry.md, "Reading fast").
 *
 * Why the two agree: a canonical entry has no whitespace, its keys are
 * table keys (plain ASCII, never escaped) in strictly increasing byte
 * order (which is also RFC 8785 order for ASCII, and rules out
 * duplicates), its strings escape exactly '"', '\\' and U+0001..U+001F in
 * the emitter's spelling (U+0000 cannot occur: the parser refuses it),
 * its only integer is `"version":1`, and every value has the one JSON
 * type the table allows. Anything else either fails the strict parser,
 * fails audit_entry_check(), or re-emits differently. */
#include <stdbool.h>
#include <string.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

struct scan {
	const uint8_t *start, *p, *end;
};

static int scan_fail(const struct scan *s, const char *what)
{
	return rb_err_set(RB_E_PARSE, "byte %zu: %s", (size_t)(s->p - s->start), what);
}

static const uint8_t lhex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

#define W_ONES 0x0101010101010101ull
#define W_HIGH 0x8080808080808080ull

/* High bit of each byte of x (all below 0x80) set where lo <= byte <= hi:
 * no borrow crosses a byte, since every minuend byte is at least 0x80. */
static inline uint64_t w_range(uint64_t x, uint8_t lo, uint8_t hi)
{
	return ((x | W_HIGH) - W_ONES * lo) & ((W_ONES * hi | W_HIGH) - x) & W_HIGH;
}

/* Eight lowercase hex digits? */
static inline int w_hex(uint64_t x)
{
	return !(x & W_HIGH) && (w_range(x, '0', '9') | w_range(x, 'a', 'f')) == W_HIGH;
}

/* Eight base64 digits (no '=')? */
static inline int w_b64(uint64_t x)
{
	return !(x & W_HIGH) &&
	       (w_range(x, 'A', 'Z') | w_range(x, 'a', 'z') | w_range(x, '0', '9') |
		w_range(x, '+', '+') | w_range(x, '/', '/')) == W_HIGH;
}


static bool is_lhex(uint8_t c)
{
	return lhex[c];
}

/* Bytes that stand for themselves in a canonical string. */
static const uint8_t plain[256] = {
	/* 0x20..0x7f except '"' (0x22) and '\\' (0x5c) */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* One canonical string starting at its opening quote: UTF-8 as the strict
 * parser wants it (no overlongs, surrogates or code points past U+10FFFF),
 * escapes exactly as json_emit() writes them. On return s->p is after the
 * closing quote; *ret_dlen is the decoded length, *ret_esc whether it had
 * an escape. */
static int scan_string(struct scan *s, size_t *ret_dlen, bool *ret_esc)
{
	const uint8_t *p = s->p, *end = s->end;
	size_t dlen = 0;
	bool esc = false;

	if (p >= end || *p != '"')
		return scan_fail(s, "expected a string");
	p++;
	for (;;) {
		uint8_t c;

		/* Runs of plain ASCII are nearly all of an entry: eight bytes
		 * at a time, then byte by byte up to the byte that ends the
		 * run (the word test may also stop early; the byte loop then
		 * just goes on). */
		{
			const uint8_t *run = p;

			while (end - p >= 8) {
				uint64_t x;

				memcpy(&x, p, 8);
				if (audit_word_special(x))
					break;
				p += 8;
			}
			while (p < end && plain[*p])
				p++;
			dlen += (size_t)(p - run);
		}
		if (p >= end) {
			s->p = p;
			return scan_fail(s, "unterminated string");
		}
		c = *p;
		if (c == '"')
			break;
		if (c < 0x20) {
			s->p = p;
			return scan_fail(s, "raw control character in a string");
		}
		if (c == '\\') {
			uint8_t e;

			if (end - p < 2) {
				s->p = p;
				return scan_fail(s, "unterminated escape");
			}
			e = p[1];
			if (e == '"' || e == '\\' || e == 'b' || e == 't' || e == 'n' || e == 'f' ||
			    e == 'r') {
				p += 2;
			} else if (e == 'u' && end - p >= 6 && p[2] == '0' && p[3] == '0' &&
				   (p[4] == '0' || p[4] == '1') && is_lhex(p[5])) {
				unsigned v = (unsigned)(p[4] - '0') << 4 |
					     (unsigned)(p[5] <= '9' ? p[5] - '0' : p[5] - 'a' + 10);

				/* \u0000 is refused by the parser; the short forms
				 * must be used where they exist. */
				if (v == 0 || v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r') {
					s->p = p;
					return scan_fail(s, "escape not in canonical form");
				}
				p += 6;
			} else {
				s->p = p;
				return scan_fail(s, "escape not in canonical form");
			}
			dlen++;
			esc = true;
			continue;
		}
		/* Multi-byte UTF-8 (RFC 3629 table 3-7). */
		{
			size_t n, left = (size_t)(end - p);
			uint8_t lo = 0x80, hi = 0xbf;

			if (c >= 0xc2 && c <= 0xdf)
				n = 2;
			else if (c >= 0xe0 && c <= 0xef) {
				n = 3;
				if (c == 0xe0)
					lo = 0xa0;
				else if (c == 0xed)
					hi = 0x9f;
			} else if (c >= 0xf0 && c <= 0xf4) {
				n = 4;
				if (c == 0xf0)
					lo = 0x90;
				else if (c == 0xf4)
					hi = 0x8f;
			} else {
				s->p = p;
				return scan_fail(s, "invalid UTF-8");
			}
			if (left < n || p[1] < lo || p[1] > hi || (n > 2 && (p[2] & 0xc0) != 0x80) ||
			    (n > 3 && (p[3] & 0xc0) != 0x80)) {
				s->p = p;
				return scan_fail(s, "invalid UTF-8");
			}
			p += n;
			dlen += n;
		}
	}
	s->p = p + 1;
	*ret_dlen = dlen;
	*ret_esc = esc;
	return RB_OK;
}

int audit_lower_hex(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min || n > max || n % 2)
		return 0;
	return rb_hex_is_lower(s, n);
}

/* The last time value accepted, per thread: entries of a batch share
 * their time, and rb_time_parse() (timegm and a round trip) costs more
 * than the rest of an entry. Caching the exact bytes changes nothing
 * about what is accepted. */
static _Thread_local char time_ok[RB_TIME_LEN + 1];

static int time_valid(const char *v, size_t n)
{
	char buf[RB_TIME_LEN + 1];
	int64_t t;

	if (n != RB_TIME_LEN)
		return 0;
	if (time_ok[0] && memcmp(time_ok, v, RB_TIME_LEN) == 0)
		return 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (rb_time_parse(buf, &t) < 0)
		return 0;
	memcpy(time_ok, buf, sizeof(time_ok));
	return 1;
}

/* A string of lowercase hex digits at s->p (its opening quote), of an
 * even length in [min, max]: one pass with the hex alphabet. A value of
 * those characters has no escape, control or non-ASCII byte, and anything
 * else in it (an escape included, whatever it stands for) is not hex, so
 * this accepts and refuses exactly what the general scan and a check of
 * the decoded string would. On success s->p is after the closing quote. */
static int scan_hex(struct scan *s, const char *name, size_t min, size_t max, const char **ret_v,
		    size_t *ret_n)
{
	const uint8_t *v0 = s->p + 1, *q = v0;
	size_t n;

	if (s->p >= s->end || *s->p != '"')
		return scan_fail(s, "expected a string");
	for (uint64_t x; s->end - q >= 8 && (memcpy(&x, q, 8), w_hex(x));)
		q += 8;
	while (q < s->end && lhex[*q])
		q++;
	n = (size_t)(q - v0);
	if (q >= s->end || *q != '"' || n < min || n > max || n % 2)
		return rb_err_set(RB_E_PARSE, "%s: expected lowercase hex of %zu..%zu digits "
				  "(an even number)", name, min, max);
	s->p = q + 1;
	*ret_v = (const char *)v0;
	*ret_n = n;
	return RB_OK;
}

/* An array at s->p: approvals (0..AUDIT_APPROVALS_MAX strings of
 * 1..AUDIT_FIELD_MAX bytes) or an intent's request ids (1..
 * AUDIT_INTENT_IDS_MAX ids of 2..128 hex digits), no whitespace. The span
 * is the whole array, brackets included. */
static int scan_array(struct scan *s, int k, const char **ret_v, size_t *ret_n)
{
	const char *name = audit_keys[k].name, *id;
	const uint8_t *a0 = s->p;
	bool ids = audit_keys[k].kind == AUDIT_S_IDLIST;
	unsigned count = 0, max = ids ? AUDIT_INTENT_IDS_MAX : AUDIT_APPROVALS_MAX;
	size_t n;
	bool esc;
	int err;

	if (s->p >= s->end || *s->p != '[')
		return rb_err_prefix(scan_fail(s, "expected an array"), "%s", name);
	s->p++;
	if (!ids && s->p < s->end && *s->p == ']')
		s->p++;
	else
		for (;;) {
			if (ids)
				err = scan_hex(s, name, 2, 128, &id, &n);
			else if ((err = scan_string(s, &n, &esc)) < 0)
				err = rb_err_prefix(err, "%s", name);
			else if (n == 0 || n > AUDIT_FIELD_MAX)
				err = rb_err_set(RB_E_PARSE, "%s: each must be 1..%u bytes", name,
						 AUDIT_FIELD_MAX);
			if (err < 0)
				return err;
			if (++count > max)
				return rb_err_set(RB_E_PARSE, "%s: more than %u", name, max);
			if (s->p < s->end && *s->p == ']') {
				s->p++;
				break;
			}
			if (s->p >= s->end || *s->p != ',')
				return rb_err_prefix(scan_fail(s, "expected ',' or ']'"), "%s", name);
			s->p++;
		}
	*ret_v = (const char *)a0;
	*ret_n = (size_t)(s->p - a0);
	return RB_OK;
}

/* A value of the given kind at s->p. v_* receive the raw span of string
 * values. */
static int scan_value(struct scan *s, int k, const char **ret_v, size_t *ret_n,
		      enum audit_event *ret_type)
{
	const char *name = audit_keys[k].name;
	const uint8_t *v0;
	size_t dlen, n;
	bool esc;
	int err;

	if (audit_keys[k].kind == AUDIT_S_VERSION) {
		/* The only integer, and only 1 is read: "1" then ',' or '}'. */
		if (s->end - s->p < 2 || s->p[0] != '1' || (s->p[1] != ',' && s->p[1] != '}'))
			return scan_fail(s, "version: this rombsr reads audit entries of version 1 "
					 "(canonical integer)");
		s->p++;
		return RB_OK;
	}
	if (audit_keys[k].kind == AUDIT_S_LIST || audit_keys[k].kind == AUDIT_S_IDLIST)
		return scan_array(s, k, ret_v, ret_n);
	v0 = s->p + 1;
	if (s->p >= s->end || *s->p != '"')
		return scan_fail(s, "expected a string");
	/* Hex and base64 values are most of an entry's bytes: one pass with
	 * the kind's own alphabet (scan_hex for hex). */
	if (audit_keys[k].kind == AUDIT_S_FPR)
		return scan_hex(s, name, 64, 64, ret_v, ret_n);
	if (audit_keys[k].kind == AUDIT_S_NODE)
		return scan_hex(s, name, 2 * AUDIT_NODE_FPR_LEN, 2 * AUDIT_NODE_FPR_LEN, ret_v, ret_n);
	if (audit_keys[k].kind == AUDIT_S_ID)
		return scan_hex(s, name, 2, 128, ret_v, ret_n);
	if (audit_keys[k].kind == AUDIT_S_DIGEST)
		return scan_hex(s, name, 2, 2 * AUDIT_DIGEST_MAX, ret_v, ret_n);
	if (audit_keys[k].kind == AUDIT_S_SIG) {
		const uint8_t *q = v0;
		size_t blen;

		/* Find the value's end (digits, then '='), then check it as
		 * every reader of base64 does. */
		for (uint64_t x; s->end - q >= 8 && (memcpy(&x, q, 8), w_b64(x));)
			q += 8;
		while (q < s->end && rb_base64_digit((char)*q) >= 0)
			q++;
		while (q < s->end && *q == '=')
			q++;
		n = (size_t)(q - v0);
		if (q >= s->end || *q != '"' || !rb_base64_check((const char *)v0, n, true, &blen) || blen == 0 ||
		    blen > AUDIT_SIG_MAX)
			return rb_err_set(RB_E_PARSE, "%s: expected base64 of 1..%u bytes", name,
					  AUDIT_SIG_MAX);
		s->p = q + 1;
		*ret_v = (const char *)v0;
		*ret_n = n;
		return RB_OK;
	}
	if ((err = scan_string(s, &dlen, &esc)) < 0)
		return rb_err_prefix(err, "%s", name);
	n = (size_t)(s->p - 1 - v0);
	if (audit_keys[k].kind == AUDIT_S_STR) {
		if (dlen == 0 || dlen > AUDIT_FIELD_MAX)
			return rb_err_set(RB_E_PARSE, "%s: must be 1..%u bytes", name, AUDIT_FIELD_MAX);
		return RB_OK;
	}
	/* Every other kind is plain printable ASCII: an escape can only
	 * stand for a character none of them allows. */
	if (esc)
		return rb_err_set(RB_E_PARSE, "%s: escaped character not allowed here", name);
	*ret_v = (const char *)v0;
	*ret_n = n;
	switch (audit_keys[k].kind) {
	case AUDIT_S_SCHEME: {
		char buf[64];
		enum rb_sig_scheme sc;

		if (n >= sizeof(buf))
			return rb_err_set(RB_E_PARSE, "%s: unknown signature scheme", name);
		memcpy(buf, *ret_v, n);
		buf[n] = '\0';
		if (rb_sig_scheme_from_name(buf, &sc) < 0)
			return rb_err_set(RB_E_PARSE, "%s: unknown signature scheme", name);
		return RB_OK;
	}
	case AUDIT_S_FORMAT:
		if (n != sizeof(AUDIT_ENTRY_FORMAT) - 1 || memcmp(*ret_v, AUDIT_ENTRY_FORMAT, n) != 0)
			return rb_err_set(RB_E_PARSE, "format: expected \"" AUDIT_ENTRY_FORMAT "\"");
		return RB_OK;
	case AUDIT_S_TYPE: {
		char buf[32];

		if (n >= sizeof(buf))
			return rb_err_set(RB_E_PARSE, "type: unknown event type");
		memcpy(buf, *ret_v, n);
		buf[n] = '\0';
		if (audit_event_parse(buf, ret_type) < 0)
			return rb_err_set(RB_E_PARSE, "type: unknown event type");
		return RB_OK;
	}
	case AUDIT_S_TIME:
		if (!time_valid(*ret_v, n))
			return rb_err_set(RB_E_PARSE, "time: expected an RFC 3339 UTC time like "
					  "2026-11-22T08:30:00Z");
		return RB_OK;
	default:
		return rb_err_set(RB_E_PARSE, "%s: unexpected field kind", name);
	}
}

int audit_entry_validate(const void *bytes, size_t len, struct audit_entry_view *ret)
{
	struct scan s = { bytes, bytes, (const uint8_t *)bytes + len };
	struct audit_entry_view view;
	const char *span[AUDIT_KEY_COUNT] = { 0 };
	size_t span_len[AUDIT_KEY_COUNT] = { 0 };
	enum audit_event type = 0;
	uint32_t seen = 0;
	int last = -1, err;

	if (len > AUDIT_ENTRY_MAX)
		return rb_err_set(RB_E_TOOBIG, "entry is %zu bytes, more than %u", len, AUDIT_ENTRY_MAX);
	if (len < 2 || s.p[0] != '{')
		return scan_fail(&s, "an entry is one JSON object in canonical form");
	s.p++;
	for (;;) {
		const uint8_t *k0;
		size_t dlen, kn;
		bool esc;
		int k;

		k0 = s.p + 1;
		/* A key of the format in canonical form is exactly its name in
		 * quotes (no name needs an escape). Keys strictly increase
		 * (canonical order, no duplicates), so the next one is found by
		 * looking forward from the last: at most AUDIT_KEY_COUNT comparisons for
		 * the whole entry, and no string scan. */
		k = -1;
		if (s.p < s.end && *s.p == '"') {
			size_t left = (size_t)(s.end - k0);

			for (int j = last + 1; j < AUDIT_KEY_COUNT; j++)
				if (audit_keys[j].len < left && k0[audit_keys[j].len] == '"' &&
				    memcmp(audit_keys[j].name, k0, audit_keys[j].len) == 0) {
					k = j;
					break;
				}
		}
		if (k >= 0) {
			s.p = k0 + audit_keys[k].len + 1;
		} else {
			/* Not the next key: say why, from the whole string. */
			if ((err = scan_string(&s, &dlen, &esc)) < 0)
				return rb_err_prefix(err, "key");
			kn = (size_t)(s.p - 1 - k0);
			k = esc ? -1 : audit_key_lookup(k0, kn);
			if (k < 0)
				return rb_err_set(RB_E_PARSE, "byte %zu: unknown key \"%.*s\"",
						  (size_t)(k0 - s.start), (int)(dlen > 64 ? 64 : dlen),
						  (const char *)k0);
			return rb_err_set(RB_E_PARSE, "byte %zu: key \"%s\" out of canonical order or "
					  "repeated", (size_t)(k0 - s.start), audit_keys[k].name);
		}
		last = k;
		if (s.p >= s.end || *s.p != ':')
			return scan_fail(&s, "expected ':' (no whitespace in canonical form)");
		s.p++;
		if ((err = scan_value(&s, k, &span[k], &span_len[k], &type)) < 0)
			return err;
		seen |= AUDIT_KEY_BIT(k);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			continue;
		}
		if (s.p < s.end && *s.p == '}') {
			s.p++;
			break;
		}
		return scan_fail(&s, "expected ',' or '}' (no whitespace in canonical form)");
	}
	if (s.p != s.end)
		return scan_fail(&s, "trailing data after the entry");
	if (!(seen & AUDIT_KEY_BIT(AUDIT_K_FORMAT)) || !(seen & AUDIT_KEY_BIT(AUDIT_K_VERSION)) || !(seen & AUDIT_KEY_BIT(AUDIT_K_TYPE)) ||
	    !(seen & AUDIT_KEY_BIT(AUDIT_K_TIME)))
		return rb_err_set(RB_E_PARSE, "missing key \"%s\"",
				  !(seen & AUDIT_KEY_BIT(AUDIT_K_FORMAT)) ? "format" : !(seen & AUDIT_KEY_BIT(AUDIT_K_VERSION)) ? "version" :
				  !(seen & AUDIT_KEY_BIT(AUDIT_K_TYPE)) ? "type" : "time");
	if (seen & ~audit_key_masks_of(type).allowed) {
		for (int k = 0; k < AUDIT_KEY_COUNT; k++)
			if (seen & ~audit_key_masks_of(type).allowed & AUDIT_KEY_BIT(k))
				return rb_err_set(RB_E_PARSE, "unknown key \"%s\" in a %s entry",
						  audit_keys[k].name, audit_event_name(type));
	}
	if (~seen & audit_key_masks_of(type).required) {
		for (int k = 0; k < AUDIT_KEY_COUNT; k++)
			if (~seen & audit_key_masks_of(type).required & AUDIT_KEY_BIT(k))
				return rb_err_set(RB_E_PARSE, "missing key \"%s\" in a %s entry",
						  audit_keys[k].name, audit_event_name(type));
	}
	if (ret) {
		memset(&view, 0, sizeof(view));
		view.type = type;
		view.time = span[AUDIT_K_TIME];
		if (type == AUDIT_SIGN || type == AUDIT_REJECT) {
			view.request_id = span[AUDIT_K_REQUEST_ID];
			view.request_id_len = span_len[AUDIT_K_REQUEST_ID];
		}
		if (type == AUDIT_SIGN) {
			view.signature = span[AUDIT_K_SIGNATURE];
			view.signature_len = span_len[AUDIT_K_SIGNATURE];
		}
		if (type == AUDIT_INTENT) {
			view.request_ids = span[AUDIT_K_REQUEST_IDS];
			view.request_ids_len = span_len[AUDIT_K_REQUEST_IDS];
		}
		*ret = view;
	}
	return RB_OK;
}

int audit_entry_view_next_id(const struct audit_entry_view *view, size_t *pos, const char **ret,
			     size_t *ret_len)
{
	const char *a = view->request_ids, *q;
	size_t n = view->request_ids_len, i = *pos;

	/* The span is ["id","id",...] as validated: ids are plain hex. */
	if (!a || i >= n || a[i] == ']' || (i + 1 < n && a[i + 1] == ']'))
		return 0;
	i++; /* '[' or ',' */
	if (i >= n || a[i] != '"' || !(q = memchr(a + i + 1, '"', n - i - 1)))
		return 0;
	*ret = a + i + 1;
	*ret_len = (size_t)(q - (a + i + 1));
	*pos = (size_t)(q + 1 - a);
	return 1;
}

int audit_entry_view_signature(const struct audit_entry_view *view, uint8_t **ret,
			       size_t *ret_len)
{
	if (!view->signature)
		return rb_err_set(RB_E_INVAL, "a %s entry has no signature", audit_event_name(view->type));
	return rb_base64_decode(view->signature, view->signature_len, true, ret, ret_len);
}
