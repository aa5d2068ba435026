/* CKM_RSA_PKCS input: the caller's DigestInfo. Only the two exact DER
 * encodings rombsr signs are accepted, compared byte for byte, so nothing
 * a tool hands us can smuggle in another hash, a BER variant or extra data
 * that the sign node would then sign. */
#include <string.h>

#include "request/capture_request.h"
#include "util/err.h"

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

int capture_digestinfo_parse(const uint8_t *in, size_t len, enum rb_sig_scheme *ret_scheme,
			     const uint8_t **ret_digest, size_t *ret_digest_len)
{
	static const struct {
		enum rb_sig_scheme scheme;
		const char *hash;
	} accepted[] = {
		{ RB_SIG_RSA_PKCS1_SHA256, "SHA-256" },
		{ RB_SIG_RSA_PKCS1_SHA512, "SHA-512" },
	};

	if (!ret_scheme || !ret_digest || !ret_digest_len)
		return rb_err_set(RB_E_INVAL, "DigestInfo: missing argument");
	if (!in)
		len = 0;
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		const uint8_t *prefix;
		size_t plen, dlen = rb_sig_scheme_digest_len(accepted[i].scheme);

		if (rb_digestinfo_prefix(accepted[i].scheme, &prefix, &plen) < 0)
			return rb_err_set(RB_E_UNSUPPORTED, "DigestInfo: no prefix for %s",
					  accepted[i].hash);
		if (len != plen + dlen)
			continue;
		if (memcmp(in, prefix, plen) != 0)
			return rb_err_set(RB_E_PARSE,
					  "DigestInfo of %zu bytes is not the DER encoding of a %s "
					  "digest with NULL parameters (differs at byte %zu); only "
					  "SHA-256 and SHA-512 are accepted - configure the tool to "
					  "sign with one of them",
					  len, accepted[i].hash, first_difference(in, prefix, plen));
		*ret_scheme = accepted[i].scheme;
		*ret_digest = in + plen;
		*ret_digest_len = dlen;
		return RB_OK;
	}
	return rb_err_set(RB_E_PARSE,
			  "DigestInfo of %zu bytes: expected exactly 51 (SHA-256) or 83 (SHA-512) "
			  "bytes of DER; other hashes and encodings are refused - configure the "
			  "tool to sign with SHA-256 or SHA-512",
			  len);
}
