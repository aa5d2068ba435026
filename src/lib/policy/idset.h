/* A set of 32-byte identifiers (request ids, SHA-256 hashes): an
 * rb_idmap whose values are unused. Internal to the policy area.
 * Ownership: idset_clear() frees the storage; the struct itself is the
 * caller's. */
#ifndef ROMBSR_POLICY_IDSET_H
#define ROMBSR_POLICY_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/idmap.h"

struct idset {
	struct rb_idmap map;
};

bool idset_has(const struct idset *s, const uint8_t id[32]);
/* RB_OK (also when already present) or RB_E_NOMEM. */
int idset_add(struct idset *s, const uint8_t id[32]);
void idset_clear(struct idset *s);

#endif
