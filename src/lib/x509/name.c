/* The one-line subject syntax ("/C=US/O=Android/CN=Android") and its DER
 * Name. The subject comes from configuration, so it is parsed strictly: an
 * unknown attribute, a stray escape or an odd character is an error, never
 * something to guess about - a certificate's subject is part of what is
 * signed and what verifiers pin. */
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "x509/der.h"
#include "x509/x509-internal.h"
#include "x509/x509.h"

enum value_kind {
	KIND_COUNTRY,   /* PrintableString, two upper-case letters */
	KIND_PRINTABLE, /* PrintableString */
	KIND_IA5,       /* IA5String (ASCII) */
	KIND_UTF8,      /* UTF8String */
};

static const struct attr_type {
	const char *name;
	const char *oid;
	enum value_kind kind;
	size_t max_chars; /* RFC 5280 Appendix A upper bounds */
} attr_types[] = {
	{ "C", "2.5.4.6", KIND_COUNTRY, 2 },
	{ "ST", "2.5.4.8", KIND_UTF8, 128 },
	{ "L", "2.5.4.7", KIND_UTF8, 128 },
	{ "O", "2.5.4.10", KIND_UTF8, 64 },
	{ "OU", "2.5.4.11", KIND_UTF8, 64 },
	{ "CN", "2.5.4.3", KIND_UTF8, 64 },
	{ "serialNumber", "2.5.4.5", KIND_PRINTABLE, 64 },
	{ "emailAddress", "1.2.840.113549.1.9.1", KIND_IA5, 255 },
	/* No bound in RFC 4519; a DNS label is at most 63 octets. */
	{ "DC", "0.9.2342.19200300.100.1.25", KIND_IA5, 63 },
};

#define ATTR_NAMES "C, ST, L, O, OU, CN, serialNumber, emailAddress, DC"

static const struct attr_type *attr_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(attr_types); i++)
		if (strlen(attr_types[i].name) == len && memcmp(attr_types[i].name, name, len) == 0)
			return &attr_types[i];
	return NULL;
}

static int is_printable_char(uint8_t c)
{
	/* X.680 41.4 PrintableString */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr(" '()+,-./:=?", c) != NULL);
}

/* Count code points of strictly valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF); -1 if invalid. */
static long utf8_count(const uint8_t *s, size_t len)
{
	long n = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp, min;
		size_t k;

		if (c < 0x80) {
			i++;
			n++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return -1;
		}
		if (len - i - 1 < k)
			return -1;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += k + 1;
		n++;
	}
	return n;
}

static int check_value(const struct attr_type *t, const uint8_t *v, size_t len, size_t off)
{
	long chars;

	if (len == 0)
		return rb_err_set(RB_E_PARSE, "x509: subject: %s has an empty value (offset %zu)",
				  t->name, off);
	if (v[0] == ' ' || v[len - 1] == ' ')
		return rb_err_set(RB_E_PARSE,
				  "x509: subject: %s has leading or trailing space (offset %zu)",
				  t->name, off);
	switch (t->kind) {
	case KIND_COUNTRY:
		if (len != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z')
			return rb_err_set(RB_E_PARSE,
					  "x509: subject: C must be a two-letter upper-case "
					  "ISO 3166 code such as US (offset %zu)", off);
		chars = 2;
		break;
	case KIND_PRINTABLE:
		for (size_t i = 0; i < len; i++)
			if (!is_printable_char(v[i]))
				return rb_err_set(RB_E_PARSE,
						  "x509: subject: %s allows only A-Z a-z 0-9 and "
						  "' ()+,-./:=? (offset %zu)", t->name, off);
		chars = (long)len;
		break;
	case KIND_IA5:
		for (size_t i = 0; i < len; i++)
			if (v[i] >= 0x80)
				return rb_err_set(RB_E_PARSE,
						  "x509: subject: %s must be ASCII (offset %zu)",
						  t->name, off);
		chars = (long)len;
		break;
	case KIND_UTF8:
		chars = utf8_count(v, len);
		if (chars < 0)
			return rb_err_set(RB_E_PARSE,
					  "x509: subject: %s is not valid UTF-8 (offset %zu)",
					  t->name, off);
		break;
	default:
		return RB_E_INVAL;
	}
	if ((size_t)chars > t->max_chars)
		return rb_err_set(RB_E_TOOBIG,
				  "x509: subject: %s is longer than %zu characters (offset %zu)",
				  t->name, t->max_chars, off);
	return RB_OK;
}

static uint8_t value_tag(enum value_kind k)
{
	switch (k) {
	case KIND_COUNTRY:
	case KIND_PRINTABLE:
		return DER_PRINTABLE_STRING;
	case KIND_IA5:
		return DER_IA5_STRING;
	case KIND_UTF8:
		break;
	}
	return DER_UTF8_STRING;
}

int x509_name_put(struct der_writer *w, const char *subject)
{
	/* Unescaping only shrinks, so a value fits in the subject's size. */
	uint8_t val[X509_SUBJECT_MAX];
	size_t slen, i = 0, rdns = 0;
	int err;

	if (!subject)
		return rb_err_set(RB_E_INVAL, "x509: no subject given");
	slen = strnlen(subject, X509_SUBJECT_MAX + 1);
	if (slen > X509_SUBJECT_MAX)
		return rb_err_set(RB_E_TOOBIG, "x509: subject is longer than %d bytes",
				  X509_SUBJECT_MAX);
	if (slen == 0 || subject[0] != '/')
		return rb_err_set(RB_E_PARSE,
				  "x509: subject must start with '/', e.g. /C=US/O=Example/CN=name");
	if ((err = der_begin(w, DER_SEQUENCE)) < 0)
		return err;
	while (i < slen) {
		const struct attr_type *t;
		size_t name_start, name_len, vlen = 0, value_off;

		/* here subject[i] == '/' */
		name_start = ++i;
		while (i < slen && subject[i] != '=' && subject[i] != '/')
			i++;
		name_len = i - name_start;
		if (i == slen || subject[i] != '=')
			return rb_err_set(RB_E_PARSE,
					  "x509: subject: expected name=value at offset %zu",
					  name_start);
		t = attr_lookup(subject + name_start, name_len);
		if (!t)
			return rb_err_set(RB_E_PARSE,
					  "x509: subject: unknown attribute '%.*s' at offset %zu; "
					  "use one of " ATTR_NAMES,
					  (int)(name_len > 32 ? 32 : name_len), subject + name_start,
					  name_start);
		value_off = ++i;
		while (i < slen && subject[i] != '/') {
			uint8_t c = (uint8_t)subject[i];

			if (c < 0x20 || c == 0x7f)
				return rb_err_set(RB_E_PARSE,
						  "x509: subject: control character at offset %zu", i);
			if (c == '+')
				return rb_err_set(RB_E_PARSE,
						  "x509: subject: unescaped '+' at offset %zu; "
						  "multi-valued RDNs are not supported, write \\+ "
						  "for a literal plus", i);
			if (c == '\\') {
				i++;
				if (i == slen || (subject[i] != '/' && subject[i] != '\\' &&
						  subject[i] != '+'))
					return rb_err_set(RB_E_PARSE,
							  "x509: subject: bad escape at offset %zu; "
							  "only \\/ \\\\ and \\+ are allowed", i - 1);
				c = (uint8_t)subject[i];
			}
			val[vlen++] = c;
			i++;
		}
		if ((err = check_value(t, val, vlen, value_off)) < 0)
			return err;
		if (++rdns > X509_SUBJECT_MAX_RDNS)
			return rb_err_set(RB_E_TOOBIG, "x509: subject has more than %d attributes",
					  X509_SUBJECT_MAX_RDNS);
		/* One attribute per RDN: SET { SEQUENCE { type, value } } */
		der_begin(w, DER_SET);
		der_begin(w, DER_SEQUENCE);
		der_put_oid(w, t->oid);
		der_put_tlv(w, value_tag(t->kind), val, vlen);
		der_end(w);
		if ((err = der_end(w)) < 0)
			return err;
	}
	return der_end(w);
}

int x509_subject_to_der(const char *subject, uint8_t **ret_der, size_t *ret_len)
{
	_cleanup_(der_writer_free) struct der_writer w;
	int err;

	der_writer_init(&w, 0);
	if (!ret_der || !ret_len)
		return RB_E_INVAL;
	if ((err = x509_name_put(&w, subject)) < 0)
		return err;
	return der_writer_finish(&w, ret_der, ret_len);
}
