/* OpenPGP signatures on queue commits, through gpgme.
 *
 * A struct gpgsig is a gpgme context bound to one GnuPG home directory:
 * - on a build node, the node's own GNUPGHOME (gpg-agent or a smartcard
 *   holds the signing key), opened with gpgsig_open(homedir or NULL);
 * - on the sign node and in the guard, a private home under the state
 *   directory that holds only public certificates: the configured nodes'
 *   and approvers' and the manifest's `queue` key. gpgsig_open_keyring()
 *   creates it (0700), writes its gpg.conf (no-autostart: public keys need
 *   no gpg-agent, so none is started there) and imports them; only keys in
 *   it can ever verify.
 *
 * Nothing here prints. gpgme is initialised once per process
 * (gpgsig_global_init, thread-safe; called by the open functions).
 *
 * Ownership: gpgsig_open* return a context freed with gpgsig_free()
 * (accepts NULL). Output buffers and strings are malloc()ed and owned by
 * the caller.
 */
#ifndef ROMBSR_QUEUE_GPGSIG_H
#define ROMBSR_QUEUE_GPGSIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

struct gpgsig;
struct sign_config;
struct manifest;

#define GPGSIG_FPR_HEX 40
#define GPGSIG_MAX_SIG_BYTES ((size_t)64 * 1024)
#define GPGSIG_MAX_CERT_BYTES ((size_t)1024 * 1024)
#define GPGSIG_KEYRING_LOCK "rombsr-keyring.lock"
/* SHA-256 of what the keyring was built from and of its key file's state:
 * an unchanged keyring is not imported into again (gpgsig_open_keyring). */
#define GPGSIG_KEYRING_STAMP "rombsr-keyring.stamp"

/* Initialise gpgme (version check, locale). Idempotent, thread-safe. */
int gpgsig_global_init(void);

/* A context on homedir (NULL: the default, $GNUPGHOME or ~/.gnupg). The
 * directory must exist. */
int gpgsig_open(const char *homedir, struct gpgsig **ret);

/* Import one OpenPGP certificate (armored or binary) from memory into
 * g's home. RB_E_PARSE if gpg found no certificate to import, RB_E_IO if
 * it found one but could not write the keyring (the detail names gpg's
 * system error: a full disk, a read-only directory), RB_E_AGAIN if gpg
 * could not run. */
int gpgsig_import(struct gpgsig *g, const uint8_t *cert, size_t len);

/* The verifying keyring of the sign node and the guard: create homedir
 * 0700 (mkdir -p), lock it (homedir/GPGSIG_KEYRING_LOCK, held until
 * gpgsig_free; another process that opens the same keyring waits), open
 * it, import every node's and approver's publicKey file from cfg (each
 * must contain the configured primary fingerprint; RB_E_VERIFY otherwise)
 * and, if m is not NULL, the manifest's `queue` key certificate
 * (manifest_key.openpgp). RB_E_IO if gpg cannot write the keyring (a full
 * disk), RB_E_AGAIN if gpg could not run. */
int gpgsig_open_keyring(const char *homedir, const struct sign_config *cfg,
			const struct manifest *m, struct gpgsig **ret);

/* Armored detached signature over data by the secret key whose (primary
 * or subkey) fingerprint is signer_fpr, as git stores in a commit's
 * gpgsig header. *ret_armored is NUL-terminated. RB_E_KEY if there is no
 * usable secret key, RB_E_CRYPTO if signing failed. */
int gpgsig_sign_detached(struct gpgsig *g, const char *signer_fpr, const uint8_t *data, size_t len,
			 char **ret_armored, size_t *ret_len);

/* Verify a detached signature (armored or binary, at most
 * GPGSIG_MAX_SIG_BYTES) over data. Succeeds only if there is exactly one
 * signature, it is good, and its key is not revoked, expired or disabled.
 * *ret_primary_fpr (41 bytes, upper-case hex) is the fingerprint of the
 * primary key, also when a subkey made the signature.
 * RB_E_KEY ("signed by unknown key <fpr>") if the key is not in the
 * keyring, RB_E_VERIFY for a bad, multiple, expired or revoked signature,
 * RB_E_PARSE for something that is not a signature: verdicts on the
 * signature. RB_E_AGAIN if gpg could not run (fork failed, out of memory
 * or pipes) and RB_E_NOMEM are no verdict: the caller must try again
 * later, never refuse the signature for them. */
int gpgsig_verify_detached(struct gpgsig *g, const uint8_t *sig, size_t siglen, const uint8_t *data,
			   size_t len, char ret_primary_fpr[GPGSIG_FPR_HEX + 1]);

void gpgsig_free(struct gpgsig *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gpgsig *, gpgsig_free)
#define _cleanup_gpgsig_ _cleanup_(gpgsig_freep)

#endif
