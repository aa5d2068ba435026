/* Wrapped keys in the signing core: lookup in the store, unwrapping on
 * demand, and the bounded set of unwrapped objects.
 *
 * Unwrapped keys are session objects. PKCS#11 makes a session object
 * usable from every session of the application but destroys it when the
 * session that created it closes; the pool's sessions close only in
 * p11_token_free(), which destroys every unwrapped object first, so an
 * object made in one thread's session stays valid for the others.
 *
 * At most max_resident objects exist at once. A signature pins its object
 * (users > 0) so it is never destroyed under a signing thread; a thread
 * that needs a new object evicts the least recently used idle one, or
 * waits for one to become idle. */
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "p11/p11-internal.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

int p11_token_set_wrapped_store(struct p11_token *t, const char *dir, unsigned max_resident)
{
	char *d;

	if (!dir || !*dir)
		return rb_err_set(RB_E_INVAL, "no wrapped key store directory given");
	if (!(d = strdup(dir)))
		return RB_E_NOMEM;
	pthread_mutex_lock(&t->wrap_lock);
	free(t->wrapped_dir);
	t->wrapped_dir = d;
	t->max_resident = max_resident ? max_resident : P11_DEFAULT_MAX_RESIDENT;
	pthread_cond_broadcast(&t->wrap_idle);
	pthread_mutex_unlock(&t->wrap_lock);
	return RB_OK;
}

unsigned p11_token_wrapped_resident(struct p11_token *t)
{
	unsigned n;

	pthread_mutex_lock(&t->wrap_lock);
	n = t->n_resident;
	pthread_mutex_unlock(&t->wrap_lock);
	return n;
}

unsigned long p11_token_wrapped_unwraps(struct p11_token *t)
{
	unsigned long n;

	pthread_mutex_lock(&t->wrap_lock);
	n = t->n_unwraps;
	pthread_mutex_unlock(&t->wrap_lock);
	return n;
}

bool p11_key_is_wrapped(const struct p11_key *k)
{
	return k->wrapped != NULL;
}

/* The key name and optional CKA_ID a selector asks for: a plain name, or
 * a pkcs11: URI with object= (and id=, type=private) - the form the key
 * manifest stores. */
static int selector_name(const char *selector, char **ret_name, uint8_t **ret_id, size_t *ret_id_len)
{
	P11KitUri *uri;
	CK_ATTRIBUTE *a;
	char *name;
	uint8_t *id = NULL;
	size_t id_len = 0;
	int rc;

	if (strncmp(selector, "pkcs11:", 7) != 0) {
		if (!(name = strdup(selector)))
			return RB_E_NOMEM;
		*ret_name = name;
		*ret_id = NULL;
		*ret_id_len = 0;
		return RB_OK;
	}
	if (!(uri = p11_kit_uri_new()))
		return RB_E_NOMEM;
	rc = p11_kit_uri_parse(selector, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri);
	if (rc != P11_KIT_URI_OK) {
		p11_kit_uri_free(uri);
		return rb_err_set(RB_E_PARSE, "key URI '%s': %s (see RFC 7512)", selector, p11_kit_uri_message(rc));
	}
	a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	if (a && (a->ulValueLen != sizeof(CK_OBJECT_CLASS) || *(CK_OBJECT_CLASS *)a->pValue != CKO_PRIVATE_KEY)) {
		p11_kit_uri_free(uri);
		return RB_E_NOTFOUND;
	}
	a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
	if (!a || a->ulValueLen == 0 || a->ulValueLen > WRAP_NAME_MAX) {
		p11_kit_uri_free(uri);
		return RB_E_NOTFOUND;
	}
	name = strndup(a->pValue, a->ulValueLen);
	a = p11_kit_uri_get_attribute(uri, CKA_ID);
	if (a && a->ulValueLen > 0) {
		id_len = a->ulValueLen;
		if ((id = malloc(id_len)))
			memcpy(id, a->pValue, id_len);
	}
	p11_kit_uri_free(uri);
	if (!name || (id_len > 0 && !id)) {
		free(name);
		free(id);
		return RB_E_NOMEM;
	}
	*ret_name = name;
	*ret_id = id;
	*ret_id_len = id_len;
	return RB_OK;
}

static CK_KEY_TYPE key_type_of(enum rb_key_alg alg)
{
	switch (alg) {
	case RB_KEY_RSA:
		return CKK_RSA;
	case RB_KEY_EC_P256:
		return CKK_EC;
	case RB_KEY_ED25519:
		return CKK_EC_EDWARDS;
	}
	return CKK_VENDOR_DEFINED;
}

static int fpr_prefix(const uint8_t *fpr, char out[17])
{
	_cleanup_free_ char *hex = NULL;
	int err;

	if ((err = rb_hex_encode(fpr, 8, &hex)) < 0)
		return err;
	memcpy(out, hex, 17);
	return RB_OK;
}

int p11_wrapped_lookup(struct p11_token *t, const char *selector, struct p11_key **ret)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_free_ uint8_t *want_id = NULL;
	_cleanup_wrap_meta_ struct wrap_meta *m = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	size_t want_id_len;
	struct p11_key *k;
	int err;

	if ((err = selector_name(selector, &name, &want_id, &want_id_len)) < 0)
		return err;
	if (!wrap_name_valid(name))
		return RB_E_NOTFOUND;
	if ((err = wrap_store_load(t->wrapped_dir, name, &m)) < 0)
		return err;
	if ((err = wrap_store_path(t->wrapped_dir, name, &path)) < 0)
		return err;
	if (want_id && !(want_id_len == m->id_len && memcmp(want_id, m->id, m->id_len) == 0))
		return rb_err_set(RB_E_KEY, "wrapped key '%s' in %s has a different CKA_ID than '%s' asks for; "
				  "the store and the manifest disagree", name, path, selector);
	if ((err = p11_token_wrap_key_fingerprint(t, fpr)) < 0)
		return rb_err_set(err, "wrapped key '%s': %s", name, rb_err_message(err));
	/* Checked before the HSM sees the blob: a blob from another
	 * deployment is refused by name, not by a failed unwrap. */
	if (memcmp(fpr, m->wrap_fpr, sizeof(fpr)) != 0) {
		char have[17], want[17];

		if ((err = fpr_prefix(m->wrap_fpr, want)) < 0 || (err = fpr_prefix(fpr, have)) < 0)
			return err;
		return rb_err_set(RB_E_KEY, "wrapped key '%s' (%s) was made under wrap key %s..., but token "
				  "'%s' holds wrap key %s...; use the deployment's own token, or restore its "
				  "wrap key", name, path, want, t->label, have);
	}

	if (!(k = calloc(1, sizeof(*k))) || !(k->wrapped = calloc(1, sizeof(*k->wrapped)))) {
		free(k);
		return RB_E_NOMEM;
	}
	k->token = t;
	k->priv = CK_INVALID_HANDLE;
	k->name = TAKE_PTR(name);
	k->selector = strdup(selector);
	k->alg = m->alg;
	k->bits = m->bits;
	k->pub = TAKE_PTR(m->pub);
	k->id = TAKE_PTR(m->id);
	k->id_len = m->id_len;
	k->wrapped->blob = TAKE_PTR(m->blob);
	k->wrapped->blob_len = m->blob_len;
	k->wrapped->kt = key_type_of(m->alg);
	k->wrapped->handle = CK_INVALID_HANDLE;
	if (!k->selector) {
		p11_key_free(k);
		return RB_E_NOMEM;
	}
	*ret = k;
	return RB_OK;
}

/* Destroy w's object; wrap_lock held, w idle. */
static void destroy_locked(struct p11_token *t, CK_SESSION_HANDLE s, struct p11_wrapped *w)
{
	if (w->handle == CK_INVALID_HANDLE)
		return;
	t->f->C_DestroyObject(s, w->handle);
	w->handle = CK_INVALID_HANDLE;
	t->n_resident--;
	pthread_cond_broadcast(&t->wrap_idle);
}

static bool evict_one_locked(struct p11_token *t, CK_SESSION_HANDLE s)
{
	struct p11_wrapped *victim = NULL;

	for (struct p11_key *k = t->wrapped_keys; k; k = k->wrapped->next) {
		struct p11_wrapped *w = k->wrapped;

		if (w->handle != CK_INVALID_HANDLE && w->users == 0 &&
		    (!victim || w->last_use < victim->last_use))
			victim = w;
	}
	if (!victim)
		return false;
	destroy_locked(t, s, victim);
	return true;
}

int p11_wrapped_acquire(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret)
{
	struct p11_token *t = k->token;
	struct p11_wrapped *w = k->wrapped;
	CK_OBJECT_HANDLE wk, h = CK_INVALID_HANDLE;
	int err;

	pthread_mutex_lock(&t->wrap_lock);
	if (!t->wrapped_dir) {
		pthread_mutex_unlock(&t->wrap_lock);
		return rb_err_set(RB_E_STATE, "wrapped key '%s': the token's wrapped key store is closed", k->name);
	}
	if (!w->listed) {
		w->next = t->wrapped_keys;
		t->wrapped_keys = k;
		w->listed = true;
	}
	for (;;) {
		if (w->handle != CK_INVALID_HANDLE) {
			w->users++;
			w->last_use = ++t->wrap_clock;
			*ret = w->handle;
			pthread_mutex_unlock(&t->wrap_lock);
			return RB_OK;
		}
		if (!w->unwrapping) {
			if (t->n_resident < t->max_resident)
				break;
			if (evict_one_locked(t, s))
				continue;
		}
		pthread_cond_wait(&t->wrap_idle, &t->wrap_lock);
	}
	/* Reserve the slot, then unwrap without the lock so other keys can
	 * sign (and unwrap) meanwhile. */
	t->n_resident++;
	w->unwrapping = true;
	err = p11_wrap_key_locked(t, s, &wk);
	pthread_mutex_unlock(&t->wrap_lock);
	if (err == RB_OK)
		err = p11_wrap_unwrap(t, s, wk, w->blob, w->blob_len, w->kt, k->name, &h);
	pthread_mutex_lock(&t->wrap_lock);
	w->unwrapping = false;
	if (err < 0) {
		t->n_resident--;
	} else {
		t->n_unwraps++;
		w->handle = h;
		w->users = 1;
		w->last_use = ++t->wrap_clock;
		*ret = h;
	}
	pthread_cond_broadcast(&t->wrap_idle);
	pthread_mutex_unlock(&t->wrap_lock);
	return err;
}

void p11_wrapped_release(struct p11_key *k, CK_SESSION_HANDLE s, bool discard)
{
	struct p11_token *t = k->token;
	struct p11_wrapped *w = k->wrapped;

	pthread_mutex_lock(&t->wrap_lock);
	if (w->users > 0)
		w->users--;
	if (discard && w->users == 0)
		destroy_locked(t, s, w);
	else if (w->users == 0)
		pthread_cond_broadcast(&t->wrap_idle);
	pthread_mutex_unlock(&t->wrap_lock);
}

void p11_wrapped_key_free(struct p11_key *k)
{
	struct p11_token *t = k->token;
	struct p11_wrapped *w = k->wrapped;

	pthread_mutex_lock(&t->wrap_lock);
	if (w->listed) {
		for (struct p11_key **pp = &t->wrapped_keys; *pp; pp = &(*pp)->wrapped->next)
			if (*pp == k) {
				*pp = w->next;
				break;
			}
		w->listed = false;
	}
	destroy_locked(t, t->anchor, w);
	pthread_mutex_unlock(&t->wrap_lock);
	free(w->blob);
	free(w);
	k->wrapped = NULL;
}

void p11_wrapped_close(struct p11_token *t)
{
	struct p11_key *k, *next;

	pthread_mutex_lock(&t->wrap_lock);
	for (k = t->wrapped_keys; k; k = next) {
		next = k->wrapped->next;
		destroy_locked(t, t->anchor, k->wrapped);
		k->wrapped->listed = false;
		k->wrapped->next = NULL;
	}
	t->wrapped_keys = NULL;
	free(t->wrapped_dir);
	t->wrapped_dir = NULL;
	pthread_mutex_unlock(&t->wrap_lock);
}
