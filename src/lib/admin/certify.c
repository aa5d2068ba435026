#include "admin/certify.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys/purpose.h"
#include "pgp/pgp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"
#include "x509/x509.h"

static bool purpose_tag_is_ca(const char *tag)
{
	return tag && (strcmp(tag, "android") == 0 || strcmp(tag, "avb") == 0 || strcmp(tag, "ota") == 0);
}

static int certify_openpgp(const struct rb_signer *signer, const struct keyspec_key *ks, int64_t now,
			   struct manifest_key *mk)
{
	struct rb_buf pgp = RB_BUF_INIT;
	_cleanup_free_ char *uid = NULL;
	int err;

	if (ks->openpgp_uid)
		uid = strdup(ks->openpgp_uid);
	else if (asprintf(&uid, "rombsr %s key <%s@rombsr.invalid>", ks->name, ks->name) < 0)
		uid = NULL;
	if (!uid)
		return RB_E_NOMEM;
	if ((err = pgp_cert_write(signer, now, uid, now, &pgp)) < 0)
		return err;
	mk->openpgp = rb_buf_steal(&pgp, &mk->openpgp_len);
	return RB_OK;
}

int key_certify(struct p11_key *key, const struct keyspec_key *ks, int64_t now, struct manifest_key *mk)
{
	struct x509_cert_params cp = { 0 };
	struct rb_signer signer;
	int err;

	if (!ks->subject)
		return rb_err_set(RB_E_INVAL, "key '%s' has no certificate subject", ks->name);
	p11_key_signer(key, &signer);
	cp.subject = ks->subject;
	cp.serial_len = 16;
	if ((err = rb_random_bytes(cp.serial, cp.serial_len)) < 0)
		return err;
	cp.not_before = (time_t)now;
	cp.not_after = (time_t)(now + ks->validity_days * 86400);
	cp.is_ca = purpose_tag_is_ca(ks->purpose);
	if ((err = x509_cert_build_selfsigned(&signer, &cp, &mk->cert, &mk->cert_len)) < 0)
		return err;
	/* key_purposes_check() keeps P-256 keys out of the OpenPGP purposes;
	 * the algorithm test is a second fence, the OpenPGP writer has no
	 * P-256. */
	if (!(ks->purposes & KEY_PURPOSES_OPENPGP) || ks->alg == RB_KEY_EC_P256)
		return RB_OK;
	return certify_openpgp(&signer, ks, now, mk);
}
