/* Unit tests for src/lib/x509: DER writer known answers, the subject
 * syntax, and certificates that OpenSSL must parse and verify - including
 * the forgeries that must not come out of the builder. */
#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"
#include "x509/der.h"
#include "x509/x509.h"

HARNESS_GLOBALS;

/* 2049-12-31T23:59:59Z and the second after it. */
#define T_2049_END ((time_t)2524607999)
#define T_2050 ((time_t)2524608000)
/* 1949-12-31T23:59:59Z and the second after it. */
#define T_1949_END ((time_t)-631152001)
#define T_1950 ((time_t)-631152000)
/* 9999-12-31T23:59:59Z */
#define T_9999_END ((time_t)253402300799)
/* 2024-01-01T00:00:00Z: a fixed "now" keeps the tests deterministic. */
#define T_NOW ((time_t)1704067200)

/* Run one writer to completion and compare with the expected bytes. */
static int der_matches(struct der_writer *w, const uint8_t *want, size_t want_len)
{
	uint8_t *got = NULL;
	size_t n = 0;
	int ok;

	if (der_writer_finish(w, &got, &n) < 0)
		return 0;
	ok = n == want_len && memcmp(got, want, n) == 0;
	if (!ok) {
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < n && i < 40; i++)
			fprintf(stderr, " %02x", got[i]);
		fprintf(stderr, "\n");
	}
	free(got);
	return ok;
}

static void test_der_length_encoding(void)
{
	static const struct {
		size_t len;
		uint8_t enc[9];
		size_t n;
	} kat[] = {
		{ 0, { 0x00 }, 1 },
		{ 127, { 0x7f }, 1 },
		{ 128, { 0x81, 0x80 }, 2 },
		{ 255, { 0x81, 0xff }, 2 },
		{ 256, { 0x82, 0x01, 0x00 }, 3 },
		{ 65535, { 0x82, 0xff, 0xff }, 3 },
		{ 65536, { 0x83, 0x01, 0x00, 0x00 }, 4 },
		{ 16777216, { 0x84, 0x01, 0x00, 0x00, 0x00 }, 5 },
	};
	uint8_t out[9];

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		size_t n = der_encode_length(kat[i].len, out);

		CHECK(n == kat[i].n && memcmp(out, kat[i].enc, n) == 0);
	}
}

/* Content of each size through both paths: der_put_tlv (length known up
 * front) and der_begin/der_end (length slid in after the content). */
static void test_der_length_in_elements(void)
{
	static const struct {
		size_t len;
		uint8_t hdr[5];
		size_t hlen;
	} kat[] = {
		{ 127, { 0x04, 0x7f }, 2 },
		{ 128, { 0x04, 0x81, 0x80 }, 3 },
		{ 256, { 0x04, 0x82, 0x01, 0x00 }, 4 },
		{ 65536, { 0x04, 0x83, 0x01, 0x00, 0x00 }, 5 },
	};

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		size_t len = kat[i].len;
		uint8_t *content = malloc(len), *want = malloc(kat[i].hlen + len);
		struct der_writer w;

		for (size_t j = 0; j < len; j++)
			content[j] = (uint8_t)(j * 7 + 1);
		memcpy(want, kat[i].hdr, kat[i].hlen);
		memcpy(want + kat[i].hlen, content, len);

		der_writer_init(&w, 0);
		CHECK_OK(der_put_octet_string(&w, content, len));
		CHECK(der_matches(&w, want, kat[i].hlen + len));
		der_writer_free(&w);

		der_writer_init(&w, 0);
		CHECK_OK(der_begin(&w, DER_OCTET_STRING));
		CHECK_OK(der_put_raw(&w, content, len));
		CHECK_OK(der_end(&w));
		CHECK(der_matches(&w, want, kat[i].hlen + len));
		der_writer_free(&w);
		free(content);
		free(want);
	}
}

/* Nested lengths: the inner header grows the outer content across the
 * 65535/65536 boundary. */
static void test_der_nested_lengths(void)
{
	size_t len = 65531; /* 1 + 3 + 65531 = 65535 */
	uint8_t *content = calloc(1, 65536), *got = NULL;
	size_t n = 0;
	struct der_writer w;

	der_writer_init(&w, 0);
	der_begin(&w, DER_SEQUENCE);
	der_begin(&w, DER_SET);
	der_put_octet_string(&w, content, len);
	der_end(&w);
	der_end(&w);
	CHECK_OK(der_writer_finish(&w, &got, &n));
	/* inner OCTET STRING: 04 82 ff fb; SET: 31 82 ff ff; SEQ: 30 83 01 00 03 */
	CHECK(n == 5 + 4 + 4 + len);
	if (n == 5 + 4 + 4 + len) {
		static const uint8_t hdr[] = { 0x30, 0x83, 0x01, 0x00, 0x03, 0x31, 0x82,
					       0xff, 0xff, 0x04, 0x82, 0xff, 0xfb };
		CHECK(memcmp(got, hdr, sizeof(hdr)) == 0);
	}
	free(got);
	der_writer_free(&w);
	free(content);
}

static void test_der_integer(void)
{
	static const struct {
		uint8_t in[4];
		size_t in_len;
		uint8_t want[6];
		size_t want_len;
	} kat[] = {
		{ { 0x00 }, 1, { 0x02, 0x01, 0x00 }, 3 },
		{ { 0x00, 0x00, 0x00 }, 3, { 0x02, 0x01, 0x00 }, 3 },
		{ { 0x01 }, 1, { 0x02, 0x01, 0x01 }, 3 },
		{ { 0x7f }, 1, { 0x02, 0x01, 0x7f }, 3 },
		{ { 0x80 }, 1, { 0x02, 0x02, 0x00, 0x80 }, 4 },
		{ { 0x00, 0x80 }, 2, { 0x02, 0x02, 0x00, 0x80 }, 4 },
		{ { 0x00, 0x00, 0x7f, 0xff }, 4, { 0x02, 0x02, 0x7f, 0xff }, 4 },
		{ { 0xff, 0xff }, 2, { 0x02, 0x03, 0x00, 0xff, 0xff }, 5 },
		{ { 0x01, 0x00 }, 2, { 0x02, 0x02, 0x01, 0x00 }, 4 },
	};
	struct der_writer w;

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		der_writer_init(&w, 0);
		CHECK_OK(der_put_uint_bytes(&w, kat[i].in, kat[i].in_len));
		CHECK(der_matches(&w, kat[i].want, kat[i].want_len));
		der_writer_free(&w);
	}
	{
		static const uint8_t two[] = { 0x02, 0x01, 0x02 };
		static const uint8_t big[] = { 0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff,
					       0xff, 0xff, 0xff, 0xff };

		der_writer_init(&w, 0);
		CHECK_OK(der_put_uint(&w, 2));
		CHECK(der_matches(&w, two, sizeof(two)));
		der_writer_free(&w);
		der_writer_init(&w, 0);
		CHECK_OK(der_put_uint(&w, UINT64_MAX));
		CHECK(der_matches(&w, big, sizeof(big)));
		der_writer_free(&w);
	}
	/* A 128-byte magnitude with the top bit set crosses into long form. */
	{
		uint8_t mag[128], *got = NULL;
		size_t n = 0;

		memset(mag, 0xab, sizeof(mag));
		der_writer_init(&w, 0);
		CHECK_OK(der_put_uint_bytes(&w, mag, sizeof(mag)));
		CHECK_OK(der_writer_finish(&w, &got, &n));
		CHECK(n == 132 && got[0] == 0x02 && got[1] == 0x81 && got[2] == 0x81 &&
		      got[3] == 0x00 && got[4] == 0xab);
		free(got);
		der_writer_free(&w);
	}
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_uint_bytes(&w, (const uint8_t *)"", 0), RB_E_INVAL);
	der_writer_free(&w);
}

static void test_der_oid(void)
{
	static const struct {
		const char *dotted;
		uint8_t want[12];
		size_t want_len;
	} kat[] = {
		{ "1.2.840.113549.1.1.11",
		  { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b }, 11 },
		{ "2.5.29.19", { 0x06, 0x03, 0x55, 0x1d, 0x13 }, 5 },
		{ "1.3.101.112", { 0x06, 0x03, 0x2b, 0x65, 0x70 }, 5 },
		{ "1.2.840.10045.4.3.2",
		  { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 }, 10 },
		{ "0.9.2342.19200300.100.1.25",
		  { 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19 }, 12 },
		{ "2.999.3", { 0x06, 0x03, 0x88, 0x37, 0x03 }, 5 },
		{ "0.0", { 0x06, 0x01, 0x00 }, 3 },
	};
	static const char *bad[] = {
		"", "1", "1.", "3.1", "1.40", "0.40", ".1.2", "1..2", "1.2.", "01.2",
		"1.02", "1.2.a", "1.2 ", "-1.2", "1.2.18446744073709551616",
		"2.18446744073709551615", /* 2*40 + arc overflows */
	};
	struct der_writer w;

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		der_writer_init(&w, 0);
		CHECK_OK(der_put_oid(&w, kat[i].dotted));
		CHECK(der_matches(&w, kat[i].want, kat[i].want_len));
		der_writer_free(&w);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		der_writer_init(&w, 0);
		if (der_put_oid(&w, bad[i]) != RB_E_INVAL) {
			fprintf(stderr, "  accepted bad OID '%s'\n", bad[i]);
			CHECK(0);
		}
		der_writer_free(&w);
	}
	/* The largest single arc round-trips through OpenSSL's decoder. */
	{
		uint8_t *got = NULL;
		size_t n = 0;
		const unsigned char *q;
		ASN1_OBJECT *o;
		char txt[80];

		der_writer_init(&w, 0);
		CHECK_OK(der_put_oid(&w, "1.2.18446744073709551615"));
		CHECK_OK(der_writer_finish(&w, &got, &n));
		q = got;
		o = d2i_ASN1_OBJECT(NULL, &q, (long)n);
		CHECK(o != NULL);
		if (o) {
			OBJ_obj2txt(txt, sizeof(txt), o, 1);
			CHECK(strcmp(txt, "1.2.18446744073709551615") == 0);
		}
		ASN1_OBJECT_free(o);
		free(got);
		der_writer_free(&w);
	}
}

static void test_der_bit_octet_bool_null(void)
{
	static const uint8_t ku_ca[] = { 0x03, 0x02, 0x01, 0x86 };
	static const uint8_t ku_ee[] = { 0x03, 0x02, 0x07, 0x80 };
	static const uint8_t empty_bits[] = { 0x03, 0x01, 0x00 };
	static const uint8_t octets[] = { 0x04, 0x02, 0xde, 0xad };
	static const uint8_t t[] = { 0x01, 0x01, 0xff };
	static const uint8_t f[] = { 0x01, 0x01, 0x00 };
	static const uint8_t null[] = { 0x05, 0x00 };
	uint8_t b;
	struct der_writer w;

	b = 0x86;
	der_writer_init(&w, 0);
	CHECK_OK(der_put_bit_string(&w, &b, 1, 1));
	CHECK(der_matches(&w, ku_ca, sizeof(ku_ca)));
	der_writer_free(&w);
	b = 0x80;
	der_writer_init(&w, 0);
	CHECK_OK(der_put_bit_string(&w, &b, 1, 7));
	CHECK(der_matches(&w, ku_ee, sizeof(ku_ee)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_OK(der_put_bit_string(&w, NULL, 0, 0));
	CHECK(der_matches(&w, empty_bits, sizeof(empty_bits)));
	der_writer_free(&w);
	/* DER: unused bits must be zero, there are at most 7, none if empty */
	b = 0x87;
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_bit_string(&w, &b, 1, 1), RB_E_INVAL);
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_bit_string(&w, &b, 1, 8), RB_E_INVAL);
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_bit_string(&w, NULL, 0, 3), RB_E_INVAL);
	der_writer_free(&w);

	der_writer_init(&w, 0);
	CHECK_OK(der_put_octet_string(&w, "\xde\xad", 2));
	CHECK(der_matches(&w, octets, sizeof(octets)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_OK(der_put_boolean(&w, true));
	CHECK(der_matches(&w, t, sizeof(t)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_OK(der_put_boolean(&w, false));
	CHECK(der_matches(&w, f, sizeof(f)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_OK(der_put_null(&w));
	CHECK(der_matches(&w, null, sizeof(null)));
	der_writer_free(&w);
}

static void test_der_time(void)
{
	static const struct {
		time_t t;
		uint8_t tag;
		const char *s;
	} kat[] = {
		{ 0, DER_UTC_TIME, "700101000000Z" },
		{ T_1950, DER_UTC_TIME, "500101000000Z" },
		{ T_1949_END, DER_GENERALIZED_TIME, "19491231235959Z" },
		{ T_2049_END, DER_UTC_TIME, "491231235959Z" },
		{ T_2050, DER_GENERALIZED_TIME, "20500101000000Z" },
		{ (time_t)2000000000, DER_UTC_TIME, "330518033320Z" },
		{ T_9999_END, DER_GENERALIZED_TIME, "99991231235959Z" },
	};
	struct der_writer w;

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		size_t sl = strlen(kat[i].s), n = 0;
		uint8_t want[20], *got = NULL;
		const unsigned char *q;
		ASN1_TIME *at;

		want[0] = kat[i].tag;
		want[1] = (uint8_t)sl;
		memcpy(want + 2, kat[i].s, sl);
		der_writer_init(&w, 0);
		CHECK_OK(der_put_time(&w, kat[i].t));
		CHECK_OK(der_writer_finish(&w, &got, &n));
		CHECK(n == sl + 2 && memcmp(got, want, n) == 0);
		/* and OpenSSL reads back the same instant */
		q = got;
		at = d2i_ASN1_TIME(NULL, &q, (long)n);
		CHECK(at != NULL && ASN1_TIME_cmp_time_t(at, kat[i].t) == 0);
		ASN1_TIME_free(at);
		free(got);
		der_writer_free(&w);
	}
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_time(&w, T_9999_END + 1), RB_E_INVAL);
	der_writer_free(&w);
}

static void test_der_context_tags(void)
{
	static const uint8_t explicit_v3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };
	static const uint8_t implicit_0[] = { 0x80, 0x02, 0x01, 0x02 };
	static const uint8_t ext_3[] = { 0xa3, 0x02, 0x30, 0x00 };
	struct der_writer w;

	der_writer_init(&w, 0);
	der_begin(&w, DER_CONTEXT_CONS(0));
	der_put_uint(&w, 2);
	der_end(&w);
	CHECK(der_matches(&w, explicit_v3, sizeof(explicit_v3)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	CHECK_OK(der_put_tlv(&w, DER_CONTEXT(0), "\x01\x02", 2));
	CHECK(der_matches(&w, implicit_0, sizeof(implicit_0)));
	der_writer_free(&w);
	der_writer_init(&w, 0);
	der_begin(&w, DER_CONTEXT_CONS(3));
	der_begin(&w, DER_SEQUENCE);
	der_end(&w);
	der_end(&w);
	CHECK(der_matches(&w, ext_3, sizeof(ext_3)));
	der_writer_free(&w);
}

static void test_der_errors_are_sticky(void)
{
	uint8_t *out = (uint8_t *)"sentinel";
	size_t n = 12345;
	struct der_writer w;

	/* high-tag-number form */
	der_writer_init(&w, 0);
	CHECK_ERR(der_put_tlv(&w, 0x1f, "x", 1), RB_E_INVAL);
	CHECK_ERR(der_put_null(&w), RB_E_INVAL);
	CHECK_ERR(der_writer_finish(&w, &out, &n), RB_E_INVAL);
	CHECK(n == 12345 && strcmp((char *)out, "sentinel") == 0);
	der_writer_free(&w);

	der_writer_init(&w, 0);
	CHECK_ERR(der_end(&w), RB_E_STATE);
	der_writer_free(&w);

	der_writer_init(&w, 0);
	der_begin(&w, DER_SEQUENCE);
	CHECK_ERR(der_writer_finish(&w, &out, &n), RB_E_STATE);
	der_writer_free(&w);

	der_writer_init(&w, 0);
	CHECK_ERR(der_writer_finish(&w, &out, &n), RB_E_STATE);
	der_writer_free(&w);

	der_writer_init(&w, 0);
	for (int i = 0; i < DER_MAX_DEPTH; i++)
		CHECK_OK(der_begin(&w, DER_SEQUENCE));
	CHECK_ERR(der_begin(&w, DER_SEQUENCE), RB_E_LIMIT);
	der_writer_free(&w);

	/* The cap holds for plain writes... */
	der_writer_init(&w, 4);
	CHECK_OK(der_put_octet_string(&w, "ab", 2));
	CHECK_ERR(der_put_null(&w), RB_E_TOOBIG);
	CHECK_ERR(der_put_null(&w), RB_E_TOOBIG);
	CHECK_ERR(der_writer_finish(&w, &out, &n), RB_E_TOOBIG);
	der_writer_free(&w);
	/* ...and for the length slid in by der_end. */
	der_writer_init(&w, 4);
	der_begin(&w, DER_SEQUENCE);
	der_put_raw(&w, "abc", 3);
	CHECK_ERR(der_end(&w), RB_E_TOOBIG);
	CHECK(n == 12345 && strcmp((char *)out, "sentinel") == 0);
	der_writer_free(&w);
	der_writer_free(NULL);
}

/* ---- subject syntax ---- */

static X509_NAME *subject_parse(const char *s)
{
	uint8_t *der = NULL;
	size_t n = 0;
	const unsigned char *q;
	X509_NAME *name = NULL;

	if (x509_subject_to_der(s, &der, &n) < 0)
		return NULL;
	q = der;
	name = d2i_X509_NAME(NULL, &q, (long)n);
	if (name && (size_t)(q - der) != n) {
		X509_NAME_free(name);
		name = NULL;
	}
	free(der);
	return name;
}

static int entry_type(X509_NAME *name, int nid)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);

	if (i < 0)
		return -1;
	return ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
}

static void test_subject_roundtrip(void)
{
	static const char *good[] = {
		X509_SUBJECT_AOSP,
		"/CN=rombsr queue",
		"/O=rombsr/OU=release/OU=audit/CN=rombsr audit log 2024",
		"/C=DE/ST=Berlin/L=Berlin/O=Example GmbH/CN=a=b",
		"/serialNumber=12345/DC=example/DC=org/CN=x",
	};
	char line[1024];

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		X509_NAME *name = subject_parse(good[i]);

		CHECK(name != NULL);
		if (!name) {
			fprintf(stderr, "  rejected '%s': %s\n", good[i], rb_err_detail());
			continue;
		}
		X509_NAME_oneline(name, line, sizeof(line));
		CHECK(strcmp(line, good[i]) == 0);
		X509_NAME_free(name);
	}
}

static void test_subject_string_types(void)
{
	X509_NAME *name = subject_parse(X509_SUBJECT_AOSP "/serialNumber=42/DC=org");
	char buf[64];

	CHECK(name != NULL);
	if (!name)
		return;
	/* One attribute per RDN, in the order given. */
	CHECK(X509_NAME_entry_count(name) == 9);
	CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(name, 8)) == 8);
	CHECK(entry_type(name, NID_countryName) == V_ASN1_PRINTABLESTRING);
	CHECK(entry_type(name, NID_serialNumber) == V_ASN1_PRINTABLESTRING);
	CHECK(entry_type(name, NID_pkcs9_emailAddress) == V_ASN1_IA5STRING);
	CHECK(entry_type(name, NID_domainComponent) == V_ASN1_IA5STRING);
	CHECK(entry_type(name, NID_commonName) == V_ASN1_UTF8STRING);
	CHECK(entry_type(name, NID_organizationName) == V_ASN1_UTF8STRING);
	CHECK(X509_NAME_get_text_by_NID(name, NID_localityName, buf, sizeof(buf)) > 0 &&
	      strcmp(buf, "Mountain View") == 0);
	X509_NAME_free(name);
}

static void test_subject_escapes_and_utf8(void)
{
	X509_NAME *name;
	char buf[64];

	name = subject_parse("/CN=a\\/b\\\\c\\+d/O=x");
	CHECK(name != NULL);
	if (name) {
		CHECK(X509_NAME_entry_count(name) == 2);
		CHECK(X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof(buf)) > 0 &&
		      strcmp(buf, "a/b\\c+d") == 0);
		X509_NAME_free(name);
	}
	name = subject_parse("/L=Z\xc3\xbcrich/CN=\xe2\x82\xac\xf0\x9f\x94\x91");
	CHECK(name != NULL);
	if (name) {
		CHECK(entry_type(name, NID_localityName) == V_ASN1_UTF8STRING);
		X509_NAME_free(name);
	}
	/* 64 characters (but more bytes) still fit CN's bound. */
	{
		char s[4 + 64 * 2 + 1] = "/CN=";

		for (int i = 0; i < 64; i++)
			strcat(s, "\xc3\xa9");
		name = subject_parse(s);
		CHECK(name != NULL);
		X509_NAME_free(name);
	}
}

static void test_subject_rejects(void)
{
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{ "", RB_E_PARSE },
		{ "/", RB_E_PARSE },
		{ "CN=x", RB_E_PARSE },
		{ "/CN=x/", RB_E_PARSE },
		{ "//CN=x", RB_E_PARSE },
		{ "/CN", RB_E_PARSE },
		{ "/CN=", RB_E_PARSE },
		{ "/CN=x/O", RB_E_PARSE },
		{ "/XX=foo", RB_E_PARSE },
		{ "/cn=foo", RB_E_PARSE },                  /* names are case-sensitive */
		{ "/commonName=foo", RB_E_PARSE },          /* long names are not accepted */
		{ "/CN=a\\q", RB_E_PARSE },                 /* unknown escape */
		{ "/CN=a\\", RB_E_PARSE },                  /* dangling escape */
		{ "/CN=a\\x41", RB_E_PARSE },
		{ "/CN=a+O=b", RB_E_PARSE },                /* multi-valued RDN */
		{ "/CN=a\tb", RB_E_PARSE },
		{ "/CN=a\nb", RB_E_PARSE },
		{ "/CN=a\x7f", RB_E_PARSE },
		{ "/CN= a", RB_E_PARSE },
		{ "/CN=a ", RB_E_PARSE },
		{ "/C=USA", RB_E_PARSE },
		{ "/C=us", RB_E_PARSE },
		{ "/C=U", RB_E_PARSE },
		{ "/serialNumber=a_b", RB_E_PARSE },        /* not PrintableString */
		{ "/emailAddress=\xc3\xa9@x", RB_E_PARSE },  /* not IA5 */
		{ "/CN=\xc3\x28", RB_E_PARSE },              /* bad continuation */
		{ "/CN=\xc0\xaf", RB_E_PARSE },              /* overlong '/' */
		{ "/CN=\xed\xa0\x80", RB_E_PARSE },          /* surrogate */
		{ "/CN=\xf4\x90\x80\x80", RB_E_PARSE },      /* above U+10FFFF */
		{ "/CN=\xe2\x82", RB_E_PARSE },              /* truncated */
		{ "/CN=\xff", RB_E_PARSE },
		{ "/CN=0123456789012345678901234567890123456789012345678901234567890123456789",
		  RB_E_TOOBIG },
		{ "/CN=1/CN=2/CN=3/CN=4/CN=5/CN=6/CN=7/CN=8/CN=9/CN=10/CN=11/CN=12/CN=13"
		  "/CN=14/CN=15/CN=16/CN=17", RB_E_TOOBIG },
	};
	uint8_t *out = (uint8_t *)"sentinel";
	size_t n = 777;
	char *huge;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int r = x509_subject_to_der(bad[i].s, &out, &n);

		if (r != bad[i].err) {
			fprintf(stderr, "  subject #%zu: got %d want %d\n", i, r, bad[i].err);
			CHECK(0);
		}
	}
	CHECK(n == 777 && strcmp((char *)out, "sentinel") == 0);
	CHECK_ERR(x509_subject_to_der(NULL, &out, &n), RB_E_INVAL);
	/* A subject over X509_SUBJECT_MAX bytes is refused before parsing. */
	huge = malloc(X509_SUBJECT_MAX + 2);
	memset(huge, 'a', X509_SUBJECT_MAX + 1);
	memcpy(huge, "/O=", 3);
	huge[X509_SUBJECT_MAX + 1] = '\0';
	CHECK_ERR(x509_subject_to_der(huge, &out, &n), RB_E_TOOBIG);
	free(huge);
	/* The detail says what was wrong and where. */
	x509_subject_to_der("/C=US/XX=foo", &out, &n);
	CHECK(strstr(rb_err_detail(), "unknown attribute 'XX'") != NULL);
}

/* ---- certificates ---- */

static void params_init(struct x509_cert_params *p, const char *subject, bool is_ca)
{
	memset(p, 0, sizeof(*p));
	p->subject = subject;
	rb_random_bytes(p->serial, sizeof(p->serial));
	p->serial_len = sizeof(p->serial);
	p->not_before = T_NOW;
	p->not_after = T_NOW + (time_t)X509_AOSP_VALIDITY_DAYS * 86400;
	p->is_ca = is_ca;
}

static X509 *cert_parse(const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);

	if (x && (size_t)(q - der) != len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* What `openssl verify -CAfile X -check_ss_sig -x509_strict X` does. */
static int store_verify(X509 *x)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (store && ctx && X509_STORE_add_cert(store, x) == 1 &&
	    X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CHECK_SS_SIGNATURE |
						      X509_V_FLAG_X509_STRICT);
		/* The certificates are dated from T_NOW; check at a fixed time. */
		X509_STORE_CTX_set_time(ctx, 0, T_NOW + 86400);
		ok = X509_verify_cert(ctx) == 1;
		if (!ok)
			fprintf(stderr, "  X509_verify_cert: %s\n",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok;
}

/* Everything a verifier relies on, checked on one certificate. */
static void check_cert(const struct rb_signer *s, const struct x509_cert_params *p,
		       const uint8_t *der, size_t len, int want_sig_nid)
{
	X509 *x = cert_parse(der, len);
	const ASN1_INTEGER *serial;
	const ASN1_OCTET_STRING *ski, *akid;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *alg_oid;
	int ptype = -2, idx;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char line[1024];

	CHECK(x != NULL);
	if (!x)
		return;
	CHECK(X509_get_version(x) == X509_VERSION_3);
	CHECK(X509_verify(x, s->pub) == 1);
	CHECK(X509_self_signed(x, 1) == 1);
	CHECK(store_verify(x));
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), s->pub) == 1);

	X509_NAME_oneline(X509_get_subject_name(x), line, sizeof(line));
	CHECK(strcmp(line, p->subject) == 0);
	CHECK(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0);

	/* Serial: positive, non-zero, our bytes with the top bit cleared. */
	serial = X509_get0_serialNumber(x);
	CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
		uint8_t want[X509_SERIAL_MAX], got[X509_SERIAL_MAX];

		memcpy(want, p->serial, p->serial_len);
		want[0] &= 0x7f;
		CHECK(bn && !BN_is_negative(bn) && !BN_is_zero(bn));
		CHECK(bn && BN_num_bytes(bn) <= X509_SERIAL_MAX &&
		      BN_bn2binpad(bn, got, (int)p->serial_len) == (int)p->serial_len &&
		      memcmp(got, want, p->serial_len) == 0);
		BN_free(bn);
	}

	/* Signature algorithm: follows the key; NULL parameters only for RSA. */
	CHECK(X509_get_signature_nid(x) == want_sig_nid);
	X509_get0_signature(NULL, &alg, x);
	X509_ALGOR_get0(&alg_oid, &ptype, NULL, alg);
	CHECK(OBJ_obj2nid(alg_oid) == want_sig_nid);
	CHECK(ptype == (want_sig_nid == NID_sha256WithRSAEncryption ? V_ASN1_NULL : V_ASN1_UNDEF));

	/* Validity */
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), p->not_before) == 0);
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), p->not_after) == 0);

	/* Extensions: exactly the four of the profile. */
	CHECK(X509_get_ext_count(x) == 4);
	idx = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	CHECK(idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1);
	idx = X509_get_ext_by_NID(x, NID_key_usage, -1);
	CHECK(idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1);
	idx = X509_get_ext_by_NID(x, NID_subject_key_identifier, -1);
	CHECK(idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 0);
	idx = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1);
	CHECK(idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 0);
	CHECK(!(X509_get_extension_flags(x) & EXFLAG_INVALID));
	CHECK(!!(X509_get_extension_flags(x) & EXFLAG_CA) == p->is_ca);
	CHECK(X509_check_ca(x) == (p->is_ca ? 1 : 0));
	CHECK(X509_get_key_usage(x) ==
	      (p->is_ca ? (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN)
			: KU_DIGITAL_SIGNATURE));
	/* SKI is SHA-1 of the subjectPublicKey bits (method 1); AKI repeats it. */
	CHECK(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) == 1 && mdlen == 20);
	ski = X509_get0_subject_key_id(x);
	CHECK(ski && ASN1_STRING_length(ski) == 20 &&
	      memcmp(ASN1_STRING_get0_data(ski), md, 20) == 0);
	akid = X509_get0_authority_key_id(x);
	CHECK(akid && ASN1_STRING_cmp(akid, ski) == 0);
	CHECK(X509_get0_authority_issuer(x) == NULL && X509_get0_authority_serial(x) == NULL);
	X509_free(x);
}

static void build_and_check(const char *kind, const char *subject, bool is_ca, int sig_nid)
{
	struct rb_signer s;
	struct x509_cert_params p;
	uint8_t *der = NULL;
	size_t len = 0;

	CHECK_OK(soft_signer_new(kind, &s));
	params_init(&p, subject, is_ca);
	CHECK_OK(x509_cert_build_selfsigned(&s, &p, &der, &len));
	if (der)
		check_cert(&s, &p, der, len, sig_nid);
	free(der);
	soft_signer_free(&s);
}

static void test_cert_rsa2048(void)
{
	build_and_check("rsa2048", X509_SUBJECT_AOSP, true, NID_sha256WithRSAEncryption);
	build_and_check("rsa2048", "/CN=rsa leaf", false, NID_sha256WithRSAEncryption);
}

static void test_cert_rsa4096_android_platform(void)
{
	build_and_check("rsa4096", X509_SUBJECT_AOSP, true, NID_sha256WithRSAEncryption);
}

static void test_cert_p256(void)
{
	build_and_check("p256", "/C=DE/O=rombsr/OU=release/CN=future p256", false,
			NID_ecdsa_with_SHA256);
	build_and_check("p256", "/O=rombsr/CN=p256 root", true, NID_ecdsa_with_SHA256);
}

static void test_cert_ed25519(void)
{
	build_and_check("ed25519", "/O=rombsr/CN=rombsr queue", false, NID_ED25519);
	build_and_check("ed25519", "/O=rombsr/CN=rombsr audit", false, NID_ED25519);
	build_and_check("ed25519", "/O=rombsr/CN=ed25519 root", true, NID_ED25519);
}

/* Dates on either side of 2050 in the certificate itself, and a serial
 * whose top bit the caller set: positive, 20 octets, no 0x00 pad. */
static void test_cert_times_and_serial(void)
{
	struct rb_signer s;
	struct x509_cert_params p;
	uint8_t *der = NULL;
	size_t len = 0;
	X509 *x;

	CHECK_OK(soft_signer_new("p256", &s));
	params_init(&p, "/CN=dates", false);
	p.not_before = T_2049_END;
	p.not_after = T_2050;
	memset(p.serial, 0xff, sizeof(p.serial));
	CHECK_OK(x509_cert_build_selfsigned(&s, &p, &der, &len));
	x = der ? cert_parse(der, len) : NULL;
	CHECK(x != NULL);
	if (x) {
		const ASN1_INTEGER *sn = X509_get0_serialNumber(x);

		CHECK(ASN1_STRING_type(X509_get0_notBefore(x)) == V_ASN1_UTCTIME);
		CHECK(ASN1_STRING_type(X509_get0_notAfter(x)) == V_ASN1_GENERALIZEDTIME);
		CHECK(ASN1_STRING_type(sn) == V_ASN1_INTEGER);
		CHECK(ASN1_STRING_length(sn) == 20 && ASN1_STRING_get0_data(sn)[0] == 0x7f);
		CHECK(i2d_ASN1_INTEGER(sn, NULL) == 22); /* 02 14 7f ff .. */
		X509_free(x);
	}
	free(der);
	der = NULL;

	/* A short serial with leading zero bytes is encoded minimally. */
	params_init(&p, "/CN=short serial", false);
	p.serial_len = 3;
	memcpy(p.serial, "\x00\x00\x05", 3);
	CHECK_OK(x509_cert_build_selfsigned(&s, &p, &der, &len));
	x = der ? cert_parse(der, len) : NULL;
	CHECK(x && ASN1_INTEGER_get(X509_get0_serialNumber(x)) == 5);
	X509_free(x);
	free(der);
	soft_signer_free(&s);
}

static void test_cert_pem(void)
{
	struct rb_signer s;
	struct x509_cert_params p;
	struct rb_buf pem = RB_BUF_INIT;
	uint8_t *der = NULL, *der2 = NULL;
	size_t len = 0;
	BIO *bio;
	X509 *x;
	int n2;

	CHECK_OK(soft_signer_new("rsa2048", &s));
	params_init(&p, X509_SUBJECT_AOSP, true);
	CHECK_OK(x509_cert_build_selfsigned(&s, &p, &der, &len));
	CHECK_OK(rb_buf_put_str(&pem, "prefix\n"));
	CHECK_OK(x509_der_to_pem(der, len, &pem));
	CHECK_OK(rb_buf_terminate(&pem));
	CHECK(strncmp((char *)pem.data, "prefix\n-----BEGIN CERTIFICATE-----\n", 35) == 0);
	CHECK(pem.len > 26 &&
	      strcmp((char *)pem.data + pem.len - 26, "-----END CERTIFICATE-----\n") == 0);
	/* RFC 7468: lines of exactly 64 characters, except the last. */
	{
		char *line = (char *)pem.data + 35;
		size_t l;

		while ((l = strcspn(line, "\n")) == 64)
			line += 65;
		CHECK(l < 64 && strncmp(line + l + 1, "-----END", 8) == 0);
	}
	bio = BIO_new_mem_buf(pem.data + 7, (int)(pem.len - 7));
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	CHECK(x != NULL);
	n2 = x ? i2d_X509(x, &der2) : -1;
	CHECK(n2 > 0 && (size_t)n2 == len && memcmp(der2, der, len) == 0);
	OPENSSL_free(der2);
	X509_free(x);
	BIO_free(bio);
	/* failure leaves the buffer as it was */
	{
		size_t before = pem.len;

		pem.cap = pem.len + 10;
		CHECK_ERR(x509_der_to_pem(der, len, &pem), RB_E_TOOBIG);
		CHECK(pem.len == before);
	}
	CHECK_ERR(x509_der_to_pem(der, 0, &pem), RB_E_INVAL);
	rb_buf_free(&pem);
	free(der);
	soft_signer_free(&s);
}

/* ---- the attacks: a certificate must not come out ---- */

enum evil_mode {
	EVIL_OTHER_KEY,   /* a signature by a different key of the same type */
	EVIL_OTHER_DATA,  /* the right key, but over something else */
	EVIL_TRUNCATE,    /* a signature one byte short */
	EVIL_ERROR,       /* the token fails */
};

struct evil {
	enum evil_mode mode;
	struct rb_signer *real;  /* the key the certificate is for */
	struct rb_signer *other; /* another key of the same type */
};

static int evil_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		     uint8_t **ret_sig, size_t *ret_len)
{
	struct evil *e = ctx;
	uint8_t *copy;
	int r;

	switch (e->mode) {
	case EVIL_OTHER_KEY:
		return rb_signer_sign(e->other, scheme, in, inlen, ret_sig, ret_len);
	case EVIL_OTHER_DATA:
		copy = malloc(inlen);
		memcpy(copy, in, inlen);
		copy[inlen - 1] ^= 1;
		r = rb_signer_sign(e->real, scheme, copy, inlen, ret_sig, ret_len);
		free(copy);
		return r;
	case EVIL_TRUNCATE:
		r = rb_signer_sign(e->real, scheme, in, inlen, ret_sig, ret_len);
		if (r == 0)
			(*ret_len)--;
		return r;
	case EVIL_ERROR:
		return rb_err_set(RB_E_P11, "token unplugged");
	}
	return RB_E_INVAL;
}

static void evil_case(const char *kind, enum evil_mode mode, int want)
{
	struct rb_signer real, other, evil_signer;
	struct evil e = { mode, &real, &other };
	struct x509_cert_params p;
	uint8_t *der = (uint8_t *)"sentinel";
	size_t len = 999;

	CHECK_OK(soft_signer_new(kind, &real));
	CHECK_OK(soft_signer_new(kind, &other));
	evil_signer = real;
	evil_signer.name = "evil";
	evil_signer.sign = evil_sign;
	evil_signer.ctx = &e;
	params_init(&p, "/CN=forgery", mode == EVIL_OTHER_DATA);
	CHECK_ERR(x509_cert_build_selfsigned(&evil_signer, &p, &der, &len), want);
	CHECK(len == 999 && strcmp((char *)der, "sentinel") == 0);
	soft_signer_free(&other);
	soft_signer_free(&real);
}

static void test_forged_signature_rejected(void)
{
	static const char *kinds[] = { "rsa2048", "p256", "ed25519" };

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		evil_case(kinds[i], EVIL_OTHER_KEY, RB_E_VERIFY);
		evil_case(kinds[i], EVIL_OTHER_DATA, RB_E_VERIFY);
		evil_case(kinds[i], EVIL_TRUNCATE, RB_E_VERIFY);
		evil_case(kinds[i], EVIL_ERROR, RB_E_P11);
	}
	/* the detail names the key */
	evil_case("ed25519", EVIL_OTHER_KEY, RB_E_VERIFY);
	CHECK(strstr(rb_err_detail(), "'evil'") != NULL);
}

static int never_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		      uint8_t **ret_sig, size_t *ret_len)
{
	(void)ctx, (void)scheme, (void)in, (void)inlen, (void)ret_sig, (void)ret_len;
	CHECK(!"the signer must not be reached");
	return RB_E_STATE;
}

static void test_params_rejected(void)
{
	struct rb_signer s, lie;
	struct x509_cert_params p;
	uint8_t *der = NULL;
	size_t len = 0;
	EVP_PKEY *small;

	CHECK_OK(soft_signer_new("ed25519", &s));
	lie = s;
	lie.sign = never_sign;

	params_init(&p, "/CN=x", false);
	p.serial_len = 0;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	p.serial_len = X509_SERIAL_MAX + 1;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	/* zero, and a value that is zero once the top bit is cleared */
	params_init(&p, "/CN=x", false);
	memset(p.serial, 0, sizeof(p.serial));
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	p.serial[0] = 0x80;
	p.serial_len = 1;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);

	params_init(&p, "/CN=x", false);
	p.not_after = p.not_before;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	params_init(&p, "/CN=x", false);
	p.not_after = T_9999_END + 1;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	params_init(&p, "/XX=x", false);
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_PARSE);
	params_init(&p, NULL, false);
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);
	params_init(&p, "/CN=x", false);
	CHECK_ERR(x509_cert_build_selfsigned(NULL, &p, &der, &len), RB_E_INVAL);
	CHECK_ERR(x509_cert_build_selfsigned(&lie, NULL, &der, &len), RB_E_INVAL);
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, NULL, &len), RB_E_INVAL);

	/* A signer that claims another algorithm than its key has. */
	lie.alg = RB_KEY_RSA;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_INVAL);

	/* RSA below 2048 bits is refused before anything is signed. */
	small = EVP_RSA_gen(1024);
	CHECK(small != NULL);
	lie.alg = RB_KEY_RSA;
	lie.pub = small;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_UNSUPPORTED);
	EVP_PKEY_free(small);

	/* P-384 is not a key rombsr issues certificates for (yet). */
	small = EVP_EC_gen("P-384");
	lie.alg = RB_KEY_EC_P256;
	lie.pub = small;
	CHECK_ERR(x509_cert_build_selfsigned(&lie, &p, &der, &len), RB_E_UNSUPPORTED);
	EVP_PKEY_free(small);

	CHECK(der == NULL && len == 0);
	soft_signer_free(&s);
}

int main(void)
{
	RUN(test_der_length_encoding);
	RUN(test_der_length_in_elements);
	RUN(test_der_nested_lengths);
	RUN(test_der_integer);
	RUN(test_der_oid);
	RUN(test_der_bit_octet_bool_null);
	RUN(test_der_time);
	RUN(test_der_context_tags);
	RUN(test_der_errors_are_sticky);
	RUN(test_subject_roundtrip);
	RUN(test_subject_string_types);
	RUN(test_subject_escapes_and_utf8);
	RUN(test_subject_rejects);
	RUN(test_cert_rsa2048);
	RUN(test_cert_rsa4096_android_platform);
	RUN(test_cert_p256);
	RUN(test_cert_ed25519);
	RUN(test_cert_times_and_serial);
	RUN(test_cert_pem);
	RUN(test_forged_signature_rejected);
	RUN(test_params_rejected);
	TEST_MAIN_END();
}
