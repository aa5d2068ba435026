/* The key ceremony: the deployment's wrap key made, split, checked and
 * restored off-token (docs/CEREMONY.md, docs/formats/ceremony-transcript.md).
 *
 *   init     ceremony_key_generate -> ceremony_split_key -> every minimal
 *            share set recombined (ceremony_check_subsets) ->
 *            p11_token_import_wrap_key on each HSM -> transcript
 *   restore  shares (mnemonics, age files) -> ceremony_recover ->
 *            fingerprint compared -> p11_token_import_wrap_key -> transcript
 *   verify   ceremony_recover / ceremony_check_subsets, nothing imported
 *
 * The wrap key (32 bytes), the shares, the mnemonics and the passphrase
 * only ever live in rb_secret buffers (locked, never dumped, wiped on
 * free), on every path. Keys are compared by fingerprint
 * (docs/formats/wrapped-key.md, computed in software here with
 * EVP_aes_256_wrap_pad, equal to p11_token_wrap_key_fingerprint() on a
 * token holding the same key), and fingerprints with rb_ct_equal().
 *
 * Mnemonic files and age share files are untrusted: they are capped
 * (CEREMONY_MNEMONIC_FILE_MAX), parsed line by line, and every mnemonic is
 * decoded and checksummed by slip39_decode() before anything is combined.
 *
 * Errors: RB_E_PARSE for a malformed mnemonic (the detail names the line
 * and the word position), RB_E_INVAL for a mixed, duplicate or
 * insufficient share set or a bad scheme, RB_E_LIMIT when the share set
 * has more minimal subsets than CEREMONY_MAX_SUBSETS, RB_E_VERIFY when a
 * subset recombines to another key or a fingerprint differs from the one
 * expected.
 *
 * Ownership: every ret_ pointer is the caller's: rb_secret_free() for
 * secrets, ceremony_split_free() for a split, slip39_mnemonics_free() for
 * mnemonic arrays, rb_buf_free()-style for buffers as util/buf.h says.
 * Input pointers are borrowed, never kept.
 */
#ifndef ROMBSR_CEREMONY_CEREMONY_H
#define ROMBSR_CEREMONY_CEREMONY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "p11/p11.h"
#include "slip39/slip39.h"
#include "util/buf.h"
#include "util/secret.h"

#define CEREMONY_FORMAT "rombsr-ceremony-transcript"
#define CEREMONY_VERSION 1
#define CEREMONY_KEY_LEN 32              /* AES-256 wrap key */
#define CEREMONY_MAX_SHARES 16           /* shares in one ceremony, all groups */
#define CEREMONY_MAX_GROUPS 16
#define CEREMONY_MAX_SUBSETS 20000       /* minimal share sets checked at init */
#define CEREMONY_MNEMONIC_FILE_MAX (64u * 1024)
#define CEREMONY_PASSPHRASE_MAX 256
#define CEREMONY_NAME_MAX 64             /* custodian names: [A-Za-z0-9_.-] */

/* How the key is shared: group_threshold of n_groups groups, each needing
 * groups[i].threshold of its groups[i].count members. One group of
 * K-of-N is the plain "--shares N --threshold K" scheme. */
struct ceremony_scheme {
	uint8_t group_threshold;
	size_t n_groups;
	struct slip39_group_spec groups[CEREMONY_MAX_GROUPS];
	uint8_t iteration_exponent;
	bool extendable;
};

/* Check a scheme (SLIP-0039 rules, at most CEREMONY_MAX_SHARES shares)
 * and count its minimal qualifying share sets: the sum over every choice
 * of group_threshold groups of the product of C(count, threshold). More
 * than CEREMONY_MAX_SUBSETS is RB_E_LIMIT. *ret_subsets may be NULL. */
int ceremony_scheme_check(const struct ceremony_scheme *s, uint64_t *ret_subsets);

/* A new random wrap key, CEREMONY_KEY_LEN bytes in an rb_secret. */
int ceremony_key_generate(struct rb_secret **ret);

/* The wrap key fingerprint of docs/formats/wrapped-key.md, computed with
 * OpenSSL from the key bytes (which must be CEREMONY_KEY_LEN long). */
int ceremony_key_fingerprint(const struct rb_secret *key, uint8_t ret[P11_WRAP_FPR_LEN]);

/* The result of a split: n mnemonics (group 0's members first), and for
 * each, its group and member index (0-based, as in the mnemonic). */
struct ceremony_split {
	uint16_t identifier;
	struct ceremony_scheme scheme;
	size_t n;
	struct rb_secret **mnemonics;
	uint8_t *group_index;
	uint8_t *member_index;
};
void ceremony_split_free(struct ceremony_split *s);

/* Split key into SLIP-0039 mnemonics under passphrase (NULL: none). */
int ceremony_split_key(const struct rb_secret *key, const struct ceremony_scheme *s,
		       const struct rb_secret *passphrase, struct ceremony_split **ret);

/* Recombine every minimal qualifying subset of the n mnemonics (which must
 * be one complete share set of one ceremony: every member of every group)
 * and compare each key's fingerprint with expect. Each recombined key is
 * wiped as soon as it is fingerprinted. RB_E_VERIFY names the first subset
 * (group/member indices) that differs. *ret_checked (optional): subsets
 * checked. */
int ceremony_check_subsets(const struct rb_secret *const *mnemonics, size_t n,
			   const struct rb_secret *passphrase, const uint8_t expect[P11_WRAP_FPR_LEN],
			   uint64_t *ret_checked);

/* Recombine a share set into the wrap key (must be CEREMONY_KEY_LEN
 * bytes) and its fingerprint. A wrong passphrase cannot be detected here:
 * it gives another key, so compare the fingerprint with a known one. */
int ceremony_recover(const struct rb_secret *const *mnemonics, size_t n,
		     const struct rb_secret *passphrase, struct rb_secret **ret_key,
		     uint8_t ret_fpr[P11_WRAP_FPR_LEN]);

/* Parse text (a mnemonic file or a decrypted age share file): one mnemonic
 * per line; blank lines and lines starting with '#' are skipped; at most
 * CEREMONY_MAX_SHARES mnemonics. Every mnemonic is checked with
 * slip39_decode(); a bad one is RB_E_PARSE "SOURCE line L: word W ...".
 * *ret: slip39_mnemonics_free(*ret, *ret_n). */
int ceremony_mnemonics_parse(const struct rb_secret *text, const char *source,
			     struct rb_secret ***ret, size_t *ret_n);

/* Read a secret file (mnemonics) into an rb_secret: a regular file, not
 * a symlink, not readable by group or others (RB_E_PERM), at most
 * CEREMONY_MNEMONIC_FILE_MAX bytes (RB_E_TOOBIG). */
int ceremony_secret_file_read(const char *path, struct rb_secret **ret);

/* The identifier and group/member indices of a mnemonic, for the
 * transcript (no secret is returned). */
int ceremony_mnemonic_ids(const struct rb_secret *mnemonic, uint16_t *ret_identifier,
			  uint8_t *ret_group, uint8_t *ret_member);

/* ---- transcript (docs/formats/ceremony-transcript.md) --------------- */

enum ceremony_operation {
	CEREMONY_INIT = 1,
	CEREMONY_RESTORE,
	CEREMONY_VERIFY,
};

/* One share as the transcript records it: which one, and where it went
 * (custodian, recipient, file name) - NULLs when not applicable. */
struct ceremony_share_record {
	uint8_t group_index;
	uint8_t member_index;
	const char *custodian;
	const char *recipient;
	const char *file;
};

struct ceremony_token_record {
	const char *label;
	const char *serial;
	const char *model;
};

struct ceremony_transcript {
	enum ceremony_operation operation;
	int64_t time;                      /* Unix seconds */
	uint16_t identifier;
	struct ceremony_scheme scheme;
	bool passphrase;                   /* whether one was used (never its value) */
	const struct ceremony_share_record *shares;
	size_t n_shares;
	uint8_t fingerprint[P11_WRAP_FPR_LEN];
	uint64_t subsets_checked;
	const struct ceremony_token_record *tokens; /* where the key was imported */
	size_t n_tokens;
};

/* Canonical JSON of t plus a final newline, appended to out. */
int ceremony_transcript_emit(const struct ceremony_transcript *t, struct rb_buf *out);

/* Append an `import` entry (key "rombsr-wrap", key_fingerprint the wrap key
 * fingerprint, detail "ceremony OPERATION transcript sha256:HEX") to the
 * audit log in dir, then write a checkpoint signed by audit_key if it is
 * not NULL. token_label names the log's origin as key_lifecycle does.
 * *ret_index (optional): the entry's index. */
int ceremony_transcript_audit(const char *dir, const char *token_label, const char *actor,
			      const struct ceremony_transcript *t, const uint8_t *transcript, size_t len,
			      const struct rb_signer *audit_key, uint64_t *ret_index);

#endif
