#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static int label_exists(struct p11_token *t, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	if (t->f->C_FindObjectsInit(s, tmpl, ELEMENTSOF(tmpl)) != CKR_OK)
		return 0;
	t->f->C_FindObjects(s, &h, 1, &n);
	t->f->C_FindObjectsFinal(s);
	return n > 0;
}

int p11_token_generate_key(struct p11_token *t, const struct p11_keygen *spec, struct p11_key **ret)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = spec->bits;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ATTRIBUTE pub[8], priv[10];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_SESSION_HANDLE s;
	size_t llen = strlen(spec->label);
	CK_RV rv;
	int err;

	if (llen == 0 || llen > 64)
		return rb_err_set(RB_E_INVAL, "key label '%s' must be 1 to 64 bytes", spec->label);
	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	if (label_exists(t, s, spec->label, CKO_PRIVATE_KEY))
		return rb_err_set(RB_E_EXISTS, "token '%s' already holds a key '%s'; rotate it with "
				  "'rombsr hsm-rotate-keys' instead", t->label, spec->label);

	pub[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)spec->label, llen };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_ID, (void *)spec->id, spec->id_len };
	/* Private half: sensitive and never extractable, so no PKCS#11 call
	 * (C_GetAttributeValue, C_WrapKey) can take the key off the token.
	 * Key wrapping for the wrapped key store is a separate, explicit path. */
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)spec->label, llen };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_ID, (void *)spec->id, spec->id_len };

	switch (spec->alg) {
	case RB_KEY_RSA:
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return rb_err_set(RB_E_UNSUPPORTED, "key '%s': RSA-%lu is not supported; use 2048, "
					  "3072 or 4096", spec->label, (unsigned long)bits);
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
		break;
	case RB_KEY_EC_P256:
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) };
		break;
	case RB_KEY_ED25519:
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_ed25519, sizeof(oid_ed25519) };
		break;
	default:
		return rb_err_set(RB_E_UNSUPPORTED, "key '%s': unknown algorithm", spec->label);
	}
	rv = t->f->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv == CKR_MECHANISM_INVALID)
		return rb_err_set(RB_E_UNSUPPORTED, "token '%s' cannot generate %s keys (key '%s'); use a "
				  "module that supports it or change the key spec", t->label,
				  rb_key_alg_name(spec->alg), spec->label);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_GenerateKeyPair", "key", spec->label);
	return p11_token_find_key(t, spec->label, ret);
}

int p11_key_store_cert(struct p11_key *k, const uint8_t *der, size_t len)
{
	struct p11_token *t = k->token;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	const unsigned char *p = der;
	unsigned char *subj = NULL;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	X509 *x;
	int subj_len, err;
	CK_RV rv;

	if (k->cert)
		return rb_err_set(RB_E_EXISTS, "key '%s' already has a certificate on the token", k->name);
	x = d2i_X509(NULL, &p, (long)len);
	if (!x || p != der + len) {
		X509_free(x);
		return rb_err_set(RB_E_PARSE, "certificate for key '%s' is not one DER X.509", k->name);
	}
	subj_len = i2d_X509_NAME(X509_get_subject_name(x), &subj);
	X509_free(x);
	if (subj_len <= 0)
		return RB_E_CRYPTO;
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_LABEL, k->name, strlen(k->name) },
			{ CKA_ID, k->id, k->id_len },
			{ CKA_SUBJECT, subj, (CK_ULONG)subj_len },
			{ CKA_VALUE, (void *)der, len },
		};

		if ((err = p11_token_session(t, &s)) < 0) {
			OPENSSL_free(subj);
			return err;
		}
		rv = t->f->C_CreateObject(s, tmpl, ELEMENTSOF(tmpl), &h);
	}
	OPENSSL_free(subj);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_CreateObject(certificate)", "key", k->name);
	k->cert = malloc(len);
	if (!k->cert)
		return RB_E_NOMEM;
	memcpy(k->cert, der, len);
	k->cert_len = len;
	return RB_OK;
}
