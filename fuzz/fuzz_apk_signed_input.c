/* Fuzz what the sign node parses before an APK key signs a capture
 * request's data (src/lib/apk/signed_data.c, signing_input.c): v2/v3
 * signed data, v4 signing data, v1 signature files. It must never crash or
 * read out of bounds, and the classifier must agree with the parsers:
 * whatever a parser accepts is accepted for the certificate it names (and
 * a signature file for any), and nothing naming another certificate is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apk/apk.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t other[] = "not the certificate";
	struct apk_signed_data sd;
	struct apk_v4_signing_data v4;
	enum apk_signed_kind kind = 0;
	int rc = apk_signer_input_check("fuzz", data, size, other, sizeof(other), &kind);

	if (rc == 0 && kind != APK_SIGNED_V1_SF && kind != APK_SIGNED_V2 && kind != APK_SIGNED_V3 &&
	    kind != APK_SIGNED_V4)
		abort();
	if (rc != 0 && rc != RB_E_PARSE && rc != RB_E_VERIFY)
		abort();
	if (apk_jar_sf_check("fuzz", data, size) == 0 && (rc != 0 || kind != APK_SIGNED_V1_SF))
		abort();
	if (apk_v4_signing_data_parse("fuzz", data, size, &v4) == 0) {
		if (v4.cert < data || v4.cert + v4.cert_len > data + size || v4.cert_len == 0)
			abort();
		if (apk_signer_input_check("fuzz", data, size, v4.cert, v4.cert_len, &kind) != 0 ||
		    kind != APK_SIGNED_V4)
			abort();
	}
	for (int scheme = 2; scheme <= 3; scheme++) {
		if (apk_signed_data_parse("fuzz", scheme, data, size, &sd) != 0)
			continue;
		if (sd.n_digests < 1 || sd.n_digests > APK_MAX_SIGNATURES || sd.n_certs < 1 ||
		    sd.n_certs > APK_MAX_CERTS || sd.cert < data || sd.cert + sd.cert_len > data + size)
			abort();
		/* Classified as signed data unless it also has the shape of
		 * the other two (a leading length equal to the whole, or the
		 * signature file's first line), which signed data never has
		 * from apksigner. */
		if (size >= 4 && (data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
				  (size_t)data[3] << 24) == size)
			continue;
		if (size >= 18 && memcmp(data, "Signature-Version:", 18) == 0)
			continue;
		if (apk_signer_input_check("fuzz", data, size, sd.cert, sd.cert_len, NULL) != 0)
			abort();
	}
	return 0;
}
