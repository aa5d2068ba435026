/* The key spec: which keys a deployment has (docs/formats/keyspec.md).
 *
 * A key spec is JSON, format "rombsr-keyspec", version 2 (1 is still read;
 * its keys get key_purposes_legacy() of their purpose tag). It is read from a
 * file an administrator edits, so every field is validated and every error
 * names the file, the key and the field. keyspec_default() returns the
 * built-in default set (ten RSA-4096 Android/AVB/OTA keys, the RSA-4096
 * OpenPGP release key, the Ed25519 queue and audit keys).
 *
 * Ownership: keyspec_parse/load/default return a struct the caller frees
 * with keyspec_free() (accepts NULL). Strings inside are owned by it.
 */
#ifndef ROMBSR_KEYS_KEYSPEC_H
#define ROMBSR_KEYS_KEYSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"

#define KEYSPEC_FORMAT "rombsr-keyspec"
#define KEYSPEC_VERSION 2        /* written; version 1 (no purposes) is still read */
#define KEYSPEC_VERSION_MIN 1
#define KEYSPEC_MAX_KEYS 1024
#define KEYSPEC_MAX_BYTES (1024 * 1024)
#define KEY_NAME_MAX 64

struct keyspec_key {
	char *name;          /* [a-z0-9_-], 1..64 chars, unique */
	enum rb_key_alg alg;
	unsigned bits;       /* RSA modulus size; 256 / 255 for EC / Ed25519 */
	char *purpose;       /* free-form tag: "android", "avb", "ota", "queue", "audit", ... */
	unsigned purposes;   /* enum key_purpose bits (keys/purpose.h), checked */
	char *subject;       /* X.509 subject, "/C=US/.../CN=..." */
	int64_t validity_days;
	char *openpgp_uid;   /* User ID for the OpenPGP certificate (admin/certify.h) */
};

struct keyspec {
	struct keyspec_key *keys;
	size_t n_keys;
};

/* Parse text; source names the input in error details (a path). */
int keyspec_parse(const char *text, size_t len, const char *source, struct keyspec **ret);
int keyspec_load(const char *path, struct keyspec **ret);
int keyspec_default(struct keyspec **ret);
/* The default spec's JSON text (static storage). */
const char *keyspec_default_text(void);
void keyspec_free(struct keyspec *ks);

/* Parse "rsa-4096", "rsa-2048", "rsa-3072", "ec-p256", "ed25519". */
int key_algorithm_parse(const char *s, enum rb_key_alg *ret_alg, unsigned *ret_bits);
/* Inverse of key_algorithm_parse into buf ("rsa-4096"). */
const char *key_algorithm_format(enum rb_key_alg alg, unsigned bits, char buf[16]);
/* True if name is a valid key name. */
int key_name_valid(const char *name);

#endif
