/* Generating a successor key: resident like provisioning, or wrapped like
 * the key it succeeds. */
#include <stdlib.h>
#include <string.h>

#include "admin/certify.h"
#include "admin/lifecycle.h"
#include "admin/provision.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/err.h"

static int generate_wrapped(struct p11_token *t, const struct keyspec_key *ks, const char *dir, int64_t now,
			    struct manifest_key *mk)
{
	_cleanup_wrap_meta_ struct wrap_meta *meta = NULL;
	struct p11_key *key;
	int err;

	/* A resident key of that label would shadow the wrapped one when
	 * signing; refuse before anything is added to the store. */
	if (p11_token_find_key(t, ks->name, &key) == RB_OK)
		return rb_err_set(RB_E_EXISTS, "the token already has a key named '%s'", ks->name);
	rb_err_clear();
	if ((err = wrap_key_generate(t, dir, ks->name, NULL, 0, ks->alg, ks->bits, now, &meta)) < 0 ||
	    (err = p11_token_find_key(t, ks->name, &key)) < 0)
		return err;
	/* The store's key is the one that was just generated, and the token
	 * found that one, not some resident key of the same label. */
	if (EVP_PKEY_eq(p11_key_public(key), meta->pub) != 1 || !p11_key_is_wrapped(key))
		return rb_err_set(RB_E_VERIFY, "successor '%s': the token found another key than the wrapped "
				  "one just generated", ks->name);
	mk->name = strdup(ks->name);
	mk->id = malloc(meta->id_len);
	mk->spki = malloc(meta->spki_len);
	if (!mk->name || !mk->id || !mk->spki)
		return RB_E_NOMEM;
	memcpy(mk->id, meta->id, meta->id_len);
	mk->id_len = meta->id_len;
	memcpy(mk->spki, meta->spki, meta->spki_len);
	mk->spki_len = meta->spki_len;
	mk->alg = ks->alg;
	mk->bits = ks->bits;
	mk->status = KEY_ACTIVE;
	mk->created = now;
	if ((err = p11_key_uri(key, &mk->uri)) < 0 || (err = manifest_key_derive(mk)) < 0 ||
	    (err = key_certify(key, ks, now, mk)) < 0)
		return err;
	return manifest_key_derive(mk);
}

int key_lifecycle_generate_successor(struct p11_token *t, const struct keyspec_key *ks, const char *wrapped_dir,
				     int64_t now, struct manifest_key *ret)
{
	struct manifest_key mk = { 0 };
	int err;

	if (wrapped_dir) {
		err = generate_wrapped(t, ks, wrapped_dir, now, &mk);
	} else {
		err = provision_key(t, ks, now, &mk);
	}
	if (err == RB_OK)
		mk.purposes = ks->purposes;
	if (err == RB_OK && !*ks->purpose) {
		free(mk.purpose);
		mk.purpose = NULL;
	} else if (err == RB_OK && !mk.purpose && !(mk.purpose = strdup(ks->purpose))) {
		err = RB_E_NOMEM;
	}
	if (err < 0) {
		manifest_key_clear(&mk);
		return err;
	}
	*ret = mk;
	return RB_OK;
}
