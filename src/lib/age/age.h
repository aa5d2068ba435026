/* age v1 file encryption (C2SP age), on OpenSSL 3.
 *
 * What rombsr implements of age (docs/formats/age.md):
 *   - recipients: X25519 (`age1...`), ssh-ed25519 (an OpenSSH public key
 *     line) and scrypt passphrases (the scrypt stanza must be the only one);
 *   - identities: `AGE-SECRET-KEY-1...` lines (an age identity file:
 *     comments and blank lines allowed) and unencrypted OpenSSH ed25519
 *     private keys; encrypted OpenSSH keys are refused with RB_E_UNSUPPORTED;
 *   - the header with its HMAC, the STREAM payload, and ASCII armor
 *     (always accepted on decrypt, optional on encrypt).
 * Key ceremony share files are small, so plaintexts are whole buffers of
 * at most AGE_MAX_PLAINTEXT bytes (AGE_MAX_SECRET_PLAINTEXT when the
 * output is an rb_secret).
 *
 * Errors. Every decryption failure falls in one class of the CCTV
 * vectors; the return code and age_last_failure() both name it:
 *     RB_E_KEY     AGE_FAIL_NO_MATCH   no identity/passphrase opens a stanza
 *     RB_E_PARSE   AGE_FAIL_HEADER     malformed or unsupported header,
 *                                      bad stanza, low-order share, scrypt
 *                                      work factor over the cap
 *     RB_E_VERIFY  AGE_FAIL_HMAC       header MAC does not verify
 *     RB_E_CRYPTO  AGE_FAIL_PAYLOAD    a payload chunk fails to open, is
 *                                      truncated, or data trails the end
 *     RB_E_PARSE   AGE_FAIL_ARMOR      malformed ASCII armor
 * Caller mistakes are RB_E_INVAL, caps RB_E_TOOBIG, memory RB_E_NOMEM
 * (AGE_FAIL_OTHER). Nothing is released before the whole payload has been
 * authenticated: on failure no plaintext is returned.
 *
 * Secrets: identities, passphrases, file keys, shared secrets and derived
 * keys only ever live in rb_secret buffers or are wiped before return.
 */
#ifndef ROMBSR_AGE_AGE_H
#define ROMBSR_AGE_AGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rb_secret;

#define AGE_MAX_PLAINTEXT (64u * 1024 * 1024)
/* rb_secret buffers are capped at 1 MiB by util/secret.h. */
#define AGE_MAX_SECRET_PLAINTEXT (1024u * 1024 - 1)
/* Largest age file age_decrypt*() reads: the payload plus its chunk tags,
 * plus a generous header allowance, possibly armored. */
#define AGE_MAX_INPUT (96u * 1024 * 1024)
/* scrypt: age's default work factor, the default and the absolute cap on
 * what decryption accepts (2^20 needs 1 GiB of memory; 2^22, 4 GiB). */
#define AGE_SCRYPT_DEFAULT_LOG_N 18
#define AGE_SCRYPT_DEFAULT_MAX_LOG_N 20
#define AGE_SCRYPT_MAX_LOG_N 22
/* At most this many stanzas in a header and recipients in one call. */
#define AGE_MAX_STANZAS 64

enum age_failure {
	AGE_FAIL_NONE = 0,
	AGE_FAIL_NO_MATCH,
	AGE_FAIL_HEADER,
	AGE_FAIL_HMAC,
	AGE_FAIL_PAYLOAD,
	AGE_FAIL_ARMOR,
	AGE_FAIL_OTHER,
};

/* The class of the calling thread's last age_decrypt*() result
 * (AGE_FAIL_NONE after a success). */
enum age_failure age_last_failure(void);
/* "no match", "header failure", ... as in the CCTV `expect` lines. */
const char *age_failure_name(enum age_failure f);

struct age_encrypt_opts {
	/* Recipients as text: "age1..." or "ssh-ed25519 AAAA... [comment]".
	 * Mutually exclusive with passphrase. */
	const char *const *recipients;
	size_t n_recipients;
	/* Passphrase (scrypt recipient); NULL when recipients are used. */
	const struct rb_secret *passphrase;
	/* scrypt work factor; 0 means AGE_SCRYPT_DEFAULT_LOG_N. */
	unsigned scrypt_log_n;
	/* Write `-----BEGIN AGE ENCRYPTED FILE-----` armor. */
	bool armor;
};

/* Encrypt len bytes (at most AGE_MAX_PLAINTEXT) to the recipients or the
 * passphrase. *ret (caller frees with free()) is the age file; it holds
 * no secret. */
int age_encrypt(const uint8_t *plaintext, size_t len, const struct age_encrypt_opts *opts,
		uint8_t **ret, size_t *ret_len);

struct age_decrypt_opts {
	/* Each entry is the text of one identity file: age identities
	 * (`AGE-SECRET-KEY-1...` lines, '#' comments, blank lines) or one
	 * unencrypted OpenSSH ed25519 private key. Borrowed. */
	const struct rb_secret *const *identities;
	size_t n_identities;
	/* Passphrase for an scrypt stanza; may be set together with
	 * identities. Borrowed. */
	const struct rb_secret *passphrase;
	/* Highest scrypt work factor accepted; 0 means
	 * AGE_SCRYPT_DEFAULT_MAX_LOG_N, never more than AGE_SCRYPT_MAX_LOG_N. */
	unsigned scrypt_max_log_n;
	/* Require ASCII armor. When false, armor is detected: leading
	 * whitespace, then "-----". */
	bool armored;
};

/* Decrypt an age file (binary or armored). *ret (caller frees with free())
 * gets the plaintext, NUL-terminated but not counted in *ret_len; use this
 * for public data only. */
int age_decrypt(const uint8_t *in, size_t len, const struct age_decrypt_opts *opts,
		uint8_t **ret, size_t *ret_len);
/* Same, with the plaintext (at most AGE_MAX_SECRET_PLAINTEXT bytes) in a
 * new rb_secret the caller frees with rb_secret_free(). */
int age_decrypt_secret(const uint8_t *in, size_t len, const struct age_decrypt_opts *opts,
		       struct rb_secret **ret);

/* Generate an X25519 identity: *ret_identity (rb_secret_free) holds
 * "AGE-SECRET-KEY-1...", *ret_recipient (free) the matching "age1...". */
int age_x25519_generate(struct rb_secret **ret_identity, char **ret_recipient);

/* The recipient of the first identity in an identity file's text:
 * "age1..." for an X25519 identity, "ssh-ed25519 AAAA..." for an OpenSSH
 * key. Caller frees *ret with free(). */
int age_identity_to_recipient(const struct rb_secret *identity, char **ret);

/* Check a recipient string without encrypting (same rules as
 * age_encrypt()). */
int age_recipient_check(const char *recipient);

#endif
