/* The sign-node configuration, sign.conf (docs/formats/sign-config.md,
 * version 1), read with libgit2's config parser.
 *
 * Every key in the file must be known: an unknown section or key is
 * RB_E_PARSE naming the key and the file, because a typo must not
 * silently disable a policy. The file is capped at SIGN_CONFIG_MAX_BYTES
 * before libgit2 sees it. Relative paths are resolved against the
 * directory of the file, so every path in struct sign_config is absolute.
 *
 * Ownership: sign_config_load() returns a config the caller frees with
 * sign_config_free() (accepts NULL); every string and array inside is
 * owned by it. Lookup functions return pointers into the config, valid
 * until it is freed.
 */
#ifndef ROMBSR_QUEUE_CONFIG_H
#define ROMBSR_QUEUE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

#define SIGN_CONFIG_VERSION 1
#define SIGN_CONFIG_MAX_BYTES ((size_t)1024 * 1024)
#define SIGN_CONFIG_DEFAULT_PATH "/etc/rombsr/sign.conf"
#define SIGN_CONFIG_MAX_NAME 64           /* node, approver names */
#define SIGN_CONFIG_MAX_ENTRIES 4096      /* nodes + approvers + keys */
#define SIGN_CONFIG_DEFAULT_REQUEST_BYTES ((uint64_t)16 * 1024 * 1024)
#define SIGN_CONFIG_MAX_REQUEST_BYTES ((uint64_t)64 * 1024 * 1024)
#define SIGN_CONFIG_DEFAULT_BATCH_REQUESTS 2048
/* The sign node's own keys: they sign only what the sign node composes
 * (response commits, audit checkpoints), so no node, approval or [key]
 * policy may name them. */
#define SIGN_NODE_QUEUE_KEY "queue"
#define SIGN_NODE_AUDIT_KEY "audit"

#define SIGN_CONFIG_DEFAULT_BATCH_DOCUMENTS 4096
#define SIGN_CONFIG_DEFAULT_BATCH_NODE_DOCUMENTS 1024
#define SIGN_CONFIG_DEFAULT_BATCH_RESPONSE_BYTES ((uint64_t)64 * 1024 * 1024)
#define SIGN_CONFIG_MIN_BATCH_RESPONSE_BYTES ((uint64_t)64 * 1024)
#define SIGN_CONFIG_MAX_BATCH_RESPONSE_BYTES ((uint64_t)1024 * 1024 * 1024)
#define SIGN_CONFIG_FPR_HEX 40            /* OpenPGP v4 fingerprint, upper-case hex */

struct sign_node {
	char *name;
	char fingerprint[SIGN_CONFIG_FPR_HEX + 1]; /* normalised: 40 upper-case hex */
	char *public_key;       /* absolute path of its OpenPGP certificate */
	char **allow_keys;      /* key names this node may ask for */
	size_t n_allow_keys;
	uint64_t quota_per_hour;  /* 0: unlimited */
	uint64_t quota_per_build; /* 0: unlimited */
};

struct sign_approver {
	char *name;
	char fingerprint[SIGN_CONFIG_FPR_HEX + 1];
	char *public_key;
};

struct sign_key_policy {
	char *key;              /* key name (from the manifest) */
	unsigned approvals;     /* approvals required, 1..n_approvers */
	char **approvers;       /* names of approvers who may approve */
	size_t n_approvers;
};

/* queue.claimSeconds: how long a sign node's claim on a build keeps the
 * other sign nodes away (docs/formats/claim.md). */
#define SIGN_CONFIG_DEFAULT_CLAIM_SECONDS 300
#define SIGN_CONFIG_MIN_CLAIM_SECONDS 6
#define SIGN_CONFIG_MAX_CLAIM_SECONDS 3600

struct sign_config {
	char *path;             /* absolute path of the file that was read */
	unsigned version;
	char *state_dir;
	char *sign_node_name;   /* rombsr.signNode, NULL if not set (docs/formats/claim.md) */
	char *manifest;
	struct {
		char *module;       /* NULL: the default SoftHSM2 module */
		char *token;        /* NULL: the manifest's token */
		char *pin_file;     /* NULL if not configured (required by `sign`) */
		char *softhsm_conf; /* NULL if not configured */
		char *wrapped_store; /* wrapped key store directory, NULL: none */
		unsigned max_resident; /* unwrapped keys held at once, 0: the default */
		unsigned max_sessions; /* default 4 */
	} hsm;
	struct {
		char *url;          /* a path (made absolute), file://, ssh://, https:// ... */
		char *branch;       /* default "main" */
		unsigned poll_seconds;      /* default 10, 1..3600 */
		unsigned publish_seconds;   /* publish deadline, default QUEUE_DEFAULT_PUBLISH_SECONDS */
		unsigned claim_seconds;     /* lease of a sign node's claim on a build, default 300 */
		uint64_t max_request_bytes; /* default 16 MiB, at most 64 MiB */
		unsigned batch_requests;    /* requests a sign batch takes, default 2048 */
		unsigned batch_documents;   /* documents a sign batch takes, default 4096 */
		unsigned batch_node_documents; /* of them from one node, default 1024 */
		uint64_t batch_response_bytes; /* response bytes one batch publishes, default 64 MiB */
	} queue;
	char *audit_dir;        /* default STATEDIR/audit */
	struct sign_node *nodes;
	size_t n_nodes;
	struct sign_approver *approvers;
	size_t n_approvers;
	struct sign_key_policy *keys;
	size_t n_keys;
};

/* Read, validate and resolve path. RB_E_NOTFOUND if missing, RB_E_TOOBIG
 * over 1 MiB, RB_E_PARSE for syntax errors, unknown keys, bad values,
 * duplicate names or fingerprints and dangling approver references. */
int sign_config_load(const char *path, struct sign_config **ret);
void sign_config_free(struct sign_config *c);

/* Lookups; NULL if there is none. fpr may be in either case. */
const struct sign_node *sign_config_find_node(const struct sign_config *c, const char *name);
const struct sign_approver *sign_config_find_approver(const struct sign_config *c, const char *name);
const struct sign_key_policy *sign_config_find_key(const struct sign_config *c, const char *key);
/* The node or approver whose primary key fingerprint is fpr (40 hex). At
 * most one of *ret_node / *ret_approver is set; returns false if neither. */
bool sign_config_find_fingerprint(const struct sign_config *c, const char *fpr,
				  const struct sign_node **ret_node,
				  const struct sign_approver **ret_approver);
/* True if node may ask for key. */
bool sign_node_allows_key(const struct sign_node *n, const char *key);

/* True if s is a valid node/approver name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
bool sign_config_name_valid(const char *s);
/* Normalise a 40-hex fingerprint (spaces are not accepted) into out
 * (41 bytes, upper case). RB_E_PARSE if it is not 40 hex digits. */
int sign_config_fpr_normalise(const char *s, char out[SIGN_CONFIG_FPR_HEX + 1]);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct sign_config *, sign_config_free)
#define _cleanup_sign_config_ _cleanup_(sign_config_freep)

#endif
