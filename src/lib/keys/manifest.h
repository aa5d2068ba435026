/* The key manifest: everything a build node may know about the keys
 * (docs/formats/manifest.md). Format "rombsr-key-manifest", version 2;
 * version 1, which has no purposes, is still read and its keys get
 * key_purposes_legacy() of their purpose tag (never everything).
 *
 * It is public data - SPKI, certificates, fingerprints, URIs, status - and
 * it travels to untrusted build nodes, so manifest_parse() checks that the
 * document is internally consistent: every certificate carries the key's
 * SPKI, and every fingerprint matches what it is a fingerprint of.
 *
 * Ownership: manifest_parse/load return a manifest the caller frees with
 * manifest_free() (accepts NULL); all strings, buffers and EVP_PKEYs
 * inside are owned by it.
 */
#ifndef ROMBSR_KEYS_MANIFEST_H
#define ROMBSR_KEYS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/signer.h"
#include "keys/purpose.h"
#include "util/buf.h"

#define MANIFEST_FORMAT "rombsr-key-manifest"
#define MANIFEST_VERSION 2     /* written; version 1 (no purposes) is still read */
#define MANIFEST_VERSION_MIN 1
#define MANIFEST_MAX_BYTES (32 * 1024 * 1024)
#define MANIFEST_MAX_KEYS 4096

enum key_status {
	KEY_ACTIVE = 1,  /* may sign */
	KEY_RETIRED = 2, /* superseded by rotation; verifies old artifacts, never signs */
	KEY_REVOKED = 3, /* compromised or withdrawn; never signs, never trusted */
};

const char *key_status_name(enum key_status s);
int key_status_parse(const char *s, enum key_status *ret);

struct manifest_key {
	char *name;
	uint8_t *id;             /* CKA_ID */
	size_t id_len;
	char *uri;               /* pkcs11: URI of the private key object */
	enum rb_key_alg alg;
	unsigned bits;
	char *purpose;
	unsigned purposes;       /* enum key_purpose bits (keys/purpose.h) */
	enum key_status status;
	int64_t created;         /* Unix time; also the OpenPGP key creation time */
	uint8_t *spki;           /* DER SubjectPublicKeyInfo */
	size_t spki_len;
	uint8_t *cert;           /* DER X.509 certificate */
	size_t cert_len;
	uint8_t *openpgp;        /* binary OpenPGP certificate (transferable public key) */
	size_t openpgp_len;
	uint8_t spki_sha256[32]; /* rombsr's key fingerprint */
	uint8_t cert_sha256[32];
	uint8_t openpgp_fpr[20]; /* OpenPGP v4 fingerprint */
	char *revocation_reason; /* set when status is revoked, else NULL */
	/* Rotation lineage (optional, may be NULL): names of keys in the same
	 * manifest. A reader checks the links are reciprocal and that a key
	 * with a successor is not active (admin/lifecycle.h). */
	char *predecessor;
	char *successor;
	EVP_PKEY *pub;           /* parsed from spki */
};

struct manifest {
	int64_t generated;
	char *token_label;
	char *token_uri;
	char *token_model;
	struct manifest_key *keys;
	size_t n_keys;
};

/* Parse and cross-check a manifest; source names it in error details. */
int manifest_parse(const char *text, size_t len, const char *source, struct manifest **ret);
int manifest_load(const char *path, struct manifest **ret);
/* Serialise (pretty JSON) into out. */
int manifest_emit(const struct manifest *m, struct rb_buf *out);
/* Atomically write the manifest to path (0644). */
int manifest_save(const struct manifest *m, const char *path);
/* The key named name, or NULL. */
struct manifest_key *manifest_find(const struct manifest *m, const char *name);
/* Fill the derived fields of k (spki_sha256, cert_sha256, pub) from spki
 * and cert; used by provisioning before adding a key. */
int manifest_key_derive(struct manifest_key *k);
/* Free the contents of one key (not k itself). */
void manifest_key_clear(struct manifest_key *k);
void manifest_free(struct manifest *m);

#endif
