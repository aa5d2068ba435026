/* The response document the sign node commits to the signing queue:
 * "rombsr-response" version 1, responses/<node>/<build-id>.json
 * (docs/formats/response.md).
 *
 * One entry per request id of the request document: either the signature
 * (raw form for raw and capture requests, a binary OpenPGP signature
 * packet for openpgp requests) with the audit-log leaf that recorded it,
 * or a rejection with a reason code from a closed set and a message.
 *
 * The build node reads it from an untrusted queue: response_doc_parse() is
 * strict and capped, but says nothing about whether signatures are valid.
 * The caller verifies each one against the manifest key before use.
 *
 * Ownership: response_doc_new() and response_doc_parse() return a document
 * the caller frees with response_doc_free() (accepts NULL); everything in
 * it is owned by it. The add functions copy their arguments. Lookups
 * return borrowed pointers.
 */
#ifndef ROMBSR_REQUEST_RESPONSE_H
#define ROMBSR_REQUEST_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "request/request.h"
#include "util/buf.h"
#include "util/cleanup.h"

#define RESPONSE_FORMAT "rombsr-response"
/* Version 2 adds the reason code "key-purpose", version 3 "structure". A
 * writer uses the lowest version that has every reason code the response
 * carries (response_reason_version), so build nodes that read only older
 * versions keep reading every other response; readers take all three. */
#define RESPONSE_VERSION 3
#define RESPONSE_VERSION_MIN 1

#define RESPONSE_MAX_BYTES ((size_t)16 * 1024 * 1024)
#define RESPONSE_MAX_ENTRIES REQUEST_MAX_ENTRIES
#define RESPONSE_MESSAGE_MAX 1024       /* bytes of a rejection message */
#define RESPONSE_PGP_SIG_MAX 4096       /* bytes of one OpenPGP signature packet */
#define RESPONSE_CHECKPOINT_MAX 4096    /* bytes of audit.checkpoint */
#define RESPONSE_PROOF_MAX 64           /* hashes in audit.proof */
#define RESPONSE_HASH_LEN 32            /* one audit proof hash (SHA-256) */

enum response_status {
	RESPONSE_SIGNED = 1,
	RESPONSE_REJECTED = 2,
};

/* Why a request was not signed. Closed set; the names are the wire form. */
enum response_reason {
	RESPONSE_REASON_UNSIGNED_COMMIT = 1, /* "unsigned-commit": request commit not signed by the node */
	RESPONSE_REASON_UNKNOWN_SIGNER,      /* "unknown-signer": commit signed by a key not on the allow-list */
	RESPONSE_REASON_KEY_NOT_ALLOWED,     /* "key-not-allowed": policy does not let this node use the key */
	RESPONSE_REASON_KEY_REVOKED,         /* "key-revoked" */
	RESPONSE_REASON_KEY_RETIRED,         /* "key-retired" */
	RESPONSE_REASON_KEY_UNKNOWN,         /* "key-unknown": not in the manifest, or fingerprint differs */
	RESPONSE_REASON_QUOTA_HOUR,          /* "quota-hour" */
	RESPONSE_REASON_QUOTA_BUILD,         /* "quota-build" */
	RESPONSE_REASON_REPLAY,              /* "replay": id or build already signed */
	RESPONSE_REASON_HASH_MISMATCH,       /* "hash-mismatch" */
	RESPONSE_REASON_SCHEMA,              /* "schema": the request document is invalid */
	RESPONSE_REASON_APPROVAL_MISSING,    /* "approval-missing" */
	RESPONSE_REASON_TOO_LARGE,           /* "too-large" */
	RESPONSE_REASON_PATH,                /* "path": document path disagrees with its content */
	RESPONSE_REASON_HSM_ERROR,           /* "hsm-error" */
	RESPONSE_REASON_KEY_PURPOSE,         /* "key-purpose": the key does not sign this kind (version 2) */
	RESPONSE_REASON_STRUCTURE,           /* "structure": what the key would sign is not a structure
						its purposes allow (version 3) */
};
#define RESPONSE_REASON_MAX RESPONSE_REASON_STRUCTURE

/* The first response version that has reason r (1, 2 or 3); 0 outside the
 * enum. */
int response_reason_version(enum response_reason r);

/* "key-revoked", ...; NULL for a value outside the enum. */
const char *response_reason_name(enum response_reason r);
/* RB_E_PARSE for an unknown name. */
int response_reason_from_name(const char *name, enum response_reason *ret);
/* "signed" / "rejected"; NULL otherwise. */
const char *response_status_name(enum response_status s);

/* Where the audit log recorded a signature. leaf is required; checkpoint
 * (a signed note, printable text) and proof (inclusion proof hashes) are
 * optional and may be absent (NULL / 0). */
struct response_audit {
	uint64_t leaf;
	char *checkpoint;
	uint8_t (*proof)[RESPONSE_HASH_LEN];
	size_t n_proof;
};

struct response_entry {
	uint8_t id[REQUEST_ID_LEN];
	char id_hex[REQUEST_ID_HEX_LEN + 1];
	enum response_status status;
	enum request_kind kind;       /* 0 when a rejected entry does not say */
	/* signed */
	char *key_name;
	uint8_t key_spki_sha256[32];
	enum rb_sig_scheme scheme;    /* openpgp: the scheme the HSM computed */
	uint8_t *signature;
	size_t signature_len;
	struct response_audit audit;
	/* rejected */
	enum response_reason reason;
	char *message;
};

struct response_doc {
	char *node;
	char *build_id;
	char request_commit[41];      /* 40 lowercase hex digits */
	uint8_t request_sha256[32];   /* of the request document's bytes */
	int64_t signed_at;            /* Unix time */
	struct response_entry *entries;
	size_t n_entries;
	size_t *by_id;                /* private: entry indices sorted by id */
};

/* An empty response. request_commit: 40 hex digits (either case; stored
 * lowercase). RB_E_INVAL for bad arguments. */
int response_doc_new(const char *node, const char *build_id, const char *request_commit,
		     const uint8_t request_sha256[32], int64_t signed_at,
		     struct response_doc **ret);
/* Add a signed entry. audit may be NULL (leaf 0, nothing else). The
 * signature length must fit kind and scheme (RB_E_INVAL): RSA 256..1024
 * bytes, ECDSA and Ed25519 64, openpgp 1..RESPONSE_PGP_SIG_MAX.
 * RB_E_EXISTS: an entry with that id is already there. */
int response_add_signed(struct response_doc *doc, const uint8_t id[REQUEST_ID_LEN],
			enum request_kind kind, const char *key_name,
			const uint8_t spki_sha256[32], enum rb_sig_scheme scheme,
			const uint8_t *sig, size_t sig_len, const struct response_audit *audit);
/* Add a rejection. kind may be 0 (unknown); message is 1..RESPONSE_MESSAGE_MAX
 * bytes of UTF-8 without control characters (RB_E_INVAL otherwise). */
int response_add_rejected(struct response_doc *doc, const uint8_t id[REQUEST_ID_LEN],
			  enum request_kind kind, enum response_reason reason,
			  const char *message);

/* Canonical JSON followed by one newline, appended to out. */
int response_doc_emit(const struct response_doc *doc, struct rb_buf *out);
/* Strict parse; RB_E_PARSE malformed or duplicate ids, RB_E_TOOBIG over
 * RESPONSE_MAX_BYTES or an entry cap, RB_E_UNSUPPORTED another version. */
int response_doc_parse(const char *text, size_t len, const char *source,
		       struct response_doc **ret);
void response_doc_free(struct response_doc *doc);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct response_doc *, response_doc_free)

/* The entry for a request id, or NULL (borrowed; valid until the next
 * add). */
const struct response_entry *response_doc_find(const struct response_doc *doc,
					       const uint8_t id[REQUEST_ID_LEN]);

#endif
