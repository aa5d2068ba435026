/* The sign node's signing cache: identical (key, scheme, input) requests
 * in a batch are signed once on the token.
 *
 * A cached signature is released again without the token, so it is
 * checked again like a fresh one: signd_cache_take verifies it against the
 * key before handing out a copy. The cache also keeps the OpenPGP views of
 * the token keys made in the batch (hsm.c).
 *
 * Ownership: signd_cache_new returns a cache freed with signd_cache_free
 * (accepts NULL). signd_cache_put copies the signature; signd_cache_take
 * returns a malloc()ed copy the caller frees.
 */
#ifndef ROMBSR_SIGND_CACHE_H
#define ROMBSR_SIGND_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/signer.h"
#include "signd/keyholder.h"
#include "pgp/pgp.h"
#include "util/idmap.h"

#define SIGND_CACHE_KEY_LEN 32

struct signd_cache_sig {
	uint8_t *sig;
	size_t sig_len;
};

struct signd_cache {
	struct rb_idmap map;             /* cache key -> index into sigs */
	struct signd_cache_sig *sigs;
	size_t n, cap;
	/* OpenPGP views of manifest keys, made once per key; each signs
	 * through its ref (ref.node is set per request) */
	struct {
		const struct manifest_key *mk;
		struct pgp_key *pgp;
		struct rb_signer signer;
		struct keyholder_key ref;
	} pgp[64];
	size_t n_pgp;
};

int signd_cache_new(struct signd_cache **ret);
void signd_cache_free(struct signd_cache *c);

/* SHA-256 over the length-prefixed key name, the scheme and the input.
 * RB_E_CRYPTO if the digest fails: the caller fails the request (there is
 * no fallback key that two requests could share). */
int signd_cache_key(const char *key_name, enum rb_sig_scheme scheme, const uint8_t *in,
		    size_t len, uint8_t out[SIGND_CACHE_KEY_LEN]);

/* Remember sig under k (the first one stays if k is there). */
int signd_cache_put(struct signd_cache *c, const uint8_t k[SIGND_CACHE_KEY_LEN], const uint8_t *sig,
		    size_t len);

/* The signature cached under k, verified with pub over (scheme, in) - the
 * request it is released for - before a copy is returned.
 * Errors: RB_E_NOTFOUND nothing cached under k; RB_E_VERIFY the cached
 * bytes do not verify (nothing returned); RB_E_NOMEM. */
int signd_cache_take(struct signd_cache *c, const uint8_t k[SIGND_CACHE_KEY_LEN], EVP_PKEY *pub,
		     enum rb_sig_scheme scheme, const uint8_t *in, size_t len, uint8_t **ret,
		     size_t *ret_len);

#endif
