/* A map from 32-byte keys to uint64 values: open addressing, linear
 * probing, a load of at most 1/2, grown by doubling.
 *
 * A slot is picked by the key's first 8 bytes, so keys must be hash
 * outputs (request ids, SHA-256 digests), never bytes an attacker picks
 * directly, or probes could be made long. A string goes in through
 * rb_idmap_key_str(), its SHA-256.
 *
 * Ownership: the struct is the caller's (RB_IDMAP_INIT or zeroed);
 * rb_idmap_clear() frees what it holds and leaves it empty and usable. A
 * value pointer is valid until the next rb_idmap_put() or clear. */
#ifndef ROMBSR_UTIL_IDMAP_H
#define ROMBSR_UTIL_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_IDMAP_KEY_LEN 32

struct rb_idmap_slot {
	uint8_t key[RB_IDMAP_KEY_LEN];
	uint64_t val;
	bool used;
};

struct rb_idmap {
	struct rb_idmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

#define RB_IDMAP_INIT { NULL, 0, 0 }

/* key's value, or NULL if key is not in the map. */
uint64_t *rb_idmap_get(const struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN]);

/* key -> val unless key is there already (then its value is kept).
 * *ret_had (optional) says whether it was; *ret_val (optional) points at
 * its value, new or old. RB_OK or RB_E_NOMEM (the map as it was). */
int rb_idmap_put(struct rb_idmap *m, const uint8_t key[RB_IDMAP_KEY_LEN], uint64_t val, bool *ret_had,
		 uint64_t **ret_val);

/* The key of a string: SHA-256 of s[0..n). */
void rb_idmap_key_str(const char *s, size_t n, uint8_t key[RB_IDMAP_KEY_LEN]);

void rb_idmap_clear(struct rb_idmap *m);

#endif
