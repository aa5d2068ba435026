#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "p11/p11-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

void p11_fixed_string(const CK_UTF8CHAR *src, size_t n, char *dst)
{
	size_t len = n;

	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == '\0'))
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int p11_fail(CK_RV rv, const char *fn, const char *kind, const char *name)
{
	int err;

	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		err = RB_E_PIN;
		break;
	case CKR_USER_NOT_LOGGED_IN:
		err = RB_E_PERM;
		break;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		err = RB_E_UNSUPPORTED;
		break;
	case CKR_TOKEN_NOT_RECOGNIZED:
		err = RB_E_TOKEN;
		break;
	/* What a slot, session or handle found earlier shows once its token
	 * restarted or was taken away: nothing about the request, so the
	 * caller reopens the token and tries again (the sign node does). A
	 * token that is not there at all when it is looked for is RB_E_TOKEN
	 * (p11_token_open). */
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		err = RB_E_GONE;
		break;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		err = RB_E_NOMEM;
		break;
	default:
		err = RB_E_P11;
	}
	return rb_err_set(err, "%s on %s '%s': %s", fn, kind, name, p11_ckr_name(rv));
}

int p11_module_load(const char *path, struct p11_module **ret)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get_list;
	struct p11_module *m;
	struct stat st;
	CK_INFO info;
	CK_RV rv;
	int err;

	if (!path || !*path)
		return rb_err_set(RB_E_MODULE, "no PKCS#11 module given; pass --module PATH");
	if (stat(path, &st) < 0)
		return rb_err_set(RB_E_MODULE, "PKCS#11 module %s: %s; install it or pass --module PATH",
				  path, strerror(errno));
	m = calloc(1, sizeof(*m));
	if (!m)
		return RB_E_NOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->path = strdup(path);
	if (!m->path) {
		err = RB_E_NOMEM;
		goto fail;
	}
	/* RTLD_LOCAL keeps the module's symbols from shadowing ours;
	 * RTLD_NOW surfaces missing dependencies here, not mid-signing;
	 * RTLD_NODELETE keeps the code mapped after dlclose, because modules
	 * (SoftHSM2 among them) leave thread-local destructors and atexit
	 * handlers behind that crash the process if the code is unmapped. */
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!m->dl) {
		err = rb_err_set(RB_E_MODULE, "PKCS#11 module %s cannot be loaded: %s", path, dlerror());
		goto fail;
	}
	*(void **)&get_list = dlsym(m->dl, "C_GetFunctionList");
	if (!get_list) {
		err = rb_err_set(RB_E_MODULE, "%s is not a PKCS#11 module: no C_GetFunctionList", path);
		goto fail;
	}
	rv = get_list(&m->f);
	if (rv != CKR_OK || !m->f) {
		err = p11_fail(rv, "C_GetFunctionList", "module", path);
		err = RB_E_MODULE;
		goto fail;
	}
	rv = m->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p11_fail(rv, "C_Initialize", "module", path);
		err = RB_E_MODULE;
		goto fail;
	}
	rv = m->f->C_GetInfo(&info);
	if (rv != CKR_OK || info.cryptokiVersion.major < 2) {
		m->f->C_Finalize(NULL);
		err = rb_err_set(RB_E_MODULE, "%s: unusable PKCS#11 module (C_GetInfo: %s)", path,
				 p11_ckr_name(rv));
		goto fail;
	}
	*ret = m;
	return RB_OK;
fail:
	if (m->dl)
		dlclose(m->dl);
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
	return err;
}

void p11_module_add_token(struct p11_module *m, struct p11_token *t)
{
	pthread_mutex_lock(&m->lock);
	t->next_in_module = m->tokens;
	m->tokens = t;
	pthread_mutex_unlock(&m->lock);
}

void p11_module_remove_token(struct p11_module *m, struct p11_token *t)
{
	struct p11_token **pp;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->tokens; *pp; pp = &(*pp)->next_in_module)
		if (*pp == t) {
			*pp = t->next_in_module;
			break;
		}
	pthread_mutex_unlock(&m->lock);
}

void p11_module_free(struct p11_module *m)
{
	if (!m)
		return;
	/* Tokens close their own sessions explicitly: some modules (SoftHSM
	 * among them) crash if sessions are left for C_Finalize at exit. */
	while (m->tokens)
		p11_token_free(m->tokens);
	if (m->f)
		m->f->C_Finalize(NULL);
	if (m->dl)
		dlclose(m->dl);
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
}

CK_FUNCTION_LIST *p11_module_functions(struct p11_module *m)
{
	return m->f;
}

const char *p11_module_path(const struct p11_module *m)
{
	return m->path;
}
