/* The PKCS#11 client: the only code in rombsr that talks to an HSM.
 *
 * Objects and ownership:
 *   struct p11_module  a loaded, initialised module (dlopen + C_Initialize).
 *                      p11_module_free() closes every session of every
 *                      token opened through it, then C_Finalize + dlclose.
 *   struct p11_token   one token, selected by an RFC 7512 URI or label.
 *                      Owns a bounded pool of sessions (one per thread,
 *                      reused) and a cache of key handles. Freed with
 *                      p11_token_free(); must outlive threads that use it.
 *   struct p11_key     a signing key on a token, looked up once and cached
 *                      by the token. Borrowed: valid until the token is
 *                      freed; never free it yourself.
 *
 * Every signature is verified against the key's public key with OpenSSL
 * before it is returned (p11_key_sign). Private key material never leaves
 * the token: keys are generated CKA_SENSITIVE, non-extractable. Wrapped
 * keys (see below) exist outside it only encrypted under the wrap key.
 *
 * Errors are rb_err codes; the detail names the PKCS#11 function, the
 * CKR_ code by name, and the token/key, e.g.
 *   "C_Login on token 'rombsr': CKR_PIN_INCORRECT".
 */
#ifndef ROMBSR_P11_P11_H
#define ROMBSR_P11_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "crypto/signer.h"
#include "util/secret.h"

struct p11_module;
struct p11_token;
struct p11_key;

/* "CKR_PIN_INCORRECT"; never NULL. */
const char *p11_ckr_name(CK_RV rv);

/* ---- module ---------------------------------------------------------- */

/* Load the module at path and C_Initialize it with OS locking. */
int p11_module_load(const char *path, struct p11_module **ret);
/* Close all sessions, C_Finalize, dlclose. Accepts NULL. */
void p11_module_free(struct p11_module *m);
/* The raw function list, for benchmarks and diagnostics only. */
CK_FUNCTION_LIST *p11_module_functions(struct p11_module *m);
const char *p11_module_path(const struct p11_module *m);

/* ---- tokens ---------------------------------------------------------- */

#define P11_DEFAULT_MAX_SESSIONS 16

/* Open the token matching selector: a "pkcs11:" URI (token=, serial=,
 * manufacturer=, model= attributes; parsed by p11-kit) or a plain label.
 * max_sessions bounds the session pool (0: P11_DEFAULT_MAX_SESSIONS).
 * RB_E_TOKEN if no token matches, RB_E_STATE if more than one does. */
int p11_token_open(struct p11_module *m, const char *selector, unsigned max_sessions,
		   struct p11_token **ret);
void p11_token_free(struct p11_token *t);
const char *p11_token_label(const struct p11_token *t);
/* Fill a pkcs11: URI naming the token (token=, manufacturer=, model=,
 * serial=); the caller frees. */
int p11_token_uri(const struct p11_token *t, char **ret);
/* True unless the token enforces only SO/user roles (e.g. SoftHSM2). */
bool p11_token_has_hardware_roles(const struct p11_token *t);
const char *p11_token_model(const struct p11_token *t);

/* Log in as CKU_USER (or CKU_SO) with pin. The PIN is not kept. */
int p11_token_login(struct p11_token *t, CK_USER_TYPE user, const struct rb_secret *pin);

/* The calling thread's session on t, opened on first use and reused.
 * Blocks while all max_sessions sessions are held by other threads. */
int p11_token_session(struct p11_token *t, CK_SESSION_HANDLE *ret);
/* Return the calling thread's session to the pool (also done
 * automatically when the thread exits). */
void p11_token_session_release(struct p11_token *t);
/* Number of sessions currently open (for tests and metrics). */
unsigned p11_token_open_sessions(struct p11_token *t);

/* Initialise the token in the first uninitialised slot with label, SO PIN
 * and user PIN (C_InitToken + C_InitPIN). For provisioning only. */
int p11_module_init_token(struct p11_module *m, const char *label, const struct rb_secret *so_pin,
			  const struct rb_secret *user_pin);

/* ---- keys ------------------------------------------------------------ */

/* Find a private key by selector: a "pkcs11:" URI (object=, id=, type=)
 * or a plain CKA_LABEL. The handle, public key and certificate are looked
 * up once and cached on the token. RB_E_KEY if not found or ambiguous. */
int p11_token_find_key(struct p11_token *t, const char *selector, struct p11_key **ret);
/* Whether k's private key object is still on the token, looked up
 * afresh by CKA_ID (not through the handle held since it was found):
 * RB_OK if it is; RB_E_GONE if the token, the session or the object went
 * away (an HSM restart or removal). For a caller that must tell "this key
 * cannot sign" from "the token is gone". A wrapped key is RB_OK. */
int p11_key_still_there(struct p11_key *k);
/* Drop cached handles (after keys were destroyed). Every struct p11_key
 * obtained before is invalid afterwards. */
void p11_token_forget_keys(struct p11_token *t);

const char *p11_key_name(const struct p11_key *k);
enum rb_key_alg p11_key_alg(const struct p11_key *k);
/* RSA modulus bits, 256 for P-256, 255 for Ed25519. */
unsigned p11_key_bits(const struct p11_key *k);
/* Borrowed public key; valid while the token lives. */
EVP_PKEY *p11_key_public(const struct p11_key *k);
/* CKA_ID bytes; borrowed. */
const uint8_t *p11_key_id(const struct p11_key *k, size_t *ret_len);
/* DER certificate stored with the key (CKO_CERTIFICATE, same CKA_ID), or
 * NULL if none; borrowed. */
const uint8_t *p11_key_cert(const struct p11_key *k, size_t *ret_len);
/* pkcs11: URI for the private key object; caller frees. */
int p11_key_uri(const struct p11_key *k, char **ret);
/* CK_INVALID_HANDLE for a wrapped key: its object exists only while the
 * core holds it unwrapped. */
CK_OBJECT_HANDLE p11_key_handle(const struct p11_key *k);

/* Sign in (a digest, or the message for Ed25519) with scheme, on the
 * calling thread's session. The signature is verified against the public
 * key before it is returned; *ret_sig is malloc()ed, caller frees.
 * RSA PKCS#1 v1.5 goes through CKM_RSA_PKCS with a DigestInfo, so modules
 * without CKM_SHA*_RSA_PKCS work. ECDSA returns raw r||s. */
int p11_key_sign(struct p11_key *k, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		 uint8_t **ret_sig, size_t *ret_len);

/* An rb_signer view of k (for X.509, OpenPGP, ...). Borrowed pointers. */
void p11_key_signer(struct p11_key *k, struct rb_signer *ret);

/* ---- key generation -------------------------------------------------- */

struct p11_keygen {
	const char *label;      /* CKA_LABEL of both halves */
	const uint8_t *id;      /* CKA_ID of both halves */
	size_t id_len;
	enum rb_key_alg alg;
	unsigned bits;          /* RSA only: 2048, 3072 or 4096 */
};

/* Generate a token key pair (private: sensitive, non-extractable, sign
 * only). RB_E_EXISTS if a key with this label exists. */
int p11_token_generate_key(struct p11_token *t, const struct p11_keygen *spec, struct p11_key **ret);

/* Store a DER X.509 certificate with the key's label and CKA_ID (replaces
 * nothing: RB_E_EXISTS if the key already has one). */
int p11_key_store_cert(struct p11_key *k, const uint8_t *der, size_t len);

/* ---- the wrap key and wrapped keys (docs/formats/wrapped-key.md) ----- */

/* CKA_LABEL of the deployment's wrap key: a token AES-256 secret key,
 * private, sensitive, never extractable, CKA_WRAP and CKA_UNWRAP only (no
 * encrypt/decrypt, so it cannot be used as an oracle on other data). */
#define P11_WRAP_KEY_LABEL "rombsr-wrap"
#define P11_WRAP_FPR_LEN 32
#define P11_WRAPPED_MAX 8192         /* largest wrapped blob handled */
#define P11_DEFAULT_MAX_RESIDENT 8   /* unwrapped keys held at once */

/* Generate the token's wrap key (logged-in user). RB_E_EXISTS if the
 * token already has one. */
int p11_token_generate_wrap_key(struct p11_token *t);
/* The wrap key's fingerprint, computable on any HSM holding the same key
 * without exporting it: SHA-256 over a domain label and the
 * CKM_AES_KEY_WRAP_PAD wrapping of a fixed, public AES-256 key (exact
 * recipe in the format document). Cached. RB_E_KEY if there is no wrap
 * key. */
int p11_token_wrap_key_fingerprint(struct p11_token *t, uint8_t ret[P11_WRAP_FPR_LEN]);

/* Generate a key pair as session objects (the private half sensitive and
 * extractable only so it can be wrapped), wrap the private half under the
 * wrap key with CKM_AES_KEY_WRAP_PAD, and destroy both objects on every
 * path. *ret_blob is malloc()ed (caller frees), *ret_pub is the public key
 * (caller EVP_PKEY_free()s). Before returning, the blob is unwrapped into a
 * session object and a test signature is checked against the public key,
 * so a blob that does not sign is never handed out. */
int p11_token_generate_wrapped(struct p11_token *t, enum rb_key_alg alg, unsigned bits,
			       uint8_t **ret_blob, size_t *ret_blob_len, EVP_PKEY **ret_pub);
/* Wrap the resident private key k. RB_E_PERM if the token refuses because
 * k is not extractable (every key of the default set). */
int p11_key_wrap(struct p11_key *k, uint8_t **ret_blob, size_t *ret_len);

/* Let p11_token_find_key() fall back to the wrapped key store dir (see
 * p11/wrap.h) for names not on the token: a wrapped key is unwrapped on
 * demand into a session object (CKA_TOKEN=false, sensitive,
 * non-extractable, sign only) and at most max_resident (0:
 * P11_DEFAULT_MAX_RESIDENT) are unwrapped at once; the least recently used
 * idle one is destroyed first. A wrapped p11_key behaves like a resident
 * one, including the self-check of every signature. Call once, before the
 * token is used by several threads; dir is copied. */
int p11_token_set_wrapped_store(struct p11_token *t, const char *dir, unsigned max_resident);
/* Unwrapped key objects currently held (for tests and metrics). */
unsigned p11_token_wrapped_resident(struct p11_token *t);
/* Number of C_UnwrapKey calls made so far (for tests and metrics). */
unsigned long p11_token_wrapped_unwraps(struct p11_token *t);
bool p11_key_is_wrapped(const struct p11_key *k);

/* Import key (an rb_secret of exactly 32 bytes) as the token's wrap key
 * (logged-in user): C_CreateObject of an AES-256 token secret key with the
 * attributes above and CKA_VALUE from key; the bytes are passed straight
 * from the rb_secret and never copied. RB_E_EXISTS, with nothing changed,
 * if the token already has a wrap key. After the import the token computes
 * p11_token_wrap_key_fingerprint(), which must equal expect_fpr (the
 * fingerprint computed in software from the same bytes): on a mismatch
 * the new object is destroyed and RB_E_VERIFY returned. Used by the key
 * ceremony (src/lib/ceremony). */
int p11_token_import_wrap_key(struct p11_token *t, const struct rb_secret *key,
			      const uint8_t expect_fpr[P11_WRAP_FPR_LEN]);
/* Whether the token holds an object labelled P11_WRAP_KEY_LABEL (visible
 * to the current login). */
int p11_token_has_wrap_key(struct p11_token *t, bool *ret);
/* The token's serial number (CK_TOKEN_INFO, blanks stripped). */
const char *p11_token_serial(const struct p11_token *t);

/* ---- PINs ------------------------------------------------------------ */

enum p11_pin_kind {
	P11_PIN_NONE = 0,
	P11_PIN_FILE,   /* value: path; must not be group/other readable */
	P11_PIN_FD,     /* value: decimal file descriptor, read to EOF */
	P11_PIN_ENV,    /* value: name of an environment variable */
	P11_PIN_PROMPT, /* value: prompt text; read from /dev/tty, no echo */
};

struct p11_pin_source {
	enum p11_pin_kind kind;
	const char *value;
};

#define P11_PIN_MAX 256

/* Read a PIN into locked memory. One trailing newline is stripped. An
 * environment variable is wiped and unset once read. Caller frees with
 * rb_secret_free(). */
int p11_pin_read(const struct p11_pin_source *src, struct rb_secret **ret);

#endif
