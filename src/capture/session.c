/* Sessions and login. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture-module.h"
#include "p11/p11.h"
#include "util/err.h"
#include "util/secret.h"

CK_RV cm_session_enter(CK_SESSION_HANDLE h, struct cm_session **ret)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	for (s = cm_state->sessions; s; s = s->next)
		if (s->handle == h) {
			pthread_mutex_lock(&s->lock);
			*ret = s;
			return CKR_OK;
		}
	cm_module_unlock();
	return CKR_SESSION_HANDLE_INVALID;
}

void cm_session_leave(struct cm_session *s)
{
	pthread_mutex_unlock(&s->lock);
}

bool cm_session_rw(const struct cm_session *s)
{
	return (s->flags & CKF_RW_SESSION) != 0;
}

/* The session with handle h (module lock held), without locking it. */
static struct cm_session *session_find(CK_SESSION_HANDLE h)
{
	struct cm_session *s;

	for (s = cm_state->sessions; s; s = s->next)
		if (s->handle == h)
			return s;
	return NULL;
}

static void find_clear(struct cm_find *f)
{
	free(f->handles);
	memset(f, 0, sizeof(*f));
}

/* Free a session nobody can reach any more; waits for a call still
 * running on it. */
static void session_free(struct cm_session *s)
{
	pthread_mutex_lock(&s->lock);
	cm_op_clear(&s->op);
	find_clear(&s->find);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Unlink s (module lock held) and keep the counts and login state. */
static void session_unlink(struct cm_session *s)
{
	struct cm_session **pp;

	for (pp = &cm_state->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	cm_state->n_sessions--;
	if (cm_session_rw(s))
		cm_state->n_rw_sessions--;
	cm_objects_drop_session(s->handle);
	/* PKCS#11: closing the application's last session logs it out. */
	if (cm_state->n_sessions == 0)
		cm_state->logged_in = false;
}

void cm_sessions_close_all(void)
{
	while (cm_state->sessions) {
		struct cm_session *s = cm_state->sessions;

		session_unlink(s);
		session_free(s);
	}
	cm_state->logged_in = false;
}

CK_RV cm_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		       CK_SESSION_HANDLE_PTR ret)
{
	struct cm_session *s;
	CK_RV rv;

	(void)app;
	(void)notify; /* no callbacks: the module never surrenders control */
	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (slot != CM_SLOT_ID)
		rv = CKR_SLOT_ID_INVALID;
	else if (!(flags & CKF_SERIAL_SESSION))
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	else if (!ret)
		rv = CKR_ARGUMENTS_BAD;
	else if (cm_state->n_sessions >= CM_MAX_SESSIONS)
		rv = CKR_SESSION_COUNT;
	if (rv != CKR_OK)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->handle = cm_state->next_session++;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	s->next = cm_state->sessions;
	cm_state->sessions = s;
	cm_state->n_sessions++;
	if (cm_session_rw(s))
		cm_state->n_rw_sessions++;
	*ret = s->handle;
out:
	cm_module_unlock();
	return rv;
}

CK_RV cm_C_CloseSession(CK_SESSION_HANDLE h)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (!(s = session_find(h))) {
		cm_module_unlock();
		return CKR_SESSION_HANDLE_INVALID;
	}
	session_unlink(s);
	cm_module_unlock();
	/* Unreachable now; a call still running on it holds its lock. */
	session_free(s);
	return CKR_OK;
}

CK_RV cm_C_CloseAllSessions(CK_SLOT_ID slot)
{
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (slot != CM_SLOT_ID)
		rv = CKR_SLOT_ID_INVALID;
	else
		cm_sessions_close_all();
	cm_module_unlock();
	return rv;
}

CK_RV cm_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (!(s = session_find(h)))
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (!info)
		rv = CKR_ARGUMENTS_BAD;
	else {
		memset(info, 0, sizeof(*info));
		info->slotID = CM_SLOT_ID;
		if (cm_state->logged_in)
			info->state = cm_session_rw(s) ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
		else
			info->state = cm_session_rw(s) ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
		info->flags = s->flags;
		info->ulDeviceError = 0;
	}
	cm_module_unlock();
	return rv;
}

/* Compare the PIN with the configured PIN file in constant time. The file
 * is read for each login so the PIN is held only for the comparison. */
static CK_RV check_pin(const uint8_t *pin, size_t len)
{
	struct p11_pin_source src = { P11_PIN_FILE, cm_state->config->pin_file };
	struct rb_secret *want = NULL;
	bool ok;
	int err;

	if (!cm_state->config->pin_file)
		return CKR_OK; /* nothing secret behind the token: any PIN */
	rb_err_clear();
	if ((err = p11_pin_read(&src, &want)) < 0) {
		char reason[RB_ERR_DETAIL_MAX + 64];

		snprintf(reason, sizeof(reason), "C_Login: cannot read the PIN file (%s)",
			 rb_err_message(err));
		cm_log_failure(cm_state->config, reason,
			       "make it a regular 0600 file holding the PIN, or remove pin_file");
		return CKR_DEVICE_ERROR;
	}
	ok = rb_ct_equal(pin, len, want->data, want->len);
	rb_secret_free(want);
	if (!ok) {
		cm_log(cm_state->config, "C_Login refused: PIN incorrect");
		return CKR_PIN_INCORRECT;
	}
	return CKR_OK;
}

CK_RV cm_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (!session_find(h))
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (user == CKU_CONTEXT_SPECIFIC)
		rv = CKR_OPERATION_NOT_INITIALIZED; /* no key has CKA_ALWAYS_AUTHENTICATE */
	else if (user != CKU_USER)
		rv = CKR_USER_TYPE_INVALID; /* there is no security officer */
	else if (cm_state->logged_in)
		rv = CKR_USER_ALREADY_LOGGED_IN;
	else if (!pin)
		rv = CKR_ARGUMENTS_BAD; /* no protected authentication path */
	else if (pin_len > CM_PIN_MAX)
		rv = CKR_PIN_INCORRECT;
	else if ((rv = check_pin(pin, pin_len)) == CKR_OK)
		cm_state->logged_in = true;
	cm_module_unlock();
	return rv;
}

CK_RV cm_C_Logout(CK_SESSION_HANDLE h)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (!session_find(h))
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (!cm_state->logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	else {
		cm_state->logged_in = false;
		/* Signing operations used private keys the sessions can no longer
		 * see; end them. */
		for (s = cm_state->sessions; s; s = s->next) {
			pthread_mutex_lock(&s->lock);
			if (s->op.kind == CM_OP_SIGN)
				cm_op_clear(&s->op);
			pthread_mutex_unlock(&s->lock);
		}
	}
	cm_module_unlock();
	return rv;
}
