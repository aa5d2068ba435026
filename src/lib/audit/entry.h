/* Audit log entries (docs/formats/audit-entry.md): canonical JSON objects
 *
 *   {"format":"rombsr-audit-entry","version":1,"type":"...","time":"...",...}
 *
 * with one fixed key set per type. The builders produce a tree the log
 * appends (audit_log_append emits it as JSON_CANONICAL); audit_entry_parse
 * is the strict reader for entries read back from disk, which are
 * untrusted: at most AUDIT_ENTRY_MAX bytes, canonical form only (the bytes
 * must equal the canonical emission of what they parse to), known type,
 * exact key set, every field well-formed.
 *
 * Ownership: builders and the parser return a tree the caller frees with
 * json_free(). Input pointers are copied, never kept.
 */
#ifndef ROMBSR_AUDIT_ENTRY_H
#define ROMBSR_AUDIT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "json/json.h"

#define AUDIT_ENTRY_FORMAT "rombsr-audit-entry"
#define AUDIT_ENTRY_VERSION 1
/* Entry bundles prefix each entry with a big-endian uint16 length. */
#define AUDIT_ENTRY_MAX 65535u
/* Field caps, so every entry fits AUDIT_ENTRY_MAX with room to spare. */
#define AUDIT_FIELD_MAX 512u       /* names, ids, reasons */
#define AUDIT_SIG_MAX 1024u        /* signature bytes (RSA-8192 is 1024) */
#define AUDIT_DIGEST_MAX 64u       /* bytes of the signed digest */
#define AUDIT_APPROVALS_MAX 32u
/* Request ids in one `intent` entry (each at most 128 hex digits, so an
 * intent stays under 34 KiB); a batch with more writes several. */
#define AUDIT_INTENT_IDS_MAX 256u
/* Build nodes are identified by their OpenPGP v4 primary key fingerprint. */
#define AUDIT_NODE_FPR_LEN 20u

enum audit_event {
	AUDIT_SIGN = 1,
	AUDIT_REJECT,
	AUDIT_KEYGEN,
	AUDIT_IMPORT,
	AUDIT_UNWRAP,
	AUDIT_REVOKE,
	AUDIT_ROTATE,
	AUDIT_PROVISION,
	AUDIT_POLICY_CHANGE,
	AUDIT_LOGIN_FAILURE,
	AUDIT_INTENT,
	AUDIT_HSM_OUTAGE,
};

/* "sign", "reject", ..., "intent", "hsm-outage". NULL if unknown. */
const char *audit_event_name(enum audit_event e);
int audit_event_parse(const char *s, enum audit_event *ret);

/* One signature released by the sign node. Strings are UTF-8 of at most
 * AUDIT_FIELD_MAX bytes; request_id is lowercase hex. */
struct audit_sign_info {
	int64_t time;                    /* Unix seconds */
	const char *request_id;          /* hex, the queue's request id */
	const char *build_id;
	const uint8_t *node_fpr;         /* AUDIT_NODE_FPR_LEN (20) bytes: the build node's OpenPGP fingerprint */
	const char *key_name;
	const uint8_t *key_fpr;          /* 32 bytes: SHA-256 of the key's SPKI */
	enum rb_sig_scheme scheme;
	const char *artifact_name;
	const uint8_t *artifact_sha256;  /* 32 bytes */
	const uint8_t *digest;           /* what was signed: the digest, or for */
	size_t digest_len;               /* Ed25519 SHA-256 of the message */
	const uint8_t *sig;              /* the full signature */
	size_t sig_len;
	const char *const *approvals;    /* approver identities, may be NULL */
	size_t n_approvals;
};

/* A refused request. build_id, key_name and artifact_name may be NULL
 * when the request was too malformed to name them, or when a whole commit
 * was refused (unsigned, unknown signer) and nothing in it is believed. */
struct audit_reject_info {
	int64_t time;
	const char *request_id;
	const char *build_id;
	const uint8_t *node_fpr;         /* AUDIT_NODE_FPR_LEN bytes, or NULL if unknown */
	const char *key_name;
	const char *artifact_name;
	const char *reason;
};

/* keygen, import, unwrap, revoke, rotate: something happened to a key.
 * detail is free text (the revocation reason, the wrapping key, ...), may
 * be NULL; for rotate, new_key_* name the successor (else NULL). */
struct audit_key_info {
	int64_t time;
	const char *actor;               /* role or custodian that did it */
	const char *key_name;
	const uint8_t *key_fpr;          /* 32 bytes */
	const char *new_key_name;
	const uint8_t *new_key_fpr;
	const char *detail;
};

/* The sign node is about to ask the HSM to sign these requests with one
 * key: written, and made durable, before the HSM is called, so that every
 * HSM operation is accounted for even when its result is lost (the node
 * killed before the `sign` entry). request_ids are lowercase hex, 1 to
 * AUDIT_INTENT_IDS_MAX of them. */
struct audit_intent_info {
	int64_t time;
	const char *key_name;
	const uint8_t *key_fpr;          /* 32 bytes: SHA-256 of the key's SPKI */
	const char *const *request_ids;
	size_t n_request_ids;
};

int audit_entry_sign(const struct audit_sign_info *in, struct json_value **ret);
int audit_entry_intent(const struct audit_intent_info *in, struct json_value **ret);
int audit_entry_reject(const struct audit_reject_info *in, struct json_value **ret);
/* event is one of AUDIT_KEYGEN .. AUDIT_ROTATE. */
int audit_entry_key(enum audit_event event, const struct audit_key_info *in,
		    struct json_value **ret);
/* A token was provisioned: its label and the SHA-256 of the manifest written. */
int audit_entry_provision(int64_t time, const char *actor, const char *token_label,
			  const uint8_t manifest_sha256[32], struct json_value **ret);
/* The sign-node configuration changed: SHA-256 of the new configuration. */
int audit_entry_policy_change(int64_t time, const char *actor, const uint8_t config_sha256[32],
			      struct json_value **ret);
/* A failed C_Login: which role, on which token, and why (CKR name). */
int audit_entry_login_failure(int64_t time, const char *role, const char *token_label,
			      const char *reason, struct json_value **ret);

/* The sign node lost its token (a restart, a removal): one entry per
 * outage, when it is first seen, with the error it showed (reason). The
 * requests it held wait for the token; none is answered during it. */
int audit_entry_hsm_outage(int64_t time, const char *token_label, const char *reason,
			   struct json_value **ret);

/* Check a built or parsed entry against the format (key set, field types
 * and sizes). RB_E_PARSE with a detail naming the field. */
int audit_entry_check(const struct json_value *entry);
/* Parse len bytes from an entry bundle: strict JSON, canonical, checked.
 * *ret_type (optional) receives the event type. */
int audit_entry_parse(const void *bytes, size_t len, struct json_value **ret,
		      enum audit_event *ret_type);

/* The fields of a validated entry that readers of a whole log need, as
 * spans into the validated bytes (borrowed: valid as long as they are).
 * None of these fields can hold an escape, so the spans are the values. */
struct audit_entry_view {
	enum audit_event type;
	const char *time;              /* RB_TIME_LEN bytes, RFC 3339 UTC */
	const char *request_id;        /* sign and reject: lowercase hex; else NULL */
	size_t request_id_len;
	const char *signature;         /* sign: padded base64; else NULL */
	size_t signature_len;
	const char *request_ids;       /* intent: the array ["<hex>",...]; else NULL */
	size_t request_ids_len;
};

/* The fast reader for logs: accepts exactly the byte strings that
 * audit_entry_parse() accepts (canonical form, UTF-8, key order, escapes,
 * integer form and the field table, checked in one scan), without
 * building a tree or re-emitting. RB_E_PARSE / RB_E_TOOBIG /
 * RB_E_UNSUPPORTED with a detail naming the byte offset and the field.
 * The fuzz target fuzz_audit_entry_diff and the unit tests check that it
 * agrees with audit_entry_parse on every input. *ret (optional) is set
 * only on success. */
int audit_entry_validate(const void *bytes, size_t len, struct audit_entry_view *ret);

/* The request ids of an intent's view, one per call: *pos starts at 0;
 * 1 and the id's span (lowercase hex, borrowed), or 0 after the last. */
int audit_entry_view_next_id(const struct audit_entry_view *view, size_t *pos, const char **ret,
			     size_t *ret_len);

/* Decode an entry's `signature` (view->signature) into a malloc()ed
 * buffer; caller frees. */
int audit_entry_view_signature(const struct audit_entry_view *view, uint8_t **ret,
			       size_t *ret_len);

#endif
