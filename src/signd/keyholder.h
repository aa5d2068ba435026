/* The orchestrator's side of the key holder (rombsr-signer, src/signer).
 *
 * keyholder_start() starts rombsr-signer with a socketpair on its fd 3
 * and waits until it has opened the token, logged in and checked the
 * queue and audit keys. From then on the orchestrator signs only through
 * it: it never loads the PKCS#11 module and never reads the PIN.
 *
 * The program is $ROMBSR_SIGNER if set, else rombsr-signer next to the
 * running program, else ROMBSR_LIBEXECDIR/rombsr-signer (where `make
 * install` puts it).
 *
 * A key holder that dies or stops answering is RB_E_GONE, as a token that
 * went away: the orchestrator closes it and starts a new one before its
 * next batch. Its refusals and the token's errors come back as the
 * rb_err and detail it sent.
 *
 * Ownership: keyholder_stop() closes the socket, waits for the process
 * and frees (accepts NULL). Signatures are malloc()ed, caller frees.
 */
#ifndef ROMBSR_SIGND_KEYHOLDER_H
#define ROMBSR_SIGND_KEYHOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "signer/wire.h"

struct keyholder;

/* config: sign.conf's absolute path (the key holder reads it itself). On
 * failure the key holder's own error (RB_E_PIN for a refused PIN ...). */
int keyholder_start(const char *config, struct keyholder **ret);
void keyholder_stop(struct keyholder *kh);
/* The token label the key holder opened. */
const char *keyholder_token_label(const struct keyholder *kh);
pid_t keyholder_pid(const struct keyholder *kh);

int keyholder_sign(struct keyholder *kh, enum signer_purpose purpose, const char *key, const char *node,
		   enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen, uint32_t placeholder_len,
		   uint8_t **ret_sig, size_t *ret_len);
/* RB_OK if key is still on the token, RB_E_GONE if the token went away. */
int keyholder_probe(struct keyholder *kh, const char *key);
/* Sessions the key holder has open on the token (0 if it cannot say). */
unsigned keyholder_open_sessions(struct keyholder *kh);

/* An rb_signer for one manifest key and purpose, for the formats that
 * sign through one (OpenPGP, signed notes). node may change between
 * signatures (an OpenPGP key serves every node's requests). */
struct keyholder_key {
	struct keyholder *kh;
	enum signer_purpose purpose;
	const char *key;             /* borrowed: the manifest key's name */
	const char *node;            /* borrowed; "" for the queue and audit keys */
	EVP_PKEY *pub;               /* borrowed: the manifest key's (set by keyholder_key_signer) */
};
/* Fill *ret (its pub is mk's public key, borrowed) to sign through ref,
 * which must outlive it. */
void keyholder_key_signer(struct keyholder_key *ref, const struct manifest_key *mk, struct rb_signer *ret);

#endif
