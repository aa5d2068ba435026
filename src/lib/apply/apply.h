/* `rombsr apply`: turning a signed response into signed artifacts, on the
 * build node (docs/QUEUE.md, steps 4-8 of "apply").
 *
 * The response comes from an untrusted queue and the artifacts sit on an
 * untrusted disk, so nothing is believed and nothing is written until
 * every check has passed:
 *
 *   apply_response_check        the response belongs to this request
 *                               document (SHA-256 of its bytes, node,
 *                               build id, the commit that added it)
 *   apply_commit_check          the response commit's OpenPGP signature
 *                               is by the manifest's queue key
 *   apply_plan_build            every entry answered and verified against
 *                               the manifest key, every artifact unchanged
 *                               since submit, placeholders resolved and
 *                               detached files encoded in memory, resolved
 *                               APKs and detached files re-verified
 *   apply_plan_write            only then: each output written atomically
 *
 * A plan with rejections (the sign node refused some requests) is not an
 * error of apply_plan_build: it lists them, and apply_plan_write refuses
 * to write anything (RB_E_PERM), so a build is signed whole or not at all.
 *
 * Ownership: apply_plan_build returns a plan the caller frees with
 * apply_plan_free() (accepts NULL); all strings and buffers in it are
 * owned by it. Key names in it are copies. The documents and manifest
 * passed in are borrowed and may be freed after the call.
 */
#ifndef ROMBSR_APPLY_APPLY_H
#define ROMBSR_APPLY_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys/manifest.h"
#include "request/request.h"
#include "request/response.h"

/* The purpose of the manifest key that signs response commits. */
#define APPLY_QUEUE_KEY_PURPOSE "queue"
/* Armored commit signatures are small. */
#define APPLY_COMMIT_SIG_MAX_BYTES (64u * 1024)

/* resp answers req: request_sha256 is SHA-256 of req_bytes (the exact
 * document bytes in the queue), node and build_id agree, and
 * request_commit equals the commit that added the request document.
 * RB_E_VERIFY otherwise, the detail naming the field. */
int apply_response_check(const struct response_doc *resp, const struct request_doc *req,
			 const uint8_t *req_bytes, size_t req_len, const char *request_commit);

/* The gpgsig header of a response commit (armored, as
 * queue_commit_signature returns it) over signed_data (the commit without
 * the header) must verify with a manifest key of purpose
 * APPLY_QUEUE_KEY_PURPOSE that is active or retired. *ret_key (optional)
 * is that key, borrowed from m.
 * Errors: RB_E_PARSE the armor or packet is malformed; RB_E_VERIFY no
 * queue key verifies it (another signer, or altered data); RB_E_PERM it is
 * signed by a revoked queue key; RB_E_KEY the manifest has no queue key. */
int apply_commit_check(const struct manifest *m, const uint8_t *armored_sig, size_t sig_len,
		       const uint8_t *signed_data, size_t signed_len,
		       const struct manifest_key **ret_key);

struct apply_options {
	bool force_detached; /* replace a .sig/.asc that holds something else */
};

enum apply_output_kind {
	APPLY_OUTPUT_ARTIFACT = 1,  /* the artifact with its placeholders replaced */
	APPLY_OUTPUT_DETACHED = 2,  /* NAME.sig or NAME.asc */
};

struct apply_output {
	enum apply_output_kind kind;
	char *name;         /* relative to the root (artifact name [+ .sig/.asc]) */
	size_t artifact;    /* index into the request's artifacts */
	uint8_t *data;
	size_t len;
	mode_t mode;        /* permission bits to write with (never a special bit) */
	bool unchanged;     /* a detached file already holds exactly data: no write */
	int dirfd;          /* the directory it is written in (one of the plan's dirs) */
	const char *base;   /* its last component, inside name */
	bool keep_owner;    /* an artifact replaced: keep the owner it has (uid, gid) */
	uid_t uid;
	gid_t gid;
};

/* A directory under the root, opened once beneath it (no symbolic link at
 * any level) while the plan is built and held until it is written, so the
 * files checked are the files replaced. */
struct apply_dir {
	char *name;         /* relative to the root; "" for the root itself */
	int fd;
};

struct apply_rejection {
	size_t artifact;    /* index into the request's artifacts */
	char id_hex[REQUEST_ID_HEX_LEN + 1];
	enum request_kind kind;
	char *key_name;
	enum response_reason reason;
	char *message;
};

struct apply_artifact_summary {
	char *name;
	size_t n_capture, n_raw, n_openpgp, n_rejected;
	bool apk_verified;  /* a resolved APK passed the APK verifier */
};

struct apply_plan {
	struct apply_output *outputs;
	size_t n_outputs;
	struct apply_rejection *rejections;
	size_t n_rejections;
	struct apply_artifact_summary *artifacts; /* one per request artifact */
	size_t n_artifacts;
	struct apply_dir *dirs;   /* closed by apply_plan_free */
	size_t n_dirs;
};

/* Check everything and build the outputs in memory (steps 4-7). root is
 * the directory artifact names are relative to; it is opened once, and
 * every artifact and signature file is reached from it through directory
 * descriptors (util/tree.h): no path component under it may be a symbolic
 * link, and the descriptors are kept in the plan for apply_plan_write.
 * Nothing is written.
 * Errors (each naming the artifact or request id):
 *   RB_E_VERIFY  a request without an answer or an answer without a
 *                request, a kind/key/scheme that differs from the request,
 *                a signature that does not verify, an artifact whose size
 *                or SHA-256 differs from the request's, a resolved APK or
 *                detached file that does not re-verify
 *   RB_E_KEY     the key is not in m or has another fingerprint
 *   RB_E_PERM    the key is revoked
 *   RB_E_STATE   a placeholder missing from its artifact or there twice;
 *                two detached signatures for the same file
 *   RB_E_EXISTS  a detached file exists with other content (without
 *                force_detached)
 *   RB_E_NOTFOUND, RB_E_INVAL (symbolic link, not a regular file),
 *   RB_E_TOOBIG, RB_E_IO, RB_E_NOMEM */
int apply_plan_build(const struct manifest *m, const struct request_doc *req,
		     const struct response_doc *resp, const char *root,
		     const struct apply_options *opt, struct apply_plan **ret);

/* Write every changed output with rb_tree_write_files, through the
 * directory descriptors the plan holds (root only names them in
 * messages). An artifact keeps its owner and permission bits without
 * setuid, setgid or sticky; a new signature file is 0644. A plan with
 * rejections is RB_E_PERM and writes nothing. */
int apply_plan_write(const struct apply_plan *plan, const char *root);

void apply_plan_free(struct apply_plan *plan);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct apply_plan *, apply_plan_free)

#endif
