#include "policy/idset.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* The ids are SHA-256 outputs, chosen by the sign node's peers but only
 * through a hash, so their first bytes are a fine hash of their own. */
static size_t idset_slot(const uint8_t id[32], size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)h & (cap - 1);
}

bool idset_has(const struct idset *s, const uint8_t id[32])
{
	if (!s->cap)
		return false;
	for (size_t i = idset_slot(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->used[i])
			return false;
		if (memcmp(s->slots[i], id, 32) == 0)
			return true;
	}
}

static void idset_insert(struct idset *s, const uint8_t id[32])
{
	size_t i = idset_slot(id, s->cap);

	while (s->used[i])
		i = (i + 1) & (s->cap - 1);
	memcpy(s->slots[i], id, 32);
	s->used[i] = true;
	s->n++;
}

static int idset_grow(struct idset *s)
{
	struct idset bigger = { 0 };

	bigger.cap = s->cap ? s->cap * 2 : 64;
	bigger.slots = calloc(bigger.cap, 32);
	bigger.used = calloc(bigger.cap, sizeof(bool));
	if (!bigger.slots || !bigger.used) {
		idset_clear(&bigger);
		return RB_E_NOMEM;
	}
	for (size_t i = 0; i < s->cap; i++)
		if (s->used[i])
			idset_insert(&bigger, s->slots[i]);
	idset_clear(s);
	*s = bigger;
	return RB_OK;
}

int idset_add(struct idset *s, const uint8_t id[32])
{
	int err;

	if (idset_has(s, id))
		return RB_OK;
	/* Keep the load under 1/2 so probes stay short. */
	if ((s->n + 1) * 2 > s->cap && (err = idset_grow(s)) < 0)
		return err;
	idset_insert(s, id);
	return RB_OK;
}

void idset_clear(struct idset *s)
{
	free(s->slots);
	free(s->used);
	memset(s, 0, sizeof(*s));
}
