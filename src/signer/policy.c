/* The key holder's own check of every SIGN message (policy.h). */
#include <string.h>

#include "crypto/signer.h"
#include "request/request.h"
#include "signer/policy.h"
#include "util/err.h"

/* The request kind a purpose stands for, 0 for the sign node's own. */
static enum request_kind policy_request_kind(enum signer_purpose p)
{
	switch (p) {
	case SIGNER_FOR_CAPTURE: return REQUEST_KIND_CAPTURE;
	case SIGNER_FOR_RAW: return REQUEST_KIND_RAW;
	case SIGNER_FOR_OPENPGP: return REQUEST_KIND_OPENPGP;
	default: return 0;
	}
}

/* The input's length for the scheme: a digest, or for Ed25519 what the
 * purpose signs (a raw request's SHA-256, an OpenPGP hash, a capture
 * request's message up to CAPTURE_EDDSA_MAX_MESSAGE, a checkpoint note). */
static int policy_input_check(const struct signer_msg *req, const struct manifest_key *mk)
{
	size_t want = rb_sig_scheme_digest_len(req->scheme);

	if (req->scheme == RB_SIG_ED25519) {
		switch (req->purpose) {
		case SIGNER_FOR_RAW:
			want = 32;
			break;
		case SIGNER_FOR_OPENPGP: /* the SHA-256 or SHA-512 OpenPGP hash */
			want = req->input_len == 32 ? 32 : 64;
			break;
		case SIGNER_FOR_QUEUE:
			want = 64; /* response commits are hashed with SHA-512 */
			break;
		default:
			want = 0; /* any length up to SIGNER_INPUT_MAX */
		}
	}
	if (want ? req->input_len != want : req->input_len == 0)
		return rb_err_set(RB_E_INVAL, "key holder: key '%s' under %s takes %s%zu input bytes, the "
				  "orchestrator sent %zu", mk->name, rb_sig_scheme_name(req->scheme),
				  want ? "" : "at least ", want ? want : 1, req->input_len);
	if ((req->purpose == SIGNER_FOR_CAPTURE) != (req->placeholder_len != 0))
		return rb_err_set(RB_E_INVAL, "key holder: a placeholder length (%u) belongs to capture "
				  "requests only", req->placeholder_len);
	return RB_OK;
}

/* A checkpoint of this node's log: "<origin>\n<size>\n<root hash>\n"
 * and optional extension lines. */
static int policy_checkpoint_check(const char *origin, const struct signer_msg *req)
{
	size_t olen = strlen(origin), lines = 0;

	if (req->input_len <= olen || memcmp(req->input, origin, olen) != 0 || req->input[olen] != '\n')
		return rb_err_set(RB_E_PERM, "key holder: the audit key signs checkpoints of log '%s' only; "
				  "this note is of another origin", origin);
	for (size_t i = 0; i < req->input_len; i++)
		if (req->input[i] == '\n')
			lines++;
	if (lines < 3 || req->input[req->input_len - 1] != '\n')
		return rb_err_set(RB_E_PERM, "key holder: the audit key signs checkpoints only (origin, size, "
				  "root hash, one per line); this note has %zu lines", lines);
	return RB_OK;
}

static int policy_own_key_check(const struct signer_msg *req, const struct manifest_key *mk,
				const char *want_name, enum key_purpose want)
{
	if (strcmp(mk->name, want_name) != 0 || mk->purposes != (unsigned)want)
		return rb_err_set(RB_E_PERM, "key holder: %s are signed by the key '%s' alone (purpose %s), "
				  "not by '%s'", want == KEY_PURPOSE_QUEUE_RESPONSE ? "response commits"
										: "audit checkpoints",
				  want_name, key_purpose_name(want), mk->name);
	if (req->node[0])
		return rb_err_set(RB_E_INVAL, "key holder: a %s names no node", key_purpose_name(want));
	if (req->scheme != RB_SIG_ED25519)
		return rb_err_set(RB_E_PERM, "key holder: key '%s' signs Ed25519 only", mk->name);
	return RB_OK;
}

int signer_policy_check(const struct sign_config *cfg, const struct manifest *m, const char *origin,
			const struct signer_msg *req, const struct manifest_key **ret_mk)
{
	const struct manifest_key *mk = manifest_find(m, req->key);
	enum request_kind kind = policy_request_kind(req->purpose);
	int err;

	if (!mk)
		return rb_err_set(RB_E_PERM, "key holder: key '%s' is not in the manifest", req->key);
	if (mk->status != KEY_ACTIVE)
		return rb_err_set(RB_E_PERM, "key holder: key '%s' is not active; it signs nothing", mk->name);
	if (!rb_sig_scheme_name(req->scheme) || !rb_sig_scheme_fits(req->scheme, mk->alg))
		return rb_err_set(RB_E_PERM, "key holder: key '%s' (%s) cannot make scheme %u", mk->name,
				  rb_key_alg_name(mk->alg), req->scheme);
	if (kind) {
		const struct sign_node *node = sign_config_find_node(cfg, req->node);

		if (!node)
			return rb_err_set(RB_E_PERM, "key holder: node '%s' is not in %s", req->node, cfg->path);
		if (!sign_node_allows_key(node, mk->name))
			return rb_err_set(RB_E_PERM, "key holder: node '%s' may not use key '%s' (%s: allowKey)",
					  node->name, mk->name, cfg->path);
		if ((err = request_key_purpose_check(kind, mk)) < 0)
			return err;
		/* An OpenPGP signature is PKCS#1 v1.5 (RSA) or Ed25519 over the
		 * OpenPGP hash, never a scheme the request picks. */
		if (kind == REQUEST_KIND_OPENPGP && req->scheme != RB_SIG_ED25519 &&
		    req->scheme != RB_SIG_RSA_PKCS1_SHA256 && req->scheme != RB_SIG_RSA_PKCS1_SHA512)
			return rb_err_set(RB_E_PERM, "key holder: OpenPGP signatures are PKCS#1 v1.5 or Ed25519, "
					  "not %s", rb_sig_scheme_name(req->scheme));
	} else if (req->purpose == SIGNER_FOR_QUEUE) {
		if ((err = policy_own_key_check(req, mk, SIGN_NODE_QUEUE_KEY, KEY_PURPOSE_QUEUE_RESPONSE)) < 0)
			return err;
	} else if (req->purpose == SIGNER_FOR_CHECKPOINT) {
		if ((err = policy_own_key_check(req, mk, SIGN_NODE_AUDIT_KEY, KEY_PURPOSE_AUDIT_CHECKPOINT)) < 0 ||
		    (err = policy_checkpoint_check(origin, req)) < 0)
			return err;
	} else {
		return rb_err_set(RB_E_INVAL, "key holder: unknown purpose %u", (unsigned)req->purpose);
	}
	if ((err = policy_input_check(req, mk)) < 0)
		return err;
	*ret_mk = mk;
	return RB_OK;
}
