/* Objects: the private key, public key and certificate of each active
 * manifest key (read-only token objects), and public-key session objects
 * that clients import to verify (C_CreateObject). Attribute values are
 * computed once, when the object is made, so C_GetAttributeValue and
 * C_FindObjects are plain lookups and comparisons. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "capture-module.h"
#include "util/cleanup.h"
#include "util/err.h"

#define ATTR_MAX_LEN (64 * 1024)
#define TEMPLATE_MAX 64

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t name_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
					'2', '5', '5', '1', '9' };

static const CK_MECHANISM_TYPE rsa_mechs[] = { CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS,
					       CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS };
static const CK_MECHANISM_TYPE ec_mechs[] = { CKM_ECDSA, CKM_ECDSA_SHA256 };
static const CK_MECHANISM_TYPE ed_mechs[] = { CKM_EDDSA };

/* ---- attribute lists ---------------------------------------------------- */

struct attr_list {
	struct cm_attr *a;
	size_t n, alloc;
	int err; /* sticky: the first failure */
};

static void attr_list_clear(struct attr_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->a[i].value);
	free(l->a);
	memset(l, 0, sizeof(*l));
}

static void add_attr(struct attr_list *l, CK_ATTRIBUTE_TYPE type, const void *v, size_t len,
		     bool sensitive)
{
	struct cm_attr *a;

	if (l->err)
		return;
	if (l->n == l->alloc) {
		size_t na = l->alloc ? 2 * l->alloc : 48;
		struct cm_attr *p = realloc(l->a, na * sizeof(*p));

		if (!p) {
			l->err = RB_E_NOMEM;
			return;
		}
		l->a = p;
		l->alloc = na;
	}
	a = &l->a[l->n];
	a->type = type;
	a->len = len;
	a->sensitive = sensitive;
	a->value = malloc(len ? len : 1);
	if (!a->value) {
		l->err = RB_E_NOMEM;
		return;
	}
	if (len)
		memcpy(a->value, v, len);
	l->n++;
}

static void add_bool(struct attr_list *l, CK_ATTRIBUTE_TYPE type, bool v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

	add_attr(l, type, &b, sizeof(b), false);
}

static void add_ulong(struct attr_list *l, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	add_attr(l, type, &v, sizeof(v), false);
}

static void add_sensitive(struct attr_list *l, CK_ATTRIBUTE_TYPE type)
{
	add_attr(l, type, NULL, 0, true);
}

static bool has_attr(const struct attr_list *l, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->a[i].type == type)
			return true;
	return false;
}

const struct cm_attr *cm_object_attr(const struct cm_object *o, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < o->n_attrs; i++)
		if (o->attrs[i].type == type)
			return &o->attrs[i];
	return NULL;
}

void cm_object_free(struct cm_object *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->n_attrs; i++)
		free(o->attrs[i].value);
	free(o->attrs);
	EVP_PKEY_free(o->pub);
	free(o);
}

static int object_new(struct attr_list *l, CK_OBJECT_CLASS cls, struct cm_object **ret)
{
	struct cm_object *o = NULL;

	if (l->err)
		return l->err;
	o = calloc(1, sizeof(*o));
	if (!o)
		return RB_E_NOMEM;
	o->cls = cls;
	o->attrs = l->a;
	o->n_attrs = l->n;
	memset(l, 0, sizeof(*l));
	*ret = o;
	return RB_OK;
}

/* ---- public key material ------------------------------------------------ */

static void add_bn_param(struct attr_list *l, EVP_PKEY *pk, const char *name, CK_ATTRIBUTE_TYPE type)
{
	BIGNUM *bn = NULL;
	uint8_t *buf;
	int n;

	if (l->err)
		return;
	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1) {
		l->err = RB_E_CRYPTO;
		return;
	}
	n = BN_num_bytes(bn);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf) {
		BN_free(bn);
		l->err = RB_E_NOMEM;
		return;
	}
	BN_bn2bin(bn, buf);
	add_attr(l, type, buf, (size_t)n, false);
	free(buf);
	BN_free(bn);
}

/* CKA_EC_POINT: the point wrapped in a DER OCTET STRING (PKCS#11 2.40).
 * The point is taken from the DER SubjectPublicKeyInfo rather than from
 * key parameters: in a host process that made an engine the default for
 * EC (openssl -engine pkcs11), keys are engine-backed and do not export
 * their encoded point as a parameter. */
static void add_ec_point(struct attr_list *l, EVP_PKEY *pk, enum rb_key_alg alg)
{
	unsigned char *der = NULL;
	const unsigned char *p, *pt = NULL;
	X509_PUBKEY *xpk = NULL;
	uint8_t buf[2 + 65];
	size_t want = alg == RB_KEY_ED25519 ? 32 : 65;
	int n, ptlen = 0;

	if (l->err)
		return;
	n = i2d_PUBKEY(pk, &der);
	p = der;
	if (n <= 0 || !(xpk = d2i_X509_PUBKEY(NULL, &p, n)) ||
	    X509_PUBKEY_get0_param(NULL, &pt, &ptlen, NULL, xpk) != 1 || (size_t)ptlen != want ||
	    (alg == RB_KEY_EC_P256 && pt[0] != 0x04)) {
		l->err = RB_E_CRYPTO;
		goto out;
	}
	buf[0] = 0x04;
	buf[1] = (uint8_t)want;
	memcpy(buf + 2, pt, want);
	add_attr(l, CKA_EC_POINT, buf, want + 2, false);
out:
	X509_PUBKEY_free(xpk);
	OPENSSL_free(der);
}

static void key_type_info(enum rb_key_alg alg, CK_KEY_TYPE *kt, CK_MECHANISM_TYPE *gen,
			  const CK_MECHANISM_TYPE **mechs, size_t *n_mechs)
{
	switch (alg) {
	case RB_KEY_RSA:
		*kt = CKK_RSA;
		*gen = CKM_RSA_PKCS_KEY_PAIR_GEN;
		*mechs = rsa_mechs;
		*n_mechs = ELEMENTSOF(rsa_mechs);
		return;
	case RB_KEY_EC_P256:
		*kt = CKK_EC;
		*gen = CKM_EC_KEY_PAIR_GEN;
		*mechs = ec_mechs;
		*n_mechs = ELEMENTSOF(ec_mechs);
		return;
	case RB_KEY_ED25519:
		*kt = CKK_EC_EDWARDS;
		*gen = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		*mechs = ed_mechs;
		*n_mechs = ELEMENTSOF(ed_mechs);
		return;
	}
}

/* Attributes every key object has. */
static void add_key_common(struct attr_list *l, enum rb_key_alg alg, bool local)
{
	const CK_MECHANISM_TYPE *mechs = NULL;
	CK_MECHANISM_TYPE gen = 0;
	CK_KEY_TYPE kt = 0;
	size_t n = 0;

	key_type_info(alg, &kt, &gen, &mechs, &n);
	add_ulong(l, CKA_KEY_TYPE, kt);
	add_attr(l, CKA_START_DATE, NULL, 0, false);
	add_attr(l, CKA_END_DATE, NULL, 0, false);
	add_bool(l, CKA_DERIVE, false);
	add_bool(l, CKA_LOCAL, local);
	add_ulong(l, CKA_KEY_GEN_MECHANISM, local ? gen : CK_UNAVAILABLE_INFORMATION);
	add_attr(l, CKA_ALLOWED_MECHANISMS, mechs, n * sizeof(*mechs), false);
}

static void add_public_material(struct attr_list *l, EVP_PKEY *pk, enum rb_key_alg alg,
				bool with_bits)
{
	switch (alg) {
	case RB_KEY_RSA:
		add_bn_param(l, pk, OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS);
		add_bn_param(l, pk, OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT);
		if (with_bits)
			add_ulong(l, CKA_MODULUS_BITS, (CK_ULONG)EVP_PKEY_get_bits(pk));
		break;
	case RB_KEY_EC_P256:
		add_attr(l, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256), false);
		break;
	case RB_KEY_ED25519:
		add_attr(l, CKA_EC_PARAMS, oid_ed25519, sizeof(oid_ed25519), false);
		break;
	}
}

static void add_spki(struct attr_list *l, EVP_PKEY *pk)
{
	unsigned char *der = NULL;
	int n;

	if (l->err)
		return;
	n = i2d_PUBKEY(pk, &der);
	if (n <= 0) {
		l->err = RB_E_CRYPTO;
		return;
	}
	add_attr(l, CKA_PUBLIC_KEY_INFO, der, (size_t)n, false);
	OPENSSL_free(der);
}

/* ---- token objects ------------------------------------------------------ */

struct cert_fields {
	unsigned char *subject, *issuer, *serial;
	int subject_len, issuer_len, serial_len;
};

static void cert_fields_clear(struct cert_fields *c)
{
	OPENSSL_free(c->subject);
	OPENSSL_free(c->issuer);
	OPENSSL_free(c->serial);
}

static int cert_fields_parse(const struct manifest_key *k, struct cert_fields *ret)
{
	const unsigned char *p = k->cert;
	X509 *x = d2i_X509(NULL, &p, (long)k->cert_len);
	int err = RB_OK;

	memset(ret, 0, sizeof(*ret));
	if (!x || p != k->cert + k->cert_len) {
		X509_free(x);
		return rb_err_set(RB_E_PARSE, "key '%s': certificate is not one DER X.509", k->name);
	}
	ret->subject_len = i2d_X509_NAME(X509_get_subject_name(x), &ret->subject);
	ret->issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &ret->issuer);
	ret->serial_len = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &ret->serial);
	if (ret->subject_len <= 0 || ret->issuer_len <= 0 || ret->serial_len <= 0) {
		cert_fields_clear(ret);
		err = RB_E_CRYPTO;
	}
	X509_free(x);
	return err;
}

static void add_storage(struct attr_list *l, CK_OBJECT_CLASS cls, bool token, bool private_obj,
			const void *label, size_t label_len)
{
	add_ulong(l, CKA_CLASS, cls);
	add_bool(l, CKA_TOKEN, token);
	add_bool(l, CKA_PRIVATE, private_obj);
	add_bool(l, CKA_MODIFIABLE, false);
	add_bool(l, CKA_COPYABLE, false);
	add_bool(l, CKA_DESTROYABLE, !token);
	add_attr(l, CKA_LABEL, label, label_len, false);
}

static int build_private(const struct manifest_key *k, const struct cert_fields *c,
			 struct cm_object **ret)
{
	struct attr_list l = { 0 };
	struct cm_object *o = NULL;
	int err;

	add_storage(&l, CKO_PRIVATE_KEY, true, true, k->name, strlen(k->name));
	add_attr(&l, CKA_ID, k->id, k->id_len, false);
	add_key_common(&l, k->alg, true);
	add_attr(&l, CKA_SUBJECT, c->subject, (size_t)c->subject_len, false);
	add_bool(&l, CKA_SENSITIVE, true);
	add_bool(&l, CKA_DECRYPT, false);
	add_bool(&l, CKA_SIGN, true);
	add_bool(&l, CKA_SIGN_RECOVER, false);
	add_bool(&l, CKA_UNWRAP, false);
	add_bool(&l, CKA_EXTRACTABLE, false);
	add_bool(&l, CKA_ALWAYS_SENSITIVE, true);
	add_bool(&l, CKA_NEVER_EXTRACTABLE, true);
	add_bool(&l, CKA_WRAP_WITH_TRUSTED, false);
	add_bool(&l, CKA_ALWAYS_AUTHENTICATE, false);
	add_spki(&l, k->pub);
	/* Public parts clients read from the private object (SunPKCS11 and
	 * libp11 take the RSA modulus from it); private parts are sensitive. */
	add_public_material(&l, k->pub, k->alg, false);
	if (k->alg == RB_KEY_RSA) {
		add_sensitive(&l, CKA_PRIVATE_EXPONENT);
		add_sensitive(&l, CKA_PRIME_1);
		add_sensitive(&l, CKA_PRIME_2);
		add_sensitive(&l, CKA_EXPONENT_1);
		add_sensitive(&l, CKA_EXPONENT_2);
		add_sensitive(&l, CKA_COEFFICIENT);
	} else {
		add_sensitive(&l, CKA_VALUE);
	}
	if ((err = object_new(&l, CKO_PRIVATE_KEY, &o)) < 0) {
		attr_list_clear(&l);
		return err;
	}
	o->can_sign = true;
	*ret = o;
	return RB_OK;
}

static int build_public(const struct manifest_key *k, const struct cert_fields *c,
			struct cm_object **ret)
{
	struct attr_list l = { 0 };
	struct cm_object *o = NULL;
	int err;

	add_storage(&l, CKO_PUBLIC_KEY, true, false, k->name, strlen(k->name));
	add_attr(&l, CKA_ID, k->id, k->id_len, false);
	add_key_common(&l, k->alg, true);
	add_attr(&l, CKA_SUBJECT, c->subject, (size_t)c->subject_len, false);
	add_bool(&l, CKA_ENCRYPT, false);
	add_bool(&l, CKA_VERIFY, true);
	add_bool(&l, CKA_VERIFY_RECOVER, false);
	add_bool(&l, CKA_WRAP, false);
	add_bool(&l, CKA_TRUSTED, false);
	add_spki(&l, k->pub);
	add_public_material(&l, k->pub, k->alg, true);
	if (k->alg != RB_KEY_RSA)
		add_ec_point(&l, k->pub, k->alg);
	if ((err = object_new(&l, CKO_PUBLIC_KEY, &o)) < 0) {
		attr_list_clear(&l);
		return err;
	}
	o->can_verify = true;
	*ret = o;
	return RB_OK;
}

static int build_cert(const struct manifest_key *k, const struct cert_fields *c,
		      struct cm_object **ret)
{
	struct attr_list l = { 0 };
	uint8_t sha1[EVP_MAX_MD_SIZE];
	unsigned sha1_len = 0;
	struct cm_object *o = NULL;
	int err;

	if (EVP_Digest(k->cert, k->cert_len, sha1, &sha1_len, EVP_sha1(), NULL) != 1)
		return RB_E_CRYPTO;
	add_storage(&l, CKO_CERTIFICATE, true, false, k->name, strlen(k->name));
	add_ulong(&l, CKA_CERTIFICATE_TYPE, CKC_X_509);
	add_bool(&l, CKA_TRUSTED, false);
	add_ulong(&l, CKA_CERTIFICATE_CATEGORY, 1 /* token user */);
	add_attr(&l, CKA_CHECK_VALUE, sha1, 3, false);
	add_attr(&l, CKA_START_DATE, NULL, 0, false);
	add_attr(&l, CKA_END_DATE, NULL, 0, false);
	add_attr(&l, CKA_PUBLIC_KEY_INFO, k->spki, k->spki_len, false);
	add_attr(&l, CKA_SUBJECT, c->subject, (size_t)c->subject_len, false);
	add_attr(&l, CKA_ID, k->id, k->id_len, false);
	add_attr(&l, CKA_ISSUER, c->issuer, (size_t)c->issuer_len, false);
	add_attr(&l, CKA_SERIAL_NUMBER, c->serial, (size_t)c->serial_len, false);
	add_attr(&l, CKA_VALUE, k->cert, k->cert_len, false);
	add_attr(&l, CKA_URL, NULL, 0, false);
	add_attr(&l, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, NULL, 0, false);
	add_attr(&l, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0, false);
	add_ulong(&l, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
	add_ulong(&l, CKA_NAME_HASH_ALGORITHM, CKM_SHA_1);
	if ((err = object_new(&l, CKO_CERTIFICATE, &o)) < 0) {
		attr_list_clear(&l);
		return err;
	}
	*ret = o;
	return RB_OK;
}

int cm_objects_build(const struct manifest *m, struct cm_object ***ret, size_t *ret_n)
{
	struct cm_object **objs;
	size_t i, n = 0;
	int err = RB_OK;

	objs = calloc(3 * m->n_keys + 1, sizeof(*objs));
	if (!objs)
		return RB_E_NOMEM;
	for (i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		struct cert_fields c;
		size_t j;

		/* Revoked and retired keys never sign: a client must not even
		 * see them, or it would pick them and produce requests the sign
		 * node refuses. */
		if (k->status != KEY_ACTIVE)
			continue;
		if ((err = cert_fields_parse(k, &c)) < 0)
			goto fail;
		if ((err = build_private(k, &c, &objs[n])) == RB_OK &&
		    (err = build_public(k, &c, &objs[n + 1])) == RB_OK)
			err = build_cert(k, &c, &objs[n + 2]);
		cert_fields_clear(&c);
		for (j = n; j < n + 3 && objs[j]; j++) {
			CK_KEY_TYPE kt = 0;
			CK_MECHANISM_TYPE gen;
			const CK_MECHANISM_TYPE *mechs;
			size_t nm;

			key_type_info(k->alg, &kt, &gen, &mechs, &nm);
			objs[j]->handle = (CK_OBJECT_HANDLE)(j + 1);
			objs[j]->token = true;
			objs[j]->private_obj = objs[j]->cls == CKO_PRIVATE_KEY;
			objs[j]->key = k;
			objs[j]->alg = k->alg;
			objs[j]->key_type = objs[j]->cls == CKO_CERTIFICATE ? 0 : kt;
			if (objs[j]->cls != CKO_CERTIFICATE) {
				if (EVP_PKEY_up_ref(k->pub) != 1) {
					err = RB_E_CRYPTO;
					break;
				}
				objs[j]->pub = k->pub;
			}
		}
		n += 3;
		if (err < 0)
			goto fail;
	}
	*ret = objs;
	*ret_n = n;
	return RB_OK;
fail:
	for (i = 0; i < 3 * m->n_keys; i++)
		cm_object_free(objs[i]);
	free(objs);
	return err;
}

/* ---- lookup ------------------------------------------------------------- */

struct cm_object *cm_object_lookup(CK_OBJECT_HANDLE h)
{
	struct cm_object *o = NULL;

	if (h >= 1 && h <= cm_state->n_token_objects)
		return cm_state->token_objects[h - 1];
	for (o = cm_state->session_objects; o; o = o->next)
		if (o->handle == h)
			return o;
	return NULL;
}

bool cm_object_visible(const struct cm_object *o)
{
	return !o->private_obj || cm_state->logged_in;
}

void cm_objects_drop_session(CK_SESSION_HANDLE h)
{
	struct cm_object **pp = &cm_state->session_objects;

	while (*pp) {
		struct cm_object *o = *pp;

		if (o->owner == h) {
			*pp = o->next;
			cm_state->n_session_objects--;
			cm_object_free(o);
		} else {
			pp = &o->next;
		}
	}
}

/* ---- C_GetAttributeValue ------------------------------------------------ */

CK_RV cm_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
			     CK_ULONG n)
{
	struct cm_session *s;
	struct cm_object *o = NULL;
	CK_RV rv, worst = CKR_OK;
	CK_ULONG i;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if (!tmpl && n > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	o = cm_object_lookup(oh);
	if (!o || !cm_object_visible(o)) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	/* PKCS#11 2.40, C_GetAttributeValue: every attribute is processed;
	 * each one that cannot be returned gets CK_UNAVAILABLE_INFORMATION,
	 * and the call reports one of the reasons. */
	for (i = 0; i < n; i++) {
		const struct cm_attr *a = cm_object_attr(o, tmpl[i].type);
		CK_RV this = CKR_OK;

		if (!a)
			this = CKR_ATTRIBUTE_TYPE_INVALID;
		else if (a->sensitive)
			this = CKR_ATTRIBUTE_SENSITIVE;
		else if (!tmpl[i].pValue)
			tmpl[i].ulValueLen = a->len;
		else if (tmpl[i].ulValueLen >= a->len) {
			if (a->len)
				memcpy(tmpl[i].pValue, a->value, a->len);
			tmpl[i].ulValueLen = a->len;
		} else
			this = CKR_BUFFER_TOO_SMALL;
		if (this != CKR_OK) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (worst == CKR_OK)
				worst = this;
		}
	}
	rv = worst;
out:
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

/* ---- C_FindObjects* ----------------------------------------------------- */

static bool object_matches(const struct cm_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		const struct cm_attr *a = cm_object_attr(o, tmpl[i].type);

		if (!a || a->sensitive || a->len != tmpl[i].ulValueLen ||
		    (a->len && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
			return false;
	}
	return true;
}

CK_RV cm_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct cm_session *s;
	struct cm_object *o = NULL;
	CK_OBJECT_HANDLE *hs;
	size_t i, count = 0;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if (!tmpl && n > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!tmpl[i].pValue && tmpl[i].ulValueLen > 0) {
			rv = CKR_ARGUMENTS_BAD;
			goto out;
		}
	if (s->find.active) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	hs = calloc(cm_state->n_token_objects + cm_state->n_session_objects + 1, sizeof(*hs));
	if (!hs) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* Private objects are found only when logged in; otherwise they are
	 * simply not there. */
	for (i = 0; i < cm_state->n_token_objects; i++) {
		o = cm_state->token_objects[i];
		if (cm_object_visible(o) && object_matches(o, tmpl, n))
			hs[count++] = o->handle;
	}
	for (o = cm_state->session_objects; o; o = o->next)
		if (cm_object_visible(o) && object_matches(o, tmpl, n))
			hs[count++] = o->handle;
	s->find.active = true;
	s->find.handles = hs;
	s->find.n = count;
	s->find.pos = 0;
out:
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR ret, CK_ULONG max,
		       CK_ULONG_PTR ret_count)
{
	struct cm_session *s;
	CK_ULONG got = 0;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if (!ret || !ret_count) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	while (got < max && s->find.pos < s->find.n) {
		CK_OBJECT_HANDLE oh = s->find.handles[s->find.pos++];
		struct cm_object *o = cm_object_lookup(oh);

		/* Skip objects destroyed, or hidden by C_Logout, since Init. */
		if (o && cm_object_visible(o))
			ret[got++] = oh;
	}
	*ret_count = got;
out:
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		free(s->find.handles);
		memset(&s->find, 0, sizeof(s->find));
	}
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

/* ---- C_CreateObject: public-key session objects -------------------------- */

enum tmpl_kind { T_BOOL, T_ULONG, T_BYTES };
enum tmpl_keys { K_ALL, K_RSA, K_EC }; /* K_EC: CKK_EC and CKK_EC_EDWARDS */

/* Attributes a client may give for a public key, and to which key types
 * each applies. */
static const struct {
	CK_ATTRIBUTE_TYPE type;
	enum tmpl_kind kind;
	enum tmpl_keys only;
} public_key_attrs[] = {
	{ CKA_CLASS, T_ULONG, K_ALL },
	{ CKA_KEY_TYPE, T_ULONG, K_ALL },
	{ CKA_TOKEN, T_BOOL, K_ALL },
	{ CKA_PRIVATE, T_BOOL, K_ALL },
	{ CKA_MODIFIABLE, T_BOOL, K_ALL },
	{ CKA_COPYABLE, T_BOOL, K_ALL },
	{ CKA_DESTROYABLE, T_BOOL, K_ALL },
	{ CKA_LABEL, T_BYTES, K_ALL },
	{ CKA_ID, T_BYTES, K_ALL },
	{ CKA_START_DATE, T_BYTES, K_ALL },
	{ CKA_END_DATE, T_BYTES, K_ALL },
	{ CKA_DERIVE, T_BOOL, K_ALL },
	{ CKA_SUBJECT, T_BYTES, K_ALL },
	{ CKA_ENCRYPT, T_BOOL, K_ALL },
	{ CKA_VERIFY, T_BOOL, K_ALL },
	{ CKA_VERIFY_RECOVER, T_BOOL, K_ALL },
	{ CKA_WRAP, T_BOOL, K_ALL },
	{ CKA_TRUSTED, T_BOOL, K_ALL },
	{ CKA_MODULUS, T_BYTES, K_RSA },
	{ CKA_PUBLIC_EXPONENT, T_BYTES, K_RSA },
	{ CKA_EC_PARAMS, T_BYTES, K_EC },
	{ CKA_EC_POINT, T_BYTES, K_EC },
};

/* Computed by the module, never given (PKCS#11 2.40 common object attributes). */
static const CK_ATTRIBUTE_TYPE read_only_attrs[] = {
	CKA_LOCAL, CKA_KEY_GEN_MECHANISM, CKA_MODULUS_BITS, CKA_PUBLIC_KEY_INFO,
	CKA_ALLOWED_MECHANISMS,
};

/* Attributes of the other object classes: a template mixing them in is
 * inconsistent rather than unknown. */
static const CK_ATTRIBUTE_TYPE other_class_attrs[] = {
	CKA_SENSITIVE, CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP, CKA_EXTRACTABLE,
	CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, CKA_ALWAYS_AUTHENTICATE,
	CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
	CKA_COEFFICIENT, CKA_VALUE, CKA_VALUE_LEN, CKA_CERTIFICATE_TYPE, CKA_ISSUER,
	CKA_SERIAL_NUMBER, CKA_CHECK_VALUE, CKA_APPLICATION, CKA_OBJECT_ID,
};

static int attr_spec(CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(public_key_attrs); i++)
		if (public_key_attrs[i].type == type)
			return (int)i;
	return -1;
}

static bool in_list(CK_ATTRIBUTE_TYPE t, const CK_ATTRIBUTE_TYPE *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == t)
			return true;
	return false;
}

static const CK_ATTRIBUTE *tmpl_get(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (tmpl[i].type == type)
			return &tmpl[i];
	return NULL;
}

static CK_ULONG tmpl_ulong(const CK_ATTRIBUTE *a)
{
	CK_ULONG v;

	memcpy(&v, a->pValue, sizeof(v));
	return v;
}

static bool tmpl_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	const CK_ATTRIBUTE *a = tmpl_get(tmpl, n, type);

	return a ? *(const CK_BBOOL *)a->pValue == CK_TRUE : dflt;
}

/* Syntax of the template: known attribute types, value sizes, no
 * duplicates. */
static CK_RV template_check(const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_ULONG i, j;

	if (n > TEMPLATE_MAX)
		return CKR_TEMPLATE_INCONSISTENT;
	for (i = 0; i < n; i++) {
		int k = attr_spec(tmpl[i].type);

		if (!tmpl[i].pValue && tmpl[i].ulValueLen > 0)
			return CKR_ARGUMENTS_BAD;
		if (k < 0) {
			if (in_list(tmpl[i].type, read_only_attrs, ELEMENTSOF(read_only_attrs)))
				return CKR_ATTRIBUTE_READ_ONLY;
			if (in_list(tmpl[i].type, other_class_attrs, ELEMENTSOF(other_class_attrs)))
				return CKR_TEMPLATE_INCONSISTENT;
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
		switch (public_key_attrs[k].kind) {
		case T_BOOL:
			if (tmpl[i].ulValueLen != sizeof(CK_BBOOL) ||
			    (*(const CK_BBOOL *)tmpl[i].pValue != CK_TRUE &&
			     *(const CK_BBOOL *)tmpl[i].pValue != CK_FALSE))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		case T_ULONG:
			if (tmpl[i].ulValueLen != sizeof(CK_ULONG))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		case T_BYTES:
			if (tmpl[i].ulValueLen > ATTR_MAX_LEN)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		}
		for (j = 0; j < i; j++)
			if (tmpl[j].type == tmpl[i].type)
				return CKR_TEMPLATE_INCONSISTENT;
	}
	return CKR_OK;
}

static CK_RV rsa_from_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, EVP_PKEY **ret)
{
	const CK_ATTRIBUTE *am = tmpl_get(tmpl, n, CKA_MODULUS), *ae = tmpl_get(tmpl, n, CKA_PUBLIC_EXPONENT);
	int err;

	if (!am || !ae)
		return CKR_TEMPLATE_INCOMPLETE;
	err = rb_pkey_from_rsa(am->pValue, am->ulValueLen, ae->pValue, ae->ulValueLen, ret);
	return err == RB_OK ? CKR_OK : err == RB_E_NOMEM ? CKR_HOST_MEMORY : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* CKA_EC_POINT: a DER OCTET STRING around the point; the bare point (some
 * clients' X9.62 option) is accepted too - the lengths tell them apart. */
static bool ec_point_unwrap(const CK_ATTRIBUTE *a, size_t want, const uint8_t **ret)
{
	const uint8_t *p = a->pValue;

	if (a->ulValueLen == want + 2 && p[0] == 0x04 && p[1] == want) {
		*ret = p + 2;
		return true;
	}
	if (a->ulValueLen == want) {
		*ret = p;
		return true;
	}
	return false;
}

static CK_RV ec_from_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_KEY_TYPE kt,
			      EVP_PKEY **ret)
{
	const CK_ATTRIBUTE *ap = tmpl_get(tmpl, n, CKA_EC_PARAMS), *aq = tmpl_get(tmpl, n, CKA_EC_POINT);
	const uint8_t *pt;
	EVP_PKEY *pk = NULL;

	if (!ap || !aq)
		return CKR_TEMPLATE_INCOMPLETE;
	if (kt == CKK_EC_EDWARDS) {
		if (!(ap->ulValueLen == sizeof(oid_ed25519) &&
		      memcmp(ap->pValue, oid_ed25519, sizeof(oid_ed25519)) == 0) &&
		    !(ap->ulValueLen == sizeof(name_ed25519) &&
		      memcmp(ap->pValue, name_ed25519, sizeof(name_ed25519)) == 0))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (!ec_point_unwrap(aq, 32, &pt))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, 32);
	} else {
		OSSL_PARAM params[3];
		EVP_PKEY_CTX *ctx;

		if (ap->ulValueLen != sizeof(oid_p256) || memcmp(ap->pValue, oid_p256, sizeof(oid_p256)) != 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (!ec_point_unwrap(aq, 65, &pt) || pt[0] != 0x04)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)"prime256v1", 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, 65);
		params[2] = OSSL_PARAM_construct_end();
		/* fromdata decodes the point, which checks that it is on the curve. */
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pk = NULL;
		EVP_PKEY_CTX_free(ctx);
		if (pk) {
			EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new(pk, NULL);
			int ok = chk && EVP_PKEY_public_check(chk) == 1;

			EVP_PKEY_CTX_free(chk);
			if (!ok) {
				EVP_PKEY_free(pk);
				pk = NULL;
			}
		}
	}
	if (!pk)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*ret = pk;
	return CKR_OK;
}

/* The session object's attributes: what the client gave (label, id,
 * subject, usage flags), the key material as the module re-encodes it,
 * and the defaults for the rest. */
static int build_session_key(const CK_ATTRIBUTE *tmpl, CK_ULONG n, EVP_PKEY *pk,
			     enum rb_key_alg alg, struct attr_list *l)
{
	static const CK_ATTRIBUTE_TYPE copied[] = { CKA_LABEL, CKA_ID, CKA_START_DATE, CKA_END_DATE,
						    CKA_SUBJECT };
	size_t i;

	add_ulong(l, CKA_CLASS, CKO_PUBLIC_KEY);
	add_bool(l, CKA_TOKEN, false);
	add_bool(l, CKA_PRIVATE, false);
	add_bool(l, CKA_MODIFIABLE, false); /* C_SetAttributeValue is not offered */
	add_bool(l, CKA_COPYABLE, false);
	add_bool(l, CKA_DESTROYABLE, true);
	for (i = 0; i < ELEMENTSOF(copied); i++) {
		const CK_ATTRIBUTE *a = tmpl_get(tmpl, n, copied[i]);

		if (a)
			add_attr(l, copied[i], a->pValue, a->ulValueLen, false);
	}
	add_key_common(l, alg, false);
	for (i = 0; i < ELEMENTSOF(copied); i++)
		if (!has_attr(l, copied[i]))
			add_attr(l, copied[i], NULL, 0, false);
	add_bool(l, CKA_ENCRYPT, tmpl_bool(tmpl, n, CKA_ENCRYPT, false));
	add_bool(l, CKA_VERIFY, tmpl_bool(tmpl, n, CKA_VERIFY, true));
	add_bool(l, CKA_VERIFY_RECOVER, tmpl_bool(tmpl, n, CKA_VERIFY_RECOVER, false));
	add_bool(l, CKA_WRAP, tmpl_bool(tmpl, n, CKA_WRAP, false));
	add_bool(l, CKA_TRUSTED, false);
	add_spki(l, pk);
	add_public_material(l, pk, alg, true);
	if (alg != RB_KEY_RSA)
		add_ec_point(l, pk, alg);
	return l->err;
}

/* The active manifest key with this public key, or NULL. */
static const struct manifest_key *manifest_key_for(EVP_PKEY *pk)
{
	uint8_t fp[32];
	size_t i;

	if (rb_pkey_fingerprint(pk, fp) < 0)
		return NULL;
	for (i = 0; i < cm_state->manifest->n_keys; i++) {
		const struct manifest_key *k = &cm_state->manifest->keys[i];

		if (k->status == KEY_ACTIVE && memcmp(k->spki_sha256, fp, 32) == 0)
			return k;
	}
	return NULL;
}

static CK_RV create_public_key(CK_SESSION_HANDLE owner, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
			       CK_OBJECT_HANDLE *ret)
{
	const CK_ATTRIBUTE *akt = tmpl_get(tmpl, n, CKA_KEY_TYPE);
	struct attr_list l = { 0 };
	struct cm_object *o = NULL;
	EVP_PKEY *pk = NULL;
	enum rb_key_alg alg;
	CK_KEY_TYPE kt;
	CK_ULONG i;
	CK_RV rv;
	int err;

	if (!akt)
		return CKR_TEMPLATE_INCOMPLETE;
	kt = tmpl_ulong(akt);
	switch (kt) {
	case CKK_RSA:
		alg = RB_KEY_RSA;
		break;
	case CKK_EC:
		alg = RB_KEY_EC_P256;
		break;
	case CKK_EC_EDWARDS:
		alg = RB_KEY_ED25519;
		break;
	default:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	for (i = 0; i < n; i++) {
		enum tmpl_keys only = public_key_attrs[attr_spec(tmpl[i].type)].only;

		if (only != K_ALL && only != (kt == CKK_RSA ? K_RSA : K_EC))
			return CKR_TEMPLATE_INCONSISTENT;
	}
	/* Session objects are public: there is nothing to hide in a public
	 * key, and C_Logout need not invalidate them. */
	if (tmpl_bool(tmpl, n, CKA_PRIVATE, false))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (tmpl_bool(tmpl, n, CKA_TRUSTED, false))
		return CKR_ATTRIBUTE_READ_ONLY; /* only a security officer may trust */
	if (!tmpl_bool(tmpl, n, CKA_DESTROYABLE, true))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = alg == RB_KEY_RSA ? rsa_from_template(tmpl, n, &pk) : ec_from_template(tmpl, n, kt, &pk);
	if (rv != CKR_OK)
		return rv;
	if (cm_state->n_session_objects >= CM_MAX_SESSION_OBJECTS) {
		rv = CKR_DEVICE_MEMORY;
		goto out;
	}
	if ((err = build_session_key(tmpl, n, pk, alg, &l)) < 0 ||
	    (err = object_new(&l, CKO_PUBLIC_KEY, &o)) < 0) {
		rv = cm_ckr_from_err(err);
		goto out;
	}
	o->handle = cm_state->next_object++;
	o->key_type = kt;
	o->alg = alg;
	o->owner = owner;
	o->can_verify = tmpl_bool(tmpl, n, CKA_VERIFY, true);
	o->pub = pk;
	pk = NULL;
	o->key = manifest_key_for(o->pub);
	o->next = cm_state->session_objects;
	cm_state->session_objects = o;
	cm_state->n_session_objects++;
	*ret = o->handle;
out:
	attr_list_clear(&l);
	EVP_PKEY_free(pk);
	return rv;
}

CK_RV cm_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
			CK_OBJECT_HANDLE_PTR ret)
{
	const CK_ATTRIBUTE *acls;
	struct cm_session *s;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if ((!tmpl && n > 0) || !ret) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = template_check(tmpl, n)) != CKR_OK)
		goto out;
	if (tmpl_bool(tmpl, n, CKA_TOKEN, false)) {
		rv = CKR_TOKEN_WRITE_PROTECTED;
		goto out;
	}
	if (!(acls = tmpl_get(tmpl, n, CKA_CLASS))) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	cls = tmpl_ulong(acls);
	switch (cls) {
	case CKO_PUBLIC_KEY:
		rv = create_public_key(h, tmpl, n, ret);
		break;
	case CKO_DATA:
	case CKO_CERTIFICATE:
	case CKO_PRIVATE_KEY:
	case CKO_SECRET_KEY:
	case CKO_HW_FEATURE:
	case CKO_DOMAIN_PARAMETERS:
	case CKO_MECHANISM:
		/* Only public keys can be imported (to verify with). */
		rv = CKR_TEMPLATE_INCONSISTENT;
		break;
	default:
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	}
out:
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
	struct cm_object **pp, *o;
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	o = cm_object_lookup(oh);
	if (!o || !cm_object_visible(o)) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	if (o->token) {
		rv = CKR_TOKEN_WRITE_PROTECTED;
		goto out;
	}
	for (pp = &cm_state->session_objects; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	cm_state->n_session_objects--;
	cm_object_free(o);
out:
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}
