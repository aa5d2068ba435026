/* Is this response for this request, and did the sign node publish it?
 *
 * The queue is any git remote, so anyone with write access to it (or to
 * the cache) can add a commit. Only the queue key's signature on the
 * commit that added the response says the sign node wrote it, and only
 * the request's hash inside the response says it answers the document
 * this build submitted. */
#include <string.h>

#include <openssl/evp.h>

#include "apply/apply-internal.h"
#include "apply/apply.h"
#include "util/cleanup.h"
#include "util/err.h"

int apply_response_check(const struct response_doc *resp, const struct request_doc *req,
			 const uint8_t *req_bytes, size_t req_len, const char *request_commit)
{
	uint8_t digest[64];
	size_t dlen;

	if (!resp || !req || !req_bytes || !request_commit)
		return rb_err_set(RB_E_INVAL, "apply: missing argument");
	if (strcmp(resp->node, req->node) != 0 || strcmp(resp->build_id, req->build_id) != 0)
		return rb_err_set(RB_E_VERIFY, "response is for node \"%s\" build \"%s\", the request "
				  "for node \"%s\" build \"%s\"; the queue is inconsistent",
				  resp->node, resp->build_id, req->node, req->build_id);
	if (rb_digest(EVP_sha256(), req_bytes, req_len, digest, &dlen) < 0)
		return RB_E_CRYPTO;
	if (memcmp(digest, resp->request_sha256, 32) != 0)
		return rb_err_set(RB_E_VERIFY, "response for build \"%s\": request_sha256 is not the "
				  "SHA-256 of the request document in the queue; it answers another "
				  "document, nothing applied", req->build_id);
	if (strcmp(resp->request_commit, request_commit) != 0)
		return rb_err_set(RB_E_VERIFY, "response for build \"%s\": request_commit %s is not "
				  "%s, the commit that added the request", req->build_id,
				  resp->request_commit, request_commit);
	return RB_OK;
}

int apply_commit_check(const struct manifest *m, const uint8_t *armored_sig, size_t sig_len,
		       const uint8_t *signed_data, size_t signed_len,
		       const struct manifest_key **ret_key)
{
	struct rb_buf bin = RB_BUF_INIT;
	const struct manifest_key *revoked = NULL;
	bool have_queue_key = false;
	int err;

	if (!m || !armored_sig || !signed_data)
		return rb_err_set(RB_E_INVAL, "apply: missing argument");
	if (sig_len > APPLY_COMMIT_SIG_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "response commit: %zu-byte signature header exceeds %u "
				  "bytes", sig_len, APPLY_COMMIT_SIG_MAX_BYTES);
	if ((err = pgp_dearmor(PGP_ARMOR_SIGNATURE, (const char *)armored_sig, sig_len, &bin)) < 0) {
		rb_buf_free(&bin);
		return rb_err_set(RB_E_PARSE, "response commit: the signature is not an armored "
				  "OpenPGP signature; the response is refused");
	}
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
		struct rb_signer signer;

		if (!k->purpose || strcmp(k->purpose, APPLY_QUEUE_KEY_PURPOSE) != 0)
			continue;
		have_queue_key = true;
		if (apply_pgp_key_for(k, &signer, &pk) < 0)
			continue;
		if (pgp_sig_verify_buffer(pk, bin.data, bin.len, signed_data, signed_len) != RB_OK)
			continue;
		if (k->status == KEY_REVOKED) {
			revoked = k;
			continue;
		}
		rb_buf_free(&bin);
		rb_err_clear();
		if (ret_key)
			*ret_key = k;
		return RB_OK;
	}
	rb_buf_free(&bin);
	if (revoked)
		return rb_err_set(RB_E_PERM, "response commit: signed by queue key \"%s\", which is "
				  "revoked; the response is refused", revoked->name);
	if (!have_queue_key)
		return rb_err_set(RB_E_KEY, "the manifest has no key of purpose \"%s\"; use the "
				  "manifest of the sign node's token", APPLY_QUEUE_KEY_PURPOSE);
	return rb_err_set(RB_E_VERIFY, "response commit: the signature does not verify with the "
			  "manifest's queue key (signed by another key, or altered); the response "
			  "is refused");
}
