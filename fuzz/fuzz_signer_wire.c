/* Fuzz the key holder's wire (src/signer/wire.h, docs/formats/
 * signer-wire.md). rombsr-signer decodes whatever the orchestrator sends,
 * and the orchestrator may be in an attacker's hands: whatever decodes
 * must keep its caps and encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signer/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_msg m;
	struct rb_buf out = RB_BUF_INIT;

	if (signer_msg_decode(data, size, &m) != 0)
		return 0;
	if (strlen(m.key) > SIGNER_NAME_MAX || strlen(m.node) > SIGNER_NAME_MAX ||
	    strlen(m.text) > SIGNER_DETAIL_MAX || m.input_len > SIGNER_INPUT_MAX)
		abort();
	if (m.type == SIGNER_MSG_SIGN &&
	    (m.purpose < SIGNER_FOR_CAPTURE || m.purpose > SIGNER_FOR_CHECKPOINT))
		abort();
	/* canonical: decoding is exact, so encoding gives the input back */
	if (signer_msg_encode(&m, &out) != 0 || out.len != size + 4 || memcmp(out.data + 4, data, size) != 0)
		abort();
	rb_buf_free(&out);
	return 0;
}
