/* The one slot, its token and its mechanisms. */
#include <stdio.h>
#include <string.h>

#include "capture-module.h"
#include "config.h"
#include "util/cleanup.h"

void cm_mechs_build(struct cm_module *st)
{
	unsigned long rsa_min = 0, rsa_max = 0;
	bool have_ec = false, have_ed = false;
	size_t i;

	for (i = 0; i < st->manifest->n_keys; i++) {
		const struct manifest_key *k = &st->manifest->keys[i];

		if (k->status != KEY_ACTIVE)
			continue;
		switch (k->alg) {
		case RB_KEY_RSA:
			if (rsa_min == 0 || k->bits < rsa_min)
				rsa_min = k->bits;
			if (k->bits > rsa_max)
				rsa_max = k->bits;
			break;
		case RB_KEY_EC_P256:
			have_ec = true;
			break;
		case RB_KEY_ED25519:
			have_ed = true;
			break;
		}
	}
	st->n_mechs = 0;
	/* Only what a key of the manifest can do: a mechanism listed without a
	 * key for it would send clients (SunPKCS11) down paths that fail late. */
	if (rsa_max) {
		static const CK_MECHANISM_TYPE rsa[] = { CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS,
							 CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS };

		for (i = 0; i < ELEMENTSOF(rsa); i++)
			st->mechs[st->n_mechs++] = (struct cm_mech){
				rsa[i], { rsa_min, rsa_max, CKF_SIGN | CKF_VERIFY } };
	}
	if (have_ec) {
		/* CKM_ECDSA_SHA256 makes SunPKCS11 pass the data (what apksigner
		 * signs) instead of its hash, so the request can carry it. */
		static const CK_MECHANISM_TYPE ec[] = { CKM_ECDSA, CKM_ECDSA_SHA256 };

		for (i = 0; i < ELEMENTSOF(ec); i++)
			st->mechs[st->n_mechs++] = (struct cm_mech){
				ec[i], { 256, 256, CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE |
							   CKF_EC_UNCOMPRESS } };
	}
	if (have_ed)
		st->mechs[st->n_mechs++] = (struct cm_mech){
			CKM_EDDSA, { 255, 255, CKF_SIGN | CKF_VERIFY } };
}

const struct cm_mech *cm_mech_find(const struct cm_module *st, CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < st->n_mechs; i++)
		if (st->mechs[i].type == type)
			return &st->mechs[i];
	return NULL;
}

CK_RV cm_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_RV rv;

	(void)token_present; /* the token is always present */
	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	cm_module_unlock();
	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list) {
		*count = 1;
		return CKR_OK;
	}
	if (*count < 1) {
		*count = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	list[0] = CM_SLOT_ID;
	*count = 1;
	return CKR_OK;
}

static void fill_version(CK_VERSION *v)
{
	unsigned major = 0, minor = 0;

	sscanf(ROMBSR_VERSION, "%u.%u", &major, &minor);
	v->major = (CK_BYTE)major;
	v->minor = (CK_BYTE)minor;
}

CK_RV cm_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	cm_module_unlock();
	if (slot != CM_SLOT_ID)
		return CKR_SLOT_ID_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	cm_pad(info->slotDescription, sizeof(info->slotDescription), "rombsr capture slot");
	cm_pad(info->manufacturerID, sizeof(info->manufacturerID), CM_MANUFACTURER);
	info->flags = CKF_TOKEN_PRESENT;
	fill_version(&info->hardwareVersion);
	fill_version(&info->firmwareVersion);
	return CKR_OK;
}

CK_RV cm_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (slot != CM_SLOT_ID) {
		cm_module_unlock();
		return CKR_SLOT_ID_INVALID;
	}
	if (!info) {
		cm_module_unlock();
		return CKR_ARGUMENTS_BAD;
	}
	memset(info, 0, sizeof(*info));
	cm_pad(info->label, sizeof(info->label), cm_state->token_label);
	cm_pad(info->manufacturerID, sizeof(info->manufacturerID), CM_MANUFACTURER);
	cm_pad(info->model, sizeof(info->model), CM_MODEL);
	cm_pad(info->serialNumber, sizeof(info->serialNumber), cm_state->token_serial);
	/* Login is required so that clients log in and then see the private
	 * keys, exactly as on the signing token; any PIN works unless a PIN
	 * file is configured. Token objects cannot be changed. No RNG, no
	 * clock. */
	info->flags = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
		      CKF_WRITE_PROTECTED;
	info->ulMaxSessionCount = CM_MAX_SESSIONS;
	info->ulSessionCount = cm_state->n_sessions;
	info->ulMaxRwSessionCount = CM_MAX_SESSIONS;
	info->ulRwSessionCount = cm_state->n_rw_sessions;
	info->ulMaxPinLen = CM_PIN_MAX;
	info->ulMinPinLen = 0;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	fill_version(&info->hardwareVersion);
	fill_version(&info->firmwareVersion);
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	cm_module_unlock();
	return CKR_OK;
}

CK_RV cm_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	CK_RV rv = CKR_OK;
	size_t i, n;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	n = cm_state->n_mechs;
	if (slot != CM_SLOT_ID)
		rv = CKR_SLOT_ID_INVALID;
	else if (!count)
		rv = CKR_ARGUMENTS_BAD;
	else if (!list)
		*count = n;
	else if (*count < n) {
		*count = n;
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		for (i = 0; i < n; i++)
			list[i] = cm_state->mechs[i].type;
		*count = n;
	}
	cm_module_unlock();
	return rv;
}

CK_RV cm_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	const struct cm_mech *m;
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	if (slot != CM_SLOT_ID)
		rv = CKR_SLOT_ID_INVALID;
	else if (!info)
		rv = CKR_ARGUMENTS_BAD;
	else if (!(m = cm_mech_find(cm_state, type)))
		rv = CKR_MECHANISM_INVALID;
	else
		*info = m->info;
	cm_module_unlock();
	return rv;
}
