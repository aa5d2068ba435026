/* The in-memory Merkle tree of a log: every complete subtree's hash, so
 * that proofs cost a few array lookups. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "audit/tile.h"
#include "util/err.h"

static int level_push(struct audit_tree *t, unsigned l, const uint8_t h[MERKLE_HASH_LEN])
{
	uint64_t n = t->size >> l; /* entries already at this level, before the push */

	if (n >= t->alloc[l]) {
		uint64_t na = t->alloc[l] ? t->alloc[l] * 2 : 1024;
		void *p = realloc(t->lv[l], na * MERKLE_HASH_LEN);

		if (!p)
			return RB_E_NOMEM;
		t->lv[l] = p;
		t->alloc[l] = na;
	}
	memcpy(t->lv[l][n], h, MERKLE_HASH_LEN);
	return RB_OK;
}

int audit_tree_push(struct audit_tree *t, const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t idx = t->size;
	int err;

	if (t->size == UINT64_MAX >> 1)
		return rb_err_set(RB_E_LIMIT, "audit log is full");
	/* Reserve every level first, so a failed allocation changes nothing. */
	for (unsigned l = 0; l == 0 || (idx & ((uint64_t)1 << (l - 1))); l++) {
		uint64_t n = t->size >> l;

		if (n >= t->alloc[l]) {
			uint64_t na = t->alloc[l] ? t->alloc[l] * 2 : 1024;
			void *p = realloc(t->lv[l], na * MERKLE_HASH_LEN);

			if (!p)
				return RB_E_NOMEM;
			t->lv[l] = p;
			t->alloc[l] = na;
		}
	}
	memcpy(h, leaf, MERKLE_HASH_LEN);
	if ((err = level_push(t, 0, h)) < 0)
		return err;
	/* Leaf idx completes a subtree of 2^(l+1) for every trailing one bit. */
	for (unsigned l = 0; idx & 1; l++, idx >>= 1) {
		merkle_hash_node(t->lv[l][idx - 1], t->lv[l][idx], h);
		if ((err = level_push(t, l + 1, h)) < 0)
			return err;
	}
	t->size++;
	return RB_OK;
}

void audit_tree_clear(struct audit_tree *t)
{
	for (unsigned l = 0; l < 64; l++)
		free(t->lv[l]);
	memset(t, 0, sizeof(*t));
}

static int tree_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct audit_tree *t = ctx;

	if (level >= 64 || index >= (t->size >> level))
		return rb_err_set(RB_E_INVAL, "no subtree (%u, %llu) in a tree of size %llu", level,
				  (unsigned long long)index, (unsigned long long)t->size);
	memcpy(out, t->lv[level][index], MERKLE_HASH_LEN);
	return RB_OK;
}

void audit_tree_source(struct audit_tree *t, struct merkle_source *ret)
{
	ret->get = tree_get;
	ret->ctx = t;
}

int audit_tile_bytes(struct audit_tree *t, int level, uint64_t n, unsigned w, struct rb_buf *out)
{
	unsigned tl = (unsigned)(TILE_HEIGHT * level);
	uint64_t first = n * TILE_WIDTH;

	if (first + w > (t->size >> tl))
		return rb_err_set(RB_E_INVAL, "tile %d/%llu.p/%u is beyond the tree", level,
				  (unsigned long long)n, w);
	return rb_buf_put(out, t->lv[tl][first], (size_t)w * MERKLE_HASH_LEN);
}

int audit_bundle_walk(const uint8_t *data, size_t len, unsigned max_records, audit_bundle_cb cb,
		      void *ctx, unsigned *ret_records, size_t *ret_good_len)
{
	struct rb_reader r;
	unsigned n = 0;
	size_t good = 0;
	int err = RB_OK;

	rb_reader_init(&r, data, len);
	while (r.len > 0) {
		uint16_t elen;
		const uint8_t *e;

		if (n == max_records) {
			err = rb_err_set(RB_E_PARSE, "more than %u records", max_records);
			break;
		}
		if (rb_reader_get_u16be(&r, &elen) < 0 || rb_reader_get_bytes(&r, elen, &e) < 0) {
			err = rb_err_set(RB_E_PARSE, "record %u is cut short", n);
			break;
		}
		if ((err = cb(ctx, e, elen)) < 0)
			break;
		n++;
		good = len - r.len;
	}
	*ret_records = n;
	*ret_good_len = good;
	return err;
}

int audit_file_read(const char *path, size_t cap, uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	struct stat st;
	uint8_t *buf;
	size_t len = 0, size;

	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO, "%s: cannot open: %s",
				  path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return rb_err_set(RB_E_IO, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the limit of %zu bytes", path,
				  (long long)st.st_size, cap);
	}
	/* One allocation of the size fstat gives (plus one byte, to see a
	 * file that grew while it was read): bundles are read by the
	 * thousand and growing a buffer would copy each several times. */
	size = (size_t)st.st_size;
	if (!(buf = malloc(size + 1))) {
		close(fd);
		return RB_E_NOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return rb_err_set(RB_E_IO, "%s: read failed: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > size) {
			free(buf);
			close(fd);
			return rb_err_set(RB_E_IO, "%s: changed while it was read", path);
		}
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return RB_OK;
}

int audit_path_join(const char *dir, const char *rel, char **ret)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		return RB_E_NOMEM;
	*ret = p;
	return RB_OK;
}
