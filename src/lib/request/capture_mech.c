/* The PKCS#11 mechanisms the capture module accepts, and which signature
 * scheme each one turns into. */
#include <string.h>

#include "request/capture-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static const struct {
	enum capture_mech mech;
	const char *name;
} mech_names[] = {
	{ CAPTURE_MECH_RSA_PKCS, "CKM_RSA_PKCS" },
	{ CAPTURE_MECH_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS" },
	{ CAPTURE_MECH_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS" },
	{ CAPTURE_MECH_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS" },
	{ CAPTURE_MECH_ECDSA, "CKM_ECDSA" },
	{ CAPTURE_MECH_ECDSA_SHA256, "CKM_ECDSA_SHA256" },
	{ CAPTURE_MECH_EDDSA, "CKM_EDDSA" },
};

const char *capture_mech_name(enum capture_mech m)
{
	for (size_t i = 0; i < ELEMENTSOF(mech_names); i++)
		if (mech_names[i].mech == m)
			return mech_names[i].name;
	return NULL;
}

int capture_mech_from_name(const char *name, enum capture_mech *ret)
{
	if (!name || !ret)
		return RB_E_INVAL;
	for (size_t i = 0; i < ELEMENTSOF(mech_names); i++)
		if (strcmp(mech_names[i].name, name) == 0) {
			*ret = mech_names[i].mech;
			return RB_OK;
		}
	return RB_E_UNSUPPORTED;
}

bool capture_mech_hashes(enum capture_mech m)
{
	return m == CAPTURE_MECH_SHA256_RSA_PKCS || m == CAPTURE_MECH_SHA512_RSA_PKCS ||
	       m == CAPTURE_MECH_ECDSA_SHA256;
}

bool capture_mech_scheme_valid(enum capture_mech mech, enum rb_sig_scheme scheme, int version)
{
	switch (mech) {
	case CAPTURE_MECH_RSA_PKCS:
		return scheme == RB_SIG_RSA_PKCS1_SHA256 || scheme == RB_SIG_RSA_PKCS1_SHA512;
	case CAPTURE_MECH_SHA256_RSA_PKCS:
		return scheme == RB_SIG_RSA_PKCS1_SHA256;
	case CAPTURE_MECH_SHA512_RSA_PKCS:
		return scheme == RB_SIG_RSA_PKCS1_SHA512;
	case CAPTURE_MECH_RSA_PKCS_PSS:
		return scheme == RB_SIG_RSA_PSS_SHA256 || scheme == RB_SIG_RSA_PSS_SHA512;
	case CAPTURE_MECH_ECDSA:
		return scheme == RB_SIG_ECDSA_SHA256;
	case CAPTURE_MECH_ECDSA_SHA256:
		return scheme == RB_SIG_ECDSA_SHA256 && version >= 2;
	case CAPTURE_MECH_EDDSA:
		return scheme == RB_SIG_ED25519;
	}
	return false;
}

enum rb_key_alg capture_scheme_alg(enum rb_sig_scheme scheme)
{
	switch (scheme) {
	case RB_SIG_RSA_PKCS1_SHA256:
	case RB_SIG_RSA_PKCS1_SHA512:
	case RB_SIG_RSA_PSS_SHA256:
	case RB_SIG_RSA_PSS_SHA512:
		return RB_KEY_RSA;
	case RB_SIG_ECDSA_SHA256:
		return RB_KEY_EC_P256;
	case RB_SIG_ED25519:
		return RB_KEY_ED25519;
	}
	return 0;
}

int capture_check_input(enum rb_sig_scheme scheme, size_t input_len, const char *what)
{
	size_t want = rb_sig_scheme_digest_len(scheme);

	if (scheme == RB_SIG_ED25519) {
		if (input_len > CAPTURE_EDDSA_MAX_MESSAGE)
			return rb_err_set(RB_E_TOOBIG,
					  "%s: Ed25519 message of %zu bytes exceeds the capture limit "
					  "of %d bytes; sign a hash or a smaller document",
					  what, input_len, CAPTURE_EDDSA_MAX_MESSAGE);
		if (input_len == 0)
			return rb_err_set(RB_E_INVAL, "%s: empty Ed25519 message", what);
		return RB_OK;
	}
	if (want == 0)
		return rb_err_set(RB_E_INVAL, "%s: unknown signature scheme %d", what, (int)scheme);
	if (input_len != want)
		return rb_err_set(RB_E_INVAL, "%s: %s needs a %zu-byte digest, got %zu bytes", what,
				  rb_sig_scheme_name(scheme), want, input_len);
	return RB_OK;
}
