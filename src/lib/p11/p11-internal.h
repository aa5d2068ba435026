/* Structures shared by the p11 client's files; not installed. */
#ifndef ROMBSR_P11_INTERNAL_H
#define ROMBSR_P11_INTERNAL_H

#include <pthread.h>

#include "p11/p11.h"

struct p11_session_slot {
	CK_SESSION_HANDLE handle;
	bool in_use;
};

struct p11_key {
	struct p11_token *token;
	char *name;     /* CKA_LABEL */
	char *selector; /* what the caller asked for (label or URI) */
	uint8_t *id;
	size_t id_len;
	CK_OBJECT_HANDLE priv;
	enum rb_key_alg alg;
	unsigned bits;
	EVP_PKEY *pub;
	uint8_t *cert;
	size_t cert_len;
	struct p11_key *next;
};

struct p11_token {
	struct p11_module *module;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	char label[33], manufacturer[33], model[17], serial[17];

	/* Session pool. The anchor session stays open for the token's life
	 * so the login state (which PKCS#11 ties to the application, and
	 * drops when the last session closes) survives idle periods. */
	pthread_mutex_t lock;
	pthread_cond_t released;
	pthread_key_t tls;
	CK_SESSION_HANDLE anchor;
	struct p11_session_slot *sessions;
	unsigned max_sessions, n_sessions;

	struct p11_key *keys; /* cache, guarded by lock */
	struct p11_token *next_in_module;
};

struct p11_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST *f;
	pthread_mutex_t lock;
	struct p11_token *tokens;
};

/* Copy a blank-padded PKCS#11 string field into a C string. */
void p11_fixed_string(const CK_UTF8CHAR *src, size_t n, char *dst);

/* rb_err_set() with "<fn> on <kind> '<name>': CKR_..." and the mapped
 * rb_err (RB_E_PIN for PIN errors, RB_E_UNSUPPORTED for mechanism errors). */
int p11_fail(CK_RV rv, const char *fn, const char *kind, const char *name);

/* Register/unregister a token with its module (for cleanup at free). */
void p11_module_add_token(struct p11_module *m, struct p11_token *t);
void p11_module_remove_token(struct p11_module *m, struct p11_token *t);

/* Free a key cache entry. */
void p11_key_free(struct p11_key *k);

#endif
