/* Verifying a whole log directory, as an auditor does: the checkpoint's
 * signature, every entry, every stored tile, the root, and consistency
 * with what this verifier trusted before. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "audit/audit-internal.h"
#include "audit/log.h"
#include "audit/tile.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

#define TRUST_CHECKPOINT "checkpoint"
#define TRUST_LEAVES "leaves"

struct collect {
	struct audit_tree *tree;
	uint64_t base;
	unsigned n;
};

static int collect_cb(void *ctx, const uint8_t *e, size_t len)
{
	struct collect *c = ctx;
	uint8_t leaf[MERKLE_HASH_LEN];
	int err;

	/* Accepts exactly what audit_entry_parse() accepts, in one scan. */
	if ((err = audit_entry_validate(e, len, NULL)) < 0)
		return err;
	merkle_hash_leaf(e, len, leaf);
	if ((err = audit_tree_push(c->tree, leaf)) < 0)
		return err;
	c->n++;
	return RB_OK;
}

static int fail_at(struct audit_verify_result *r, uint64_t index, int err)
{
	r->bad_index = index;
	return err;
}

/* Every entry up to size, from the bundles a client of this checkpoint
 * would fetch. */
static int verify_entries(const char *dir, uint64_t size, struct audit_tree *t,
			  struct audit_verify_result *r)
{
	for (uint64_t n = 0; n * TILE_WIDTH < size; n++) {
		uint64_t base = n * TILE_WIDTH;
		unsigned w = size - base >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(size - base);
		char rel[TILE_PATH_MAX];
		_cleanup_free_ char *path = NULL;
		_cleanup_free_ uint8_t *data = NULL;
		struct collect c = { t, base, 0 };
		size_t len, good;
		unsigned got;
		int err;

		tile_path(TILE_ENTRIES, n, w, rel);
		if ((err = audit_path_join(dir, rel, &path)) < 0)
			return err;
		err = audit_file_read(path, AUDIT_BUNDLE_MAX, &data, &len);
		if (err == RB_E_NOTFOUND)
			return fail_at(r, base, rb_err_set(RB_E_VERIFY, "entry %" PRIu64 ": %s is missing: "
							   "the log was truncated", base, rel));
		if (err < 0)
			return fail_at(r, base, err);
		err = audit_bundle_walk(data, len, w, collect_cb, &c, &got, &good);
		if (err < 0)
			return fail_at(r, base + got, rb_err_prefix(rb_err_recode(err, RB_E_VERIFY), "entry %" PRIu64
								       " (%s, byte %zu)", base + got,
								       rel, good));
		if (got != w)
			return fail_at(r, base + got, rb_err_set(RB_E_VERIFY, "entry %" PRIu64 ": %s ends "
								 "after %u of %u entries: the log "
								 "was truncated", base + got, rel,
								 got, w));
	}
	return RB_OK;
}

/* Stored hash tiles must be exactly the recomputed ones. Entries are
 * already known good here, so a mismatch is a bad tile. */
static int verify_tiles(const char *dir, uint64_t size, struct audit_tree *t,
			struct audit_verify_result *r)
{
	for (int l = 0; l <= TILE_MAX_LEVEL; l++) {
		uint64_t full;
		unsigned w;

		tile_count(size, l, &full, &w);
		if (full == 0 && w == 0)
			break;
		for (uint64_t n = 0; n <= full; n++) {
			unsigned width = n < full ? TILE_WIDTH : w;
			char rel[TILE_PATH_MAX];
			_cleanup_free_ char *path = NULL;
			_cleanup_free_ uint8_t *data = NULL;
			struct rb_buf want = RB_BUF_INIT;
			uint64_t first = (n * TILE_WIDTH) << (TILE_HEIGHT * l);
			size_t len;
			int err;

			if (width == 0)
				continue;
			tile_path(l, n, width, rel);
			if ((err = audit_path_join(dir, rel, &path)) < 0)
				return err;
			err = audit_file_read(path, TILE_WIDTH * MERKLE_HASH_LEN, &data, &len);
			if (err == RB_E_NOTFOUND || err == RB_E_TOOBIG)
				return fail_at(r, first, rb_err_set(RB_E_VERIFY, "%s is %s (it covers entries "
								    "from %" PRIu64 ")", rel,
								    err == RB_E_TOOBIG ? "too large" :
								    "missing", first));
			if (err < 0)
				return fail_at(r, first, err);
			if ((err = audit_tile_bytes(t, l, n, width, &want)) < 0)
				return err;
			if (len != want.len || memcmp(data, want.data, len) != 0) {
				size_t j = 0;

				while (j < width && j * MERKLE_HASH_LEN + MERKLE_HASH_LEN <= len &&
				       memcmp(data + j * MERKLE_HASH_LEN, want.data + j * MERKLE_HASH_LEN,
					      MERKLE_HASH_LEN) == 0)
					j++;
				rb_buf_free(&want);
				first += (uint64_t)j << (TILE_HEIGHT * l);
				return fail_at(r, first, rb_err_set(RB_E_VERIFY, "%s: hash %zu is wrong "
								    "(the entries from %" PRIu64 " it "
								    "covers are intact): the tile was "
								    "altered", rel, j, first));
			}
			rb_buf_free(&want);
		}
	}
	return RB_OK;
}

int audit_trust_dir_default(const char *origin, char **ret)
{
	const char *base = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	uint8_t h[SHA256_DIGEST_LENGTH];
	_cleanup_free_ char *hex = NULL;
	char *p;
	int err;

	SHA256((const uint8_t *)origin, strlen(origin), h);
	if ((err = rb_hex_encode(h, sizeof(h), &hex)) < 0)
		return err;
	if (base && base[0] == '/') {
		if (asprintf(&p, "%s/rombsr/audit-trust/%s", base, hex) < 0)
			return RB_E_NOMEM;
	} else if (home && home[0] == '/') {
		if (asprintf(&p, "%s/.local/state/rombsr/audit-trust/%s", home, hex) < 0)
			return RB_E_NOMEM;
	} else {
		return rb_err_set(RB_E_NOTFOUND, "neither $XDG_STATE_HOME nor $HOME is set; pass "
				  "--trust-dir");
	}
	*ret = p;
	return RB_OK;
}

/* What this verifier accepted last time: a signed checkpoint and the leaf
 * hashes under it (so a fork names its first differing entry). */
static int trust_check(const char *trust_dir, const struct note_verifier *v,
		       const struct checkpoint *cur, struct audit_tree *t,
		       struct audit_verify_result *r)
{
	_cleanup_free_ char *cp_path = NULL, *lv_path = NULL;
	_cleanup_free_ uint8_t *cp = NULL, *leaves = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *old = NULL;
	struct audit_tree ot = { 0 };
	uint8_t root[MERKLE_HASH_LEN];
	struct merkle_source src;
	size_t cp_len, lv_len;
	int err;

	if ((err = audit_path_join(trust_dir, TRUST_CHECKPOINT, &cp_path)) < 0 ||
	    (err = audit_path_join(trust_dir, TRUST_LEAVES, &lv_path)) < 0)
		return err;
	err = rb_file_read(cp_path, NOTE_MAX_BYTES, &cp, &cp_len);
	if (err == RB_E_NOTFOUND)
		return RB_OK; /* first verification: trust on first use */
	if (err < 0)
		return err;
	if ((err = checkpoint_verify(cp, cp_len, v, &old)) < 0)
		return rb_err_prefix(rb_err_recode(err, RB_E_STATE), "%s: the trusted checkpoint does not verify with "
					"this key (wrong --trust-dir or key?)", cp_path);
	if (old->size > (SIZE_MAX / MERKLE_HASH_LEN))
		return rb_err_set(RB_E_STATE, "%s: trusted size too large", cp_path);
	if ((err = rb_file_read(lv_path, (size_t)old->size * MERKLE_HASH_LEN, &leaves, &lv_len)) < 0 ||
	    lv_len != (size_t)old->size * MERKLE_HASH_LEN)
		return rb_err_set(RB_E_STATE, "%s: missing or not %" PRIu64 " hashes; the trust store "
				  "is damaged - remove it only if you know why", lv_path, old->size);
	for (uint64_t i = 0; i < old->size; i++)
		if ((err = audit_tree_push(&ot, leaves + i * MERKLE_HASH_LEN)) < 0) {
			audit_tree_clear(&ot);
			return err;
		}
	audit_tree_source(&ot, &src);
	err = merkle_range_root(&src, 0, old->size, root);
	audit_tree_clear(&ot);
	if (err < 0)
		return err;
	if (memcmp(root, old->root, MERKLE_HASH_LEN) != 0)
		return rb_err_set(RB_E_STATE, "%s does not hash to the trusted checkpoint; the trust "
				  "store is damaged", lv_path);
	if (cur->size < old->size)
		return fail_at(r, cur->size, rb_err_set(RB_E_VERIFY, "entry %" PRIu64 ": the log has "
							 "%" PRIu64 " entries but this verifier "
							 "already saw %" PRIu64 ": it was truncated "
							 "or replaced by a shorter log", cur->size,
							 cur->size, old->size));
	for (uint64_t i = 0; i < old->size; i++)
		if (memcmp(t->lv[0][i], leaves + i * MERKLE_HASH_LEN, MERKLE_HASH_LEN) != 0)
			return fail_at(r, i, rb_err_set(RB_E_VERIFY, "entry %" PRIu64 " differs from the "
							"one in the checkpoint of size %" PRIu64
							" trusted before: the log forked or was "
							"rewritten", i, old->size));
	/* Same leaves, so same root: the new checkpoint extends the old one. */
	return RB_OK;
}

static int trust_store(const char *trust_dir, const void *cp, size_t cp_len, struct audit_tree *t)
{
	_cleanup_free_ char *cp_path = NULL, *lv_path = NULL;
	int err;

	if ((err = rb_mkdir_p(trust_dir, 0700)) < 0 ||
	    (err = audit_path_join(trust_dir, TRUST_CHECKPOINT, &cp_path)) < 0 ||
	    (err = audit_path_join(trust_dir, TRUST_LEAVES, &lv_path)) < 0)
		return err;
	/* Leaves first: a checkpoint without its leaves would be unusable. */
	if ((err = rb_file_write_atomic(lv_path, t->size ? (const void *)t->lv[0] : "",
					(size_t)t->size * MERKLE_HASH_LEN, 0600)) < 0)
		return err;
	return rb_file_write_atomic(cp_path, cp, cp_len, 0600);
}

int audit_dir_verify(const char *dir, const struct note_verifier *v, const char *trust_dir,
		     struct audit_verify_result *ret)
{
	_cleanup_free_ char *cp_path = NULL;
	_cleanup_free_ uint8_t *cp = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	struct audit_tree t = { 0 };
	struct audit_verify_result r = { 0, { 0 }, UINT64_MAX };
	uint8_t root[MERKLE_HASH_LEN];
	struct merkle_source src;
	size_t cp_len;
	int err;

	if ((err = audit_path_join(dir, AUDIT_CHECKPOINT_FILE, &cp_path)) < 0)
		return err;
	if ((err = rb_file_read(cp_path, NOTE_MAX_BYTES, &cp, &cp_len)) < 0)
		goto out;
	if ((err = checkpoint_verify(cp, cp_len, v, &c)) < 0) {
		err = rb_err_prefix(err, "%s", cp_path);
		goto out;
	}
	r.size = c->size;
	memcpy(r.root, c->root, MERKLE_HASH_LEN);
	if ((err = verify_entries(dir, c->size, &t, &r)) < 0)
		goto out;
	if (trust_dir && (err = trust_check(trust_dir, v, c, &t, &r)) < 0)
		goto out;
	audit_tree_source(&t, &src);
	if ((err = merkle_range_root(&src, 0, c->size, root)) < 0)
		goto out;
	if (memcmp(root, c->root, MERKLE_HASH_LEN) != 0) {
		/* An entry was changed in a way that still parses. The level-0
		 * tiles (if untouched) say which one. */
		struct audit_verify_result tr = r;

		if (verify_tiles(dir, c->size, &t, &tr) < 0 && tr.bad_index != UINT64_MAX) {
			r.bad_index = tr.bad_index;
			err = rb_err_set(RB_E_VERIFY, "entry %" PRIu64 " was altered: its hash differs from "
					 "the tiles and the entries no longer hash to the signed root",
					 r.bad_index);
		} else {
			r.bad_index = 0;
			err = rb_err_set(RB_E_VERIFY, "the entries do not hash to the signed root, and "
					 "the tiles were rewritten to match them: an entry in 0..%" PRIu64
					 " was altered (verify with a --trust-dir that saw the log "
					 "before to name it)", c->size ? c->size - 1 : 0);
		}
		goto out;
	}
	if ((err = verify_tiles(dir, c->size, &t, &r)) < 0)
		goto out;
	if (trust_dir && (err = trust_store(trust_dir, cp, cp_len, &t)) < 0)
		goto out;
	err = RB_OK;
out:
	audit_tree_clear(&t);
	if (ret)
		*ret = r;
	return err;
}
