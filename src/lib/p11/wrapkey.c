/* The wrap key: creation, lookup, fingerprint, and wrapping with it.
 *
 * Why the wrap key is not CKA_TRUSTED, and generated keys not
 * CKA_WRAP_WITH_TRUSTED: on SoftHSM2 2.6.1 only the SO may set CKA_TRUSTED,
 * and the SO cannot create private objects (CKR_USER_NOT_LOGGED_IN), so a
 * trusted wrap key would have to be CKA_PRIVATE=false - stored unencrypted
 * in the token directory. A private, untrusted wrap key is the stronger
 * choice there. When a token does hold a trusted wrap key (a module whose
 * SO can create one), keys generated for wrapping are marked
 * CKA_WRAP_WITH_TRUSTED so no other key can ever wrap them. Either way the
 * extractable private key exists only as a session object of the
 * generating process, which no other application can see, for the
 * duration of one C_WrapKey. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* The fingerprint recipe; docs/formats/wrapped-key.md repeats it so a
 * ceremony restore can recompute it on a new HSM. */
static const char fpr_key_label[] = "rombsr-wrap-fingerprint-v1/key";
static const char fpr_hash_label[] = "rombsr-wrap-fingerprint-v1/fpr";

static int wrap_fail(CK_RV rv, const char *fn, struct p11_token *t)
{
	return p11_fail(rv, fn, "wrap key on token", t->label);
}

static int check_wrap_key(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_KEY_TYPE kt = 0;
	CK_ULONG vlen = 0;
	CK_BBOOL tok = 0, priv = 0, sens = 0, extr = 1, enc = 1, dec = 1, wrap = 0, unwrap = 0;
	CK_ATTRIBUTE a[] = {
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },     { CKA_VALUE_LEN, &vlen, sizeof(vlen) },
		{ CKA_TOKEN, &tok, sizeof(tok) },      { CKA_PRIVATE, &priv, sizeof(priv) },
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) }, { CKA_ENCRYPT, &enc, sizeof(enc) },
		{ CKA_DECRYPT, &dec, sizeof(dec) },    { CKA_WRAP, &wrap, sizeof(wrap) },
		{ CKA_UNWRAP, &unwrap, sizeof(unwrap) },
	};
	CK_RV rv = t->f->C_GetAttributeValue(s, h, a, ELEMENTSOF(a));

	if (rv != CKR_OK)
		return wrap_fail(rv, "C_GetAttributeValue", t);
	/* A key that can leave the token, or that encrypts and decrypts
	 * arbitrary data, would let anyone with the PIN read every blob; a
	 * public one needs no login (and SoftHSM2 stores it unencrypted). */
	if (kt != CKK_AES || vlen != 32 || !tok || !priv || !sens || extr || enc || dec || !wrap || !unwrap)
		return rb_err_set(RB_E_KEY, "token '%s': the object labelled '%s' is not a proper wrap key "
				  "(must be an AES-256 private token key, sensitive, non-extractable, wrap/unwrap "
				  "only); "
				  "refusing to use it - remove it and create the wrap key with 'rombsr keys "
				  "wrap-key --create'", t->label, P11_WRAP_KEY_LABEL);
	return RB_OK;
}

static int find_wrap_key(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret, CK_ULONG *ret_count)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, sizeof(P11_WRAP_KEY_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;

	rv = t->f->C_FindObjectsInit(s, tmpl, ELEMENTSOF(tmpl));
	if (rv != CKR_OK)
		return wrap_fail(rv, "C_FindObjectsInit", t);
	rv = t->f->C_FindObjects(s, h, ELEMENTSOF(h), &n);
	t->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return wrap_fail(rv, "C_FindObjects", t);
	*ret = n ? h[0] : CK_INVALID_HANDLE;
	*ret_count = n;
	return RB_OK;
}

int p11_wrap_key_locked(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int err;

	if (t->wrap_key != CK_INVALID_HANDLE) {
		*ret = t->wrap_key;
		return RB_OK;
	}
	if ((err = find_wrap_key(t, s, &h, &n)) < 0)
		return err;
	if (n == 0)
		return rb_err_set(RB_E_KEY, "token '%s' has no wrap key '%s' (are you logged in as operator?); "
				  "create it with 'rombsr keys wrap-key --create', or restore the deployment's "
				  "wrap key", t->label, P11_WRAP_KEY_LABEL);
	if (n > 1)
		return rb_err_set(RB_E_STATE, "token '%s' holds more than one '%s' key; remove the extra one",
				  t->label, P11_WRAP_KEY_LABEL);
	if ((err = check_wrap_key(t, s, h)) < 0)
		return err;
	t->wrap_key = h;
	*ret = h;
	return RB_OK;
}

int p11_token_generate_wrap_key(struct p11_token *t)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32, n;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },      { CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },  { CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_WRAP, &yes, sizeof(yes) },       { CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },      { CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) },         { CKA_VERIFY, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },       { CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, sizeof(P11_WRAP_KEY_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int err;

	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	pthread_mutex_lock(&t->wrap_lock);
	if ((err = find_wrap_key(t, s, &h, &n)) < 0)
		goto out;
	if (n > 0) {
		err = rb_err_set(RB_E_EXISTS, "token '%s' already has a wrap key '%s'; a deployment has exactly "
				 "one, and replacing it would orphan every wrapped key", t->label,
				 P11_WRAP_KEY_LABEL);
		goto out;
	}
	rv = t->f->C_GenerateKey(s, &mech, tmpl, ELEMENTSOF(tmpl), &h);
	if (rv == CKR_USER_NOT_LOGGED_IN) {
		err = rb_err_set(RB_E_PERM, "C_GenerateKey on token '%s': CKR_USER_NOT_LOGGED_IN; log in as "
				 "operator first", t->label);
		goto out;
	}
	if (rv != CKR_OK) {
		err = wrap_fail(rv, "C_GenerateKey(AES-256)", t);
		goto out;
	}
	t->wrap_key = h;
	t->wrap_fpr_valid = false;
	err = RB_OK;
out:
	pthread_mutex_unlock(&t->wrap_lock);
	return err;
}

/* C_WrapKey with the two-call protocol into a malloc()ed buffer. */
static int wrap_object(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE obj,
		       const char *name, bool fresh, uint8_t **ret, size_t *ret_len)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG len = 0;
	uint8_t *p;
	CK_RV rv;

	rv = t->f->C_WrapKey(s, &mech, wk, obj, NULL, &len);
	if (rv == CKR_OK && (len == 0 || len > P11_WRAPPED_MAX))
		return rb_err_set(RB_E_TOOBIG, "key '%s': wrapped form of %lu bytes exceeds %d", name,
				  (unsigned long)len, P11_WRAPPED_MAX);
	if (rv == CKR_OK) {
		if (!(p = malloc(len)))
			return RB_E_NOMEM;
		rv = t->f->C_WrapKey(s, &mech, wk, obj, p, &len);
		if (rv == CKR_OK) {
			*ret = p;
			*ret_len = len;
			return RB_OK;
		}
		free(p);
	}
	/* A key made extractable moments ago that still cannot be wrapped:
	 * the module cannot wrap this key type (SoftHSM2 2.6.1: Ed25519). */
	if (fresh && (rv == CKR_KEY_UNEXTRACTABLE || rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_KEY_TYPE_INCONSISTENT))
		return rb_err_set(RB_E_UNSUPPORTED, "token '%s' cannot wrap %s (%s); keep such keys resident",
				  t->label, name, p11_ckr_name(rv));
	if (rv == CKR_KEY_UNEXTRACTABLE || rv == CKR_KEY_NOT_WRAPPABLE)
		return rb_err_set(RB_E_PERM, "key '%s' on token '%s' cannot be wrapped (%s): it was created "
				  "non-extractable, as every resident rombsr key is, and no PKCS#11 call can "
				  "take it off the token; generate a wrapped key instead with 'rombsr keys gen "
				  "--wrapped'", name, t->label, p11_ckr_name(rv));
	if (rv == CKR_MECHANISM_INVALID)
		return rb_err_set(RB_E_UNSUPPORTED, "token '%s' has no CKM_AES_KEY_WRAP_PAD (RFC 5649); it "
				  "cannot hold wrapped keys", t->label);
	return p11_fail(rv, "C_WrapKey", "key", name);
}

int p11_token_wrap_key_fingerprint(struct p11_token *t, uint8_t ret[P11_WRAP_FPR_LEN])
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t value[32], *w = NULL;
	size_t vlen, wlen = 0;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },       { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },         { CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) },     { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_VALUE, value, sizeof(value) },
	};
	CK_OBJECT_HANDLE wk, dummy = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	EVP_MD_CTX *md = NULL;
	unsigned mdlen = 0;
	CK_RV rv;
	int err;

	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	pthread_mutex_lock(&t->wrap_lock);
	if (t->wrap_fpr_valid) {
		memcpy(ret, t->wrap_fpr, P11_WRAP_FPR_LEN);
		pthread_mutex_unlock(&t->wrap_lock);
		return RB_OK;
	}
	if ((err = p11_wrap_key_locked(t, s, &wk)) < 0)
		goto out;
	/* A public, fixed AES key: wrapping it (RFC 5649 is deterministic)
	 * needs only CKA_WRAP, reveals nothing about the wrap key beyond one
	 * known-plaintext block pair, and gives the same bytes on every HSM
	 * holding the same wrap key. */
	if ((err = rb_digest(EVP_sha256(), fpr_key_label, sizeof(fpr_key_label) - 1, value, &vlen)) < 0)
		goto out;
	rv = t->f->C_CreateObject(s, tmpl, ELEMENTSOF(tmpl), &dummy);
	if (rv != CKR_OK) {
		err = wrap_fail(rv, "C_CreateObject(fingerprint key)", t);
		goto out;
	}
	err = wrap_object(t, s, wk, dummy, "an AES key", true, &w, &wlen);
	t->f->C_DestroyObject(s, dummy);
	if (err < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, fpr_hash_label, sizeof(fpr_hash_label) - 1) != 1 ||
	    EVP_DigestUpdate(md, w, wlen) != 1 || EVP_DigestFinal_ex(md, t->wrap_fpr, &mdlen) != 1) {
		err = RB_E_CRYPTO;
		goto out;
	}
	t->wrap_fpr_valid = true;
	memcpy(ret, t->wrap_fpr, P11_WRAP_FPR_LEN);
	err = RB_OK;
out:
	EVP_MD_CTX_free(md);
	free(w);
	pthread_mutex_unlock(&t->wrap_lock);
	return err;
}

int p11_wrap_unwrap(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wk, const uint8_t *blob,
		    size_t len, CK_KEY_TYPE kt, const char *name, CK_OBJECT_HANDLE *ret)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	/* No CKA_LABEL or CKA_ID: a label lookup for resident keys must
	 * never find an unwrapped copy. */
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },       { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },         { CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },   { CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },        { CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },        { CKA_DERIVE, &no, sizeof(no) },
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if (len == 0 || len > P11_WRAPPED_MAX)
		return rb_err_set(RB_E_TOOBIG, "wrapped key '%s': blob of %zu bytes is outside 1..%d", name,
				  len, P11_WRAPPED_MAX);
	rv = t->f->C_UnwrapKey(s, &mech, wk, (CK_BYTE_PTR)blob, len, tmpl, ELEMENTSOF(tmpl), &h);
	if (rv == CKR_USER_NOT_LOGGED_IN)
		return rb_err_set(RB_E_PERM, "C_UnwrapKey for key '%s' on token '%s': CKR_USER_NOT_LOGGED_IN; "
				  "log in as operator first", name, t->label);
	if (rv != CKR_OK)
		/* SoftHSM2 reports a failed RFC 5649 integrity check as
		 * CKR_GENERAL_ERROR, so every refusal reads the same. */
		return rb_err_set(RB_E_KEY, "wrapped key '%s': token '%s' refused to unwrap it (C_UnwrapKey: "
				  "%s): the blob is corrupt, or was made under another wrap key; nothing was "
				  "imported - restore the file from a backup", name, t->label, p11_ckr_name(rv));
	*ret = h;
	return RB_OK;
}

/* Sign a fixed digest with a freshly made private object through the
 * normal signing path (which verifies against pub), so a blob is only
 * handed out after it has been shown to sign. */
static int self_test(struct p11_token *t, CK_OBJECT_HANDLE priv, enum rb_key_alg alg, EVP_PKEY *pub)
{
	static const uint8_t msg[32] = "rombsr wrapped key self-test";
	struct p11_key k = { 0 };
	enum rb_sig_scheme scheme = alg == RB_KEY_RSA ? RB_SIG_RSA_PKCS1_SHA256
				  : alg == RB_KEY_EC_P256 ? RB_SIG_ECDSA_SHA256 : RB_SIG_ED25519;
	uint8_t *sig = NULL;
	size_t siglen;
	int err;

	k.token = t;
	k.name = (char *)"(new wrapped key)";
	k.priv = priv;
	k.alg = alg;
	k.bits = (unsigned)EVP_PKEY_get_bits(pub);
	k.pub = pub;
	err = p11_key_sign(&k, scheme, msg, sizeof(msg), &sig, &siglen);
	free(sig);
	return err;
}

int p11_token_generate_wrapped(struct p11_token *t, enum rb_key_alg alg, unsigned bits, uint8_t **ret_blob,
			       size_t *ret_blob_len, EVP_PKEY **ret_pub)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, trusted = CK_FALSE;
	CK_ULONG mbits = bits;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ATTRIBUTE pub[6], priv[10];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE, hcopy = CK_INVALID_HANDLE, wk;
	CK_KEY_TYPE kt;
	CK_SESSION_HANDLE s;
	EVP_PKEY *pk = NULL;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	CK_RV rv;
	int err;

	switch (alg) {
	case RB_KEY_RSA:
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return rb_err_set(RB_E_UNSUPPORTED, "RSA-%u is not supported; use 2048, 3072 or 4096", bits);
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		kt = CKK_RSA;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &mbits, sizeof(mbits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
		break;
	case RB_KEY_EC_P256:
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		kt = CKK_EC;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) };
		break;
	case RB_KEY_ED25519:
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		kt = CKK_EC_EDWARDS;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_ed25519, sizeof(oid_ed25519) };
		break;
	default:
		return rb_err_set(RB_E_UNSUPPORTED, "unknown key algorithm %d", (int)alg);
	}
	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	pthread_mutex_lock(&t->wrap_lock);
	err = p11_wrap_key_locked(t, s, &wk);
	if (err == RB_OK) {
		CK_ATTRIBUTE a = { CKA_TRUSTED, &trusted, sizeof(trusted) };

		if (t->f->C_GetAttributeValue(s, wk, &a, 1) != CKR_OK)
			trusted = CK_FALSE;
	}
	pthread_mutex_unlock(&t->wrap_lock);
	if (err < 0)
		return err;

	pub[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &no, sizeof(no) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_DERIVE, &no, sizeof(no) };
	if (trusted)
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes) };
	rv = t->f->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv == CKR_MECHANISM_INVALID)
		return rb_err_set(RB_E_UNSUPPORTED, "token '%s' cannot generate %s keys", t->label,
				  rb_key_alg_name(alg));
	if (rv != CKR_OK)
		return p11_fail(rv, "C_GenerateKeyPair(session)", "token", t->label);
	if ((err = p11_object_public(t, s, kt, hpub, &pk)) < 0)
		goto out;
	if ((err = wrap_object(t, s, wk, hpriv, alg == RB_KEY_RSA ? "RSA keys" : alg == RB_KEY_EC_P256 ?
			       "P-256 keys" : "Ed25519 keys", true, &blob, &blob_len)) < 0)
		goto out;
	/* The extractable original goes first, then the blob must unwrap
	 * into a key that signs for pub. */
	t->f->C_DestroyObject(s, hpriv);
	hpriv = CK_INVALID_HANDLE;
	if ((err = p11_wrap_unwrap(t, s, wk, blob, blob_len, kt, "(new wrapped key)", &hcopy)) < 0 ||
	    (err = self_test(t, hcopy, alg, pk)) < 0)
		goto out;
	*ret_blob = TAKE_PTR(blob);
	*ret_blob_len = blob_len;
	*ret_pub = TAKE_PTR(pk);
out:
	if (hcopy != CK_INVALID_HANDLE)
		t->f->C_DestroyObject(s, hcopy);
	if (hpriv != CK_INVALID_HANDLE)
		t->f->C_DestroyObject(s, hpriv);
	t->f->C_DestroyObject(s, hpub);
	free(blob);
	EVP_PKEY_free(pk);
	return err;
}

int p11_key_wrap(struct p11_key *k, uint8_t **ret_blob, size_t *ret_len)
{
	struct p11_token *t = k->token;
	CK_OBJECT_HANDLE wk;
	CK_SESSION_HANDLE s;
	int err;

	if (k->wrapped)
		return rb_err_set(RB_E_STATE, "key '%s' is already a wrapped key", k->name);
	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	pthread_mutex_lock(&t->wrap_lock);
	err = p11_wrap_key_locked(t, s, &wk);
	pthread_mutex_unlock(&t->wrap_lock);
	if (err < 0)
		return err;
	return wrap_object(t, s, wk, k->priv, k->name, false, ret_blob, ret_len);
}
