#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static void session_thread_exit(void *arg);

static int token_matches(const char *selector, P11KitUri *uri, CK_TOKEN_INFO *info)
{
	char label[33];

	if (uri)
		return p11_kit_uri_match_token_info(uri, info);
	p11_fixed_string(info->label, sizeof(info->label), label);
	return strcmp(label, selector) == 0;
}

int p11_token_open(struct p11_module *m, const char *selector, unsigned max_sessions,
		   struct p11_token **ret)
{
	_cleanup_free_ CK_SLOT_ID *slots = NULL;
	P11KitUri *uri = NULL;
	CK_ULONG n = 0, i, found = 0;
	CK_SLOT_ID slot = 0;
	CK_TOKEN_INFO info, chosen;
	struct p11_token *t;
	CK_RV rv;
	int err;

	if (!selector || !*selector)
		return rb_err_set(RB_E_INVAL, "no token given; pass --token LABEL or a pkcs11: URI");
	if (strncmp(selector, "pkcs11:", 7) == 0) {
		uri = p11_kit_uri_new();
		if (!uri)
			return RB_E_NOMEM;
		err = p11_kit_uri_parse(selector, P11_KIT_URI_FOR_TOKEN, uri);
		if (err != P11_KIT_URI_OK) {
			p11_kit_uri_free(uri);
			return rb_err_set(RB_E_PARSE, "token URI '%s': %s (see RFC 7512)", selector,
					  p11_kit_uri_message(err));
		}
	}
	rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		slots = calloc(n, sizeof(*slots));
		if (!slots) {
			p11_kit_uri_free(uri);
			return RB_E_NOMEM;
		}
		rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		p11_kit_uri_free(uri);
		return p11_fail(rv, "C_GetSlotList", "module", m->path);
	}
	for (i = 0; i < n; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		if (!(info.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (token_matches(selector, uri, &info)) {
			found++;
			slot = slots[i];
			chosen = info;
		}
	}
	p11_kit_uri_free(uri);
	if (found == 0)
		return rb_err_set(RB_E_TOKEN, "no initialised token matches '%s' in %s; check the label "
				  "(p11tool --list-tokens) or run 'rombsr hsm-provision'", selector, m->path);
	if (found > 1)
		return rb_err_set(RB_E_STATE, "%lu tokens match '%s'; select one by serial with a pkcs11: URI",
				  (unsigned long)found, selector);

	t = calloc(1, sizeof(*t));
	if (!t)
		return RB_E_NOMEM;
	t->module = m;
	t->f = m->f;
	t->slot = slot;
	t->info = chosen;
	t->anchor = CK_INVALID_HANDLE;
	p11_fixed_string(chosen.label, sizeof(chosen.label), t->label);
	p11_fixed_string(chosen.manufacturerID, sizeof(chosen.manufacturerID), t->manufacturer);
	p11_fixed_string(chosen.model, sizeof(chosen.model), t->model);
	p11_fixed_string(chosen.serialNumber, sizeof(chosen.serialNumber), t->serial);
	t->max_sessions = max_sessions ? max_sessions : P11_DEFAULT_MAX_SESSIONS;
	t->sessions = calloc(t->max_sessions, sizeof(*t->sessions));
	if (!t->sessions) {
		free(t);
		return RB_E_NOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->released, NULL);
	pthread_mutex_init(&t->wrap_lock, NULL);
	pthread_cond_init(&t->wrap_idle, NULL);
	if (pthread_key_create(&t->tls, session_thread_exit) != 0) {
		free(t->sessions);
		free(t);
		return RB_E_NOMEM;
	}
	rv = t->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->anchor);
	if (rv != CKR_OK) {
		err = p11_fail(rv, "C_OpenSession", "token", t->label);
		pthread_key_delete(t->tls);
		free(t->sessions);
		free(t);
		return err;
	}
	p11_module_add_token(m, t);
	*ret = t;
	return RB_OK;
}

/* The pool: each thread binds one session (thread-specific data holds
 * the slot index + 1), reuses it for every operation, and hands it back
 * when it exits. At most max_sessions exist; further threads wait. */
struct tls_binding {
	struct p11_token *token;
	unsigned idx;
};

static void session_thread_exit(void *arg)
{
	struct tls_binding *b = arg;
	struct p11_token *t = b->token;

	pthread_mutex_lock(&t->lock);
	t->sessions[b->idx].in_use = false;
	pthread_cond_signal(&t->released);
	pthread_mutex_unlock(&t->lock);
	free(b);
}

int p11_token_session(struct p11_token *t, CK_SESSION_HANDLE *ret)
{
	struct tls_binding *b = pthread_getspecific(t->tls);
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	unsigned i;
	CK_RV rv;

	if (b) {
		*ret = t->sessions[b->idx].handle;
		return RB_OK;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return RB_E_NOMEM;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		/* Prefer an idle open session; else a retired slot; else grow. */
		for (i = 0; i < t->n_sessions; i++)
			if (!t->sessions[i].in_use && t->sessions[i].handle != CK_INVALID_HANDLE)
				goto bind;
		for (i = 0; i < t->n_sessions; i++)
			if (!t->sessions[i].in_use)
				goto open;
		if (t->n_sessions < t->max_sessions) {
			i = t->n_sessions++;
			t->sessions[i].handle = CK_INVALID_HANDLE;
			goto open;
		}
		pthread_cond_wait(&t->released, &t->lock);
	}
open:
	/* Reserve the slot, then open without holding the lock. */
	t->sessions[i].in_use = true;
	pthread_mutex_unlock(&t->lock);
	rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	pthread_mutex_lock(&t->lock);
	if (rv != CKR_OK) {
		t->sessions[i].in_use = false;
		pthread_cond_signal(&t->released);
		pthread_mutex_unlock(&t->lock);
		free(b);
		return p11_fail(rv, "C_OpenSession", "token", t->label);
	}
	t->sessions[i].handle = h;
bind:
	t->sessions[i].in_use = true;
	pthread_mutex_unlock(&t->lock);
	b->token = t;
	b->idx = i;
	pthread_setspecific(t->tls, b);
	*ret = t->sessions[i].handle;
	return RB_OK;
}

void p11_token_session_release(struct p11_token *t)
{
	struct tls_binding *b = pthread_getspecific(t->tls);

	if (!b)
		return;
	pthread_setspecific(t->tls, NULL);
	session_thread_exit(b);
}

unsigned p11_token_open_sessions(struct p11_token *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->n_sessions + (t->anchor != CK_INVALID_HANDLE);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void p11_token_free(struct p11_token *t)
{
	unsigned i;

	if (!t)
		return;
	/* Unwrapped keys go before the sessions that hold them close. */
	p11_wrapped_close(t);
	p11_token_session_release(t);
	p11_module_remove_token(t->module, t);
	for (i = 0; i < t->n_sessions; i++)
		if (t->sessions[i].handle != CK_INVALID_HANDLE)
			t->f->C_CloseSession(t->sessions[i].handle);
	if (t->anchor != CK_INVALID_HANDLE) {
		t->f->C_Logout(t->anchor);
		t->f->C_CloseSession(t->anchor);
	}
	p11_token_forget_keys(t);
	pthread_key_delete(t->tls);
	pthread_cond_destroy(&t->released);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wrap_idle);
	pthread_mutex_destroy(&t->wrap_lock);
	free(t->sessions);
	free(t);
}

const char *p11_token_label(const struct p11_token *t)
{
	return t->label;
}

const char *p11_token_model(const struct p11_token *t)
{
	return t->model;
}

bool p11_token_has_hardware_roles(const struct p11_token *t)
{
	/* SoftHSM2 only knows the SO/user split of PKCS#11, enforced in
	 * software on the same host. YubiHSM2 and NetHSM bind roles to
	 * separate credentials inside the device. */
	return strstr(t->manufacturer, "SoftHSM") == NULL && strstr(t->model, "SoftHSM") == NULL;
}

int p11_token_uri(const struct p11_token *t, char **ret)
{
	P11KitUri *uri = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	char *s = NULL;
	int rc;

	if (!uri)
		return RB_E_NOMEM;
	ti = p11_kit_uri_get_token_info(uri);
	memcpy(ti->label, t->info.label, sizeof(ti->label));
	memcpy(ti->manufacturerID, t->info.manufacturerID, sizeof(ti->manufacturerID));
	memcpy(ti->model, t->info.model, sizeof(ti->model));
	memcpy(ti->serialNumber, t->info.serialNumber, sizeof(ti->serialNumber));
	rc = p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &s);
	p11_kit_uri_free(uri);
	if (rc != P11_KIT_URI_OK)
		return RB_E_NOMEM;
	*ret = s;
	return RB_OK;
}

int p11_token_login(struct p11_token *t, CK_USER_TYPE user, const struct rb_secret *pin)
{
	CK_RV rv;

	if (!pin)
		return rb_err_set(RB_E_PIN, "token '%s': no PIN given; use --pin-file, --pin-fd or --pin-env",
				  t->label);
	rv = t->f->C_Login(t->anchor, user, pin->data, pin->len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN || rv == CKR_OK)
		t->logged_in = true;
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		return RB_OK;
	if (rv == CKR_PIN_INCORRECT)
		return rb_err_set(RB_E_PIN, "C_Login on token '%s': CKR_PIN_INCORRECT; check the %s PIN file "
				  "(repeated failures lock the token)", t->label,
				  user == CKU_SO ? "admin (SO)" : "operator");
	if (rv == CKR_PIN_LOCKED)
		return rb_err_set(RB_E_PIN, "C_Login on token '%s': CKR_PIN_LOCKED; the admin must unlock "
				  "or re-provision the token", t->label);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_Login", "token", t->label);
	return RB_OK;
}

int p11_module_init_token(struct p11_module *m, const char *label, const struct rb_secret *so_pin,
			  const struct rb_secret *user_pin)
{
	_cleanup_free_ CK_SLOT_ID *slots = NULL;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO info;
	CK_ULONG n = 0, i;
	CK_RV rv;
	size_t llen = strlen(label);

	if (llen == 0 || llen > 32)
		return rb_err_set(RB_E_INVAL, "token label '%s' must be 1 to 32 bytes", label);
	rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n) {
		slots = calloc(n, sizeof(*slots));
		if (!slots)
			return RB_E_NOMEM;
		rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK)
		return p11_fail(rv, "C_GetSlotList", "module", m->path);
	for (i = 0; i < n; i++) {
		char l[33];

		if (m->f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		p11_fixed_string(info.label, sizeof(info.label), l);
		if ((info.flags & CKF_TOKEN_INITIALIZED) && strcmp(l, label) == 0)
			return rb_err_set(RB_E_EXISTS, "a token labelled '%s' already exists in %s; "
					  "choose another --label or a fresh state directory", label, m->path);
	}
	for (i = 0; i < n; i++)
		if (m->f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    !(info.flags & CKF_TOKEN_INITIALIZED))
			break;
	if (i == n)
		return rb_err_set(RB_E_TOKEN, "no uninitialised slot in %s to provision", m->path);
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, llen);
	rv = m->f->C_InitToken(slots[i], so_pin->data, so_pin->len, padded);
	if (rv != CKR_OK)
		return p11_fail(rv, "C_InitToken", "module", m->path);

	/* SoftHSM moves a freshly initialised token to a new slot id, so
	 * find it again by label rather than trusting slots[i]. */
	{
		struct p11_token *t;
		int err = p11_token_open(m, label, 1, &t);

		if (err < 0)
			return err;
		s = t->anchor;
		rv = m->f->C_Login(s, CKU_SO, so_pin->data, so_pin->len);
		if (rv == CKR_OK) {
			rv = m->f->C_InitPIN(s, user_pin->data, user_pin->len);
			m->f->C_Logout(s);
			if (rv != CKR_OK)
				err = p11_fail(rv, "C_InitPIN", "token", label);
		} else {
			err = p11_fail(rv, "C_Login(SO)", "token", label);
		}
		p11_token_free(t);
		return err;
	}
}
