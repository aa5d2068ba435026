/* Helpers shared by the apply library's files; not installed. */
#ifndef ROMBSR_APPLY_INTERNAL_H
#define ROMBSR_APPLY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "pgp/pgp.h"

/* Read the regular file base (one component) in the directory dirfd
 * into a malloc()ed buffer (*ret, caller frees), refusing a symbolic link
 * (RB_E_INVAL) and anything over cap (RB_E_TOOBIG); what names it in
 * messages. *ret_st (optional) gets its fstat. RB_E_NOTFOUND if it is
 * missing. */
int apply_read_at(int dirfd, const char *base, const char *what, size_t cap, uint8_t **ret,
		  size_t *ret_len, struct stat *ret_st);

/* The same for one path (only its last component is checked for a link). */
int apply_read_path(const char *path, size_t cap, uint8_t **ret, size_t *ret_len);

/* A verification-only OpenPGP key for a manifest key (RSA or Ed25519):
 * the signer has no sign function. *ret_signer must outlive *ret; free
 * the key with pgp_key_free(). */
int apply_pgp_key_for(const struct manifest_key *k, struct rb_signer *ret_signer,
		      struct pgp_key **ret);

#endif
