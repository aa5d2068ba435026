/* Key purposes: the signing domains a key may act in (docs/formats/
 * keyspec.md, "Purposes"). A key signs only in its own domains, so that
 * no key is an oracle for another domain's structures: an OpenPGP key
 * never signs a digest a build node chose (which could be the hash of a
 * revocation or certification), and the queue and audit keys sign only
 * what the sign node itself composes.
 *
 * Purposes are a bit set (unsigned). Set at provisioning from the key
 * spec and carried by the key manifest (version 2). A version-1 document
 * has no purposes; key_purposes_legacy() derives a narrow set from its
 * free-form purpose tag.
 *
 * Nothing here allocates except key_purposes_to_json(), whose result the
 * caller owns (json_free).
 */
#ifndef ROMBSR_KEYS_PURPOSE_H
#define ROMBSR_KEYS_PURPOSE_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/signer.h"

struct json_value;

enum key_purpose {
	KEY_PURPOSE_APK = 1u << 0,              /* APK signing through the capture module */
	KEY_PURPOSE_AVB = 1u << 1,              /* Android Verified Boot (avbtool) through capture */
	KEY_PURPOSE_OTA = 1u << 2,              /* OTA package and payload signing through capture */
	KEY_PURPOSE_BUNDLE = 1u << 3,           /* app bundles / JARs (jarsigner) through capture */
	KEY_PURPOSE_RAW_DETACHED = 1u << 4,     /* raw detached signatures over a file's digest */
	KEY_PURPOSE_OPENPGP_DETACHED = 1u << 5, /* OpenPGP detached signatures (type 0x00/0x01) */
	KEY_PURPOSE_QUEUE_RESPONSE = 1u << 6,   /* the sign node's response commits */
	KEY_PURPOSE_AUDIT_CHECKPOINT = 1u << 7, /* the audit log's checkpoints */
};

#define KEY_PURPOSES_ALL 0xffu
/* Purposes whose input is a digest a build tool computed and the sign
 * node cannot see through: capture requests. */
#define KEY_PURPOSES_CAPTURE (KEY_PURPOSE_APK | KEY_PURPOSE_AVB | KEY_PURPOSE_OTA | KEY_PURPOSE_BUNDLE)
/* Purposes whose input the sign node takes on trust, a digest it cannot
 * see through (docs/formats/request.md, "What the sign node checks"). A
 * key with none of them but apk signs, through capture, only the APK
 * structures the sign node parses; a key with one of them signs
 * node-chosen digests anyway, so its capture requests stay digest-only. */
#define KEY_PURPOSES_OPAQUE (KEY_PURPOSE_RAW_DETACHED | KEY_PURPOSE_AVB | KEY_PURPOSE_OTA | KEY_PURPOSE_BUNDLE)
/* Every purpose in which a build node chooses the bytes that are signed. */
#define KEY_PURPOSES_NODE_DIGEST (KEY_PURPOSES_CAPTURE | KEY_PURPOSE_RAW_DETACHED)
/* Purposes whose signatures are OpenPGP signatures: only these keys get an
 * OpenPGP certificate (admin/certify.h). */
#define KEY_PURPOSES_OPENPGP (KEY_PURPOSE_OPENPGP_DETACHED | KEY_PURPOSE_QUEUE_RESPONSE)
/* Purposes only the sign node itself exercises; each stands alone. */
#define KEY_PURPOSES_SIGN_NODE (KEY_PURPOSE_QUEUE_RESPONSE | KEY_PURPOSE_AUDIT_CHECKPOINT)

#define KEY_PURPOSE_NAME_MAX 16
/* Longest key_purposes_format() output: every name and a separator. */
#define KEY_PURPOSES_TEXT_MAX 128

/* "apk", "raw-detached", ...; NULL for anything but one bit. */
const char *key_purpose_name(enum key_purpose p);
/* RB_E_PARSE for an unknown name. */
int key_purpose_parse(const char *name, enum key_purpose *ret);
/* The set as names joined by sep (", " or ","), in bit order, into buf;
 * "-" for the empty set. Returns buf. */
const char *key_purposes_format(unsigned set, const char *sep, char buf[KEY_PURPOSES_TEXT_MAX]);
/* Parse a comma-separated list ("apk,raw-detached"); RB_E_PARSE with a
 * detail naming the bad name. Duplicates are an error. */
int key_purposes_parse_list(const char *list, unsigned *ret);

/* Whether set is allowed for a key of algorithm alg. RB_E_PARSE with a
 * detail (naming key) for: an empty set; openpgp-detached together with
 * any purpose that signs a node-chosen digest; queue-response or
 * audit-checkpoint together with anything else; openpgp-detached,
 * queue-response or audit-checkpoint on a key without OpenPGP form
 * (P-256). */
int key_purposes_check(unsigned set, enum rb_key_alg alg, const char *key);

/* The purposes a version-1 key spec entry or manifest key gets from its
 * free-form purpose tag: android -> apk, avb -> avb, ota -> ota,
 * queue -> queue-response, audit -> audit-checkpoint, bundle -> bundle,
 * anything else (or NULL) -> raw-detached. Never openpgp-detached:
 * OpenPGP signing must be granted explicitly (version 2). */
unsigned key_purposes_legacy(const char *tag);

/* JSON array of names <-> set. from_json checks every element is a
 * known, unique name; it does not call key_purposes_check(). */
int key_purposes_from_json(const struct json_value *arr, unsigned *ret);
int key_purposes_to_json(unsigned set, struct json_value **ret);

#endif
