/* OpenPGP v4 writer for keys that live behind an rb_signer (an HSM).
 *
 * rombsr emits exactly what docs/formats/openpgp.md describes:
 *   - transferable public keys (certificates): public-key packet, one user
 *     ID, one positive certification (0x13) self-signature;
 *   - detached v4 signatures over binary (0x00) or canonical text (0x01)
 *     documents.
 * Keys are RSA (algorithm 1) or Ed25519 as EdDSALegacy (algorithm 22,
 * curve OID 1.3.6.1.4.1.11591.15.1), because GnuPG 2.2 does not know the
 * RFC 9580 Ed25519 algorithm 27. Hashes are SHA-256 and SHA-512.
 *
 * This code never sees a private key: it builds the bytes to be signed
 * itself, hashes them, asks the signer for a signature over the digest,
 * and re-parses and verifies the packet it built against the public key
 * before handing it out. On any failure nothing is appended to the output.
 *
 * Ownership:
 *   struct pgp_key      pgp_key_new() allocates, pgp_key_free() frees
 *                       (accepts NULL). It borrows the rb_signer, which
 *                       must outlive it.
 *   struct pgp_sig_ctx  caller-allocated (stack is fine). After
 *                       pgp_sig_init*() - whether it succeeded or not - the
 *                       caller calls pgp_sig_ctx_clear(), which also
 *                       accepts a zeroed ctx. The key must outlive it.
 *   struct rb_buf *out  every writer appends to it; the caller owns and
 *                       frees it with rb_buf_free().
 */
#ifndef ROMBSR_PGP_PGP_H
#define ROMBSR_PGP_PGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/signer.h"
#include "util/buf.h"
#include "util/cleanup.h"

enum pgp_pk_algo {
	PGP_PK_RSA = 1,
	PGP_PK_EDDSA_LEGACY = 22,
};

enum pgp_hash_algo {
	PGP_HASH_SHA256 = 8,
	PGP_HASH_SHA512 = 10,
};

enum pgp_sig_type {
	PGP_SIG_BINARY = 0x00,         /* binary document */
	PGP_SIG_TEXT = 0x01,           /* canonical text document (CRLF) */
	PGP_SIG_POSITIVE_CERT = 0x13,  /* self-signature; pgp_cert_write only */
};

#define PGP_FPR_LEN 20
#define PGP_KEYID_LEN 8
/* Longest user ID pgp_cert_write accepts, in bytes. */
#define PGP_USER_ID_MAX 1024

/* Armor types pgp_armor/pgp_dearmor accept. */
#define PGP_ARMOR_SIGNATURE "PGP SIGNATURE"
#define PGP_ARMOR_PUBLIC_KEY "PGP PUBLIC KEY BLOCK"
#define PGP_ARMOR_MESSAGE "PGP MESSAGE"

/* ---- keys ------------------------------------------------------------ */

/* A v4 public key derived from a signer's public key. Read-only after
 * pgp_key_new(). */
struct pgp_key {
	const struct rb_signer *signer; /* borrowed */
	enum pgp_pk_algo algo;
	uint32_t creation_time;
	uint8_t fpr[PGP_FPR_LEN];     /* SHA-1 over 0x99 || len || body */
	uint8_t keyid[PGP_KEYID_LEN]; /* low 64 bits of fpr */
	uint8_t *body;                /* public-key packet body; owned */
	size_t body_len;
};

/* Build the v4 public key of signer (RSA 2048..16384 bits or Ed25519).
 * creation_time (seconds since the epoch, 0..2^32-1) is part of the
 * fingerprint, so pass the key's recorded creation time, never "now".
 * RB_E_UNSUPPORTED for other key types. Free with pgp_key_free(). */
int pgp_key_new(const struct rb_signer *signer, int64_t creation_time, struct pgp_key **ret);
void pgp_key_free(struct pgp_key *key);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pgp_key *, pgp_key_free)

/* Uppercase hex of the 20-byte fingerprint (gpg's spelling, 40 chars,
 * NUL-terminated); the caller frees *ret. */
int pgp_key_fingerprint_hex(const struct pgp_key *key, char **ret);

/* Append the public-key packet (tag 6) alone. */
int pgp_key_write_packet(const struct pgp_key *key, struct rb_buf *out);

/* ---- certificates ---------------------------------------------------- */

/* Append a transferable public key for signer's key:
 *   public-key packet, user ID packet, positive certification (0x13) with
 *   SHA-512 and hashed subpackets creation time, issuer fingerprint, key
 *   flags (certify+sign), features, preferred hashes (SHA-512, SHA-256),
 *   and the issuer key ID unhashed.
 * user_id: UTF-8 without control characters, 1..PGP_USER_ID_MAX bytes,
 * e.g. "rombsr release key <release@example.org>".
 * sig_time must not be before creation_time. */
int pgp_cert_write(const struct rb_signer *signer, int64_t creation_time, const char *user_id,
		   int64_t sig_time, struct rb_buf *out);

/* ---- detached signatures --------------------------------------------- */

/* The state of one signature being made. Treat the fields as private. */
struct pgp_sig_ctx {
	const struct pgp_key *key;
	EVP_MD_CTX *md;       /* data hashed so far */
	struct rb_buf hashed; /* version .. hashed subpackets, hashed last */
	enum pgp_sig_type type;
	enum pgp_hash_algo hash;
	bool text_cr;         /* text mode: the last byte fed was a CR */
	int state;
};

/* Start a detached signature of type PGP_SIG_BINARY or PGP_SIG_TEXT made
 * at sig_time (seconds since the epoch, not before the key's creation
 * time). Feed the document with pgp_sig_update(). */
int pgp_sig_init(struct pgp_sig_ctx *ctx, const struct pgp_key *key, enum pgp_sig_type type,
		 enum pgp_hash_algo hash, int64_t sig_time);

/* Start a binary-document signature from a hash state that already holds
 * the document (e.g. rebuilt from a remote client's unfinalized SHA-256 /
 * SHA-512 state). The state is copied; the caller keeps and frees its own.
 * The hash algorithm is taken from the state. A finalized digest cannot be
 * used: OpenPGP hashes its trailer after the document. */
int pgp_sig_init_from_state(struct pgp_sig_ctx *ctx, const struct pgp_key *key,
			    const EVP_MD_CTX *state, int64_t sig_time);

/* Hash more document bytes. For PGP_SIG_TEXT, LF line endings are hashed
 * as CRLF; a CR that is not followed by LF is RB_E_INVAL, since
 * implementations disagree on what it means. */
int pgp_sig_update(struct pgp_sig_ctx *ctx, const void *data, size_t len);

/* The running hash, for callers that feed it directly (binary documents
 * only; NULL for text or a finished ctx). Borrowed: do not finalize,
 * reset or free it. */
EVP_MD_CTX *pgp_sig_md(struct pgp_sig_ctx *ctx);

/* Hash the v4 trailer, sign the digest through the key's signer, build
 * the signature packet (tag 2), re-parse it and verify it against the
 * public key, then append it to out. The ctx is spent afterwards
 * (RB_E_STATE on reuse), whatever the result. */
int pgp_sig_finish(struct pgp_sig_ctx *ctx, struct rb_buf *out);

/* Free the hash state. Accepts NULL and a zeroed or spent ctx. */
void pgp_sig_ctx_clear(struct pgp_sig_ctx *ctx);

/* One-shot helpers: append a detached signature over data / over
 * everything read from fd until EOF (fd is not closed). */
int pgp_sign_buffer(const struct pgp_key *key, enum pgp_sig_type type, enum pgp_hash_algo hash,
		    int64_t sig_time, const void *data, size_t len, struct rb_buf *out);
int pgp_sign_fd(const struct pgp_key *key, enum pgp_sig_type type, enum pgp_hash_algo hash,
		int64_t sig_time, int fd, struct rb_buf *out);

/* Verify one binary detached signature packet (type 0x00 or 0x01) made by
 * key over data. RB_E_VERIFY if it does not verify, RB_E_PARSE if it is
 * malformed, RB_E_UNSUPPORTED for algorithms or critical subpackets this
 * code does not handle. Meant for self-checks and tests; verifying
 * third-party signatures is gpg/sq's job. */
int pgp_sig_verify_buffer(const struct pgp_key *key, const uint8_t *sig, size_t siglen,
			  const void *data, size_t len);

/* Parse one signature packet and verify it by key, requiring signature
 * type want_type, over what state holds (the document, unfinalized, as
 * pgp_sig_init_from_state takes it, or key + user ID); the state is
 * copied, not changed. RB_E_INVAL if the state's hash is not the
 * signature's. */
int pgp_sig_verify_state(const struct pgp_key *key, const uint8_t *pkt, size_t len,
			 const EVP_MD_CTX *state, enum pgp_sig_type want_type);

/* ---- ASCII armor ----------------------------------------------------- */

/* Append the armored form of data: BEGIN line, empty header block (no
 * Version:), base64 in 64-column lines, "=" CRC-24 line, END line, all
 * LF-terminated. type is one of the PGP_ARMOR_* strings. */
int pgp_armor(const char *type, const uint8_t *data, size_t len, struct rb_buf *out);

/* Decode armor of the given type (headers are skipped, the CRC-24 is
 * checked when present, CRLF is accepted, nothing but blank lines may
 * follow the END line) and append the binary to out. */
int pgp_dearmor(const char *type, const char *text, size_t len, struct rb_buf *out);

#endif
