/* Internals shared by the log, its tile writer and the verifier. Not
 * installed. */
#ifndef ROMBSR_AUDIT_INTERNAL_H
#define ROMBSR_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/entry.h"
#include "audit/merkle.h"
#include "json/json.h"
#include "util/buf.h"

/* The tree in memory: level l holds the hashes of the complete subtrees of
 * 2^l leaves, size >> l of them. */
struct audit_tree {
	uint64_t size;
	uint8_t (*lv[64])[MERKLE_HASH_LEN];
	uint64_t alloc[64];
};

int audit_tree_push(struct audit_tree *t, const uint8_t leaf[MERKLE_HASH_LEN]);
/* Drop every level. */
void audit_tree_clear(struct audit_tree *t);
/* A merkle_source over t. */
void audit_tree_source(struct audit_tree *t, struct merkle_source *ret);

/* Walk an entry bundle: each record is a big-endian uint16 length and the
 * entry. Calls cb for every record that parses as an entry; stops at the
 * first that does not (or at a short record) and reports how many records
 * and bytes were good. Returns 0 if the whole bundle is good, RB_E_PARSE
 * otherwise (with the detail of the first bad record). */
typedef int (*audit_bundle_cb)(void *ctx, const uint8_t *entry, size_t len);
int audit_bundle_walk(const uint8_t *data, size_t len, unsigned max_records, audit_bundle_cb cb,
		      void *ctx, unsigned *ret_records, size_t *ret_good_len);

/* Read a regular file of at most cap bytes (not a symbolic link) into one
 * malloc()ed buffer; caller frees. RB_E_NOTFOUND, RB_E_TOOBIG, RB_E_IO. */
int audit_file_read(const char *path, size_t cap, uint8_t **ret, size_t *ret_len);

/* dir + "/" + rel, caller frees. */
int audit_path_join(const char *dir, const char *rel, char **ret);
/* Build the bytes of hash tile (level, n) of width w from the tree. */
int audit_tile_bytes(struct audit_tree *t, int level, uint64_t n, unsigned w, struct rb_buf *out);

/* 1 if s[0..n) is lowercase hex of even length min..max. */
int audit_lower_hex(const char *s, size_t n, size_t min, size_t max);

/* --- the entry format, as one table ------------------------------------
 * Every key of every entry type, its kind, and which keys each type allows
 * and requires. The tree checker (entry.c, audit_entry_check) and the fast
 * scanner (entry_scan.c, audit_entry_validate) both read it, so they
 * cannot disagree about the format. */
enum audit_key_kind {
	AUDIT_S_STR = 1,   /* UTF-8, 1..AUDIT_FIELD_MAX decoded bytes */
	AUDIT_S_LIST,      /* array of AUDIT_S_STR, at most AUDIT_APPROVALS_MAX */
	AUDIT_S_FPR,       /* 64 lowercase hex: a SHA-256 */
	AUDIT_S_NODE,      /* 40 lowercase hex: a build node's OpenPGP v4 fingerprint */
	AUDIT_S_ID,        /* lowercase hex, even, 2..128 */
	AUDIT_S_DIGEST,    /* lowercase hex, even, 2..2*AUDIT_DIGEST_MAX */
	AUDIT_S_SIG,       /* padded base64 of 1..AUDIT_SIG_MAX bytes */
	AUDIT_S_SCHEME,    /* an rb_sig_scheme name */
	AUDIT_S_FORMAT,    /* "rombsr-audit-entry" */
	AUDIT_S_VERSION,   /* the integer 1 */
	AUDIT_S_TYPE,      /* an event name */
	AUDIT_S_TIME,      /* RFC 3339 UTC */
	AUDIT_S_IDLIST,    /* array of AUDIT_S_ID, 1..AUDIT_INTENT_IDS_MAX */
};

/* Every key of every type, sorted by bytes (their canonical order); the
 * index is the key's bit in struct audit_key_mask. */
enum audit_key {
	AUDIT_K_ACTOR, AUDIT_K_APPROVALS, AUDIT_K_ARTIFACT, AUDIT_K_ARTIFACT_SHA256, AUDIT_K_BUILD_ID,
	AUDIT_K_CONFIG_SHA256, AUDIT_K_DETAIL, AUDIT_K_DIGEST, AUDIT_K_FORMAT, AUDIT_K_KEY,
	AUDIT_K_KEY_FINGERPRINT, AUDIT_K_MANIFEST_SHA256, AUDIT_K_NEW_KEY, AUDIT_K_NEW_KEY_FINGERPRINT,
	AUDIT_K_NODE, AUDIT_K_REASON, AUDIT_K_REQUEST_ID, AUDIT_K_REQUEST_IDS, AUDIT_K_ROLE, AUDIT_K_SCHEME,
	AUDIT_K_SIGNATURE, AUDIT_K_TIME, AUDIT_K_TOKEN, AUDIT_K_TYPE, AUDIT_K_VERSION,
	AUDIT_KEY_COUNT,
};

#define AUDIT_KEY_BIT(k) (1u << (k))

struct audit_key_def {
	const char *name;
	size_t len;
	enum audit_key_kind kind;
};
extern const struct audit_key_def audit_keys[AUDIT_KEY_COUNT];

/* The keys a type allows, and the ones among them it requires. */
struct audit_key_mask {
	uint32_t allowed, required;
};
/* The masks of type e ({0, 0} for a value that is no type). */
struct audit_key_mask audit_key_masks_of(enum audit_event e);

/* The index of key (len bytes, not NUL-terminated) in audit_keys, or -1. */
int audit_key_lookup(const uint8_t *key, size_t len);

/* The position of key (len bytes) among all keys of the entry format in
 * byte order (their canonical order), or -1 if it is not one of them. */
int audit_key_rank(const char *key, size_t len);

/* Append the canonical JSON of entry v to out: the bytes
 * json_emit(v, JSON_CANONICAL, out) writes, faster for entry shapes. */
int audit_entry_emit(const struct json_value *v, struct rb_buf *out);

/* Non-zero if a byte of x is below 0x20, at or above 0x80, '"' or '\\'
 * (may also be non-zero when none is, so callers then look byte by byte):
 * how the entry scanner and emitter skip runs of plain ASCII eight bytes
 * at a time. */
static inline uint64_t audit_word_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

	return ((x - ones * 0x20) | x | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

#define AUDIT_CHECKPOINT_FILE "checkpoint"
#define AUDIT_BUNDLE_MAX (TILE_WIDTH * (2 + AUDIT_ENTRY_MAX))

#endif
