/* C2SP signed-note and tlog-checkpoint.
 *
 * A signed note is UTF-8 text ending in a newline, a blank line, then one
 * or more lines "\u2014 <name> <base64(key id[4] || signature)>\n". rombsr
 * signs notes with Ed25519 keys only (signature type 0x01):
 *
 *   key id       = SHA-256(name || 0x0A || 0x01 || public key)[:4]
 *   verifier key = "<name>+<hex key id>+<base64(0x01 || public key)>"
 *
 * note_verify() ignores signatures from unknown keys, and rejects the note
 * if a known key's signature is bad (or appears twice) or if no known key
 * signed it. A checkpoint is a note whose text is the origin line, the tree
 * size in decimal without leading zeros, the base64 root hash, then
 * optional extension lines.
 *
 * All parsers take untrusted bytes: sizes are capped (NOTE_MAX_BYTES,
 * NOTE_MAX_SIGS) and anything malformed is RB_E_PARSE; a signature that
 * does not verify is RB_E_VERIFY.
 *
 * Ownership: every struct returned through ret_* is the caller's and is
 * freed with its *_free() function (all accept NULL); char ** outputs are
 * freed with free().
 */
#ifndef ROMBSR_AUDIT_NOTE_H
#define ROMBSR_AUDIT_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit/merkle.h"
#include "crypto/signer.h"
#include "util/cleanup.h"

#define NOTE_MAX_BYTES (64u * 1024)
#define NOTE_MAX_SIGS 64
#define NOTE_MAX_NAME 256
#define NOTE_KEY_ID_LEN 4
#define NOTE_ALG_ED25519 0x01

struct note_verifier {
	char *name;
	uint8_t key_id[NOTE_KEY_ID_LEN];
	uint8_t pub[32];     /* Ed25519 public key */
	EVP_PKEY *pkey;      /* the same key, for OpenSSL */
};

/* Parse "name+hex+base64". RB_E_PARSE if malformed, RB_E_UNSUPPORTED for a
 * key type other than Ed25519, RB_E_VERIFY if the key id does not match. */
int note_verifier_parse(const char *vkey, struct note_verifier **ret);
/* A verifier for an Ed25519 EVP_PKEY (e.g. the manifest's `audit` key)
 * under name (the log origin). pub is not taken over. */
int note_verifier_from_pkey(const char *name, EVP_PKEY *pub, struct note_verifier **ret);
/* Format v as a verifier key string; caller frees. */
int note_verifier_format(const struct note_verifier *v, char **ret);
void note_verifier_free(struct note_verifier *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct note_verifier *, note_verifier_free)

/* SHA-256(name || "\n" || 0x01 || pub)[:4]. */
void note_key_id(const char *name, const uint8_t pub[32], uint8_t ret[NOTE_KEY_ID_LEN]);

struct note_sig {
	char *name;
	uint8_t key_id[NOTE_KEY_ID_LEN];
	uint8_t *sig;        /* signature after the key id */
	size_t sig_len;
};

struct note {
	char *text;          /* the signed text, NUL-terminated, ends in '\n' */
	size_t text_len;
	struct note_sig *sigs;
	size_t n_sigs;
};

/* Split a note into text and signature lines, checking the syntax only
 * (no signature is checked). */
int note_parse(const void *msg, size_t len, struct note **ret);
/* Parse msg and verify it against the n verifiers in vs. On success
 * *ret (optional, may be NULL) is the parsed note. */
int note_verify(const void *msg, size_t len, struct note_verifier *const *vs, size_t n,
		struct note **ret);
/* Sign text (which must end in '\n' and be valid note text) as name with
 * an Ed25519 signer; the result is the whole note, NUL-terminated. The
 * signature is verified before it is returned. */
int note_sign(const char *text, const char *name, const struct rb_signer *signer, char **ret);
void note_free(struct note *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct note *, note_free)

#define CHECKPOINT_MAX_EXT 16

struct checkpoint {
	char *origin;
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	char *ext[CHECKPOINT_MAX_EXT]; /* extension lines without '\n' */
	size_t n_ext;
};

/* Parse checkpoint text (the text of a note, not the signed note). */
int checkpoint_parse(const char *text, size_t len, struct checkpoint **ret);
/* "origin\nsize\nbase64(root)\n"; caller frees. */
int checkpoint_format(const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
		      char **ret);
/* Verify a signed checkpoint with v, whose name must be the origin, and
 * parse its text. The one call auditors and devices need. */
/* Whether the checkpoint note text (NUL-terminated) names origin on its
 * first line: cheap, before any parse or signature check, to tell one
 * sign node's checkpoints from another's. */
bool checkpoint_origin_is(const char *text, const char *origin);
int checkpoint_verify(const void *msg, size_t len, const struct note_verifier *v,
		      struct checkpoint **ret);
void checkpoint_free(struct checkpoint *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct checkpoint *, checkpoint_free)

/* A log origin: 1..NOTE_MAX_NAME printable ASCII bytes, no spaces, no '+'
 * (so it can name the signing key too). */
int note_name_valid(const char *name);

#endif
