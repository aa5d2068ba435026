/* Internals of src/lib/age shared between its files (not installed). */
#ifndef ROMBSR_AGE_INTERNAL_H
#define ROMBSR_AGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"

struct rb_buf;
struct rb_secret;

#define AGE_FILE_KEY_LEN 16
#define AGE_TAG_LEN 16
#define AGE_CHUNK_LEN 65536
#define AGE_ENC_CHUNK_LEN (AGE_CHUNK_LEN + AGE_TAG_LEN)
#define AGE_NONCE_LEN 16
#define AGE_MAC_LEN 32
#define AGE_MAX_ARGS 16
#define AGE_MAX_LINE 8192
#define AGE_MAX_BODY 16384
#define AGE_SSH_WIRE_LEN 51 /* string "ssh-ed25519" || string pk[32] */

/* Record the failure class for age_last_failure() and return err. */
int age_fail(enum age_failure f, int err);

/* ---- header ---- */
struct age_stanza {
	char *args[AGE_MAX_ARGS]; /* args[0] is the type */
	size_t nargs;
	uint8_t *body;
	size_t body_len;
};

struct age_header {
	struct age_stanza *stanzas;
	size_t n;
	size_t mac_covered; /* bytes from the start up to and including "---" */
	size_t len;         /* whole header, through the MAC line's newline */
	uint8_t mac[AGE_MAC_LEN];
};

/* Parse the header at the start of in. RB_E_PARSE (header failure) on any
 * defect; the payload starts at in + (*ret)->len. */
int age_header_parse(const uint8_t *in, size_t len, struct age_header **ret);
void age_header_free(struct age_header *h);
/* HMAC-SHA256 under HKDF(file key, "", "header"). */
int age_header_mac(const uint8_t *file_key, const uint8_t *hdr, size_t len, uint8_t mac[AGE_MAC_LEN]);
/* Append "-> args...\n" and the wrapped base64 body. */
int age_stanza_write(struct rb_buf *b, const char *const *args, size_t nargs, const uint8_t *body,
		     size_t blen);

/* ---- primitives (OpenSSL) ---- */
int age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
	     uint8_t *out, size_t outlen);
/* ChaCha20-Poly1305, 12-byte nonce; out has len + 16 bytes. */
int age_aead_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
		  uint8_t *out);
/* in has len >= 16 bytes; out gets len - 16. RB_E_VERIFY on a bad tag. */
int age_aead_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
		  uint8_t *out);
/* X25519; RB_E_VERIFY when the result is all zero (low-order point). */
int age_x25519(const uint8_t scalar[32], const uint8_t point[32], uint8_t out[32]);
int age_x25519_base(const uint8_t scalar[32], uint8_t out[32]);
/* Ed25519 public key -> X25519 (Montgomery u); RB_E_PARSE if not a point. */
int age_ed25519_to_x25519(const uint8_t ed[32], uint8_t out[32]);

/* ---- recipients and identities ---- */
enum age_key_type { AGE_KEY_X25519 = 1, AGE_KEY_SSH_ED25519 };

struct age_recipient {
	enum age_key_type type;
	uint8_t pk[32]; /* X25519 public key (converted for ssh-ed25519) */
	uint8_t ssh_wire[AGE_SSH_WIRE_LEN];
};

struct age_identity {
	enum age_key_type type;
	struct rb_secret *sk; /* the X25519 scalar, 32 bytes */
	uint8_t pk[32];
	uint8_t ssh_wire[AGE_SSH_WIRE_LEN];
	char ssh_tag[8]; /* base64 of SHA-256(ssh_wire)[:4] */
};

int age_recipient_parse(const char *s, struct age_recipient *ret);
int age_recipient_wrap(const struct age_recipient *r, const uint8_t *file_key, struct rb_buf *hdr);

/* Parse every identity of one identity file's text and append to *list
 * (grown with realloc; *n updated). Free with age_identities_free(). */
int age_identities_parse(const struct rb_secret *text, struct age_identity **list, size_t *n);
void age_identities_free(struct age_identity *list, size_t n);
/* 0: *file_key set; RB_E_KEY: not for this identity; other: header failure. */
int age_identity_unwrap(const struct age_identity *id, const struct age_stanza *st,
			uint8_t *file_key);
int age_ssh_parse_private(const char *text, size_t len, struct age_identity *ret);
int age_ssh_tag(const uint8_t wire[AGE_SSH_WIRE_LEN], char tag[8]);

int age_scrypt_wrap(const struct rb_secret *pass, unsigned log_n, const uint8_t *file_key,
		    struct rb_buf *hdr);
int age_scrypt_unwrap(const struct rb_secret *pass, unsigned max_log_n, const struct age_stanza *st,
		      uint8_t *file_key);

/* ---- payload ---- */
/* Append nonce || STREAM chunks of pt. */
int age_stream_seal(const uint8_t *file_key, const uint8_t *pt, size_t len, struct rb_buf *out);
/* Open nonce || chunks (in, len) into out (cap bytes). Payload failure
 * (RB_E_CRYPTO) on any defect; RB_E_TOOBIG past cap. */
int age_stream_open(const uint8_t *file_key, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		    size_t *ret_len);

/* ---- armor ---- */
int age_armor_decode(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len);
int age_armor_encode(const uint8_t *in, size_t len, struct rb_buf *out);
/* Leading whitespace then "-----": the input is armored. */
bool age_armor_detect(const uint8_t *in, size_t len);

#endif
