/* Verifying. apksigner checks every signature it makes by verifying it
 * with the certificate's public key through the first provider that takes
 * the key - with --provider-pos 1, this module. A real signature is
 * verified with OpenSSL. A placeholder is accepted as a *pending*
 * signature only if it is exactly the one this module issues for this
 * key, mechanism and input in this build and its request is recorded in
 * the spool: "this exact request is recorded and will be signed".
 * Anything else is CKR_SIGNATURE_INVALID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture-module.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

CK_RV cm_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kh)
{
	struct cm_session *s;
	struct cm_object *k;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	if (!mech)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CM_OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	else if (!(k = cm_object_lookup(kh)) || k->cls == CKO_CERTIFICATE || !cm_object_visible(k))
		rv = CKR_KEY_HANDLE_INVALID;
	else if (!cm_mech_find(cm_state, mech->mechanism))
		rv = CKR_MECHANISM_INVALID;
	else if (!k->can_verify)
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
	else {
		rv = cm_op_setup(mech, k, &s->op);
		if (rv == CKR_OK && EVP_PKEY_up_ref(k->pub) != 1)
			rv = CKR_GENERAL_ERROR;
		if (rv == CKR_OK) {
			s->op.kind = CM_OP_VERIFY;
			s->op.key = k->key;
			s->op.pub = k->pub;
		} else {
			cm_op_clear(&s->op);
		}
	}
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

/* Whether the spool holds request r, intact: the file parses, checks
 * against the manifest, and has r's id. */
static bool request_recorded(const struct cm_module *st, const struct capture_request *r)
{
	struct capture_request *found = NULL;
	uint8_t *text = NULL;
	size_t len;
	char *path = NULL;
	struct stat sb;
	bool ok = false;

	if (asprintf(&path, "%s/%s.json", st->config->spool_dir, r->id_hex) < 0)
		return false;
	if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto out;
	if (rb_file_read(path, CAPTURE_REQUEST_MAX_BYTES, &text, &len) < 0)
		goto out;
	if (capture_request_parse((const char *)text, len, path, st->manifest, &found) < 0)
		goto out;
	ok = memcmp(found->id, r->id, CAPTURE_ID_LEN) == 0;
out:
	capture_request_free(found);
	free(text);
	free(path);
	return ok;
}

static CK_RV verify_check(const struct cm_module *st, const struct cm_op *op, const struct cm_input *in,
			  const uint8_t *sig, size_t sig_len)
{
	struct capture_request *r = NULL;
	CK_RV rv = CKR_SIGNATURE_INVALID;

	if (sig_len != op->sig_len)
		return CKR_SIGNATURE_LEN_RANGE;
	if (rb_sig_verify(op->pub, op->scheme, in->in, in->in_len, sig, sig_len) == RB_OK)
		return CKR_OK;
	/* Not a real signature: is it our placeholder for exactly this? The
	 * data is kept by the same rule as when signing, so the id is the
	 * same. */
	if (!op->key)
		return CKR_SIGNATURE_INVALID;
	if (capture_request_new_data(st->config->build_id, op->key, (enum capture_mech)op->mech,
				     op->scheme, in->in, in->in_len, in->data, in->data_len, NULL, 0, &r) < 0)
		return CKR_SIGNATURE_INVALID;
	if (rb_ct_equal(sig, sig_len, r->placeholder, r->placeholder_len)) {
		if (request_recorded(st, r)) {
			cm_log(st->config, "verify: pending signature of request %s (key %s) accepted",
			       r->id_hex, r->key_name);
			rv = CKR_OK;
		} else {
			cm_log(st->config, "verify: placeholder of request %s (key %s) refused: the "
			       "request is not in the spool", r->id_hex, r->key_name);
		}
	}
	capture_request_free(r);
	return rv;
}

CK_RV cm_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		  CK_ULONG sig_len)
{
	const struct cm_module *st;
	struct cm_session *s;
	uint8_t digest[EVP_MAX_MD_SIZE];
	struct cm_input in;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	st = cm_state;
	cm_module_unlock();
	if (s->op.kind != CM_OP_VERIFY) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if ((!data && len > 0) || !sig)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.updated)
		rv = CKR_OPERATION_ACTIVE; /* C_Verify cannot finish a multi-part operation */
	else if ((rv = cm_op_input(&s->op, data, len, digest, &in)) == CKR_OK)
		rv = verify_check(st, &s->op, &in, sig, sig_len);
	/* C_Verify always ends the operation. */
	cm_op_clear(&s->op);
out:
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	cm_module_unlock();
	if (s->op.kind != CM_OP_VERIFY)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (!data && len > 0)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = cm_op_update(&s->op, data, len);
	if (rv != CKR_OK && rv != CKR_OPERATION_NOT_INITIALIZED)
		cm_op_clear(&s->op);
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	const struct cm_module *st;
	struct cm_session *s;
	uint8_t digest[EVP_MAX_MD_SIZE];
	struct cm_input in;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	st = cm_state;
	cm_module_unlock();
	if (s->op.kind != CM_OP_VERIFY) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if (!sig)
		rv = CKR_ARGUMENTS_BAD;
	else if (!s->op.md)
		rv = CKR_FUNCTION_NOT_SUPPORTED; /* single-part mechanism */
	else if ((rv = cm_op_final(&s->op, digest, &in)) == CKR_OK)
		rv = verify_check(st, &s->op, &in, sig, sig_len);
	cm_op_clear(&s->op);
out:
	cm_session_leave(s);
	return rv;
}
