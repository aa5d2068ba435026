/* The capture PKCS#11 module: internal structures shared by its files.
 * Not installed; the module's only interface is the PKCS#11 function list
 * (docs/CAPTURE-MODULE.md).
 *
 * Locking. One module lock (cm_lock) guards the module state: sessions,
 * login, session objects. Each session also has its own lock, held for
 * the whole of any call on that session, so long work (hashing, writing a
 * request to the spool) runs without the module lock. The order is always
 * module lock, then session lock, and no code takes the module lock while
 * it holds a session lock:
 *
 *   cm_session_enter()  module lock, find session, session lock
 *   cm_module_unlock()  drop the module lock once module state is no longer
 *                       needed (the session stays locked)
 *   cm_session_leave()  drop the session lock
 *
 * The configuration, manifest and token objects are immutable between
 * C_Initialize and C_Finalize, and C_Finalize takes every session lock
 * before freeing anything, so a call holding a session lock may read them.
 *
 * Errors inside the module are rb_err codes (util/err.h); they become CKR_
 * codes only in the C_* entry points.
 */
#ifndef ROMBSR_CAPTURE_MODULE_H
#define ROMBSR_CAPTURE_MODULE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "capture/capture.h"
#include "keys/manifest.h"

/* PKCS#11 3.0 interface discovery; p11-kit's header (2.40) lacks it. */
typedef struct CK_INTERFACE {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;

/* PKCS#11 3.0 CKM_EDDSA parameters (absent from p11-kit's header). */
typedef struct CM_EDDSA_PARAMS {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
} CM_EDDSA_PARAMS;

#define CM_SLOT_ID 0
#define CM_MAX_SESSIONS 4096
#define CM_MAX_SESSION_OBJECTS 65536
#define CM_PIN_MAX 256
#define CM_LIBRARY_DESCRIPTION "rombsr capture module"
#define CM_MANUFACTURER "rombsr"
#define CM_MODEL "capture"

/* First handle of session objects; token objects use 1..3*keys. */
#define CM_SESSION_OBJECT_BASE 0x100000UL

/* ---- objects ------------------------------------------------------------ */

struct cm_attr {
	CK_ATTRIBUTE_TYPE type;
	uint8_t *value; /* owned */
	CK_ULONG len;
	bool sensitive; /* exists, but C_GetAttributeValue refuses it */
};

struct cm_object {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE key_type;          /* keys only */
	enum rb_key_alg alg;           /* keys only */
	bool token;
	bool private_obj;              /* visible only when logged in */
	bool can_sign, can_verify;
	CK_SESSION_HANDLE owner;       /* session objects: creating session */
	EVP_PKEY *pub;                 /* keys: owned reference */
	/* The active manifest key this object is, or whose public key it
	 * holds (session public keys matched by SPKI fingerprint); NULL for
	 * a foreign session key. Borrowed from the manifest. */
	const struct manifest_key *key;
	struct cm_attr *attrs;
	size_t n_attrs;
	struct cm_object *next;        /* session object list */
};

void cm_object_free(struct cm_object *o);
const struct cm_attr *cm_object_attr(const struct cm_object *o, CK_ATTRIBUTE_TYPE type);

/* Build the three objects (private key, public key, certificate) of each
 * active manifest key. */
int cm_objects_build(const struct manifest *m, struct cm_object ***ret, size_t *ret_n);

/* ---- sessions ----------------------------------------------------------- */

enum cm_op_kind {
	CM_OP_NONE = 0,
	CM_OP_SIGN,
	CM_OP_VERIFY,
};

/* The active sign or verify operation of a session. */
struct cm_op {
	enum cm_op_kind kind;
	CK_MECHANISM_TYPE mech;
	enum rb_sig_scheme scheme;      /* RSA_PKCS: decided by the DigestInfo */
	bool updated;                   /* C_*Update was called */
	const struct manifest_key *key; /* sign: the key; verify: matching key or NULL */
	EVP_PKEY *pub;                  /* verify: owned reference */
	size_t sig_len;
	EVP_MD_CTX *md;                 /* hashing mechanisms (capture_mech_hashes) */
	/* Hashing mechanisms, multi-part: the data so far, kept for the
	 * request while it is at most CAPTURE_DATA_MAX bytes (data_over
	 * once it is longer; it is then hashed only). */
	struct rb_buf data;
	bool data_over;
};

void cm_op_clear(struct cm_op *op);

struct cm_find {
	bool active;
	CK_OBJECT_HANDLE *handles;
	size_t n, pos;
};

struct cm_session {
	CK_SESSION_HANDLE handle;
	CK_FLAGS flags;
	pthread_mutex_t lock;
	struct cm_op op;
	struct cm_find find;
	struct cm_session *next;
};

/* ---- mechanisms --------------------------------------------------------- */

struct cm_mech {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
};

/* ---- the module --------------------------------------------------------- */

struct cm_module {
	pid_t pid;
	struct capture_config *config;
	struct manifest *manifest;
	char tool[CAPTURE_TOOL_MAX + 1];
	char token_label[33];
	char token_serial[17];
	struct cm_object **token_objects;
	size_t n_token_objects;
	struct cm_object *session_objects;
	size_t n_session_objects;
	CK_OBJECT_HANDLE next_object;
	struct cm_session *sessions;
	size_t n_sessions, n_rw_sessions;
	CK_SESSION_HANDLE next_session;
	bool logged_in;
	struct cm_mech mechs[8];
	size_t n_mechs;
};

/* The initialised module, or NULL; guarded by cm_lock. */
extern struct cm_module *cm_state;
extern pthread_mutex_t cm_lock;

/* Take the module lock; CKR_CRYPTOKI_NOT_INITIALIZED (lock released) if
 * the module is not initialised in this process. */
CK_RV cm_module_lock(void);
void cm_module_unlock(void);

/* Module lock + session lookup + session lock. On failure nothing is held. */
CK_RV cm_session_enter(CK_SESSION_HANDLE h, struct cm_session **ret);
void cm_session_leave(struct cm_session *s);

/* With the module lock held. */
bool cm_session_rw(const struct cm_session *s);
struct cm_object *cm_object_lookup(CK_OBJECT_HANDLE h);
bool cm_object_visible(const struct cm_object *o);
/* Destroy the session objects owned by session h (module lock held). */
void cm_objects_drop_session(CK_SESSION_HANDLE h);
/* Close every session (module lock held): C_CloseAllSessions, C_Finalize. */
void cm_sessions_close_all(void);

/* Build the mechanism table from the active keys. */
void cm_mechs_build(struct cm_module *st);
const struct cm_mech *cm_mech_find(const struct cm_module *st, CK_MECHANISM_TYPE type);

/* Check a mechanism and its parameters against a key; fills op->mech,
 * op->scheme (provisional for CKM_RSA_PKCS) and op->sig_len. For both
 * sign and verify. Returns a CKR_ code. */
CK_RV cm_op_setup(const CK_MECHANISM *mech, const struct cm_object *key, struct cm_op *op);
/* What a signature is over, for the request: the scheme's input, and for
 * a hashing mechanism the data when it is kept (NULL otherwise). */
struct cm_input {
	const uint8_t *in;
	size_t in_len;
	const uint8_t *data;
	size_t data_len;
};

/* The input for single-part data: the DigestInfo's digest, the digest
 * itself, or the message. For a hashing mechanism, hashes data into
 * digest_buf (64 bytes) and keeps data (borrowed) if it is at most
 * CAPTURE_DATA_MAX bytes. Sets op->scheme for CKM_RSA_PKCS. */
CK_RV cm_op_input(struct cm_op *op, const uint8_t *data, size_t len, uint8_t *digest_buf,
		  struct cm_input *ret);
/* Multi-part: feed data (hashing mechanisms only), and finish into
 * digest_buf, with the data kept so far (borrowed from op). */
CK_RV cm_op_update(struct cm_op *op, const uint8_t *data, size_t len);
CK_RV cm_op_final(struct cm_op *op, uint8_t *digest_buf, struct cm_input *ret);

/* rb_err -> CKR at the boundary. */
CK_RV cm_ckr_from_err(int err);

/* Blank-padded copy of s into a fixed PKCS#11 field. */
void cm_pad(CK_UTF8CHAR *dst, size_t n, const char *s);

/* ---- log ---------------------------------------------------------------- */

/* Append one line ("<time> <pid> <text>") to the module log file, if one is
 * known (config log_path, else SPOOL/capture.log). Control characters are
 * escaped. Never given PINs. */
void cm_log(const struct capture_config *config, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A failure a user must act on: "rombsr-capture: <reason>: <what to do>"
 * to stderr and the log. config may be NULL (stderr, or ROMBSR_CAPTURE_LOG
 * if set). */
void cm_log_failure(const struct capture_config *config, const char *reason, const char *todo);

/* Entry points defined in the per-area files, collected in module.c. */
CK_RV cm_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV cm_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info);
CK_RV cm_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info);
CK_RV cm_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
CK_RV cm_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);

CK_RV cm_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		       CK_SESSION_HANDLE_PTR ret);
CK_RV cm_C_CloseSession(CK_SESSION_HANDLE h);
CK_RV cm_C_CloseAllSessions(CK_SLOT_ID slot);
CK_RV cm_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info);
CK_RV cm_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len);
CK_RV cm_C_Logout(CK_SESSION_HANDLE h);

CK_RV cm_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
			CK_OBJECT_HANDLE_PTR ret);
CK_RV cm_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o);
CK_RV cm_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,
			     CK_ULONG n);
CK_RV cm_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
CK_RV cm_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR ret, CK_ULONG max,
		       CK_ULONG_PTR ret_count);
CK_RV cm_C_FindObjectsFinal(CK_SESSION_HANDLE h);

CK_RV cm_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
CK_RV cm_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		CK_ULONG_PTR sig_len);
CK_RV cm_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len);
CK_RV cm_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len);

CK_RV cm_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
CK_RV cm_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		  CK_ULONG sig_len);
CK_RV cm_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len);
CK_RV cm_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len);

#endif
