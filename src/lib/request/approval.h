/* The approval document of dual control: "rombsr-approval" version 1,
 * approvals/<approver>/<node>/<build-id>.json (docs/formats/request.md,
 * "Approvals"). An approver states that the request document with the
 * given SHA-256 may be signed with the listed keys. The commit carrying it
 * is signed by the approver's OpenPGP key; this module only handles the
 * document.
 *
 * Ownership: approval_doc_new() and approval_doc_parse() return a document
 * the caller frees with approval_doc_free() (accepts NULL).
 */
#ifndef ROMBSR_REQUEST_APPROVAL_H
#define ROMBSR_REQUEST_APPROVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/cleanup.h"

#define APPROVAL_FORMAT "rombsr-approval"
#define APPROVAL_VERSION 1
#define APPROVAL_MAX_BYTES ((size_t)256 * 1024)
#define APPROVAL_MAX_KEYS 4096 /* MANIFEST_MAX_KEYS */

struct approval_doc {
	char *approver;
	char *node;
	char *build_id;
	uint8_t request_sha256[32];
	char **keys;      /* manifest key names, unique, in document order */
	size_t n_keys;
};

/* Build an approval (arguments copied). approver and node per
 * request_node_valid(), build_id per capture_build_id_valid(), keys 1..
 * APPROVAL_MAX_KEYS valid, unique key names. RB_E_INVAL otherwise. */
int approval_doc_new(const char *approver, const char *node, const char *build_id,
		     const uint8_t request_sha256[32], const char *const *keys, size_t n_keys,
		     struct approval_doc **ret);
/* Canonical JSON followed by one newline, appended to out. */
int approval_doc_emit(const struct approval_doc *a, struct rb_buf *out);
/* Strict parse (same rules as approval_doc_new, unknown keys in the top
 * level and "required" rejected, "optional" ignored). RB_E_PARSE,
 * RB_E_TOOBIG over APPROVAL_MAX_BYTES, RB_E_UNSUPPORTED another version. */
int approval_doc_parse(const char *text, size_t len, const char *source,
		       struct approval_doc **ret);
/* Whether the approval lists key_name. */
bool approval_doc_has_key(const struct approval_doc *a, const char *key_name);
void approval_doc_free(struct approval_doc *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct approval_doc *, approval_doc_free)

#endif
