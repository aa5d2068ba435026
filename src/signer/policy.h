/* What the key holder (rombsr-signer) signs, decided again on its side of
 * the socket. The orchestrator parses everything build nodes write; if a
 * parser bug hands it to an attacker, the attacker can ask the key holder
 * for anything. So the key holder takes nothing on trust: every SIGN
 * message is checked against sign.conf and the manifest it read itself,
 * at start, before the token is touched:
 *   - the key is in the manifest and active;
 *   - a request (capture, raw, OpenPGP) names a node of sign.conf that may
 *     use the key (node.NAME.allowKey), and the key's purposes allow the
 *     request's kind - so the queue and audit keys never sign a request;
 *   - a response commit is signed by the queue key only, a checkpoint by
 *     the audit key only, and a checkpoint must be one of this node's log
 *     (its first line is the log's origin);
 *   - the scheme fits the key and the input has the scheme's length.
 * What it cannot see from here (the approvals a key needs, the node's
 * quotas, the APK structure of a capture request) stays the
 * orchestrator's: docs/THREAT-MODEL.md says what that leaves open.
 */
#ifndef ROMBSR_SIGNER_POLICY_H
#define ROMBSR_SIGNER_POLICY_H

#include "keys/manifest.h"
#include "queue/config.h"
#include "signer/wire.h"

/* RB_OK and *ret_mk (borrowed from m) if req may be signed; RB_E_PERM
 * (a policy refusal) or RB_E_INVAL (a malformed request), with a detail
 * naming the key, the node and the rule, otherwise. */
int signer_policy_check(const struct sign_config *cfg, const struct manifest *m, const char *origin,
			const struct signer_msg *req, const struct manifest_key **ret_mk);

#endif
