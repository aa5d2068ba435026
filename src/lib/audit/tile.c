/* C2SP tlog-tiles path encoding. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/tile.h"
#include "util/err.h"

int tile_index_path(uint64_t n, char buf[TILE_PATH_MAX])
{
	unsigned groups[7];
	size_t ng = 0, off = 0;

	/* Three decimal digits per group: at most 7 groups for 2^64. */
	do {
		groups[ng++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n);
	while (ng > 1) {
		ng--;
		off += (size_t)snprintf(buf + off, TILE_PATH_MAX - off, "x%03u/", groups[ng]);
	}
	snprintf(buf + off, TILE_PATH_MAX - off, "%03u", groups[0]);
	return RB_OK;
}

int tile_path(int level, uint64_t n, unsigned w, char buf[TILE_PATH_MAX])
{
	char idx[TILE_PATH_MAX];
	int len;

	if (level < TILE_ENTRIES || level > TILE_MAX_LEVEL || w == 0 || w > TILE_WIDTH)
		return rb_err_set(RB_E_INVAL, "tile level %d width %u: level must be entries or "
				  "0..%d, width 1..%u", level, w, TILE_MAX_LEVEL, TILE_WIDTH);
	tile_index_path(n, idx);
	if (level == TILE_ENTRIES)
		len = snprintf(buf, TILE_PATH_MAX, "tile/entries/%s", idx);
	else
		len = snprintf(buf, TILE_PATH_MAX, "tile/%d/%s", level, idx);
	if (w < TILE_WIDTH)
		len += snprintf(buf + len, TILE_PATH_MAX - (size_t)len, ".p/%u", w);
	return RB_OK;
}

void tile_count(uint64_t tree_size, int level, uint64_t *ret_full, unsigned *ret_partial)
{
	uint64_t hashes = level <= 0 ? tree_size : tree_size >> (TILE_HEIGHT * level);

	*ret_full = hashes / TILE_WIDTH;
	*ret_partial = (unsigned)(hashes % TILE_WIDTH);
}
