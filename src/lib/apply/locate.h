/* Finding a build's placeholder signatures in artifacts.
 *
 * `rombsr submit` uses this to learn which artifact holds which signing
 * request, and `rombsr apply` to check that each placeholder is still
 * there exactly once before it replaces it. A build may have 10,000
 * requests and a gigabyte of artifacts, so the search is one pass over the
 * data for all placeholders at once: O(len + n), not O(len * n).
 *
 * A request's placeholder is counted in its raw form (capture_placeholder:
 * RSA modulus-length, ECDSA r||s, Ed25519 64 bytes) and, for ECDSA, also
 * in its 70-byte DER form 30 44 02 20 r 02 20 s, which is how JAR, APK and
 * X.509 tools embed an ECDSA signature. Overlapping occurrences are each
 * counted.
 *
 * Ownership: the caller owns every argument; nothing is allocated for the
 * caller. Requests are borrowed for the duration of the call.
 */
#ifndef ROMBSR_APPLY_LOCATE_H
#define ROMBSR_APPLY_LOCATE_H

#include <stddef.h>
#include <stdint.h>

#include "request/capture_request.h"

/* Count the occurrences of each request's placeholder in data.
 * ret_counts has n entries; ret_counts[i] is the number of occurrences of
 * reqs[i]'s placeholder (raw plus, for ECDSA, DER form). It is written
 * only on success. n may be 0; data may be NULL when len is 0.
 * Errors: RB_E_INVAL a NULL argument, a NULL request or a request whose
 * placeholder is shorter than 8 bytes; RB_E_NOMEM. */
int apply_locate_placeholders(const uint8_t *data, size_t len,
			      const struct capture_request *const *reqs, size_t n,
			      size_t *ret_counts);

/* The same on a file. The file is read whole (mmap), after checking it is
 * a regular file and not a symbolic link (RB_E_INVAL otherwise) and at
 * most CAPTURE_ARTIFACT_MAX_BYTES (RB_E_TOOBIG). A missing file is
 * RB_E_NOTFOUND, a read error RB_E_IO. Details name path. */
int apply_locate_file(const char *path, const struct capture_request *const *reqs, size_t n,
		      size_t *ret_counts);

#endif
