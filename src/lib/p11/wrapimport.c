/* Importing a wrap key whose bytes come from a key ceremony (restore onto
 * a new HSM, or init onto several). The key value crosses into the module
 * once, in C_CreateObject, straight from the caller's locked rb_secret;
 * afterwards the token holds it like a generated wrap key: sensitive,
 * never extractable, wrap/unwrap only. */
#include <string.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

static int find_wrap_objects(struct p11_token *t, CK_SESSION_HANDLE s, CK_ULONG *ret_count)
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
		return p11_fail(rv, "C_FindObjectsInit", "wrap key on token", t->label);
	rv = t->f->C_FindObjects(s, h, ELEMENTSOF(h), &n);
	t->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_FindObjects", "wrap key on token", t->label);
	*ret_count = n;
	return RB_OK;
}

int p11_token_has_wrap_key(struct p11_token *t, bool *ret)
{
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;
	int err;

	if ((err = p11_token_session(t, &s)) < 0)
		return err;
	pthread_mutex_lock(&t->wrap_lock);
	err = find_wrap_objects(t, s, &n);
	pthread_mutex_unlock(&t->wrap_lock);
	if (err < 0)
		return err;
	*ret = n > 0;
	return RB_OK;
}

const char *p11_token_serial(const struct p11_token *t)
{
	return t->serial;
}

/* Drop the cached handle and fingerprint so the next lookup sees the
 * token as it is now. Call with wrap_lock held. */
static void forget_wrap_key(struct p11_token *t)
{
	t->wrap_key = CK_INVALID_HANDLE;
	t->wrap_fpr_valid = false;
}

int p11_token_import_wrap_key(struct p11_token *t, const struct rb_secret *key,
			      const uint8_t expect_fpr[P11_WRAP_FPR_LEN])
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	CK_RV rv;
	int err;

	if (!key || key->len != 32)
		return rb_err_set(RB_E_INVAL, "a wrap key is 32 bytes (AES-256), not %zu", key ? key->len : 0);
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },      { CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &yes, sizeof(yes) },      { CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },  { CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_WRAP, &yes, sizeof(yes) },       { CKA_UNWRAP, &yes, sizeof(yes) },
			{ CKA_ENCRYPT, &no, sizeof(no) },      { CKA_DECRYPT, &no, sizeof(no) },
			{ CKA_SIGN, &no, sizeof(no) },         { CKA_VERIFY, &no, sizeof(no) },
			{ CKA_DERIVE, &no, sizeof(no) },
			{ CKA_LABEL, (void *)P11_WRAP_KEY_LABEL, sizeof(P11_WRAP_KEY_LABEL) - 1 },
			{ CKA_VALUE, key->data, key->len },
		};

		if ((err = p11_token_session(t, &s)) < 0)
			return err;
		pthread_mutex_lock(&t->wrap_lock);
		/* Under the lock, so two importers cannot both see "none". */
		if ((err = find_wrap_objects(t, s, &n)) < 0)
			goto unlock;
		if (n > 0) {
			err = rb_err_set(RB_E_EXISTS, "token '%s' already has a wrap key '%s'; nothing was "
					 "imported - a deployment has exactly one, and replacing it would orphan "
					 "every key wrapped under it; restore onto a fresh token", t->label,
					 P11_WRAP_KEY_LABEL);
			goto unlock;
		}
		rv = t->f->C_CreateObject(s, tmpl, ELEMENTSOF(tmpl), &h);
		if (rv == CKR_USER_NOT_LOGGED_IN)
			err = rb_err_set(RB_E_PERM, "C_CreateObject on token '%s': CKR_USER_NOT_LOGGED_IN; log in "
					 "as operator first", t->label);
		else if (rv != CKR_OK)
			err = p11_fail(rv, "C_CreateObject(AES-256 wrap key)", "token", t->label);
		forget_wrap_key(t);
	unlock:
		pthread_mutex_unlock(&t->wrap_lock);
		if (err < 0)
			return err;
	}
	/* The token's own fingerprint (which also re-checks every attribute
	 * of the new object) must be the one computed from the key bytes:
	 * otherwise the token holds something other than what the shares
	 * encode, and every wrapped key would be lost with it. */
	err = p11_token_wrap_key_fingerprint(t, fpr);
	if (err == RB_OK && !rb_ct_equal(fpr, sizeof(fpr), expect_fpr, P11_WRAP_FPR_LEN))
		err = rb_err_set(RB_E_VERIFY, "token '%s': the imported wrap key's fingerprint is not the one "
				 "computed from the key; the object was removed again", t->label);
	if (err < 0) {
		pthread_mutex_lock(&t->wrap_lock);
		t->f->C_DestroyObject(s, h);
		forget_wrap_key(t);
		pthread_mutex_unlock(&t->wrap_lock);
		return err;
	}
	return RB_OK;
}
