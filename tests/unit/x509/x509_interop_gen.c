/* Write self-signed certificates for the interop test
 * (tests/integration/x509-interop.sh), one per key type rombsr issues:
 *
 *   <dir>/rsa4096.pem   Android platform-style: AOSP subject, CA:TRUE
 *   <dir>/p256.pem      end-entity, caller-style subject
 *   <dir>/ed25519.pem   end-entity, like the queue and audit keys
 *
 * Keys come from the test-only soft signer; the certificates are built by
 * the same x509_cert_build_selfsigned() the HSM path uses. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "soft_signer.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"
#include "x509/x509.h"

static const struct {
	const char *kind;
	const char *subject;
	bool is_ca;
} certs[] = {
	{ "rsa4096", X509_SUBJECT_AOSP, true },
	{ "p256", "/C=DE/O=rombsr/OU=release/CN=rombsr p256 interop", false },
	{ "ed25519", "/O=rombsr/CN=rombsr queue", false },
};

static int write_one(const char *dir, size_t i)
{
	struct rb_signer s;
	struct x509_cert_params p = { 0 };
	struct rb_buf pem = RB_BUF_INIT;
	uint8_t *der = NULL;
	size_t len = 0;
	char path[4096];
	time_t now = time(NULL);
	int err;

	if ((err = soft_signer_new(certs[i].kind, &s)) < 0)
		return err;
	p.subject = certs[i].subject;
	p.serial_len = sizeof(p.serial);
	p.is_ca = certs[i].is_ca;
	/* Back-date an hour so a verifier with a slightly slow clock agrees. */
	p.not_before = now - 3600;
	p.not_after = now + (time_t)X509_AOSP_VALIDITY_DAYS * 86400;
	if ((err = rb_random_bytes(p.serial, sizeof(p.serial))) == 0 &&
	    (err = x509_cert_build_selfsigned(&s, &p, &der, &len)) == 0 &&
	    (err = x509_der_to_pem(der, len, &pem)) == 0) {
		snprintf(path, sizeof(path), "%s/%s.pem", dir, certs[i].kind);
		err = rb_file_write_atomic(path, pem.data, pem.len, 0644);
	}
	free(der);
	rb_buf_free(&pem);
	soft_signer_free(&s);
	return err;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		int err = write_one(argv[1], i);

		if (err < 0) {
			fprintf(stderr, "x509_interop_gen: %s: %s: %s\n", certs[i].kind,
				rb_strerror(err), rb_err_detail());
			return 1;
		}
	}
	return 0;
}
