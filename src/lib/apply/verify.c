/* Detached-signature and APK verification against the manifest.
 *
 * A signature file does not say which key made it in a form we trust, so
 * every manifest key of a fitting algorithm is tried; only one can
 * verify. A match with a revoked key is reported as such rather than as
 * "no key", so an operator learns why a once-good signature now fails. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "apk/apk.h"
#include "apply/apply-internal.h"
#include "apply/verify.h"
#include "request/capture_request.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"

#define ARMOR_BEGIN "-----BEGIN PGP SIGNATURE-----"

const char *apply_sig_form_name(enum apply_sig_form f)
{
	switch (f) {
	case APPLY_FORM_OPENPGP: return "openpgp";
	case APPLY_FORM_RAW_DIGEST: return "raw";
	case APPLY_FORM_ED25519_FILE: return "ed25519-file";
	case APPLY_FORM_ED25519_DIGEST: return "ed25519-sha256-digest";
	case APPLY_FORM_APK: return "apk";
	}
	return NULL;
}

/* A binary OpenPGP signature packet starts with tag 2: old format
 * 0x88..0x8b, new format 0xc2. */
static bool verify_looks_openpgp(const uint8_t *sig, size_t len)
{
	return len > 0 && ((sig[0] & 0xfc) == 0x88 || sig[0] == 0xc2);
}

static int verify_found(const struct manifest_key *k, enum apply_sig_form form,
			enum rb_sig_scheme scheme, bool armored, const char *source,
			struct apply_verify_result *ret)
{
	if (k->status == KEY_REVOKED)
		return rb_err_set(RB_E_PERM, "%s: signed by key \"%s\", which is revoked%s%s; the "
				  "signature is not trusted", source, k->name,
				  k->revocation_reason ? ": " : "",
				  k->revocation_reason ? k->revocation_reason : "");
	*ret = (struct apply_verify_result){ k, form, scheme, armored };
	return RB_OK;
}

static int verify_openpgp(const struct manifest *m, const uint8_t *data, size_t len,
			  const uint8_t *pkt, size_t pkt_len, bool armored, const char *source,
			  struct apply_verify_result *ret)
{
	int worst = RB_E_VERIFY;

	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
		struct rb_signer signer;
		int err;

		if (k->alg != RB_KEY_RSA && k->alg != RB_KEY_ED25519)
			continue;
		if (apply_pgp_key_for(k, &signer, &pk) < 0)
			continue;
		err = pgp_sig_verify_buffer(pk, pkt, pkt_len, data, len);
		if (err == RB_OK)
			return verify_found(k, APPLY_FORM_OPENPGP, 0, armored, source, ret);
		if (err == RB_E_PARSE)
			worst = RB_E_PARSE;
	}
	if (worst == RB_E_PARSE)
		return rb_err_set(RB_E_PARSE, "%s: not a well-formed OpenPGP signature packet", source);
	return rb_err_set(RB_E_VERIFY, "%s: the OpenPGP signature does not verify with any key of "
			  "the manifest (file changed, or signed by another key)", source);
}

static int verify_rsa(const struct manifest_key *k, const uint8_t *data, size_t len,
		      const uint8_t *sig, size_t siglen, enum rb_sig_scheme *ret_scheme)
{
	static const enum rb_sig_scheme schemes[] = {
		RB_SIG_RSA_PKCS1_SHA256, RB_SIG_RSA_PSS_SHA256,
		RB_SIG_RSA_PKCS1_SHA512, RB_SIG_RSA_PSS_SHA512,
	};
	uint8_t digest[64];
	size_t dlen;

	if (EVP_PKEY_get_size(k->pub) <= 0 || (size_t)EVP_PKEY_get_size(k->pub) != siglen)
		return RB_E_VERIFY;
	for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
		if (rb_digest(rb_sig_scheme_md(schemes[i]), data, len, digest, &dlen) < 0)
			return RB_E_CRYPTO;
		if (rb_sig_verify(k->pub, schemes[i], digest, dlen, sig, siglen) == RB_OK) {
			*ret_scheme = schemes[i];
			return RB_OK;
		}
	}
	return RB_E_VERIFY;
}

static int verify_raw(const struct manifest *m, const uint8_t *data, size_t len,
		      const uint8_t *sig, size_t siglen, const char *source,
		      struct apply_verify_result *ret)
{
	uint8_t sha256[32], ec_raw[64];
	size_t dlen;
	bool have_ec = rb_ecdsa_der_to_raw(sig, siglen, ec_raw) == RB_OK;

	rb_err_clear();
	if (rb_digest(EVP_sha256(), data, len, sha256, &dlen) < 0)
		return rb_err_set(RB_E_CRYPTO, "%s: SHA-256 failed", source);
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		enum rb_sig_scheme scheme;

		switch (k->alg) {
		case RB_KEY_RSA:
			if (verify_rsa(k, data, len, sig, siglen, &scheme) == RB_OK)
				return verify_found(k, APPLY_FORM_RAW_DIGEST, scheme, false, source, ret);
			break;
		case RB_KEY_EC_P256:
			if (have_ec && rb_sig_verify(k->pub, RB_SIG_ECDSA_SHA256, sha256, 32, ec_raw,
						     64) == RB_OK)
				return verify_found(k, APPLY_FORM_RAW_DIGEST, RB_SIG_ECDSA_SHA256, false,
						    source, ret);
			break;
		case RB_KEY_ED25519:
			if (siglen != 64)
				break;
			if (rb_sig_verify(k->pub, RB_SIG_ED25519, sha256, 32, sig, 64) == RB_OK)
				return verify_found(k, APPLY_FORM_ED25519_DIGEST, RB_SIG_ED25519, false,
						    source, ret);
			if (len > 0 &&
			    rb_sig_verify(k->pub, RB_SIG_ED25519, data, len, sig, 64) == RB_OK)
				return verify_found(k, APPLY_FORM_ED25519_FILE, RB_SIG_ED25519, false,
						    source, ret);
			break;
		}
	}
	return rb_err_set(RB_E_VERIFY, "%s: the %zu-byte signature does not verify with any key of "
			  "the manifest (file changed, or signed by another key)", source, siglen);
}

int apply_verify_detached(const struct manifest *m, const uint8_t *data, size_t len,
			  const uint8_t *sig, size_t siglen, const char *source,
			  struct apply_verify_result *ret)
{
	const char *what = source ? source : "signature";
	int err;

	if (!m || !ret || (!data && len > 0) || !sig)
		return rb_err_set(RB_E_INVAL, "verify: missing argument");
	if (siglen > APPLY_DETACHED_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %zu bytes is too large for a detached signature "
				  "(at most %u)", what, siglen, APPLY_DETACHED_MAX_BYTES);
	if (siglen >= sizeof(ARMOR_BEGIN) - 1 &&
	    memcmp(sig, ARMOR_BEGIN, sizeof(ARMOR_BEGIN) - 1) == 0) {
		struct rb_buf bin = RB_BUF_INIT;

		if ((err = pgp_dearmor(PGP_ARMOR_SIGNATURE, (const char *)sig, siglen, &bin)) < 0) {
			rb_buf_free(&bin);
			return rb_err_set(err, "%s: malformed OpenPGP armor", what);
		}
		err = verify_openpgp(m, data, len, bin.data, bin.len, true, what, ret);
		rb_buf_free(&bin);
		return err;
	}
	if (verify_looks_openpgp(sig, siglen)) {
		char detail[RB_ERR_DETAIL_MAX];
		int raw;

		err = verify_openpgp(m, data, len, sig, siglen, false, what, ret);
		if (err == RB_OK)
			return RB_OK;
		/* Raw RSA signatures are random bytes: about one in a hundred
		 * starts like an OpenPGP packet, and may even parse far enough
		 * to fail as an unsupported or bad one. A raw check that
		 * succeeds is sound on its own, so try it before giving the
		 * OpenPGP answer. */
		rb_err_save(err, detail);
		raw = verify_raw(m, data, len, sig, siglen, what, ret);
		/* The raw check found the key (revoked, say): that answer, not
		 * the OpenPGP one. */
		if (raw != RB_E_VERIFY)
			return raw;
		/* Bytes that only start like a packet may be a stranger's raw
		 * signature: "does not verify", as for any other one. */
		if (err == RB_E_PARSE)
			return rb_err_set(RB_E_VERIFY, "%s: neither an OpenPGP signature (%s) nor a raw "
					  "signature by any key of the manifest", what, detail);
		return rb_err_set(err, "%s", detail);
	}
	return verify_raw(m, data, len, sig, siglen, what, ret);
}

static int verify_apk_result(const struct manifest *m, const struct apk_result *r,
			     const char *source, struct apply_verify_result *ret)
{
	const struct manifest_key *k = NULL;
	char detail[RB_ERR_DETAIL_MAX];
	int err;

	if ((err = apk_check_against_manifest(r, m, &k)) < 0) {
		rb_err_save(err, detail);
		return rb_err_set(err, "%s: %s", source, detail);
	}
	*ret = (struct apply_verify_result){ k, APPLY_FORM_APK, 0, false };
	return RB_OK;
}

int apply_verify_apk_buffer(const struct manifest *m, const uint8_t *data, size_t len,
			    const char *source, struct apply_verify_result *ret)
{
	struct apk_result r;
	int err;

	if (!m || !ret || (!data && len > 0))
		return rb_err_set(RB_E_INVAL, "verify: missing argument");
	if ((err = apk_verify_buffer(data, len, source ? source : "APK", &r)) < 0)
		return err;
	return verify_apk_result(m, &r, source ? source : "APK", ret);
}

static bool verify_is_apk(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && strcmp(path + n - 4, ".apk") == 0;
}

int apply_verify_path(const struct manifest *m, const char *path, struct apply_verify_result *ret)
{
	_cleanup_free_ uint8_t *data = NULL, *sig = NULL;
	_cleanup_free_ char *sig_path = NULL;
	size_t len, siglen;
	int err;

	if (!m || !path || !*path || !ret)
		return rb_err_set(RB_E_INVAL, "verify: missing argument");
	if (verify_is_apk(path)) {
		struct apk_result r;
		struct stat st;

		/* apk_verify_file follows a link; check the path first. */
		if (lstat(path, &st) < 0)
			return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO, "%s: %s", path,
					  strerror(errno));
		if (!S_ISREG(st.st_mode))
			return rb_err_set(RB_E_INVAL, "%s: not a regular file%s", path,
					  S_ISLNK(st.st_mode) ? " (a symbolic link; name the file itself)" : "");
		if ((err = apk_verify_file(path, &r)) < 0)
			return err;
		return verify_apk_result(m, &r, path, ret);
	}
	for (int i = 0; i < 2 && !sig; i++) {
		free(sig_path);
		if (asprintf(&sig_path, "%s.%s", path, i == 0 ? "asc" : "sig") < 0)
			return RB_E_NOMEM;
		err = apply_read_path(sig_path, APPLY_DETACHED_MAX_BYTES, &sig, &siglen);
		if (err < 0 && err != RB_E_NOTFOUND)
			return err;
	}
	if (!sig)
		return rb_err_set(RB_E_NOTFOUND, "%s: no signature next to it (%s.asc or %s.sig); "
				  "run 'rombsr apply' or 'rombsr sign-file' first", path, path, path);
	if ((err = apply_read_path(path, CAPTURE_ARTIFACT_MAX_BYTES, &data, &len)) < 0)
		return err;
	return apply_verify_detached(m, data, len, sig, siglen, sig_path, ret);
}
