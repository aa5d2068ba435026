/* libFuzzer target for the proof text parser and the Merkle verifiers fed
 * with whatever it accepts. A parsed proof formats back to the same bytes;
 * verification of arbitrary proofs must never crash or loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/log.h"
#include "audit/merkle.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_proof p;
	struct rb_buf out = RB_BUF_INIT;
	uint8_t a[32] = { 0 }, b[32] = { 1 };

	if (audit_proof_parse(data, size, &p) < 0)
		return 0;
	if (audit_proof_format(&p, &out) < 0 || out.len != size || memcmp(out.data, data, size) != 0)
		abort();
	rb_buf_free(&out);
	if (p.kind == AUDIT_PROOF_INCLUSION) {
		(void)merkle_inclusion_verify(p.a, p.size, a, 32, &p.proof, b, 32);
		if (p.a < p.size && p.size - p.a > 0)
			(void)merkle_subtree_inclusion_verify(p.a, p.a & ~(uint64_t)1, p.size, a, 32,
							      &p.proof, b, 32);
	} else {
		(void)merkle_consistency_verify(p.a, p.size, a, 32, b, 32, &p.proof);
		(void)merkle_subtree_consistency_verify(p.a / 2, p.a, p.size, a, 32, b, 32, &p.proof);
	}
	return 0;
}
