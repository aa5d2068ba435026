#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <p11-kit/uri.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

#define MAX_MATCHES 4
#define MAX_ATTR_LEN (64 * 1024)

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t name_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
					'2', '5', '5', '1', '9' };

static int find_objects(struct p11_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
			CK_OBJECT_HANDLE *ret, CK_ULONG max, CK_ULONG *ret_count)
{
	CK_ULONG count = 0;
	CK_RV rv;

	rv = t->f->C_FindObjectsInit(s, tmpl, n);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_FindObjectsInit", "token", t->label);
	rv = t->f->C_FindObjects(s, ret, max, &count);
	t->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_FindObjects", "token", t->label);
	*ret_count = count;
	return RB_OK;
}

/* Read one variable-length attribute with the two-call protocol. */
static int get_attr(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		    CK_ATTRIBUTE_TYPE type, uint8_t **ret, size_t *ret_len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *p;
	CK_RV rv;

	rv = t->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_GetAttributeValue", "token", t->label);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > MAX_ATTR_LEN)
		return rb_err_set(RB_E_P11, "token '%s': attribute 0x%lx unavailable or oversized",
				  t->label, (unsigned long)type);
	p = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (!p)
		return RB_E_NOMEM;
	a.pValue = p;
	rv = t->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(p);
		return p11_fail(rv, "C_GetAttributeValue", "token", t->label);
	}
	*ret = p;
	*ret_len = a.ulValueLen;
	return RB_OK;
}

/* CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40);
 * a few modules return the bare point. Accept both, strictly. */
static int unwrap_ec_point(const uint8_t *p, size_t n, const uint8_t **ret, size_t *ret_len)
{
	if (n >= 2 && p[0] == 0x04 && p[1] < 0x80 && (size_t)p[1] + 2 == n) {
		*ret = p + 2;
		*ret_len = p[1];
		return RB_OK;
	}
	if (n >= 3 && p[0] == 0x04 && p[1] == 0x81 && (size_t)p[2] + 3 == n) {
		*ret = p + 3;
		*ret_len = p[2];
		return RB_OK;
	}
	*ret = p;
	*ret_len = n;
	return RB_OK;
}

static int pkey_from_p256(const uint8_t *pt, size_t len, EVP_PKEY **ret)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len),
		OSSL_PARAM_END,
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	int ok;

	ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	     EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return RB_E_CRYPTO;
	*ret = pk;
	return RB_OK;
}

static int load_public(struct p11_token *t, CK_SESSION_HANDLE s, struct p11_key *k,
		       CK_KEY_TYPE kt, CK_OBJECT_HANDLE pubobj)
{
	_cleanup_free_ uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	const uint8_t *pt;
	size_t ptlen;
	int err;

	switch (kt) {
	case CKK_RSA:
		if ((err = get_attr(t, s, pubobj, CKA_MODULUS, &a, &alen)) < 0 ||
		    (err = get_attr(t, s, pubobj, CKA_PUBLIC_EXPONENT, &b, &blen)) < 0)
			return err;
		k->alg = RB_KEY_RSA;
		if ((err = rb_pkey_from_rsa(a, alen, b, blen, &k->pub)) < 0)
			return err;
		k->bits = (unsigned)EVP_PKEY_get_bits(k->pub);
		return RB_OK;
	case CKK_EC:
		if ((err = get_attr(t, s, pubobj, CKA_EC_PARAMS, &a, &alen)) < 0)
			return err;
		if (alen != sizeof(oid_p256) || memcmp(a, oid_p256, alen) != 0)
			return rb_err_set(RB_E_UNSUPPORTED, "key '%s': EC curve is not P-256", k->name);
		if ((err = get_attr(t, s, pubobj, CKA_EC_POINT, &b, &blen)) < 0)
			return err;
		unwrap_ec_point(b, blen, &pt, &ptlen);
		k->alg = RB_KEY_EC_P256;
		k->bits = 256;
		return pkey_from_p256(pt, ptlen, &k->pub);
	case CKK_EC_EDWARDS:
		if ((err = get_attr(t, s, pubobj, CKA_EC_PARAMS, &a, &alen)) < 0)
			return err;
		if (!(alen == sizeof(oid_ed25519) && memcmp(a, oid_ed25519, alen) == 0) &&
		    !(alen == sizeof(name_ed25519) && memcmp(a, name_ed25519, alen) == 0))
			return rb_err_set(RB_E_UNSUPPORTED, "key '%s': Edwards curve is not Ed25519", k->name);
		if ((err = get_attr(t, s, pubobj, CKA_EC_POINT, &b, &blen)) < 0)
			return err;
		unwrap_ec_point(b, blen, &pt, &ptlen);
		if (ptlen != 32)
			return rb_err_set(RB_E_P11, "key '%s': Ed25519 point is %zu bytes", k->name, ptlen);
		k->alg = RB_KEY_ED25519;
		k->bits = 255;
		k->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, ptlen);
		return k->pub ? RB_OK : RB_E_CRYPTO;
	}
	return rb_err_set(RB_E_UNSUPPORTED, "key '%s': key type 0x%lx is not RSA, P-256 or Ed25519",
			  k->name, (unsigned long)kt);
}

/* Build the template for a selector: a plain label, or the object
 * attributes of a pkcs11: URI. */
static int selector_template(const char *selector, P11KitUri **ret_uri, CK_ATTRIBUTE **ret_attrs,
			     CK_ULONG *ret_n)
{
	P11KitUri *uri;
	CK_ATTRIBUTE *attrs;
	CK_ULONG n = 0;
	int rc;

	uri = p11_kit_uri_new();
	if (!uri)
		return RB_E_NOMEM;
	if (strncmp(selector, "pkcs11:", 7) == 0) {
		rc = p11_kit_uri_parse(selector, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri);
		if (rc != P11_KIT_URI_OK) {
			p11_kit_uri_free(uri);
			return rb_err_set(RB_E_PARSE, "key URI '%s': %s (see RFC 7512)", selector,
					  p11_kit_uri_message(rc));
		}
	} else {
		CK_ATTRIBUTE label = { CKA_LABEL, (void *)selector, strlen(selector) };

		if (p11_kit_uri_set_attribute(uri, &label) != P11_KIT_URI_OK) {
			p11_kit_uri_free(uri);
			return RB_E_NOMEM;
		}
	}
	attrs = p11_kit_uri_get_attributes(uri, &n);
	*ret_uri = uri;
	*ret_attrs = attrs;
	*ret_n = n;
	return RB_OK;
}

static int key_lookup(struct p11_token *t, const char *selector, struct p11_key **ret)
{
	CK_OBJECT_CLASS cls_priv = CKO_PRIVATE_KEY, cls_pub = CKO_PUBLIC_KEY, cls_cert = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[8];
	CK_ATTRIBUTE *uattrs = NULL;
	CK_ULONG un = 0, n = 0, i, count;
	CK_OBJECT_HANDLE h[MAX_MATCHES], pubobj;
	CK_KEY_TYPE kt;
	CK_SESSION_HANDLE s;
	P11KitUri *uri = NULL;
	struct p11_key *k = NULL;
	uint8_t *label = NULL;
	size_t label_len;
	int err;

	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	if ((err = selector_template(selector, &uri, &uattrs, &un)) < 0)
		return err;
	for (i = 0; i < un && n < ELEMENTSOF(tmpl) - 1; i++)
		if (uattrs[i].type != CKA_CLASS)
			tmpl[n++] = uattrs[i];
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls_priv, sizeof(cls_priv) };
	err = find_objects(t, s, tmpl, n, h, MAX_MATCHES, &count);
	p11_kit_uri_free(uri);
	if (err < 0)
		return err;
	if (count == 0)
		return rb_err_set(RB_E_KEY, "no private key '%s' on token '%s'; 'rombsr keys list' shows "
				  "the keys (are you logged in as operator?)", selector, t->label);
	if (count > 1)
		return rb_err_set(RB_E_KEY, "%lu private keys match '%s' on token '%s'; select one by id "
				  "with a pkcs11: URI", (unsigned long)count, selector, t->label);

	k = calloc(1, sizeof(*k));
	if (!k)
		return RB_E_NOMEM;
	k->token = t;
	k->priv = h[0];
	k->name = strdup(selector);
	k->selector = strdup(selector);
	if (!k->name || !k->selector) {
		err = RB_E_NOMEM;
		goto fail;
	}
	{
		CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
		CK_RV rv = t->f->C_GetAttributeValue(s, h[0], &a, 1);

		if (rv != CKR_OK) {
			err = p11_fail(rv, "C_GetAttributeValue(CKA_KEY_TYPE)", "key", selector);
			goto fail;
		}
	}
	if ((err = get_attr(t, s, h[0], CKA_ID, &k->id, &k->id_len)) < 0)
		goto fail;
	/* Name the key by its label, which is what the manifest uses. */
	if (get_attr(t, s, h[0], CKA_LABEL, &label, &label_len) == RB_OK) {
		char *nm = strndup((char *)label, label_len);

		free(label);
		if (!nm) {
			err = RB_E_NOMEM;
			goto fail;
		}
		free(k->name);
		k->name = nm;
	}

	/* The public half: prefer the public-key object with the same id. */
	n = 0;
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls_pub, sizeof(cls_pub) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
	if ((err = find_objects(t, s, tmpl, n, h, MAX_MATCHES, &count)) < 0)
		goto fail;
	pubobj = count == 1 ? h[0] : k->priv;
	if ((err = load_public(t, s, k, kt, pubobj)) < 0) {
		if (pubobj == k->priv)
			err = rb_err_set(err, "key '%s': no public-key object with its CKA_ID, and the "
					 "private object does not expose the public key", k->name);
		goto fail;
	}

	/* An optional certificate with the same id. */
	n = 0;
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls_cert, sizeof(cls_cert) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
	if ((err = find_objects(t, s, tmpl, n, h, MAX_MATCHES, &count)) < 0)
		goto fail;
	if (count >= 1 && (err = get_attr(t, s, h[0], CKA_VALUE, &k->cert, &k->cert_len)) < 0)
		goto fail;
	*ret = k;
	return RB_OK;
fail:
	p11_key_free(k);
	return err;
}

int p11_object_public(struct p11_token *t, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, CK_OBJECT_HANDLE pubobj,
		      EVP_PKEY **ret)
{
	struct p11_key k = { 0 };
	int err;

	k.name = (char *)"(public key object)";
	if ((err = load_public(t, s, &k, kt, pubobj)) < 0) {
		EVP_PKEY_free(k.pub);
		return err;
	}
	*ret = k.pub;
	return RB_OK;
}

void p11_key_free(struct p11_key *k)
{
	if (!k)
		return;
	if (k->wrapped)
		p11_wrapped_key_free(k);
	EVP_PKEY_free(k->pub);
	free(k->name);
	free(k->selector);
	free(k->id);
	free(k->cert);
	free(k);
}

int p11_token_find_key(struct p11_token *t, const char *selector, struct p11_key **ret)
{
	struct p11_key *k;
	int err;

	pthread_mutex_lock(&t->lock);
	for (k = t->keys; k; k = k->next)
		if (strcmp(k->selector, selector) == 0 || strcmp(k->name, selector) == 0)
			break;
	pthread_mutex_unlock(&t->lock);
	if (k) {
		*ret = k;
		return RB_OK;
	}
	err = key_lookup(t, selector, &k);
	/* Not on the token: the wrapped store, if the token has one. */
	if (err == RB_E_KEY && t->wrapped_dir) {
		char detail[RB_ERR_DETAIL_MAX];
		int werr;

		rb_err_save(err, detail);
		werr = p11_wrapped_lookup(t, selector, &k);
		if (werr == RB_E_NOTFOUND)
			return rb_err_set(RB_E_KEY, "%s; nor is it in the wrapped key store %s", detail,
					  t->wrapped_dir);
		err = werr;
	}
	if (err < 0)
		return err;
	pthread_mutex_lock(&t->lock);
	{
		/* Another thread may have raced us to the same key. */
		struct p11_key *other;

		for (other = t->keys; other; other = other->next)
			if (strcmp(other->name, k->name) == 0)
				break;
		if (other) {
			p11_key_free(k);
			k = other;
		} else {
			k->next = t->keys;
			t->keys = k;
		}
	}
	pthread_mutex_unlock(&t->lock);
	*ret = k;
	return RB_OK;
}

int p11_key_still_there(struct p11_key *k)
{
	struct p11_token *t = k->token;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->id, k->id_len },
	};
	CK_OBJECT_HANDLE o[2];
	CK_ULONG n = 0;
	CK_SESSION_HANDLE s;
	int err;

	if (k->wrapped)
		return RB_OK;
	if ((err = p11_token_session(t, &s)) < 0 || (err = find_objects(t, s, tmpl, 2, o, 2, &n)) < 0)
		return err == RB_E_TOKEN || err == RB_E_P11 ? rb_err_set(RB_E_GONE, "%s", rb_err_message(err)) : err;
	if (n == 0)
		return rb_err_set(RB_E_GONE, "key '%s' is no longer on token '%s'", k->name, t->label);
	return RB_OK;
}

void p11_token_forget_keys(struct p11_token *t)
{
	struct p11_key *k, *next;

	pthread_mutex_lock(&t->lock);
	k = t->keys;
	t->keys = NULL;
	pthread_mutex_unlock(&t->lock);
	for (; k; k = next) {
		next = k->next;
		p11_key_free(k);
	}
}

const char *p11_key_name(const struct p11_key *k)
{
	return k->name;
}

enum rb_key_alg p11_key_alg(const struct p11_key *k)
{
	return k->alg;
}

unsigned p11_key_bits(const struct p11_key *k)
{
	return k->bits;
}

EVP_PKEY *p11_key_public(const struct p11_key *k)
{
	return k->pub;
}

const uint8_t *p11_key_id(const struct p11_key *k, size_t *ret_len)
{
	*ret_len = k->id_len;
	return k->id;
}

const uint8_t *p11_key_cert(const struct p11_key *k, size_t *ret_len)
{
	*ret_len = k->cert_len;
	return k->cert;
}

CK_OBJECT_HANDLE p11_key_handle(const struct p11_key *k)
{
	return k->priv;
}

int p11_key_uri(const struct p11_key *k, char **ret)
{
	P11KitUri *uri = p11_kit_uri_new();
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE attrs[] = {
		{ CKA_LABEL, k->name, strlen(k->name) },
		{ CKA_ID, k->id, k->id_len },
		{ CKA_CLASS, &cls, sizeof(cls) },
	};
	CK_TOKEN_INFO *ti;
	char *s = NULL;
	int rc;

	if (!uri)
		return RB_E_NOMEM;
	ti = p11_kit_uri_get_token_info(uri);
	memcpy(ti->label, k->token->info.label, sizeof(ti->label));
	memcpy(ti->manufacturerID, k->token->info.manufacturerID, sizeof(ti->manufacturerID));
	memcpy(ti->model, k->token->info.model, sizeof(ti->model));
	memcpy(ti->serialNumber, k->token->info.serialNumber, sizeof(ti->serialNumber));
	for (size_t i = 0; i < ELEMENTSOF(attrs); i++)
		if (p11_kit_uri_set_attribute(uri, &attrs[i]) != P11_KIT_URI_OK) {
			p11_kit_uri_free(uri);
			return RB_E_NOMEM;
		}
	rc = p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s);
	p11_kit_uri_free(uri);
	if (rc != P11_KIT_URI_OK)
		return RB_E_NOMEM;
	*ret = s;
	return RB_OK;
}
