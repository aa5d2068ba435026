/* Shared between the queue's git files; not installed. */
#ifndef ROMBSR_QUEUE_GIT_INTERNAL_H
#define ROMBSR_QUEUE_GIT_INTERNAL_H

#include <stdbool.h>

#include <git2.h>

#include "queue/git.h"
#include "util/cleanup.h"

struct queue {
	git_repository *repo;
	char *path;         /* the repository directory, for messages */
	char *url;          /* origin's url; NULL for queue_open_local */
	char *branch;
	char *tip_ref;      /* refs/remotes/origin/<branch> or refs/heads/<branch> */
	bool url_is_local;  /* push through git-receive-pack (see git.h) */
	unsigned publish_seconds;  /* queue_set_publish_deadline() */
	unsigned publish_races;    /* lost by the last queue_publish() */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(git_repository *, git_repository_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_commit *, git_commit_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree *, git_tree_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree_entry *, git_tree_entry_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_blob *, git_blob_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_reference *, git_reference_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_remote *, git_remote_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_diff *, git_diff_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_index *, git_index_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_signature *, git_signature_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_config *, git_config_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_revwalk *, git_revwalk_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_odb *, git_odb_free)

static inline void git_buf_disposep(git_buf *b)
{
	git_buf_dispose(b);
}
#define _cleanup_git_buf_ _cleanup_(git_buf_disposep)

/* rb_err_set(err, "<what> (<repository>): <libgit2 message>"). */
int queue_git_fail(int err, const char *what, const char *repo);
/* Parse exactly 40 hex digits into oid (RB_E_INVAL otherwise). */
int queue_oid_parse(const char *hex, git_oid *oid);
/* Run the git command argv (argv[0] "git", found on PATH) with its output
 * collected; ret_status is its exit status. */
struct rb_buf;
int queue_git_cli_run(char *const argv[], struct rb_buf *out, struct rb_buf *err, int *ret_status);
void queue_oid_format(const git_oid *oid, char out[QUEUE_OID_HEX + 1]);
int queue_commit_lookup(struct queue *q, const char *hex, git_commit **ret);
/* The tip of q->tip_ref; *ret_found false (and oid zeroed) if there is none. */
int queue_tip_oid(struct queue *q, git_oid *ret, bool *ret_found);
/* An anonymous remote on q->url (the caller frees it). */
int queue_remote_open(struct queue *q, git_remote **ret);
/* Push ref (a local ref name) to refs/heads/<branch> of origin without
 * force. RB_OK, GIT_ENONFASTFORWARD (retry), RB_E_PERM with the remote's
 * message, or another rb_err. */
int queue_push_ref(struct queue *q, const char *ref);

/* How long queue_fetch() waits while another git holds the mirror's ref
 * lock (one left running by a killed process, a build beside this one). */
#define QUEUE_FETCH_LOCK_SECONDS 30
/* Milliseconds on the monotonic clock. */
int64_t queue_now_ms(void);
/* Sleep before retry number attempt (from 0): 20 ms doubling to 1.28 s,
 * each plus up to as much again at random. */
void queue_backoff(unsigned attempt);

/* A commit's size from its object header, before anything parses it:
 * RB_E_TOOBIG over QUEUE_MAX_COMMIT_BYTES (nothing was read),
 * RB_E_NOTFOUND if it is missing, RB_E_PARSE if it is not a commit. */
int queue_commit_size_check(struct queue *q, const git_oid *id);

#endif
