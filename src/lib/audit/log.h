/* The audit log: an append-only Merkle tree stored as C2SP tlog-tiles
 * (docs/formats/audit-log.md), with checkpoints signed by the HSM's
 * `audit` key.
 *
 * Life of a batch in the sign node:
 *
 *   audit_log_create(dir, origin, &log)        once in the log's life
 *   audit_log_open(dir, origin, &log)          at start
 *   audit_log_find(log, request_id, ...)       before signing: already done?
 *   sign on the HSM, build the entry (audit/entry.h)
 *   audit_log_append(log, entry, &index)       returns once the entry is durable
 *   ... more appends (or one audit_log_append_batch) ...
 *   audit_log_checkpoint(log, audit_key, &cp)  once per batch
 *   audit_log_inclusion_proof(log, index, size, &proof) per signature
 *   release the responses (index, checkpoint, proof)
 *
 * Durability: an append serialises each entry once, writes the entry
 * bundles it touches to temp files, fdatasyncs them (in parallel, so their
 * cache flushes are merged), renames them into place and fsyncs each
 * directory that changed - once per batch - before it returns, so a
 * reader sees the old bundle or the complete new one. Only the log's own
 * files are synced, never the whole file system. The bundles it
 * supersedes are removed only after that. Hash tiles and the checkpoint
 * are written only by audit_log_checkpoint: tiles first, synced the same
 * way, then the checkpoint, so a checkpoint on disk always has its tiles.
 *
 * Recovery at open: the entry bundles are the ground truth. open reads
 * every bundle, checks every entry strictly (audit_entry_validate, which
 * accepts exactly what audit_entry_parse accepts) and recomputes the tree. It
 * refuses (RB_E_VERIFY) a log whose entries do not match its own
 * checkpoint. Beyond the checkpoint, a bundle that does not parse
 * completely (a torn tail, e.g. from a file system that reordered the
 * rename) is cut back to its longest valid prefix: its append never
 * returned, so no signature that it covers was released, and completing it
 * would need bytes that are not there. Leftover temp files are removed.
 *
 * Threads: a log is not thread-safe; the sign node owns it from one thread.
 * Ownership: audit_log_open returns a log freed with audit_log_close()
 * (accepts NULL). Entries returned by audit_log_find are the caller's
 * (json_free). Checkpoint texts are the caller's (free).
 */
#ifndef ROMBSR_AUDIT_LOG_H
#define ROMBSR_AUDIT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "crypto/signer.h"
#include "json/json.h"
#include "util/buf.h"
#include "util/cleanup.h"

struct audit_log;

/* Open the log at dir for writing. origin names the log in checkpoints;
 * an existing log's checkpoint must carry the same origin (RB_E_STATE
 * otherwise). RB_E_NOTFOUND if dir holds no log (no tile/entries/): a
 * missing log is never replaced by a new one behind the caller's back. */
int audit_log_open(const char *dir, const char *origin, struct audit_log **ret);
/* Create a new, empty log at dir (made if missing, 0755) and open it:
 * an explicit act (`rombsr audit init`, a first provisioning).
 * RB_E_EXISTS if dir holds a log already (tile/ or checkpoint). */
int audit_log_create(const char *dir, const char *origin, struct audit_log **ret);
/* The same for readers (`rombsr audit show|prove`, auditors' copies):
 * nothing is created, cut or removed - a torn tail beyond the checkpoint
 * is ignored instead - and append/checkpoint are RB_E_STATE. */
int audit_log_open_readonly(const char *dir, const char *origin, struct audit_log **ret);
void audit_log_close(struct audit_log *log);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct audit_log *, audit_log_close)

/* Append one entry (checked with audit_entry_check, emitted canonical, at
 * most AUDIT_ENTRY_MAX bytes); returns once it is durable. A second `sign`
 * entry for a request id already in the log is RB_E_EXISTS: a request is
 * signed at most once. */
int audit_log_append(struct audit_log *log, const struct json_value *entry, uint64_t *ret_index);
/* Append n entries with one sync of their bundles for the batch. Every entry is checked
 * before anything is written, so a bad entry appends nothing. On an I/O
 * error the log refuses further calls (RB_E_STATE) until it is reopened; a
 * reopened log may hold a prefix of the failed batch - recorded, never
 * released, which errs on the side of the record. *ret_first is the index
 * of entries[0]. */
int audit_log_append_batch(struct audit_log *log, const struct json_value *const *entries,
			   size_t n, uint64_t *ret_first);

/* Write the hash tiles for the current size and a checkpoint signed by
 * audit_key (Ed25519; in production p11_key_signer() of the `audit` key),
 * verified before it is written. *ret_checkpoint (optional) is the signed
 * note. A checkpoint for an unchanged size is re-signed and rewritten. */
int audit_log_checkpoint(struct audit_log *log, const struct rb_signer *audit_key,
			 char **ret_checkpoint);

/* Crash recovery: the `sign` entry for request_id_hex, if any.
 * RB_E_NOTFOUND (no detail) if the log has none. */
int audit_log_find(struct audit_log *log, const char *request_id_hex, uint64_t *ret_index,
		   struct json_value **ret_entry);

uint64_t audit_log_size(const struct audit_log *log);
/* The size of the last checkpoint written (or found at open), 0 if none. */
uint64_t audit_log_checkpoint_size(const struct audit_log *log);
/* Root of the first size entries (size <= audit_log_size). */
int audit_log_root(struct audit_log *log, uint64_t size, uint8_t ret[MERKLE_HASH_LEN]);
/* Leaf hash of entry index. */
int audit_log_leaf_hash(struct audit_log *log, uint64_t index, uint8_t ret[MERKLE_HASH_LEN]);
/* The canonical bytes of entry index; caller frees. */
int audit_log_entry(struct audit_log *log, uint64_t index, uint8_t **ret, size_t *ret_len);
/* Call cb for every entry of log in index order (bytes borrowed for the
 * call), reading each bundle once. A non-zero return of cb stops. */
typedef int (*audit_log_walk_cb)(void *ctx, uint64_t index, const uint8_t *entry, size_t len);
int audit_log_walk(struct audit_log *log, audit_log_walk_cb cb, void *ctx);

int audit_log_inclusion_proof(struct audit_log *log, uint64_t index, uint64_t tree_size,
			      struct merkle_proof *ret);
int audit_log_consistency_proof(struct audit_log *log, uint64_t old_size, uint64_t new_size,
				struct merkle_proof *ret);

/* --- Proof text (docs/formats/audit-log.md, "Proofs") -------------------
 *
 *   rombsr-audit-proof/v1
 *   inclusion <index> <size>        or   consistency <old> <size>
 *   <base64 hash>                   one line per proof hash
 */
enum audit_proof_kind {
	AUDIT_PROOF_INCLUSION = 1,
	AUDIT_PROOF_CONSISTENCY = 2,
};

struct audit_proof {
	enum audit_proof_kind kind;
	uint64_t a;       /* leaf index, or old size */
	uint64_t size;    /* tree size the proof is for */
	struct merkle_proof proof;
};

#define AUDIT_PROOF_MAX_BYTES (16u * 1024)

int audit_proof_format(const struct audit_proof *p, struct rb_buf *out);
int audit_proof_parse(const void *text, size_t len, struct audit_proof *ret);

/* --- Verifying a whole log directory ------------------------------------ */

struct audit_verify_result {
	uint64_t size;              /* entries covered by the checkpoint */
	uint8_t root[MERKLE_HASH_LEN];
	/* On RB_E_VERIFY/RB_E_PARSE: the first entry index found bad, or
	 * UINT64_MAX when the failure is not about one entry (bad checkpoint
	 * signature). The rb_err detail says what is wrong. */
	uint64_t bad_index;
};

/* Verify dir: the checkpoint's signature with v (whose name is the
 * origin); every entry parses; every stored hash tile (full and the
 * partial for the checkpoint size) equals the one recomputed from the
 * entries; the root equals the checkpoint's. If trust_dir is not NULL,
 * the last checkpoint verified there for this origin must be consistent
 * with this one (same leaf hashes for its size: the first differing entry
 * is named), and on success the new checkpoint and its leaf hashes replace
 * it. trust_dir is created 0700 if missing. */
int audit_dir_verify(const char *dir, const struct note_verifier *v, const char *trust_dir,
		     struct audit_verify_result *ret);

/* The default trust directory for origin:
 * $XDG_STATE_HOME or ~/.local/state, then rombsr/audit-trust/<hex SHA-256
 * of the origin>. Caller frees. */
int audit_trust_dir_default(const char *origin, char **ret);

#endif
