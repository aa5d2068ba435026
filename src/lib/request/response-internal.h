/* Helpers shared by response.c and response_parse.c; not installed. */
#ifndef ROMBSR_REQUEST_RESPONSE_INTERNAL_H
#define ROMBSR_REQUEST_RESPONSE_INTERNAL_H

#include "request/response.h"

/* Whether a sig_len-byte signature fits a kind/scheme pair
 * (docs/formats/response.md, "Signatures"); RB_E_INVAL if not. */
int response_check_signature(enum request_kind kind, enum rb_sig_scheme scheme, size_t len);
/* leaf within int64, proof count within RESPONSE_PROOF_MAX, checkpoint
 * printable; RB_E_INVAL if not. */
int response_check_audit(const struct response_audit *a);
/* Rebuild doc->by_id; RB_E_EXISTS with *ret_dup on a repeated id. */
int response_index_build(struct response_doc *doc, size_t *ret_dup);
void response_entry_clear(struct response_entry *e);
void response_id_hex(const uint8_t id[REQUEST_ID_LEN], char out[REQUEST_ID_HEX_LEN + 1]);

#endif
