/* Provisioning: turn an empty token into a rombsr deployment.
 *
 *   1. generate one random credential per role (admin = PKCS#11 SO,
 *      operator = PKCS#11 user, backup, audit), 192 bits each, and write
 *      them as 0600 files into an escrow directory that is meant to be
 *      split between custodians and taken off the sign node;
 *   2. initialise the token (C_InitToken, C_InitPIN);
 *   3. generate every key of the key spec on the token (sensitive,
 *      non-extractable), issue its certificates through the token
 *      (admin/certify.h: X.509 always, OpenPGP only for keys that sign
 *      OpenPGP), store the X.509 certificate on it;
 *   4. write the key manifest.
 *
 * Nothing private leaves the token; the credentials leave only into the
 * escrow directory.
 */
#ifndef ROMBSR_ADMIN_PROVISION_H
#define ROMBSR_ADMIN_PROVISION_H

#include <stdbool.h>
#include <stdint.h>

#include "keys/keyspec.h"
#include "keys/manifest.h"
#include "p11/p11.h"

/* Role credential files in the escrow directory. */
#define PROVISION_ADMIN_FILE "admin.pin"
#define PROVISION_OPERATOR_FILE "operator.pin"
#define PROVISION_BACKUP_FILE "backup.pin"
#define PROVISION_AUDIT_FILE "audit.pin"
#define PROVISION_CREDENTIAL_BYTES 24 /* 192 bits, base64url: 32 characters */

struct provision_params {
	struct p11_module *module;
	const char *label;         /* token label to create */
	const struct keyspec *spec;
	const char *escrow_dir;    /* created 0700; must not exist or be empty */
	const char *manifest_path; /* written atomically at the end */
	int64_t now;               /* creation time of keys and certificates */
};

struct provision_report {
	bool hardware_roles;       /* false: the module cannot enforce roles (SoftHSM2) */
	char token_model[17];
	size_t n_keys;
};

/* Progress callback, called after each key; may be NULL. */
typedef void (*provision_progress_fn)(const char *key_name, size_t done, size_t total, void *userdata);

int provision_token(const struct provision_params *p, provision_progress_fn progress, void *userdata,
		    struct provision_report *ret);

/* Generate one key of a spec on a logged-in token, with its certificates,
 * and fill *ret (caller clears it with manifest_key_clear()). Used by
 * provisioning and by rotation. */
int provision_key(struct p11_token *t, const struct keyspec_key *ks, int64_t now,
		  struct manifest_key *ret);

#endif
