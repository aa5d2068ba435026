/* The signing queue as a git repository, through libgit2
 * (layout and rules: docs/QUEUE.md).
 *
 * A struct queue is a local *bare* repository the caller owns: the sign
 * node's STATEDIR/queue, a build node's cache, or (for the guard and
 * `queue verify`) any existing repository. It tracks one branch of the
 * remote "origin" as refs/remotes/origin/<branch>.
 *
 * Commits are named by 40-digit lower-case hex object ids
 * (QUEUE_OID_HEX + 1 bytes with the NUL). Functions taking a commit accept
 * exactly that; anything else is RB_E_INVAL, because these names come
 * from untrusted hook input and must not be interpreted as revspecs.
 *
 * Publishing never replaces history: queue_publish() pushes without force
 * and rebuilds on the new tip when another writer got there first. For a
 * local remote (a path or file:// URL) it pushes with the git command, so
 * that git-receive-pack runs the pre-receive hook (`rombsr queue-guard`)
 * and takes the ref lock; libgit2's local transport does neither. Other
 * remotes (ssh://, https://) are pushed with libgit2; ssh authenticates
 * through ssh-agent.
 *
 * Every failure sets an rb_err detail naming the operation, the
 * repository and libgit2's message. Nothing here prints.
 *
 * Ownership: queue_open* return a queue freed with queue_free() (accepts
 * NULL). Data returned through ret_* pointers is malloc()ed and owned by
 * the caller. Structures passed to callbacks are valid only during the
 * call.
 */
#ifndef ROMBSR_QUEUE_GIT_H
#define ROMBSR_QUEUE_GIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

#define QUEUE_OID_HEX 40
#define QUEUE_DEFAULT_BRANCH "main"
/* How long queue_publish() keeps trying while other publishers win the
 * race to the branch (docs/QUEUE.md, "Publishing"). */
#define QUEUE_DEFAULT_PUBLISH_SECONDS 120
#define QUEUE_MAX_PUBLISH_SECONDS 3600
#define QUEUE_MAX_PATH 1024           /* longest path accepted in a queue tree */
/* Largest commit object read (message and signature included; rombsr's
 * are under 4 KiB), checked from the object header before it is parsed,
 * and largest commit signature handed to gpg (an OpenPGP signature here
 * is under 2 KiB). */
#define QUEUE_MAX_COMMIT_BYTES (256 * 1024)
#define QUEUE_MAX_SIGNATURE_BYTES (16 * 1024)
#define QUEUE_MAX_FILES_PER_COMMIT 65536

struct queue;

/* Initialise libgit2 once per process (thread-safe); it is shut down at
 * exit. Every function below calls it; callers need not. */
int queue_global_init(void);

/* True if s is a valid branch name for the queue (refs/heads/<s>). */
bool queue_branch_valid(const char *s);

/* Create a bare queue repository at path (which must not exist or be an
 * empty directory), with HEAD -> refs/heads/<branch>,
 * receive.denyNonFastForwards and receive.denyDeletes set. If
 * config_path and rombsr_path are both given, install hooks/pre-receive
 * (0755) running `<rombsr_path> queue-guard --config <config_path>`, both
 * made absolute. RB_E_EXISTS if path holds anything already. */
int queue_init_bare(const char *path, const char *branch, const char *config_path,
		    const char *rombsr_path);

/* The local mirror of a remote: clone url into local_dir (bare) if
 * local_dir does not exist, else open it and check that its origin is
 * url. An empty remote is fine (the tip is "none" until the first
 * publish). */
int queue_open(const char *url, const char *local_dir, const char *branch, struct queue **ret);

/* An existing repository without fetching: the guard's and `queue
 * verify --repo`'s view. The branch is read from refs/heads/<branch>, or
 * from refs/remotes/origin/<branch> if the repository is a mirror. If
 * from_env is true, path may be NULL and the repository is located by
 * GIT_DIR, GIT_OBJECT_DIRECTORY and GIT_ALTERNATE_OBJECT_DIRECTORIES, as
 * a pre-receive hook must (pushed objects are quarantined). */
int queue_open_local(const char *path, bool from_env, const char *branch, struct queue **ret);

void queue_free(struct queue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct queue *, queue_free)
#define _cleanup_queue_ _cleanup_(queue_freep)

const char *queue_branch(const struct queue *q);
/* The repository's directory (for messages). */
const char *queue_path(const struct queue *q);

/* How long queue_publish() retries after losing the race to the branch
 * (default QUEUE_DEFAULT_PUBLISH_SECONDS, at most QUEUE_MAX_PUBLISH_SECONDS;
 * 0: one attempt only). */
int queue_set_publish_deadline(struct queue *q, unsigned seconds);
/* Races the last queue_publish() lost before it landed (or gave up). */
unsigned queue_publish_races(const struct queue *q);

/* Fetch the branch from origin into refs/remotes/origin/<branch>.
 * ret_tip receives the new tip, or "" if the remote has no such branch
 * yet ("none"). RB_E_IO for network/transport failures. */
int queue_fetch(struct queue *q, char ret_tip[QUEUE_OID_HEX + 1]);
/* The current tip without fetching (same convention, "" for none). */
int queue_tip(struct queue *q, char ret_tip[QUEUE_OID_HEX + 1]);

/* True if commit exists in the repository (any object type is false). */
bool queue_has_commit(struct queue *q, const char *commit);

struct queue_commit_info {
	char id[QUEUE_OID_HEX + 1];
	unsigned n_parents;
	char parent[QUEUE_OID_HEX + 1]; /* first parent, "" for a root commit */
	int64_t time;                   /* committer time, Unix seconds */
};
int queue_commit_info(struct queue *q, const char *commit, struct queue_commit_info *ret);

/* The blob at path in commit's tree. RB_E_NOTFOUND if there is none (or
 * it is not a regular file), RB_E_TOOBIG if it is larger than cap. *ret
 * is NUL-terminated (not counted). */
int queue_read_file(struct queue *q, const char *commit, const char *path, size_t cap, uint8_t **ret,
		    size_t *ret_len);

/* True (*ret) if commit's tree has a regular file at path. Reads no blob. */
int queue_has_file(struct queue *q, const char *commit, const char *path, bool *ret);

/* The blob named by 40 hex digits, if its object header says it is at
 * most cap bytes (RB_E_TOOBIG otherwise: nothing is inflated). *ret is
 * NUL-terminated (not counted). */
int queue_read_blob(struct queue *q, const char *blob, size_t cap, uint8_t **ret, size_t *ret_len);

/* Call cb for each entry of directory dir (no trailing slash; "" for the
 * root) in commit's tree, in git's name order. RB_E_NOTFOUND if dir does
 * not exist. A non-zero return of cb stops the listing and is returned. */
typedef int (*queue_dir_cb)(void *ctx, const char *name, bool is_dir);
int queue_list_dir(struct queue *q, const char *commit, const char *dir, queue_dir_cb cb, void *ctx);

/* Call cb for each commit on the first-parent line from `from`
 * (exclusive; NULL or "" for the root) to `to` (inclusive), oldest first.
 * RB_E_STATE if from is not an ancestor of to on that line (history was
 * rewritten). A non-zero return of cb stops the walk and is returned. */
typedef int (*queue_walk_cb)(void *ctx, const char *commit);
int queue_walk(struct queue *q, const char *from, const char *to, queue_walk_cb cb, void *ctx);

/* True (*ret) if ancestor is reachable from descendant (or equal). */
int queue_is_ancestor(struct queue *q, const char *ancestor, const char *descendant, bool *ret);

enum queue_change_kind {
	QUEUE_CHANGE_ADDED = 1,
	QUEUE_CHANGE_MODIFIED,
	QUEUE_CHANGE_DELETED,
	QUEUE_CHANGE_RENAMED,
	QUEUE_CHANGE_TYPECHANGE,
};

const char *queue_change_kind_name(enum queue_change_kind k);

struct queue_change {
	enum queue_change_kind kind;
	const char *path;      /* new path (old path for a deletion) */
	const char *old_path;  /* for renames, else equal to path */
	unsigned mode;         /* git file mode of the new entry (0100644, 0100755, 0120000...) */
	uint64_t size;         /* blob size of an added entry (from its object
				* header), else 0 */
	const uint8_t *data;   /* content of an added regular file no larger than
				* the cap, else NULL (always NULL for cap 0) */
	char blob[QUEUE_OID_HEX + 1]; /* blob id of an added regular file, else "" */
};

/* Call cb for each path commit changes against its first parent (against
 * the empty tree for a root commit). Sizes come from object headers, and
 * only added files no larger than cap are inflated; the others are
 * reported with data NULL and their size. cap 0 reads no blob at all. A non-zero return of cb stops
 * and is returned. */
typedef int (*queue_change_cb)(void *ctx, const struct queue_change *c);
int queue_commit_changes(struct queue *q, const char *commit, size_t cap, queue_change_cb cb, void *ctx);

/* The gpgsig header of commit and the data it signs (the commit without
 * that header). RB_E_NOTFOUND if the commit is unsigned. */
int queue_commit_signature(struct queue *q, const char *commit, uint8_t **ret_sig, size_t *ret_siglen,
			   uint8_t **ret_signed, size_t *ret_signed_len);

/* Publishing. sign produces an armored detached OpenPGP signature over
 * exactly (data, len) - the commit object - into a malloc()ed
 * NUL-terminated string; it returns 0 or a negative rb_err. */
typedef int (*queue_sign_cb)(void *ctx, const uint8_t *data, size_t len, char **ret_armored);

struct queue_file {
	const char *path;     /* e.g. "requests/builder1/b42.json"; no "..", no leading '/' */
	const uint8_t *data;
	size_t len;
};

/* Fetch, add files on top of the tip (RB_E_EXISTS if any path exists
 * already: files are never replaced), commit with message and author
 * (also the committer; time now), sign it through sign, and push
 * <commit>:refs/heads/<branch> without force. When another publisher won
 * the race (git's non-fast-forward, "fetch first", "cannot lock ref"...)
 * it fetches, rebuilds on the new tip, signs again and retries after a
 * jittered backoff, until the publish deadline has passed (RB_E_AGAIN:
 * nothing landed, run again). Any
 * other rejection is RB_E_PERM whose detail carries the remote's message
 * (the guard's reason). ret_commit receives the published commit. */
int queue_publish(struct queue *q, const struct queue_file *files, size_t n_files, const char *message,
		  const char *author_name, const char *author_email, queue_sign_cb sign, void *sign_ctx,
		  char ret_commit[QUEUE_OID_HEX + 1]);

/* queue_publish() for a publisher whose files depend on the tip (the sign
 * node's claims and responses: another sign node may have claimed or
 * answered a build meanwhile). files_cb is called after every fetch with
 * the tip ("" for none) and returns what to add on top of it; the files
 * stay the callback's until its next call or until queue_publish_with()
 * returns. No files: nothing is published, RB_OK and ret_commit "". */
typedef int (*queue_files_cb)(void *ctx, const char *tip, const struct queue_file **ret_files, size_t *ret_n);
int queue_publish_with(struct queue *q, queue_files_cb files_cb, void *files_ctx, const char *message,
		       const char *author_name, const char *author_email, queue_sign_cb sign, void *sign_ctx,
		       char ret_commit[QUEUE_OID_HEX + 1]);

#endif
