/* The signed data of one v2 or v3 signer: what the signer's key signs
 * (docs/formats/apk-verify.md). Parsed strictly and without believing
 * anything in it; signer.c checks the signatures over it and its first
 * certificate, the sign node checks that certificate against the key's
 * own before the key signs it. */
#include <string.h>

#include "apk/apk-internal.h"
#include "util/err.h"

#define ATTR_STRIPPING_PROTECTION 0xbeeff00du
/* A signer record holds certificates and signatures of a few KiB; this
 * only bounds the work on a hostile block. */
#define APK_MAX_ATTRS 64

int apk_get_lp(struct rb_reader *r, struct rb_reader *ret)
{
	uint32_t n;
	const uint8_t *p;
	struct rb_reader save = *r;
	int rc;

	if ((rc = rb_reader_get_u32le(r, &n)) < 0)
		return rc;
	if ((rc = rb_reader_get_bytes(r, n, &p)) < 0) {
		*r = save;
		return rc;
	}
	rb_reader_init(ret, p, n);
	return 0;
}

static int digests_parse(const char *where, struct rb_reader *r, struct apk_signed_data *s)
{
	int rc;

	while (r->len > 0) {
		struct rb_reader rec, dig;
		const struct apk_alg *alg;
		uint32_t id;

		if (s->n_digests == APK_MAX_SIGNATURES)
			return rb_err_set(RB_E_LIMIT, "%s: more than %d digests", where, APK_MAX_SIGNATURES);
		if ((rc = apk_get_lp(r, &rec)) < 0 || (rc = rb_reader_get_u32le(&rec, &id)) < 0 ||
		    (rc = apk_get_lp(&rec, &dig)) < 0 || (rc = rb_reader_expect_end(&rec)) < 0)
			return rb_err_set(rc, "%s: digest record #%zu in the signed data is malformed", where,
					  s->n_digests);
		if (!(alg = apk_alg_find(id)))
			return rb_err_set(RB_E_UNSUPPORTED, "%s: digest #%zu is for algorithm 0x%04x, which rombsr does not verify",
					  where, s->n_digests, id);
		if (dig.len != (alg->sha512 ? 64u : 32u))
			return rb_err_set(RB_E_PARSE, "%s: digest #%zu (%s) is %zu bytes", where, s->n_digests,
					  alg->name, dig.len);
		s->digests[s->n_digests++] = (struct apk_content_digest){ id, dig.p, dig.len };
	}
	if (s->n_digests == 0)
		return rb_err_set(RB_E_PARSE, "%s: the signed data has no digests", where);
	return 0;
}

static int certs_parse(const char *where, struct rb_reader *r, struct apk_signed_data *s)
{
	while (r->len > 0) {
		struct rb_reader one;

		if (s->n_certs == APK_MAX_CERTS)
			return rb_err_set(RB_E_LIMIT, "%s: more than %d certificates", where, APK_MAX_CERTS);
		if (apk_get_lp(r, &one) < 0 || one.len == 0)
			return rb_err_set(RB_E_PARSE, "%s: certificate #%zu is malformed", where, s->n_certs);
		if (s->n_certs++ == 0) {
			s->cert = one.p;
			s->cert_len = one.len;
		}
	}
	if (s->n_certs == 0)
		return rb_err_set(RB_E_PARSE, "%s: signed data has no certificate", where);
	return 0;
}

static int attrs_parse(const char *where, int scheme, struct rb_reader *r, struct apk_signed_data *s)
{
	size_t n = 0;
	int rc;

	while (r->len > 0) {
		struct rb_reader rec;
		uint32_t id, val;

		if (n++ == APK_MAX_ATTRS)
			return rb_err_set(RB_E_LIMIT, "%s: more than %d additional attributes", where, APK_MAX_ATTRS);
		if ((rc = apk_get_lp(r, &rec)) < 0 || (rc = rb_reader_get_u32le(&rec, &id)) < 0)
			return rb_err_set(rc, "%s: additional attribute #%zu is malformed", where, n - 1);
		/* v2 signers record which newer schemes were also applied, so
		 * removing the v3 block cannot downgrade the APK to v2. */
		if (scheme == 2 && id == ATTR_STRIPPING_PROTECTION) {
			if ((rc = rb_reader_get_u32le(&rec, &val)) < 0 || (rc = rb_reader_expect_end(&rec)) < 0)
				return rb_err_set(rc, "%s: stripping-protection attribute is malformed", where);
			if (val == 3)
				s->claims_v3 = true;
		}
	}
	return 0;
}

/* digests, certificates, [v3: min SDK, max SDK], additional attributes. */
int apk_signed_data_parse(const char *where, int scheme, const uint8_t *data, size_t len,
			  struct apk_signed_data *ret)
{
	struct apk_signed_data s;
	struct rb_reader r, digests, certs, attrs, trailer;
	int rc;

	memset(&s, 0, sizeof(s));
	if (scheme != 2 && scheme != 3)
		return rb_err_set(RB_E_INVAL, "%s: APK signature scheme v%d has no signed-data block", where, scheme);
	rb_reader_init(&r, data, len);
	if ((rc = apk_get_lp(&r, &digests)) < 0 || (rc = apk_get_lp(&r, &certs)) < 0)
		return rb_err_set(rc, "%s: signed data is malformed (digests, certificates)", where);
	if (scheme == 3 && ((rc = rb_reader_get_u32le(&r, &s.min_sdk)) < 0 ||
			    (rc = rb_reader_get_u32le(&r, &s.max_sdk)) < 0))
		return rb_err_set(rc, "%s: signed data lacks the SDK range", where);
	if (s.min_sdk > s.max_sdk)
		return rb_err_set(RB_E_PARSE, "%s: SDK range %u..%u is empty", where, s.min_sdk, s.max_sdk);
	if ((rc = apk_get_lp(&r, &attrs)) < 0)
		return rb_err_set(rc, "%s: signed data is malformed (additional attributes)", where);
	/* apksigner ends v2 signed data with one empty element; accept that
	 * and nothing else. */
	if (scheme == 2 && r.len == 4)
		(void)apk_get_lp(&r, &trailer); /* only a zero length is consumed */
	if ((rc = rb_reader_expect_end(&r)) < 0)
		return rb_err_set(rc, "%s: %zu trailing bytes after the signed data", where, r.len);
	if ((rc = digests_parse(where, &digests, &s)) < 0 || (rc = certs_parse(where, &certs, &s)) < 0 ||
	    (rc = attrs_parse(where, scheme, &attrs, &s)) < 0)
		return rc;
	*ret = s;
	return 0;
}
