/* Helpers shared by the capture request files of src/lib/request; not installed. */
#ifndef ROMBSR_REQUEST_CAPTURE_INTERNAL_H
#define ROMBSR_REQUEST_CAPTURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "request/capture_request.h"

/* Latest creation time a request may carry (9999-12-31T23:59:59Z), so it
 * always formats as RFC 3339 in 20 characters. */
#define CAPTURE_TIME_MAX INT64_C(253402300799)

/* Placeholder (and signature) sizes a request may carry for RSA when no
 * manifest tells the modulus size: RSA-2048 to RSA-8192. */
#define CAPTURE_RSA_MIN_BYTES 256
#define CAPTURE_RSA_MAX_BYTES 1024

/* The ECDSA DER form: 30 44 02 20 r 02 20 s. */
#define CAPTURE_ECDSA_DER_LEN 70

/* Whether the tool asked for mechanism in a way that yields scheme (the
 * table in docs/formats/capture-request.md) in a request of version
 * (CKM_ECDSA_SHA256 is version 2). */
bool capture_mech_scheme_valid(enum capture_mech mech, enum rb_sig_scheme scheme, int version);

/* The key algorithm a scheme needs. */
enum rb_key_alg capture_scheme_alg(enum rb_sig_scheme scheme);

/* Check input_len for scheme: the digest length, or 1..CAPTURE_EDDSA_MAX_MESSAGE
 * for Ed25519 (RB_E_TOOBIG above it). what names the input in the detail. */
int capture_check_input(enum rb_sig_scheme scheme, size_t input_len, const char *what);

/* Whether s is a valid recorded tool name: 1..CAPTURE_TOOL_MAX printable ASCII. */
bool capture_tool_valid(const char *s);

/* What a request is made of, besides the key, tool and time. data NULL:
 * none kept. */
struct capture_request_fields {
	int version;
	const char *build_id;
	enum capture_mech mech;
	enum rb_sig_scheme scheme;
	const uint8_t *input;
	size_t input_len;
	const uint8_t *data;
	size_t data_len;
};

/* The request id over its identifying fields (docs/formats/capture-request.md,
 * "Request id"): version 1 or 2. */
int capture_request_compute_id(const struct capture_request_fields *f, const uint8_t spki_sha256[32],
			       uint8_t ret[CAPTURE_ID_LEN]);

/* Build a request without any key policy (status) check: validates the
 * version, the build id, the (mechanism, scheme) pair, the input length,
 * the data (version 2, hashing mechanisms, at most CAPTURE_DATA_MAX, hash
 * equal to the input) and the placeholder length for the scheme's
 * algorithm, computes id and placeholder, and sanitises tool. Used by
 * capture_request_new_data() and by the parser (which then compares
 * against the recorded values). */
int capture_request_build(const struct capture_request_fields *f, const char *key_name,
			  const uint8_t spki_sha256[32], size_t placeholder_len, const char *tool,
			  int64_t created, struct capture_request **ret);

/* The placeholder length for a manifest key: modulus bytes or 64. */
int capture_placeholder_len(const struct manifest_key *key, size_t *ret);

/* Encode a fits-checked ECDSA raw r||s as its 70-byte DER form. */
void capture_ecdsa_der70(const uint8_t raw[64], uint8_t out[CAPTURE_ECDSA_DER_LEN]);

/* Write data to dir/name atomically: a unique dotfile in dir created
 * O_EXCL|O_NOFOLLOW with mode, fsync, rename over name, fsync of dir.
 * Safe with any number of concurrent writers of the same name (the last
 * rename wins, every version is complete). source names the target in
 * error details. */
int capture_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode);

#endif
