/* The claim document: "rombsr-claim" version 1,
 * claims/<node>/<build-id>/<generation>.json (docs/formats/claim.md).
 *
 * Several sign nodes may serve one queue. Before one of them touches the
 * HSM for a build, it publishes a claim for that build: the push race
 * decides which node signs it, and the claim's lease says until when the
 * others leave it alone. A node that dies holding a claim loses it when
 * the lease ends; the next claim for the build has the next generation.
 * The commit carrying claims is signed by the queue key, like a response
 * commit; this module only handles the document.
 *
 * Ownership: claim_doc_parse() returns a document the caller frees with
 * claim_doc_free() (accepts NULL). claim_doc_emit() only reads.
 */
#ifndef ROMBSR_REQUEST_CLAIM_H
#define ROMBSR_REQUEST_CLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/cleanup.h"

#define CLAIM_FORMAT "rombsr-claim"
#define CLAIM_VERSION 1
#define CLAIM_MAX_BYTES ((size_t)4096)
#define CLAIM_MAX_GENERATION 1000000
#define CLAIM_MAX_LEASE_SECONDS 3600 /* expires - claimed, at most */
#define CLAIM_ORIGIN_MAX 255
#define CLAIM_INSTANCE_LEN 16        /* bytes; 32 hex digits in the document */

struct claim_doc {
	char node[65];                /* request_node_valid() */
	char build_id[129];           /* capture_build_id_valid() */
	uint32_t generation;          /* 1..CLAIM_MAX_GENERATION */
	char sign_node[65];           /* the claiming sign node's name (request_node_valid()) */
	uint8_t instance[CLAIM_INSTANCE_LEN]; /* its state directory's random id */
	char origin[CLAIM_ORIGIN_MAX + 1];    /* its audit log's origin */
	int64_t claimed, expires;     /* Unix seconds; claimed < expires <= claimed + max lease */
	uint8_t request_sha256[32];   /* the request document claimed */
};

/* Canonical JSON followed by one newline, appended to out; RB_E_INVAL if
 * c breaks a rule claim_doc_parse() enforces. */
int claim_doc_emit(const struct claim_doc *c, struct rb_buf *out);
/* Strict parse: unknown keys refused, every rule above checked.
 * RB_E_PARSE, RB_E_TOOBIG over CLAIM_MAX_BYTES, RB_E_UNSUPPORTED another
 * version. */
int claim_doc_parse(const char *text, size_t len, const char *source, struct claim_doc **ret);
void claim_doc_free(struct claim_doc *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct claim_doc *, claim_doc_free)

/* "claims/<node>/<build-id>/<generation>.json" into buf. */
int claim_path(const char *node, const char *build_id, uint32_t generation, char *buf, size_t n);
/* The generation of a file name "<generation>.json" in a claim directory
 * (decimal, no leading zero, 1..CLAIM_MAX_GENERATION); false otherwise. */
bool claim_file_generation(const char *name, uint32_t *ret);

#endif
