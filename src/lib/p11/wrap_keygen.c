/* Making wrapped keys: generate straight into the store, or export a
 * resident key that was created extractable. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

/* Refuse early, before any HSM work, if the name is taken in the store. */
static int store_name_free(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL;
	int err;

	if ((err = wrap_store_path(dir, name, &path)) < 0)
		return err;
	if (access(path, F_OK) == 0)
		return rb_err_set(RB_E_EXISTS, "%s exists; a wrapped key is never replaced - pick another name",
				  path);
	return RB_OK;
}

int wrap_key_generate(struct p11_token *t, const char *dir, const char *name, const uint8_t *id,
		      size_t id_len, enum rb_key_alg alg, unsigned bits, int64_t now, struct wrap_meta **ret)
{
	_cleanup_free_ uint8_t *blob = NULL;
	struct wrap_meta *m = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN], rnd[16];
	struct p11_key *resident = NULL;
	EVP_PKEY *pub = NULL;
	size_t blob_len;
	int err;

	if ((err = store_name_free(dir, name)) < 0)
		return err;
	/* A resident key of the same name would shadow the wrapped one. */
	err = p11_token_find_key(t, name, &resident);
	if (err == RB_OK)
		return rb_err_set(RB_E_EXISTS, "token '%s' already holds a key '%s'; pick another name",
				  p11_token_label(t), name);
	if (err != RB_E_KEY)
		return err;
	if (!id) {
		if ((err = rb_random_bytes(rnd, sizeof(rnd))) < 0)
			return err;
		id = rnd;
		id_len = sizeof(rnd);
	}
	if ((err = p11_token_wrap_key_fingerprint(t, fpr)) < 0 ||
	    (err = p11_token_generate_wrapped(t, alg, bits, &blob, &blob_len, &pub)) < 0)
		return err;
	err = wrap_meta_new(name, id, id_len, pub, fpr, now, blob, blob_len, &m);
	EVP_PKEY_free(pub);
	if (err == RB_OK)
		err = wrap_store_add(dir, m);
	if (err < 0) {
		wrap_meta_free(m);
		return err;
	}
	*ret = m;
	return RB_OK;
}

int wrap_key_export(struct p11_token *t, const char *dir, const char *name, int64_t now, struct wrap_meta **ret)
{
	_cleanup_free_ uint8_t *blob = NULL;
	struct wrap_meta *m = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	struct p11_key *k = NULL;
	const uint8_t *id;
	size_t id_len, blob_len;
	int err;

	if ((err = store_name_free(dir, name)) < 0 || (err = p11_token_find_key(t, name, &k)) < 0)
		return err;
	if (p11_key_is_wrapped(k))
		return rb_err_set(RB_E_STATE, "key '%s' is already a wrapped key", name);
	id = p11_key_id(k, &id_len);
	if (id_len == 0)
		return rb_err_set(RB_E_KEY, "key '%s' has no CKA_ID; rombsr keys always have one", name);
	if ((err = p11_token_wrap_key_fingerprint(t, fpr)) < 0 || (err = p11_key_wrap(k, &blob, &blob_len)) < 0)
		return err;
	if ((err = wrap_meta_new(name, id, id_len, p11_key_public(k), fpr, now, blob, blob_len, &m)) < 0)
		return err;
	if ((err = wrap_store_add(dir, m)) < 0) {
		wrap_meta_free(m);
		return err;
	}
	*ret = m;
	return RB_OK;
}
