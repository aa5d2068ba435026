#include "policy/idset.h"

/* The ids are SHA-256 outputs, chosen by the sign node's peers but only
 * through a hash: keys rb_idmap may take as they are. */
bool idset_has(const struct idset *s, const uint8_t id[32])
{
	return rb_idmap_get(&s->map, id) != NULL;
}

int idset_add(struct idset *s, const uint8_t id[32])
{
	return rb_idmap_put(&s->map, id, 0, NULL, NULL);
}

void idset_clear(struct idset *s)
{
	rb_idmap_clear(&s->map);
}
