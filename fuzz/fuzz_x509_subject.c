/* Fuzz the one-line X.509 subject syntax ("CN=..., O=...") that key specs
 * carry. Oracle: whatever x509_subject_to_der() accepts must be a DER Name
 * that OpenSSL parses back while consuming every byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "x509/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *subject;
	uint8_t *der = NULL;
	size_t len = 0;

	if (size > 4096)
		return 0;
	subject = malloc(size + 1);
	if (!subject)
		return 0;
	memcpy(subject, data, size);
	subject[size] = '\0';
	if (x509_subject_to_der(subject, &der, &len) == 0) {
		const unsigned char *p = der;
		X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)len);

		if (!name || p != der + len)
			abort();
		X509_NAME_free(name);
		free(der);
	}
	free(subject);
	return 0;
}
