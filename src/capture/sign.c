/* Signing: what a tool asks to have signed becomes a request in the spool,
 * and the tool gets the request's placeholder as its signature. The
 * request is on disk before the placeholder is returned, so no placeholder
 * ever exists without its request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture-module.h"
#include "util/err.h"

void cm_op_clear(struct cm_op *op)
{
	EVP_MD_CTX_free(op->md);
	EVP_PKEY_free(op->pub);
	rb_buf_free(&op->data);
	memset(op, 0, sizeof(*op));
}

static bool no_params(const CK_MECHANISM *m)
{
	return !m->pParameter && m->ulParameterLen == 0;
}

static CK_RV pss_params(const CK_MECHANISM *m, struct cm_op *op)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;

	if (!p || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	/* The two PSS profiles the sign node produces; hash, MGF and salt
	 * length must agree (RFC 8017 9.1 recommendation). */
	if (p->hashAlg == CKM_SHA256 && p->mgf == CKG_MGF1_SHA256 && p->sLen == 32)
		op->scheme = RB_SIG_RSA_PSS_SHA256;
	else if (p->hashAlg == CKM_SHA512 && p->mgf == CKG_MGF1_SHA512 && p->sLen == 64)
		op->scheme = RB_SIG_RSA_PSS_SHA512;
	else
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

static CK_RV eddsa_params(const CK_MECHANISM *m)
{
	const CM_EDDSA_PARAMS *p = m->pParameter;

	if (no_params(m))
		return CKR_OK;
	/* Plain Ed25519 only: no prehash (Ed25519ph), no context (Ed25519ctx). */
	if (!p || m->ulParameterLen != sizeof(*p) || p->phFlag != CK_FALSE ||
	    p->ulContextDataLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

CK_RV cm_op_setup(const CK_MECHANISM *mech, const struct cm_object *key, struct cm_op *op)
{
	enum rb_key_alg need;
	CK_RV rv = CKR_OK;

	switch (mech->mechanism) {
	case CKM_RSA_PKCS:
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS:
	case CKM_RSA_PKCS_PSS:
		need = RB_KEY_RSA;
		break;
	case CKM_ECDSA:
	case CKM_ECDSA_SHA256:
		need = RB_KEY_EC_P256;
		break;
	case CKM_EDDSA:
		need = RB_KEY_ED25519;
		break;
	default:
		return CKR_MECHANISM_INVALID;
	}
	if (key->alg != need)
		return CKR_KEY_TYPE_INCONSISTENT;
	op->mech = mech->mechanism;
	switch (mech->mechanism) {
	case CKM_RSA_PKCS:
		op->scheme = RB_SIG_RSA_PKCS1_SHA256; /* decided by the DigestInfo */
		rv = no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
		break;
	case CKM_SHA256_RSA_PKCS:
		op->scheme = RB_SIG_RSA_PKCS1_SHA256;
		rv = no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
		break;
	case CKM_SHA512_RSA_PKCS:
		op->scheme = RB_SIG_RSA_PKCS1_SHA512;
		rv = no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
		break;
	case CKM_RSA_PKCS_PSS:
		rv = pss_params(mech, op);
		break;
	case CKM_ECDSA:
	case CKM_ECDSA_SHA256:
		op->scheme = RB_SIG_ECDSA_SHA256;
		rv = no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
		break;
	case CKM_EDDSA:
		op->scheme = RB_SIG_ED25519;
		rv = eddsa_params(mech);
		break;
	}
	if (rv != CKR_OK)
		return rv;
	op->sig_len = need == RB_KEY_RSA ? (size_t)EVP_PKEY_get_size(key->pub) : 64;
	if (capture_mech_hashes((enum capture_mech)op->mech)) {
		op->data.cap = CAPTURE_DATA_MAX;
		op->md = EVP_MD_CTX_new();
		if (!op->md)
			return CKR_HOST_MEMORY;
		if (EVP_DigestInit_ex(op->md, rb_sig_scheme_md(op->scheme), NULL) != 1)
			return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

/* Data of length 0 is kept too: a non-NULL pointer says so. */
static const uint8_t *kept(const uint8_t *data)
{
	return data ? data : (const uint8_t *)"";
}

CK_RV cm_op_input(struct cm_op *op, const uint8_t *data, size_t len, uint8_t *digest_buf,
		  struct cm_input *ret)
{
	*ret = (struct cm_input){ data, len, NULL, 0 };
	switch (op->mech) {
	case CKM_RSA_PKCS:
		/* Only a DigestInfo the sign node can re-create exactly: the
		 * module must never pass on an arbitrary blob for raw RSA. */
		if (len > op->sig_len - 11)
			return CKR_DATA_LEN_RANGE;
		if (capture_digestinfo_parse(data, len, &op->scheme, &ret->in, &ret->in_len) < 0)
			return CKR_DATA_INVALID;
		return CKR_OK;
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS:
	case CKM_ECDSA_SHA256:
		/* One-shot, so a length query leaves the operation untouched. */
		if (rb_digest(rb_sig_scheme_md(op->scheme), data, len, digest_buf, &ret->in_len) < 0)
			return CKR_GENERAL_ERROR;
		ret->in = digest_buf;
		if (len <= CAPTURE_DATA_MAX) {
			ret->data = kept(data);
			ret->data_len = len;
		}
		return CKR_OK;
	case CKM_RSA_PKCS_PSS:
	case CKM_ECDSA:
		if (len != rb_sig_scheme_digest_len(op->scheme))
			return CKR_DATA_LEN_RANGE;
		return CKR_OK;
	case CKM_EDDSA:
		if (len == 0 || len > CAPTURE_EDDSA_MAX_MESSAGE)
			return CKR_DATA_LEN_RANGE;
		return CKR_OK;
	}
	return CKR_GENERAL_ERROR;
}

CK_RV cm_op_update(struct cm_op *op, const uint8_t *data, size_t len)
{
	if (!op->md)
		return CKR_FUNCTION_NOT_SUPPORTED; /* single-part mechanism */
	op->updated = true;
	if (len && EVP_DigestUpdate(op->md, data, len) != 1)
		return CKR_GENERAL_ERROR;
	if (!op->data_over && rb_buf_put(&op->data, data, len) < 0) {
		/* Over CAPTURE_DATA_MAX (or out of memory): hashed only. */
		op->data_over = true;
		rb_buf_free(&op->data);
	}
	return CKR_OK;
}

CK_RV cm_op_final(struct cm_op *op, uint8_t *digest_buf, struct cm_input *ret)
{
	unsigned n = 0;

	if (!op->md)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (EVP_DigestFinal_ex(op->md, digest_buf, &n) != 1)
		return CKR_GENERAL_ERROR;
	*ret = (struct cm_input){ digest_buf, n, NULL, 0 };
	if (!op->data_over) {
		ret->data = kept(op->data.data);
		ret->data_len = op->data.len;
	}
	return CKR_OK;
}

CK_RV cm_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kh)
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
	else if (!(k = cm_object_lookup(kh)) || k->cls == CKO_CERTIFICATE)
		rv = CKR_KEY_HANDLE_INVALID;
	else if (!cm_object_visible(k))
		rv = CKR_USER_NOT_LOGGED_IN; /* the private key of a manifest key */
	else if (!cm_mech_find(cm_state, mech->mechanism))
		rv = CKR_MECHANISM_INVALID;
	else if (!k->can_sign)
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
	else {
		rv = cm_op_setup(mech, k, &s->op);
		if (rv == CKR_OK) {
			s->op.kind = CM_OP_SIGN;
			s->op.key = k->key;
		} else {
			cm_op_clear(&s->op);
		}
	}
	cm_module_unlock();
	cm_session_leave(s);
	return rv;
}

/* Record the request for (op, input) and copy its placeholder out. */
static CK_RV sign_record(const struct cm_module *st, struct cm_op *op, const struct cm_input *in,
			 CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	struct capture_request *r = NULL;
	int err;

	rb_err_clear();
	err = capture_request_new_data(st->config->build_id, op->key, (enum capture_mech)op->mech,
				       op->scheme, in->in, in->in_len, in->data, in->data_len, st->tool,
				       (int64_t)time(NULL), &r);
	if (err < 0) {
		cm_log(st->config, "request refused: key %s, %s: %s", op->key->name,
		       capture_mech_name((enum capture_mech)op->mech), rb_err_message(err));
		return err == RB_E_NOMEM ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
	}
	if (r->placeholder_len != op->sig_len) {
		cm_log(st->config, "request %s: placeholder is %zu bytes, expected %zu", r->id_hex,
		       r->placeholder_len, op->sig_len);
		capture_request_free(r);
		return CKR_GENERAL_ERROR;
	}
	rb_err_clear();
	if ((err = capture_spool_write(st->config->spool_dir, r)) < 0) {
		char reason[RB_ERR_DETAIL_MAX + 256];

		snprintf(reason, sizeof(reason), "cannot record request %s for key %s in spool '%s' (%s)",
			 r->id_hex, r->key_name, st->config->spool_dir, rb_err_message(err));
		cm_log_failure(st->config, reason,
			       "make the spool directory writable with free space; nothing was signed");
		capture_request_free(r);
		return CKR_DEVICE_ERROR;
	}
	cm_log(st->config, "request %s: key %s, %s, %s, %s, tool %s", r->id_hex, r->key_name,
	       capture_mech_name(r->mechanism), rb_sig_scheme_name(r->scheme),
	       r->data ? "data kept" : "digest only", st->tool);
	memcpy(sig, r->placeholder, r->placeholder_len);
	*sig_len = r->placeholder_len;
	capture_request_free(r);
	return CKR_OK;
}

/* The signature length protocol: NULL buffer -> length; short buffer ->
 * CKR_BUFFER_TOO_SMALL. Both keep the operation. */
static CK_RV sign_length(const struct cm_op *op, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len,
			 bool *ret_done)
{
	*ret_done = true;
	if (!sig) {
		*sig_len = op->sig_len;
		return CKR_OK;
	}
	if (*sig_len < op->sig_len) {
		*sig_len = op->sig_len;
		return CKR_BUFFER_TOO_SMALL;
	}
	*ret_done = false;
	return CKR_OK;
}

CK_RV cm_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		CK_ULONG_PTR sig_len)
{
	const struct cm_module *st;
	struct cm_session *s;
	uint8_t digest[EVP_MAX_MD_SIZE];
	struct cm_input in;
	bool done;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	st = cm_state;
	cm_module_unlock();
	if (s->op.kind != CM_OP_SIGN) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if ((!data && len > 0) || !sig_len) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (s->op.updated) {
		rv = CKR_OPERATION_ACTIVE; /* C_Sign cannot finish a multi-part operation */
		goto end;
	}
	if ((rv = cm_op_input(&s->op, data, len, digest, &in)) != CKR_OK)
		goto end;
	if ((rv = sign_length(&s->op, sig, sig_len, &done)) != CKR_OK || done)
		goto out;
	rv = sign_record(st, &s->op, &in, sig, sig_len);
end:
	/* Anything but a length answer ends the operation (PKCS#11 2.40, C_Sign). */
	cm_op_clear(&s->op);
out:
	cm_session_leave(s);
	return rv;
}

CK_RV cm_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct cm_session *s;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	cm_module_unlock();
	if (s->op.kind != CM_OP_SIGN)
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

CK_RV cm_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	const struct cm_module *st;
	struct cm_session *s;
	uint8_t digest[EVP_MAX_MD_SIZE];
	struct cm_input in;
	bool done;
	CK_RV rv;

	if ((rv = cm_session_enter(h, &s)) != CKR_OK)
		return rv;
	st = cm_state;
	cm_module_unlock();
	if (s->op.kind != CM_OP_SIGN) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if (!sig_len) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (!s->op.md) {
		rv = CKR_FUNCTION_NOT_SUPPORTED; /* single-part mechanism */
		goto end;
	}
	if ((rv = sign_length(&s->op, sig, sig_len, &done)) != CKR_OK || done)
		goto out;
	if ((rv = cm_op_final(&s->op, digest, &in)) != CKR_OK)
		goto end;
	rv = sign_record(st, &s->op, &in, sig, sig_len);
end:
	cm_op_clear(&s->op);
out:
	cm_session_leave(s);
	return rv;
}
