#include <string.h>

#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "x509/x509.h"

/* RFC 7468 2: generators wrap base64 at exactly 64 characters. */
#define PEM_LINE 64

int x509_der_to_pem(const uint8_t *der, size_t len, struct rb_buf *out)
{
	_cleanup_free_ char *b64 = NULL;
	size_t saved, n, off;
	int err;

	if (!der || len == 0 || !out)
		return RB_E_INVAL;
	if ((err = rb_base64_encode(der, len, true, &b64)) < 0)
		return err;
	saved = out->len;
	n = strlen(b64);
	err = rb_buf_put_str(out, "-----BEGIN CERTIFICATE-----\n");
	for (off = 0; err == 0 && off < n; off += PEM_LINE) {
		size_t k = n - off < PEM_LINE ? n - off : PEM_LINE;

		if ((err = rb_buf_put(out, b64 + off, k)) == 0)
			err = rb_buf_put_u8(out, '\n');
	}
	if (err == 0)
		err = rb_buf_put_str(out, "-----END CERTIFICATE-----\n");
	if (err < 0) {
		out->len = saved; /* leave the caller's buffer as it was */
		return err;
	}
	return RB_OK;
}
