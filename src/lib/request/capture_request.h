/* The capture request format: what the capture PKCS#11 module
 * (src/capture/, installed as librombsr-capture.so and libmock_pkcs11.so)
 * writes on a build node, and the later apply/sign steps read.
 *
 *   capture_digestinfo_parse  CKM_RSA_PKCS input -> hash algorithm + digest
 *   capture_request_new       a signing request: content-derived id and a
 *                             deterministic placeholder signature
 *   capture_spool_write/load  one JSON file per request in a spool directory
 *                             (docs/formats/capture-request.md)
 *   capture_resolve_*         replace placeholders in an artifact with the
 *                             real signatures, byte for byte
 *
 * The sign node's side, the real signature for a request, is
 * capture_request_sign() in src/signer/capture_sign.h; the module's
 * configuration is capture/capture.h.
 *
 * Everything a build node hands us is untrusted: request files, artifacts,
 * configuration. Parsers are strict, capped and fuzzed (fuzz/).
 *
 * Ownership: every *_new, *_parse and *_load returns an object the caller frees
 * with the matching *_free (which accepts NULL). Borrowed pointers are said
 * to be borrowed.
 */
#ifndef ROMBSR_REQUEST_CAPTURE_REQUEST_H
#define ROMBSR_REQUEST_CAPTURE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "util/buf.h"

#define CAPTURE_REQUEST_FORMAT "rombsr-capture-request"
/* Version 2 carries the data the tool passed when the token hashes it
 * (docs/formats/capture-request.md); version 1 is still read. */
#define CAPTURE_REQUEST_VERSION 2
#define CAPTURE_REQUEST_VERSION_MIN 1

/* Ed25519 signs the whole message, so the request must carry it. Tools
 * that sign with Ed25519 (OpenPGP, git, signed notes) sign small hashed
 * blocks; anything larger is refused with CKR_DATA_LEN_RANGE. */
#define CAPTURE_EDDSA_MAX_MESSAGE (1024 * 1024)
/* The data a tool passed to a mechanism that hashes in the token, kept
 * in the request so the sign node can see what it signs (an APK
 * signed-data block is a few KiB). Longer data is hashed and not kept. */
#define CAPTURE_DATA_MAX (1024 * 1024)
/* A request file is the message or the data in base64 plus fixed-size
 * fields. */
#define CAPTURE_REQUEST_MAX_BYTES (2 * 1024 * 1024)
#define CAPTURE_SPOOL_MAX_REQUESTS 100000
#define CAPTURE_BUILD_ID_MAX 128
#define CAPTURE_TOOL_MAX 64
/* Artifacts resolve in memory. */
#define CAPTURE_ARTIFACT_MAX_BYTES ((size_t)4 * 1024 * 1024 * 1024)

#define CAPTURE_ID_LEN 32        /* SHA-256 */
#define CAPTURE_ID_HEX_LEN 64

/* The PKCS#11 mechanism a tool asked for. The values are the CKM_ codes,
 * so the module can switch on them directly. */
enum capture_mech {
	CAPTURE_MECH_RSA_PKCS = 0x00000001,        /* CKM_RSA_PKCS: input is a DigestInfo */
	CAPTURE_MECH_SHA256_RSA_PKCS = 0x00000040, /* CKM_SHA256_RSA_PKCS: module hashed */
	CAPTURE_MECH_SHA512_RSA_PKCS = 0x00000042, /* CKM_SHA512_RSA_PKCS: module hashed */
	CAPTURE_MECH_RSA_PKCS_PSS = 0x0000000d,    /* CKM_RSA_PKCS_PSS: input is a digest */
	CAPTURE_MECH_ECDSA = 0x00001041,           /* CKM_ECDSA: input is a digest */
	CAPTURE_MECH_ECDSA_SHA256 = 0x00001044,    /* CKM_ECDSA_SHA256: module hashed (version 2) */
	CAPTURE_MECH_EDDSA = 0x00001057,           /* CKM_EDDSA: input is the message */
};

/* "CKM_RSA_PKCS", ...; NULL for an unknown value. */
const char *capture_mech_name(enum capture_mech m);
int capture_mech_from_name(const char *name, enum capture_mech *ret);
/* Whether the tool passes the data itself and the module hashes it
 * (CKM_SHA256_RSA_PKCS, CKM_SHA512_RSA_PKCS, CKM_ECDSA_SHA256): only then
 * can a request carry that data. */
bool capture_mech_hashes(enum capture_mech m);

/* ---- DigestInfo ---------------------------------------------------------
 *
 * Accepts exactly the DER DigestInfo of RFC 8017 9.2 note 1 for SHA-256
 * (51 bytes) or SHA-512 (83 bytes), with the NULL parameters. Anything
 * else - other hashes, missing NULL, long-form lengths, trailing bytes -
 * is RB_E_PARSE. *ret_scheme is RB_SIG_RSA_PKCS1_SHA256 or _SHA512;
 * *ret_digest points into in (borrowed). */
int capture_digestinfo_parse(const uint8_t *in, size_t len, enum rb_sig_scheme *ret_scheme,
			     const uint8_t **ret_digest, size_t *ret_digest_len);

/* ---- requests ---------------------------------------------------------- */

struct capture_request {
	int version;                     /* 1 or 2: the file's format version */
	uint8_t id[CAPTURE_ID_LEN];
	char id_hex[CAPTURE_ID_HEX_LEN + 1];
	char *build_id;
	char *key_name;                  /* manifest key name (CKA_LABEL) */
	uint8_t key_spki_sha256[32];     /* manifest fingerprint of the key */
	enum capture_mech mechanism;     /* what the tool called */
	enum rb_sig_scheme scheme;       /* what the sign node must compute */
	uint8_t *input;                  /* the scheme's input: digest, or message (Ed25519) */
	size_t input_len;
	/* Version 2, hashing mechanisms: the data the tool passed, whose
	 * hash under the scheme is input; NULL when not kept (over
	 * CAPTURE_DATA_MAX, another mechanism, or version 1). */
	uint8_t *data;
	size_t data_len;
	uint8_t *placeholder;            /* raw form: modulus-length, r||s, or 64 bytes */
	size_t placeholder_len;
	char *tool;                      /* calling process name, informational */
	int64_t created;                 /* Unix time, informational */
};

/* Build a request for key (borrowed; must be active). The id is SHA-256
 * over a domain-separated encoding of (version, build_id, key fingerprint,
 * mechanism, scheme, input) - not tool or time - so the same signing
 * operation in the same build always gets the same id and placeholder.
 * Validates: build_id syntax, scheme fits key, input length for scheme
 * (digest length, or 1..CAPTURE_EDDSA_MAX_MESSAGE). tool may be NULL; it
 * is recorded with non-printable bytes as '?' and cut to CAPTURE_TOOL_MAX.
 * Errors: RB_E_PERM key not active; RB_E_UNSUPPORTED scheme does not fit
 * the key, or unknown mechanism; RB_E_INVAL bad build_id, a (mechanism,
 * scheme) pair outside the table in capture-request.md, wrong digest
 * length, empty message, created outside 0..9999-12-31; RB_E_TOOBIG
 * Ed25519 message over CAPTURE_EDDSA_MAX_MESSAGE. */
int capture_request_new(const char *build_id, const struct manifest_key *key,
			enum capture_mech mechanism, enum rb_sig_scheme scheme,
			const uint8_t *input, size_t input_len, const char *tool, int64_t created,
			struct capture_request **ret);
/* The same, keeping data, the bytes the tool passed to a hashing
 * mechanism (capture_mech_hashes), whose hash under scheme must be input.
 * data NULL: not kept, as capture_request_new. The id covers the data
 * (docs/formats/capture-request.md, "Request id"). Errors besides
 * capture_request_new's: RB_E_INVAL data for a mechanism that does not
 * hash; RB_E_TOOBIG data over CAPTURE_DATA_MAX; RB_E_VERIFY data whose
 * hash is not input. Both make version-2 requests. */
int capture_request_new_data(const char *build_id, const struct manifest_key *key,
			     enum capture_mech mechanism, enum rb_sig_scheme scheme,
			     const uint8_t *input, size_t input_len, const uint8_t *data,
			     size_t data_len, const char *tool, int64_t created,
			     struct capture_request **ret);
void capture_request_free(struct capture_request *r);

/* The bytes the key is asked to sign, when the request knows them: the
 * kept data, or for Ed25519 the message (which is the input). false for a
 * digest-only request: the sign node cannot see what the digest is of. */
bool capture_request_signed_data(const struct capture_request *r, const uint8_t **ret,
				 size_t *ret_len);

/* Whether build_id is 1..CAPTURE_BUILD_ID_MAX of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
bool capture_build_id_valid(const char *build_id);

/* JSON, canonical (RFC 8785); see docs/formats/capture-request.md. */
int capture_request_emit(const struct capture_request *r, struct rb_buf *out);
/* Parse and validate one request. When m is non-NULL the key must exist
 * in it with the recorded fingerprint. The id and the placeholder are
 * recomputed and must match the recorded ones (RB_E_VERIFY otherwise).
 * source names the input in error details. Other errors: RB_E_PARSE
 * malformed or inconsistent, RB_E_TOOBIG over CAPTURE_REQUEST_MAX_BYTES or
 * an Ed25519 message over CAPTURE_EDDSA_MAX_MESSAGE or data over
 * CAPTURE_DATA_MAX, RB_E_VERIFY data whose hash is not the input,
 * RB_E_UNSUPPORTED a version other than 1 and 2; with m: RB_E_KEY key not in m, RB_E_VERIFY fingerprint
 * or placeholder length differs from m's key, RB_E_PERM key not active. */
int capture_request_parse(const char *text, size_t len, const char *source,
			  const struct manifest *m, struct capture_request **ret);

/* ---- placeholders -------------------------------------------------------
 *
 * Deterministic in the id; len bytes:
 *   RSA:     modulus length (256..1024 bytes); the top byte is in
 *            0x01..0x3f, so the value is below any full-size modulus and
 *            has no leading zero byte.
 *   ECDSA:   64 bytes r||s; r[0] and s[0] both in 0x01..0x7f, so tools
 *            DER-encode it as exactly 70 bytes (30 44 02 20 r 02 20 s). The
 *            real signature must meet the same constraint
 *            (capture_ecdsa_sig_fits) to replace it in place.
 *   Ed25519: 64 bytes.
 * Pseudo-random otherwise, so two placeholders never collide and never
 * occur by chance in an artifact. */
int capture_placeholder(const uint8_t id[CAPTURE_ID_LEN], enum rb_key_alg alg, size_t len,
			uint8_t *out);
/* r||s whose DER form is exactly 70 bytes: both top bytes in 0x01..0x7f. */
bool capture_ecdsa_sig_fits(const uint8_t raw[64]);

/* ---- spool --------------------------------------------------------------
 *
 * SPOOL/<id_hex>.json, written with a unique temporary name, fsync, and
 * rename, so any number of processes may write at once and a reader never
 * sees a partial file. Rewriting an existing id is harmless (same content
 * except tool/time). The directory is created 0755 if missing. */
int capture_spool_write(const char *spool_dir, const struct capture_request *r);
/* Every *.json in spool_dir, parsed (against m when non-NULL) and sorted
 * by id. Dotfiles (temporaries) and capture.log are ignored; any other
 * entry is an error (RB_E_PARSE, naming it), and so is a request whose
 * file name is not its id (RB_E_VERIFY). A missing spool is RB_E_NOTFOUND,
 * more than CAPTURE_SPOOL_MAX_REQUESTS requests RB_E_TOOBIG. */
struct capture_request_set {
	struct capture_request **items;
	size_t n;
};
int capture_spool_load(const char *spool_dir, const struct manifest *m,
		       struct capture_request_set **ret);
void capture_request_set_free(struct capture_request_set *s);
/* The request with this id, or NULL (borrowed). */
const struct capture_request *capture_request_set_find(const struct capture_request_set *s,
							const uint8_t id[CAPTURE_ID_LEN]);

/* ---- resolving placeholders in an artifact ----------------------------- */

struct capture_resolution {
	const struct capture_request *request; /* borrowed */
	EVP_PKEY *pub;                         /* borrowed: the key's public key */
	const uint8_t *sig;                    /* borrowed: raw-form real signature */
	size_t sig_len;
};

struct capture_resolve_result {
	size_t found;    /* occurrences of the placeholder (raw or DER form) */
	bool replaced;
};

/* Verify every resolution (signature over the request's input with pub;
 * same length as the placeholder; ECDSA fits), then find each placeholder
 * in data - raw form, and for ECDSA also its 70-byte DER form - and
 * replace it with the signature in the same form.
 * results[i] describes resolutions[i]. A placeholder found more than once
 * is ambiguous: nothing is replaced and RB_E_STATE is returned (so are
 * overlapping placeholders). A bad signature, or a pub that is not the
 * request's key, is RB_E_VERIFY; a signature of the wrong length or (ECDSA)
 * shape, or a request given twice, is RB_E_INVAL - all with nothing
 * replaced. The search is one pass over data for all placeholders, so a
 * build's whole request set can be passed for every artifact. Placeholders not
 * found are not an error here (an artifact holds only some of a build's
 * requests); the caller decides from results. */
int capture_resolve_buffer(uint8_t *data, size_t len, const struct capture_resolution *res,
			   size_t n, struct capture_resolve_result *results);
/* The same on a file, written back atomically only if anything changed
 * and nothing failed, keeping its permission bits. Files over
 * CAPTURE_ARTIFACT_MAX_BYTES: RB_E_TOOBIG. Symbolic links and non-regular
 * files are refused (RB_E_INVAL); a file that changes while being resolved
 * is left alone (RB_E_STATE). */
int capture_resolve_file(const char *path, const struct capture_resolution *res, size_t n,
			 struct capture_resolve_result *results);

#endif
