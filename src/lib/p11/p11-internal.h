/* Structures shared by the p11 client's files; not installed. */
#ifndef ROMBSR_P11_INTERNAL_H
#define ROMBSR_P11_INTERNAL_H

#include <pthread.h>

#include "p11/p11.h"

/* P11_MODULE_CALL(expr): evaluate a call into the PKCS#11 module.
 * In a LeakSanitizer build, what the module allocates during the call and
 * never frees is the module's own leak, not rombsr's: PKCS#11 never hands
 * module memory to the caller. SoftHSM2 2.6.1 leaks ASN.1 objects in
 * C_SignInit for EC and EdDSA keys. Marking them here, instead of by a
 * suppression that must find the module in the allocation's stack, lets
 * the sanitizer build use the fast unwinder (about twice as fast). */
#if defined(__SANITIZE_ADDRESS__)
#define P11_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define P11_LSAN 1
#endif
#endif
#ifdef P11_LSAN
#include <sanitizer/lsan_interface.h>
#define P11_MODULE_CALL(expr) __extension__({ \
	__lsan_disable(); \
	CK_RV p11_rv_ = (expr); \
	__lsan_enable(); \
	p11_rv_; \
})
#else
#define P11_MODULE_CALL(expr) (expr)
#endif

struct p11_session_slot {
	CK_SESSION_HANDLE handle;
	bool in_use;
};

/* State of a wrapped key (wrapped.c); every field but blob and kt is
 * guarded by the token's wrap_lock. */
struct p11_wrapped {
	uint8_t *blob;             /* C_WrapKey output from the store */
	size_t blob_len;
	CK_KEY_TYPE kt;
	CK_OBJECT_HANDLE handle;   /* unwrapped session object, or CK_INVALID_HANDLE */
	unsigned users;            /* signatures in flight with handle */
	bool unwrapping;           /* a thread is in C_UnwrapKey for this key */
	bool listed;               /* linked into token->wrapped_keys */
	uint64_t last_use;         /* token->wrap_clock at the last acquire */
	struct p11_key *next;
};

struct p11_key {
	struct p11_token *token;
	struct p11_wrapped *wrapped; /* NULL for a resident key */
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
	bool logged_in;       /* a login succeeded: losing it means the token restarted */
	struct p11_session_slot *sessions;
	unsigned max_sessions, n_sessions;

	struct p11_key *keys; /* cache, guarded by lock */

	/* The wrap key and the wrapped key store (wrapkey.c, wrapped.c),
	 * guarded by wrap_lock; wrap_idle is signalled whenever an unwrapped
	 * object becomes idle or is destroyed. Lock order: wrap_lock, then
	 * lock. */
	pthread_mutex_t wrap_lock;
	pthread_cond_t wrap_idle;
	CK_OBJECT_HANDLE wrap_key;
	bool wrap_fpr_valid;
	uint8_t wrap_fpr[P11_WRAP_FPR_LEN];
	char *wrapped_dir;
	unsigned max_resident, n_resident;
	unsigned long n_unwraps;
	uint64_t wrap_clock;
	struct p11_key *wrapped_keys;
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

/* The public key of a public-key object (or of a private one that exposes
 * it) as an EVP_PKEY the caller frees. */
int p11_object_public(struct p11_token *t, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, CK_OBJECT_HANDLE pubobj,
		      EVP_PKEY **ret);

/* wrapkey.c: the token's wrap key handle (found once, checked to be an
 * AES-256 token key that is sensitive, not extractable, and cannot
 * encrypt or decrypt). Call with wrap_lock held. */
int p11_wrap_key_locked(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret);
/* Unwrap blob (CKM_AES_KEY_WRAP_PAD) into a session private key of type
 * kt: sensitive, not extractable, sign only, no label. */
int p11_wrap_unwrap(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wrap_key,
		    const uint8_t *blob, size_t len, CK_KEY_TYPE kt, const char *name,
		    CK_OBJECT_HANDLE *ret);

/* wrapped.c: look selector up in the wrapped store (RB_E_NOTFOUND, no
 * detail, if absent; RB_E_KEY etc. if present but unusable);
 * acquire/release the unwrapped object for one signature (discard: destroy
 * it, e.g. after a failed self-check); free hooks. */
int p11_wrapped_lookup(struct p11_token *t, const char *selector, struct p11_key **ret);
int p11_wrapped_acquire(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret);
void p11_wrapped_release(struct p11_key *k, CK_SESSION_HANDLE s, bool discard);
void p11_wrapped_key_free(struct p11_key *k);
/* Destroy every unwrapped object and drop the store (p11_token_free). */
void p11_wrapped_close(struct p11_token *t);

#endif
