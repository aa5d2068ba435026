/* C2SP tlog-tiles layout: pure path and size arithmetic, no I/O.
 *
 *   tile/<L>/<N>[.p/<W>]     hashes: tile N of level L holds the tree-level
 *                            8*L hashes 256*N ... 256*N+W-1
 *   tile/entries/<N>[.p/<W>] entry bundles: entries 256*N ... 256*N+W-1, each
 *                            a big-endian uint16 length and the entry bytes
 *
 * N is written in groups of three digits, each but the last prefixed "x":
 * 1234067 is "x001/x234/067". A full tile has width 256 and no ".p/<W>".
 */
#ifndef ROMBSR_AUDIT_TILE_H
#define ROMBSR_AUDIT_TILE_H

#include <stddef.h>
#include <stdint.h>

#define TILE_HEIGHT 8
#define TILE_WIDTH 256u
/* Largest level that exists for a 64-bit tree size. */
#define TILE_MAX_LEVEL 7
/* A level -1 means the entry bundle ("entries" instead of a number). */
#define TILE_ENTRIES (-1)
/* Longest path tile_path() produces, with NUL: "tile/entries/" plus seven
 * x-groups of four and ".p/255". */
#define TILE_PATH_MAX 64

/* The path of tile (level, n) of width w (1..256), relative to the log
 * directory, into buf (at least TILE_PATH_MAX bytes). RB_E_INVAL for
 * out-of-range arguments. */
int tile_path(int level, uint64_t n, unsigned w, char buf[TILE_PATH_MAX]);

/* The index path alone ("x001/x234/067"). */
int tile_index_path(uint64_t n, char buf[TILE_PATH_MAX]);

/* For a tree of size hashes at tree level 8*level (tree_size >> 8*level),
 * the number of full tiles and the width of the trailing partial tile
 * (0 if none). */
void tile_count(uint64_t tree_size, int level, uint64_t *ret_full, unsigned *ret_partial);

#endif
