/* The wrapped key store (docs/formats/wrapped-key.md).
 *
 * Real deployments have more signing keys than an HSM holds. A wrapped key
 * lives outside the HSM only as a blob that the HSM's wrap key (AES-256,
 * P11_WRAP_KEY_LABEL, never extractable) encrypted with C_WrapKey and
 * CKM_AES_KEY_WRAP_PAD (RFC 5649). The store is a directory with one
 * metadata file per key, NAME.json ("rombsr-wrapped-key", version 1):
 * name, CKA_ID, algorithm, public key, the wrap key's fingerprint, the
 * mechanism, the creation time and the blob. It holds nothing usable
 * without the HSM, so it is backed up like any file.
 *
 * Files are written atomically and never replaced: adding a name that
 * exists is RB_E_EXISTS and leaves the old file untouched.
 *
 * The metadata is untrusted input (it comes from backups and other
 * machines): wrap_meta_parse() caps every size, rejects unknown keys and
 * trailing data, and cross-checks spki_sha256 against spki. Whether the
 * blob is authentic is decided by the HSM (RFC 5649's integrity check), by
 * the fingerprint check against the token's wrap key, and by the
 * self-check of every signature against the metadata's public key.
 *
 * Signing with wrapped keys goes through the PKCS#11 core: see
 * p11_token_set_wrapped_store() in p11/p11.h.
 *
 * Ownership: wrap_meta_parse/load/new and wrap_key_generate/export return
 * a struct wrap_meta the caller frees with wrap_meta_free() (accepts NULL);
 * everything inside it is owned by it.
 */
#ifndef ROMBSR_P11_WRAP_H
#define ROMBSR_P11_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/signer.h"
#include "p11/p11.h"
#include "util/buf.h"
#include "util/cleanup.h"

#define WRAP_META_FORMAT "rombsr-wrapped-key"
#define WRAP_META_VERSION 1
#define WRAP_META_MAX_BYTES (64 * 1024)  /* a whole metadata file */
#define WRAP_BLOB_MAX P11_WRAPPED_MAX    /* RSA-4096 PKCS#8 wrapped: ~2.4 KiB */
#define WRAP_SPKI_MAX 2048               /* RSA-4096 SPKI: 550 bytes */
#define WRAP_ID_MAX 64                   /* CKA_ID bytes */
#define WRAP_NAME_MAX 64                 /* [a-z0-9_-], as key names elsewhere */
#define WRAP_MECHANISM_NAME "CKM_AES_KEY_WRAP_PAD"
#define WRAP_STORE_DEFAULT_DIR "wrapped" /* the store inside a rombsr state directory */

struct wrap_meta {
	char *name;
	uint8_t *id;                         /* CKA_ID */
	size_t id_len;
	enum rb_key_alg alg;
	unsigned bits;                       /* RSA modulus bits; 256 P-256; 255 Ed25519 */
	uint8_t *spki;                       /* DER SubjectPublicKeyInfo */
	size_t spki_len;
	uint8_t spki_sha256[32];
	uint8_t wrap_fpr[P11_WRAP_FPR_LEN];  /* p11_token_wrap_key_fingerprint() */
	int64_t created;                     /* Unix time */
	uint8_t *blob;                       /* C_WrapKey output */
	size_t blob_len;
	EVP_PKEY *pub;                       /* parsed from spki */
};

/* Parse and cross-check one metadata document; source (a path) names it
 * in error details. RB_E_PARSE / RB_E_TOOBIG / RB_E_UNSUPPORTED (unknown
 * format version or mechanism) / RB_E_VERIFY (spki_sha256 mismatch, or
 * algorithm/bits disagree with the public key). */
int wrap_meta_parse(const char *text, size_t len, const char *source, struct wrap_meta **ret);
/* Serialise (pretty JSON, final newline) into out. */
int wrap_meta_emit(const struct wrap_meta *m, struct rb_buf *out);
/* Build metadata from its parts (copied); derives spki, spki_sha256,
 * alg and bits from pub. RB_E_INVAL for a bad name or oversized part. */
int wrap_meta_new(const char *name, const uint8_t *id, size_t id_len, EVP_PKEY *pub,
		  const uint8_t fpr[P11_WRAP_FPR_LEN], int64_t created, const uint8_t *blob,
		  size_t blob_len, struct wrap_meta **ret);
void wrap_meta_free(struct wrap_meta *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct wrap_meta *, wrap_meta_free)
#define _cleanup_wrap_meta_ _cleanup_(wrap_meta_freep)

/* True if name is a valid wrapped key name ([a-z0-9_-], 1..64): it is a
 * file name in the store, so nothing else is ever accepted. */
int wrap_name_valid(const char *name);
/* DIR/NAME.json; caller frees. RB_E_INVAL for an invalid name. */
int wrap_store_path(const char *dir, const char *name, char **ret);
/* Load and parse DIR/NAME.json. RB_E_NOTFOUND (no detail set) if absent. */
int wrap_store_load(const char *dir, const char *name, struct wrap_meta **ret);
/* Write DIR/m->name.json atomically (temp file, fsync, link, fsync dir);
 * RB_E_EXISTS if it exists, which is never replaced. Creates DIR (0755). */
int wrap_store_add(const char *dir, const struct wrap_meta *m);

/* Generate a key pair on t as session objects, wrap the private half under
 * the token's wrap key, destroy both objects, and add NAME.json to dir.
 * The private key never exists as a token object. id may be NULL for 16
 * random bytes. RB_E_EXISTS (nothing generated) if NAME.json exists. */
int wrap_key_generate(struct p11_token *t, const char *dir, const char *name, const uint8_t *id,
		      size_t id_len, enum rb_key_alg alg, unsigned bits, int64_t now,
		      struct wrap_meta **ret);
/* Export the resident key NAME to dir. Only keys created extractable can
 * be wrapped; the default key set is not (RB_E_PERM, with a detail saying
 * to generate the key with 'rombsr keys gen --wrapped'). */
int wrap_key_export(struct p11_token *t, const char *dir, const char *name, int64_t now,
		    struct wrap_meta **ret);

#endif
