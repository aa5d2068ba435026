/* The request document a build node commits to the signing queue:
 * "rombsr-request" version 1, requests/<node>/<build-id>.json
 * (docs/formats/request.md).
 *
 * One document per build. It lists the build's artifacts (name, size,
 * SHA-256, optionally SHA-512) and every signature the build wants:
 *
 *   capture  a request recorded by the capture PKCS#11 module, embedded
 *            whole (rombsr-capture-request) and checked by capture's own
 *            parser; the artifact holds its placeholder;
 *   raw      a detached raw signature over an artifact's digest (for
 *            ed25519: over the 32-byte SHA-256 digest as the message);
 *   openpgp  a detached OpenPGP v4 binary signature over an artifact,
 *            carried as the unfinalized hash state of the whole file.
 *
 * The document comes from an untrusted machine. request_doc_parse() checks
 * everything it can: strict JSON, exact key sets inside "required",
 * artifact names that cannot escape a directory, recomputed ids, unique
 * ids and names, hash states that finalize to the artifact's recorded
 * digest, embedded capture requests of the same build, and - with a
 * manifest - that every key exists with its fingerprint, is active and
 * fits the scheme.
 *
 * Ownership: request_doc_new() and request_doc_parse() return a document
 * the caller frees with request_doc_free() (accepts NULL); everything the
 * document points to (strings, inputs, hash states, capture requests) is
 * owned by it. Pointers returned by the finders are borrowed from it. The
 * builders copy what they are given.
 */
#ifndef ROMBSR_REQUEST_REQUEST_H
#define ROMBSR_REQUEST_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/signer.h"
#include "keys/manifest.h"
#include "request/capture_request.h"
#include "request/hash_state.h"
#include "util/buf.h"
#include "util/cleanup.h"

#define REQUEST_FORMAT "rombsr-request"
#define REQUEST_VERSION 1

/* Caps. A caller may pass a lower document cap to request_doc_parse(). */
#define REQUEST_MAX_BYTES ((size_t)16 * 1024 * 1024)
#define REQUEST_MAX_ENTRIES 100000
#define REQUEST_MAX_ARTIFACTS 10000
#define REQUEST_NODE_MAX 64
#define REQUEST_ARTIFACT_NAME_MAX 255
#define REQUEST_COMMENT_MAX 4096

#define REQUEST_ID_LEN 32 /* SHA-256, same as CAPTURE_ID_LEN */
#define REQUEST_ID_HEX_LEN 64

/* Domain tag of raw and openpgp request ids. */
#define REQUEST_DIRECT_ID_TAG "rombsr-direct-request-v1"

enum request_kind {
	REQUEST_KIND_CAPTURE = 1,
	REQUEST_KIND_RAW = 2,
	REQUEST_KIND_OPENPGP = 3,
};

/* "capture", "raw", "openpgp"; NULL for anything else. */
const char *request_kind_name(enum request_kind k);
/* RB_E_PARSE for an unknown name. */
int request_kind_from_name(const char *name, enum request_kind *ret);

/* The key purposes (keys/purpose.h) of which a key needs one to sign a
 * request of kind k: capture KEY_PURPOSES_CAPTURE, raw raw-detached,
 * openpgp openpgp-detached; 0 for an unknown kind. */
unsigned request_kind_purposes(enum request_kind k);
/* RB_E_PERM, with a detail that names the key, its purposes and what to
 * do, when key may not sign a request of kind k. The queue and audit
 * keys never sign a request. */
int request_key_purpose_check(enum request_kind k, const struct manifest_key *key);

/* What a capture request r asks key (r's key, which may sign capture
 * requests) to sign, checked where the sign node can see it. For a key
 * whose purposes are apk and none of KEY_PURPOSES_OPAQUE: the request
 * must carry the data (version 2, a hashing mechanism, or Ed25519), its
 * hash must be the input, and the data must be a structure apksigner
 * signs with that key (apk_signer_input_check: v2/v3 signed data or v4
 * signing data naming the key's manifest certificate, or a v1 signature
 * file). Other keys: RB_OK, the digest is taken on trust.
 * RB_E_PERM, with a detail that names the request and the key and says
 * what to do, otherwise. */
int request_capture_structure_check(const struct capture_request *r, const struct manifest_key *key);

/* [A-Za-z0-9][A-Za-z0-9._-]{0,63}: node and approver names. */
bool request_node_valid(const char *name);

/* Where a document stands in the queue, from its path. */
enum request_path_area {
	REQUEST_PATH_REQUEST = 1,  /* requests/<node>/<build>.json */
	REQUEST_PATH_APPROVAL,     /* approvals/<approver>/<node>/<build>.json */
	REQUEST_PATH_RESPONSE,     /* responses/<node>/<build>.json */
	REQUEST_PATH_CLAIM,        /* claims/<node>/<build>/<generation>.json */
};

struct request_path {
	enum request_path_area area;
	char approver[REQUEST_NODE_MAX + 1];     /* approvals; "" for the others */
	char node[REQUEST_NODE_MAX + 1];
	char build[CAPTURE_BUILD_ID_MAX + 1];
	uint32_t generation;                     /* claims; 0 for the others */
};

/* Split a queue path into its area and names: true, with *ret filled, if
 * path is exactly one of the four forms above, with a valid node and
 * approver name (request_node_valid), build id (capture_build_id_valid)
 * and claim generation (claim_file_generation); false for anything else -
 * another area, a missing, empty or extra component, a name that is not
 * valid. Who may write there is the caller's to check. The one reader of
 * queue paths for the guard, the sign node and the auditor. */
bool request_path_parse(const char *path, struct request_path *ret);
/* A relative path of 1..255 bytes: '/'-separated components of
 * [A-Za-z0-9._+-], none empty, "." or "..". No leading '/', no
 * backslash, no NUL. Joined under any directory, it stays inside it. */
bool request_artifact_name_valid(const char *name);

struct request_artifact {
	char *name;
	uint64_t size;
	uint8_t sha256[32];
	uint8_t sha512[64];
	bool has_sha512;
	/* Builder only (NULL in a parsed document): the unfinalized states
	 * of the whole file, which openpgp entries are made from. */
	struct hash_state *state256;
	struct hash_state *state512;
};

struct request_entry {
	enum request_kind kind;
	uint8_t id[REQUEST_ID_LEN];
	char id_hex[REQUEST_ID_HEX_LEN + 1];
	size_t artifact;             /* index into doc->artifacts */
	char *key_name;
	uint8_t key_spki_sha256[32];
	/* raw, capture: the scheme to compute. openpgp: 0 (the scheme
	 * follows from the key's algorithm and hash). */
	enum rb_sig_scheme scheme;
	/* raw, capture: exactly the bytes the HSM signs under scheme - the
	 * digest, or for ed25519 the message (raw: the file's SHA-256). */
	uint8_t *input;
	size_t input_len;
	/* openpgp: the hash, and the file's unfinalized state under it
	 * (hash_state_md_ctx() feeds pgp_sig_init_from_state()). */
	enum hash_state_alg hash;
	struct hash_state *state;
	bool armor;                  /* openpgp: the build wants ASCII armor */
	struct capture_request *capture; /* capture: the embedded request */
};

struct request_doc {
	char *node;
	char *build_id;
	int64_t created;             /* Unix time */
	uint8_t manifest_sha256[32]; /* of the manifest file the build used */
	struct request_artifact *artifacts;
	size_t n_artifacts;
	struct request_entry *entries;
	size_t n_entries;
	char *comment;               /* optional.comment, or NULL */
	/* Private: entry indices sorted by id, artifact indices sorted by
	 * name (for the lookups and the uniqueness checks). */
	size_t *by_id;
	size_t *by_name;
};

/* ---- building (build node) --------------------------------------------- */

/* An empty document. node per request_node_valid(), build_id per
 * capture_build_id_valid(), created within 0..9999-12-31 (RB_E_INVAL). */
int request_doc_new(const char *node, const char *build_id, const uint8_t manifest_sha256[32],
		    int64_t created, struct request_doc **ret);

/* Add an artifact: size, SHA-256, SHA-512 and both unfinalized states of
 * its bytes. RB_E_INVAL for a bad name, RB_E_EXISTS for a name already
 * in the document, RB_E_LIMIT past REQUEST_MAX_ARTIFACTS. The _file
 * variant refuses symbolic links and non-regular files (RB_E_INVAL). */
int request_doc_add_artifact_buffer(struct request_doc *doc, const char *name, const void *data,
				    size_t len);
int request_doc_add_artifact_fd(struct request_doc *doc, const char *name, int fd);
int request_doc_add_artifact_file(struct request_doc *doc, const char *name, const char *path);

/* Embed a capture request (copied) whose placeholder is in the named
 * artifact. Its build_id must be the document's (RB_E_INVAL). */
int request_doc_add_capture(struct request_doc *doc, const char *artifact_name,
			    const struct capture_request *r);
/* A raw signature by key (borrowed; must be active: RB_E_PERM) under
 * scheme, which must fit the key (RB_E_UNSUPPORTED). */
int request_doc_add_raw(struct request_doc *doc, const char *artifact_name,
			const struct manifest_key *key, enum rb_sig_scheme scheme);
/* An OpenPGP detached binary signature by key (RSA or Ed25519; active). */
int request_doc_add_openpgp(struct request_doc *doc, const char *artifact_name,
			    const struct manifest_key *key, enum hash_state_alg hash, bool armor);
/* Set optional.comment: 1..REQUEST_COMMENT_MAX bytes of UTF-8 without
 * control characters other than tab and newline (RB_E_INVAL). */
int request_doc_set_comment(struct request_doc *doc, const char *comment);
/* RB_E_EXISTS from the add functions: that request is already in the
 * document (same id). RB_E_NOTFOUND: no artifact of that name.
 * RB_E_LIMIT past REQUEST_MAX_ENTRIES. Adding may move doc->entries and
 * doc->artifacts: pointers into them are valid until the next add. */

/* Canonical JSON (RFC 8785) followed by one newline, appended to out. */
int request_doc_emit(const struct request_doc *doc, struct rb_buf *out);

/* ---- reading (sign node, queue guard) ---------------------------------- */

/* Parse and check a document of len bytes. source names it in error
 * details. m may be NULL (structure only, as the queue guard does without
 * a manifest). max_bytes caps the input (0 or anything above
 * REQUEST_MAX_BYTES means REQUEST_MAX_BYTES).
 * Errors: RB_E_TOOBIG over a cap; RB_E_PARSE malformed, unknown key in
 * the top level or in "required", bad names, duplicate ids or artifacts,
 * a capture request of another build; RB_E_VERIFY a recomputed id that
 * differs (the document was altered), or a hash state whose length or
 * finalized digest is not the artifact's recorded size or digest;
 * RB_E_UNSUPPORTED another version.
 * With m: RB_E_KEY key not in m, RB_E_VERIFY fingerprint differs from
 * m's, RB_E_PERM key not active (the detail names its status),
 * RB_E_UNSUPPORTED scheme does not fit the key. */
int request_doc_parse(const char *text, size_t len, const char *source, const struct manifest *m,
		      size_t max_bytes, struct request_doc **ret);

void request_doc_free(struct request_doc *doc);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct request_doc *, request_doc_free)

/* Borrowed lookups; NULL when absent. */
const struct request_entry *request_doc_find(const struct request_doc *doc,
					     const uint8_t id[REQUEST_ID_LEN]);
const struct request_artifact *request_doc_find_artifact(const struct request_doc *doc,
							 const char *name);

/* The id of a raw or openpgp request (docs/formats/request.md, "Request
 * ids"): algo is the scheme name (raw) or hash name (openpgp), digest the
 * artifact digest (raw) or the finalized state (openpgp). */
int request_direct_id(const char *build_id, enum request_kind kind,
		      const uint8_t spki_sha256[32], const char *algo, const char *artifact_name,
		      const uint8_t *digest, size_t digest_len, uint8_t ret[REQUEST_ID_LEN]);

#endif
