/* Fuzz the CKM_RSA_PKCS DigestInfo parser: whatever a tool passes to
 * C_Sign. Whatever it accepts must be exactly one of the two DER
 * encodings, with the digest pointing at the last 32 or 64 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request/capture_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum rb_sig_scheme scheme;
	const uint8_t *digest, *prefix;
	size_t dlen, plen;

	if (capture_digestinfo_parse(data, size, &scheme, &digest, &dlen) != 0)
		return 0;
	if (scheme != RB_SIG_RSA_PKCS1_SHA256 && scheme != RB_SIG_RSA_PKCS1_SHA512)
		abort();
	if (rb_digestinfo_prefix(scheme, &prefix, &plen) != 0)
		abort();
	if (dlen != rb_sig_scheme_digest_len(scheme) || size != plen + dlen ||
	    digest != data + plen || memcmp(data, prefix, plen) != 0)
		abort();
	return 0;
}
