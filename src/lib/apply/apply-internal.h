/* Helpers shared by the apply library's files; not installed. */
#ifndef ROMBSR_APPLY_INTERNAL_H
#define ROMBSR_APPLY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "pgp/pgp.h"

/* Read the regular file name (relative, '/'-separated) under root into a
 * malloc()ed buffer (*ret, caller frees), refusing a symbolic link in any
 * component (RB_E_INVAL) and anything over cap (RB_E_TOOBIG). *ret_mode
 * (optional) gets the permission bits. RB_E_NOTFOUND if it is missing. */
int apply_read_under(const char *root, const char *name, size_t cap, uint8_t **ret,
		     size_t *ret_len, mode_t *ret_mode);

/* The same for one path (only its last component is checked for a link). */
int apply_read_path(const char *path, size_t cap, uint8_t **ret, size_t *ret_len);

/* A verification-only OpenPGP key for a manifest key (RSA or Ed25519):
 * the signer has no sign function. *ret_signer must outlive *ret; free
 * the key with pgp_key_free(). */
int apply_pgp_key_for(const struct manifest_key *k, struct rb_signer *ret_signer,
		      struct pgp_key **ret);

#endif
