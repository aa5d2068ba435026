/* Certificates for a key just generated on the token, signed through the
 * token like every rombsr certificate (provisioning, successors, wrapped
 * keys from `keys gen`): one place decides which certificates a key gets.
 *
 *   - X.509, self-signed, always. Android, AVB and OTA keys (purpose tag
 *     "android", "avb", "ota") get CA-style certificates, as AOSP's make_key
 *     produces; the others end-entity certificates.
 *   - OpenPGP, only when the key's purposes sign OpenPGP
 *     (KEY_PURPOSES_OPENPGP). A key that signs digests a build node chooses
 *     (raw-detached, apk, avb, ota, bundle) has no OpenPGP identity: any of
 *     its digests could be the hash of a revocation or binding of that
 *     certificate, so none is issued (docs/formats/keyspec.md, "Purposes").
 */
#ifndef ROMBSR_ADMIN_CERTIFY_H
#define ROMBSR_ADMIN_CERTIFY_H

#include <stdint.h>

#include "keys/keyspec.h"
#include "keys/manifest.h"
#include "p11/p11.h"

/* Fills mk->cert (and mk->openpgp when the purposes call for one) for the
 * key ks describes. ks->subject is required; ks->openpgp_uid defaults to
 * "rombsr NAME key <NAME@rombsr.invalid>". */
int key_certify(struct p11_key *key, const struct keyspec_key *ks, int64_t now, struct manifest_key *mk);

#endif
