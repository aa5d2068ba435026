#include "util/idmap.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "util/err.h"

static size_t idmap_first(const struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)h & (m->cap - 1);
}

/* key's slot, or the free slot where it would go. m->cap > 0. */
static struct rb_idmap_slot *idmap_slot(const struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN])
{
	for (size_t i = idmap_first(m, key);; i = (i + 1) & (m->cap - 1))
		if (!m->slots[i].used || memcmp(m->slots[i].key, key, RB_IDMAP_KEY_LEN) == 0)
			return &m->slots[i];
}

uint64_t *rb_idmap_get(const struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN])
{
	struct rb_idmap_slot *s;

	if (!m->cap)
		return NULL;
	s = idmap_slot(m, key);
	return s->used ? &s->val : NULL;
}

static int idmap_grow(struct rb_idmap *m)
{
	struct rb_idmap bigger = { NULL, m->cap ? 2 * m->cap : 64, m->n };

	if (bigger.cap < m->cap || !(bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))))
		return RB_E_NOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			*idmap_slot(&bigger, m->slots[i].key) = m->slots[i];
	free(m->slots);
	*m = bigger;
	return RB_OK;
}

int rb_idmap_put(struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN], uint64_t val, bool *ret_had,
		 uint64_t **ret_val)
{
	struct rb_idmap_slot *s;
	int err;

	/* Keep the load under 1/2 so probes stay short. */
	if ((m->n + 1) * 2 > m->cap && (err = idmap_grow(m)) < 0)
		return err;
	s = idmap_slot(m, key);
	if (ret_had)
		*ret_had = s->used;
	if (!s->used) {
		memcpy(s->key, key, RB_IDMAP_KEY_LEN);
		s->val = val;
		s->used = true;
		m->n++;
	}
	if (ret_val)
		*ret_val = &s->val;
	return RB_OK;
}

void rb_idmap_key_str(const char *s, size_t n, uint8_t key[RB_IDMAP_KEY_LEN])
{
	SHA256((const uint8_t *)s, n, key);
}

void rb_idmap_clear(struct rb_idmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
