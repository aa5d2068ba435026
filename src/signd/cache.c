#include "signd/cache.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"

int signd_cache_new(struct signd_cache **ret)
{
	struct signd_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return RB_E_NOMEM;
	*ret = c;
	return RB_OK;
}

void signd_cache_free(struct signd_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->sigs[i].sig);
	free(c->sigs);
	rb_idmap_clear(&c->map);
	for (size_t i = 0; i < c->n_pgp; i++)
		pgp_key_free(c->pgp[i].pgp);
	free(c);
}

int signd_cache_put(struct signd_cache *c, const uint8_t k[SIGND_CACHE_KEY_LEN], const uint8_t *sig,
		    size_t len)
{
	struct signd_cache_sig *s;
	uint8_t *copy;
	int err;

	if (rb_idmap_get(&c->map, k))
		return RB_OK;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;

		if (!(s = realloc(c->sigs, cap * sizeof(*s))))
			return RB_E_NOMEM;
		c->sigs = s;
		c->cap = cap;
	}
	if (!(copy = malloc(len ? len : 1)))
		return RB_E_NOMEM;
	memcpy(copy, sig, len);
	/* The key is a SHA-256 output (signd_cache_key): the map's kind. */
	if ((err = rb_idmap_put(&c->map, k, c->n, NULL, NULL)) < 0) {
		free(copy);
		return err;
	}
	c->sigs[c->n++] = (struct signd_cache_sig){ copy, len };
	return RB_OK;
}

int signd_cache_key(const char *key_name, enum rb_sig_scheme scheme, const uint8_t *in,
		    size_t len, uint8_t out[SIGND_CACHE_KEY_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sch = (uint8_t)scheme;
	uint32_t kl = (uint32_t)strlen(key_name);
	bool ok;

	/* Length-prefixed, so no two (key, input) pairs share an encoding. */
	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, &kl, 4) == 1 &&
	     EVP_DigestUpdate(md, key_name, kl) == 1 && EVP_DigestUpdate(md, &sch, 1) == 1 &&
	     EVP_DigestUpdate(md, in, len) == 1 && EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	if (!ok)
		return rb_err_set(RB_E_CRYPTO, "signing cache: cannot hash the request for key '%s'; "
				  "the request is not signed", key_name);
	return RB_OK;
}

int signd_cache_take(struct signd_cache *c, const uint8_t k[SIGND_CACHE_KEY_LEN], EVP_PKEY *pub,
		     enum rb_sig_scheme scheme, const uint8_t *in, size_t len, uint8_t **ret,
		     size_t *ret_len)
{
	const uint64_t *at = rb_idmap_get(&c->map, k);
	const struct signd_cache_sig *hit;
	uint8_t *copy;

	if (!at)
		return RB_E_NOTFOUND;
	hit = &c->sigs[*at];
	/* Copy first, then verify the copy: the bytes checked are the bytes
	 * released. */
	if (!(copy = malloc(hit->sig_len ? hit->sig_len : 1)))
		return RB_E_NOMEM;
	memcpy(copy, hit->sig, hit->sig_len);
	if (rb_sig_verify(pub, scheme, in, len, copy, hit->sig_len) != RB_OK) {
		free(copy);
		return rb_err_set(RB_E_VERIFY, "signing cache: the cached signature does not verify "
				  "with the key over this request; it is not released");
	}
	*ret = copy;
	*ret_len = hit->sig_len;
	return RB_OK;
}
