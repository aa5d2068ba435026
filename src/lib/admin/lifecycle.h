/* Key lifecycle on the manifest: selecting a key, revocation, rotation
 * lineage (predecessor/successor links), and where a key lives.
 *
 * These functions change a struct manifest in memory only; the caller
 * publishes it with manifest_save() (atomic), so a refused operation
 * never touches the file. Every refusal is RB_E_PERM (the key's status
 * forbids it, as for signing), RB_E_KEY,
 * RB_E_EXISTS or RB_E_INVAL with a detail naming the key and the fix.
 *
 * Ownership: strings returned through ret_* are the caller's (free());
 * manifest_key pointers are borrowed from the manifest and are invalid
 * after anything that adds a key (key_lifecycle_link_successor).
 */
#ifndef ROMBSR_ADMIN_LIFECYCLE_H
#define ROMBSR_ADMIN_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/log.h"
#include "keys/keyspec.h"
#include "keys/manifest.h"
#include "p11/p11.h"

/* A hex SPKI fingerprint prefix shorter than this is not accepted: 64
 * bits are needed before a prefix names a key unambiguously in practice. */
#define KEY_SELECTOR_MIN_HEX 16
/* Revocation reasons: printable ASCII (0x20-0x7e), 1..this many bytes.
 * They end up in the manifest, the audit log and operators' terminals. */
#define KEY_REASON_MAX 256

/* Find the key selected by sel: its name, or the lowercase/uppercase hex
 * of its SPKI SHA-256 fingerprint, full or a prefix of at least
 * KEY_SELECTOR_MIN_HEX digits that matches exactly one key. RB_E_KEY if
 * nothing or more than one key matches. *ret_index is its index in
 * m->keys. */
int key_lifecycle_select(const struct manifest *m, const char *sel, size_t *ret_index);

/* RB_E_INVAL unless reason is 1..KEY_REASON_MAX bytes of printable ASCII. */
int key_lifecycle_check_reason(const char *reason);

/* Mark m->keys[index] revoked with reason (checked as above). An active or
 * retired key can be revoked; a revoked key cannot be revoked again
 * (RB_E_PERM: the first reason stays). There is no un-revoke. */
int key_lifecycle_revoke(struct manifest *m, size_t index, const char *reason);

/* Check that m->keys[index] may be rotated: it is active (a retired key
 * was already rotated, RB_E_PERM naming its successor; a revoked key is
 * never rotated, RB_E_PERM). The sign node's own keys ("queue", "audit")
 * are looked up by name, so rotating them is RB_E_PERM too. */
int key_lifecycle_check_rotatable(const struct manifest *m, size_t index);

/* A key spec of one key, named name, that reproduces old: same
 * algorithm, size and purpose, the same certificate subject (checked to
 * encode to the same DER Name as old's certificate), the same validity
 * period, and old's OpenPGP user ID if old has an OpenPGP certificate
 * (openpgp_uid NULL otherwise). Caller frees with keyspec_free(). */
int key_lifecycle_successor_spec(const struct manifest_key *old, const char *name, struct keyspec **ret);

/* Generate the successor that ks (from key_lifecycle_successor_spec)
 * describes on logged-in token t, and fill *ret (the caller clears it with
 * manifest_key_clear()). With wrapped_dir NULL the key is resident, made
 * as provisioning makes keys (provision_key); otherwise it is a wrapped
 * key added to the store wrapped_dir, which t must have attached
 * (p11_token_set_wrapped_store), so a wrapped key's successor is wrapped
 * too. Certificates are signed by the new key through the token: X.509
 * always, OpenPGP exactly when ks->openpgp_uid is set. An empty
 * ks->purpose gives a key without purpose. */
int key_lifecycle_generate_successor(struct p11_token *t, const struct keyspec_key *ks, const char *wrapped_dir,
				     int64_t now, struct manifest_key *ret);

/* The default successor name for m->keys[index]: the name of the first key
 * of its lineage (following predecessor links) with "-N" appended, for the
 * smallest N >= 2 not used by any key of m ("media" -> "media-2" ->
 * "media-3"). Key names allow only [a-z0-9_-], so the "-N" form stands in
 * for "name.N". Caller frees *ret. */
int key_lifecycle_successor_name(const struct manifest *m, size_t index, char **ret);

/* Append successor (taken over on success: its contents now belong to m,
 * and *successor is zeroed) to m, as the active successor of
 * m->keys[index], which becomes retired. successor->name must be a valid
 * key name not used in m (RB_E_EXISTS) and the old key must pass
 * key_lifecycle_check_rotatable. Sets both links. */
int key_lifecycle_link_successor(struct manifest *m, size_t index, struct manifest_key *successor);

/* "wrapped" if the wrapped key store wrapped_dir (may be NULL) holds
 * metadata for k (wrapped_dir/NAME.json exists), else "resident". Static
 * strings; for display only - the PKCS#11 core decides at signing time. */
const char *key_lifecycle_storage(const struct manifest_key *k, const char *wrapped_dir);

/* k's lineage for listings: "after media", "before media-3", "after
 * media, before media-3", or "-". Truncated to fit buf (n >= 1). */
void key_lifecycle_links_format(const struct manifest_key *k, char *buf, size_t n);


/* Open the audit log in dir, creating it if dir holds none: the origin is
 * read from dir/checkpoint if there is one, else derived from token_label
 * as above. Caller closes. */
int key_lifecycle_audit_open(const char *dir, const char *token_label, struct audit_log **ret);

/* Which audit log a key ceremony writes to: given (--audit-dir) if not
 * NULL, else config_audit_dir (sign.conf's audit.dir) if not NULL, else
 * STATE/audit if that directory exists. *ret is NULL (and RB_OK) if there
 * is none; else the caller frees it. */
int key_lifecycle_audit_dir(const char *given, const char *config_audit_dir, const char *state_dir,
			    char **ret);

/* The signer of the manifest's `audit` key on logged-in token t, after
 * checking the token's key is the manifest's (RB_E_VERIFY otherwise).
 * Borrowed pointers, valid while t lives. */
int key_lifecycle_audit_signer(struct p11_token *t, const struct manifest *m, struct rb_signer *ret);

/* Append entries to the audit log in dir (opened as above) and write a
 * checkpoint signed by audit_key, so the events are covered by a signed
 * tree head before the change they record is published. All or none of
 * the entries are appended. *ret_first (optional): index of entries[0]. */
int key_lifecycle_audit_record(const char *dir, const char *token_label,
			       const struct json_value *const *entries, size_t n,
			       const struct rb_signer *audit_key, uint64_t *ret_first);

/* Call fn for every `sign` entry of the log in dir whose key_fingerprint
 * is key_fpr (32 bytes), in log order. *ret_count (optional) is the
 * number of matches. The log is opened and parsed strictly. */
typedef void (*key_lifecycle_sign_fn)(const struct json_value *entry, void *userdata);
int key_lifecycle_signed_by(const char *dir, const char *token_label, const uint8_t key_fpr[32],
			    key_lifecycle_sign_fn fn, void *userdata, uint64_t *ret_count);

#endif
