/* The audit log store: entry bundles on disk, the tree in memory, appends
 * that are durable before they return (see log.h for the recovery rules). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "audit/audit-internal.h"
#include "audit/log.h"
#include "audit/tile.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

struct rid_slot {
	uint64_t key;
	uint64_t index_plus1; /* 0: empty */
};

struct audit_log {
	char *dir;
	char *origin;
	struct audit_tree tree;
	uint64_t cp_size;                /* checkpoint on disk */
	uint8_t cp_root[MERKLE_HASH_LEN];
	struct rb_buf tail;              /* bundle of entries [size & ~255, size) */
	uint32_t tail_off[TILE_WIDTH];   /* record offsets in tail */
	struct rid_slot *map;            /* request id -> index of its sign entry */
	size_t map_cap, map_n;
	bool broken;                     /* an I/O error left disk ahead of memory */
	bool readonly;                   /* audit_log_open_readonly: never writes */
};

/* --- request id index ---------------------------------------------------- */

static uint64_t rid_key(const char *rid)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	uint64_t k;

	SHA256((const uint8_t *)rid, strlen(rid), h);
	memcpy(&k, h, sizeof(k));
	return k;
}

static int map_grow(struct audit_log *log)
{
	size_t ncap = log->map_cap ? log->map_cap * 2 : 1024;
	struct rid_slot *n = calloc(ncap, sizeof(*n));

	if (!n)
		return RB_E_NOMEM;
	for (size_t i = 0; i < log->map_cap; i++) {
		struct rid_slot s = log->map[i];
		size_t j;

		if (!s.index_plus1)
			continue;
		for (j = s.key & (ncap - 1); n[j].index_plus1; j = (j + 1) & (ncap - 1))
			;
		n[j] = s;
	}
	free(log->map);
	log->map = n;
	log->map_cap = ncap;
	return RB_OK;
}

static int map_insert(struct audit_log *log, uint64_t key, uint64_t index)
{
	size_t j;
	int err;

	if (2 * (log->map_n + 1) > log->map_cap && (err = map_grow(log)) < 0)
		return err;
	for (j = key & (log->map_cap - 1); log->map[j].index_plus1; j = (j + 1) & (log->map_cap - 1))
		;
	log->map[j].key = key;
	log->map[j].index_plus1 = index + 1;
	log->map_n++;
	return RB_OK;
}

/* The request id of a sign entry, or NULL. */
static const char *sign_request_id(const struct json_value *e)
{
	const char *type, *rid;

	if (json_get_string(e, "type", &type) < 0 || strcmp(type, "sign") != 0 ||
	    json_get_string(e, "request_id", &rid) < 0)
		return NULL;
	return rid;
}

/* --- files --------------------------------------------------------------- */

static int log_path(const struct audit_log *log, const char *rel, char **ret)
{
	return audit_path_join(log->dir, rel, ret);
}

/* Create the parent directories of rel (made durable by log_sync). */
static int ensure_parent(const struct audit_log *log, const char *rel)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	char *slash;
	int err;

	if ((err = log_path(log, rel, &path)) < 0)
		return err;
	if (!(slash = strrchr(path, '/')))
		return RB_OK;
	*slash = '\0';
	if (stat(path, &st) == 0)
		return RB_OK;
	return rb_mkdir_p(path, 0755);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replace rel with data through a temp file and a rename, but without an
 * fsync: a batch writes many files and makes them durable together with
 * one log_sync(), one journal commit instead of two per file. Until then
 * a crash leaves the old file or the new one, or a new one that is cut
 * short - which open() treats as a torn tail. */
static int log_write(const struct audit_log *log, const char *rel, const void *data, size_t len)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	uint8_t rnd[8];
	int fd, err;

	if ((err = ensure_parent(log, rel)) < 0 || (err = log_path(log, rel, &path)) < 0 ||
	    (err = rb_random_bytes(rnd, sizeof(rnd))) < 0)
		return err;
	/* The ".tmp-" name is what open() sweeps after a crash. */
	if (asprintf(&tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2],
		     rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]) < 0) {
		tmp = NULL;
		return RB_E_NOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
	if (write_all(fd, data, len) < 0 || close(fd) < 0) {
		err = rb_err_set(RB_E_IO, "%s: write failed: %s", tmp, strerror(errno));
		unlink(tmp);
		return err;
	}
	if (rename(tmp, path) < 0) {
		err = rb_err_set(RB_E_IO, "%s: rename failed: %s", path, strerror(errno));
		unlink(tmp);
		return err;
	}
	return RB_OK;
}

/* Make everything written so far durable: file data, renames and new
 * directories, in one syncfs() of the log's file system. */
static int log_sync(const struct audit_log *log)
{
	_cleanup_close_ int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0)
		return rb_err_set(RB_E_IO, "%s: cannot sync: %s; the last entries are not durable",
				  log->dir, strerror(errno));
	return RB_OK;
}

/* Remove a file we no longer serve; a missing one is fine. */
static void log_unlink(const struct audit_log *log, const char *rel)
{
	_cleanup_free_ char *path = NULL;

	if (!log->readonly && log_path(log, rel, &path) == 0)
		unlink(path);
}

static int read_rel(const struct audit_log *log, const char *rel, size_t cap, uint8_t **ret,
		    size_t *ret_len)
{
	_cleanup_free_ char *path = NULL;
	int err;

	if ((err = log_path(log, rel, &path)) < 0)
		return err;
	return rb_file_read(path, cap, ret, ret_len);
}

static int rel_exists(const struct audit_log *log, const char *rel)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	return log_path(log, rel, &path) == 0 && stat(path, &st) == 0;
}

static int unlink_temp(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	/* rb_file_write_atomic's temp files: "<name>.tmp-<16 hex>". */
	if (flag == FTW_F && strstr(path + f->base, ".tmp-"))
		unlink(path);
	return 0;
}

/* --- loading ------------------------------------------------------------- */

struct staged {
	unsigned n;
	uint8_t leaf[TILE_WIDTH][MERKLE_HASH_LEN];
	uint64_t rid[TILE_WIDTH];
	bool has_rid[TILE_WIDTH];
};

static int stage_cb(void *ctx, const uint8_t *e, size_t len)
{
	struct staged *s = ctx;
	_cleanup_json_ struct json_value *v = NULL;
	const char *rid;
	int err;

	if ((err = audit_entry_parse(e, len, &v, NULL)) < 0)
		return audit_err_prefix(err, "record %u", s->n);
	merkle_hash_leaf(e, len, s->leaf[s->n]);
	rid = sign_request_id(v);
	s->has_rid[s->n] = rid != NULL;
	s->rid[s->n] = rid ? rid_key(rid) : 0;
	s->n++;
	return RB_OK;
}

/* Parse bundle rel completely (want records, exactly) into s. */
static int stage_bundle(const struct audit_log *log, const char *rel, unsigned want,
			struct staged *s, uint8_t **ret_data, size_t *ret_len)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len, good;
	unsigned n;
	int err;

	s->n = 0;
	if ((err = read_rel(log, rel, AUDIT_BUNDLE_MAX, &data, &len)) < 0)
		return err;
	err = audit_bundle_walk(data, len, want, stage_cb, s, &n, &good);
	if (err == 0 && n != want)
		err = rb_err_set(RB_E_PARSE, "has %u entries, its name says %u", n, want);
	if (err < 0)
		return err;
	if (ret_data) {
		*ret_data = TAKE_PTR(data);
		*ret_len = len;
	}
	return RB_OK;
}

static int commit_staged(struct audit_log *log, const struct staged *s)
{
	int err;

	for (unsigned i = 0; i < s->n; i++) {
		uint64_t index = log->tree.size;

		if ((err = audit_tree_push(&log->tree, s->leaf[i])) < 0)
			return err;
		if (s->has_rid[i] && (err = map_insert(log, s->rid[i], index)) < 0)
			return err;
	}
	return RB_OK;
}

static int cmp_desc(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The widths of the partial bundles of tile n, largest first. */
static int list_partials(const struct audit_log *log, uint64_t n, unsigned ws[TILE_WIDTH],
			 size_t *ret_n)
{
	char rel[TILE_PATH_MAX + 4];
	_cleanup_free_ char *path = NULL;
	DIR *d;
	struct dirent *de;
	size_t k = 0;
	int err;

	tile_path(TILE_ENTRIES, n, TILE_WIDTH, rel);
	strcat(rel, ".p");
	if ((err = log_path(log, rel, &path)) < 0)
		return err;
	if (!(d = opendir(path))) {
		*ret_n = 0;
		return errno == ENOENT ? RB_OK : rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	}
	while ((de = readdir(d)) && k < TILE_WIDTH) {
		char *end;
		unsigned long w = strtoul(de->d_name, &end, 10);

		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && *end == '\0' && w < TILE_WIDTH)
			ws[k++] = (unsigned)w;
	}
	closedir(d);
	qsort(ws, k, sizeof(ws[0]), cmp_desc);
	*ret_n = k;
	return RB_OK;
}

static int load_checkpoint(struct audit_log *log)
{
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_(note_freep) struct note *n = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
	size_t len;
	int err;

	err = read_rel(log, AUDIT_CHECKPOINT_FILE, NOTE_MAX_BYTES, &data, &len);
	if (err == RB_E_NOTFOUND)
		return RB_OK;
	if (err < 0)
		return err;
	/* Our own file: the signature was checked when it was written, and
	 * `rombsr audit verify` checks it against the manifest. */
	if ((err = note_parse(data, len, &n)) < 0 || (err = checkpoint_parse(n->text, n->text_len, &c)) < 0)
		return audit_err_prefix(err, "%s/checkpoint", log->dir);
	if (strcmp(c->origin, log->origin) != 0)
		return rb_err_set(RB_E_STATE, "%s is the log of '%s', not '%s'; pass the right "
				  "directory or origin", log->dir, c->origin, log->origin);
	log->cp_size = c->size;
	memcpy(log->cp_root, c->root, MERKLE_HASH_LEN);
	return RB_OK;
}

/* Load the trailing partial bundle of tile n, cutting torn ones. */
static int load_partial(struct audit_log *log, uint64_t n, struct staged *s)
{
	unsigned ws[TILE_WIDTH];
	size_t nw;
	int err;

	if ((err = list_partials(log, n, ws, &nw)) < 0)
		return err;
	for (size_t i = 0; i < nw; i++) {
		char rel[TILE_PATH_MAX];
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;

		tile_path(TILE_ENTRIES, n, ws[i], rel);
		if (stage_bundle(log, rel, ws[i], s, &data, &len) < 0) {
			if (n * TILE_WIDTH + ws[i] <= log->cp_size)
				break; /* needed by the checkpoint: reported below */
			/* Beyond the checkpoint and not whole: its append never
			 * returned, so nothing it holds was released. Cut it. */
			log_unlink(log, rel);
			continue;
		}
		if ((err = commit_staged(log, s)) < 0)
			return err;
		rb_buf_free(&log->tail);
		log->tail.cap = AUDIT_BUNDLE_MAX;
		if ((err = rb_buf_put(&log->tail, data, len)) < 0)
			return err;
		{
			struct rb_reader r;

			rb_reader_init(&r, data, len);
			for (unsigned k = 0; k < ws[i]; k++) {
				uint16_t elen;

				log->tail_off[k] = (uint32_t)(len - r.len);
				rb_reader_get_u16be(&r, &elen);
				rb_reader_skip(&r, elen);
			}
		}
		return RB_OK;
	}
	return RB_OK;
}

static int load_entries(struct audit_log *log)
{
	_cleanup_free_ struct staged *s = malloc(sizeof(*s));
	int err;

	if (!s)
		return RB_E_NOMEM;
	for (uint64_t n = 0;; n++) {
		char rel[TILE_PATH_MAX];

		tile_path(TILE_ENTRIES, n, TILE_WIDTH, rel);
		if (rel_exists(log, rel)) {
			if (stage_bundle(log, rel, TILE_WIDTH, s, NULL, NULL) == 0) {
				if ((err = commit_staged(log, s)) < 0)
					return err;
				continue;
			}
			if ((n + 1) * TILE_WIDTH <= log->cp_size)
				return audit_err_prefix(RB_E_VERIFY, "%s/%s: entry %" PRIu64 " is damaged "
							"(run 'rombsr audit verify')", log->dir, rel,
							n * TILE_WIDTH + s->n);
			log_unlink(log, rel); /* torn, beyond the checkpoint: cut */
		}
		if ((err = load_partial(log, n, s)) < 0)
			return err;
		/* Nothing may follow the last bundle. */
		tile_path(TILE_ENTRIES, n + 1, TILE_WIDTH, rel);
		if (rel_exists(log, rel))
			return rb_err_set(RB_E_VERIFY, "%s/%s exists after an incomplete bundle: entries "
					  "%" PRIu64 ".. are missing", log->dir, rel, log->tree.size);
		return RB_OK;
	}
}

static int log_open(const char *dir, const char *origin, bool readonly, struct audit_log **ret)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_free_ char *tiles = NULL;
	uint8_t root[MERKLE_HASH_LEN];
	int err;

	if (!note_name_valid(origin))
		return rb_err_set(RB_E_INVAL, "log origin '%.64s' must be printable ASCII without "
				  "spaces or '+'", origin);
	if (!(log = calloc(1, sizeof(*log))) || !(log->dir = strdup(dir)) ||
	    !(log->origin = strdup(origin)))
		return RB_E_NOMEM;
	log->tail.cap = AUDIT_BUNDLE_MAX;
	log->readonly = readonly;
	if (!readonly) {
		if ((err = audit_path_join(dir, "tile/entries", &tiles)) < 0 ||
		    (err = rb_mkdir_p(tiles, 0755)) < 0)
			return err;
		free(tiles);
		if ((err = audit_path_join(dir, "tile", &tiles)) < 0)
			return err;
		nftw(tiles, unlink_temp, 16, FTW_PHYS);
	} else {
		struct stat st;

		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return rb_err_set(RB_E_NOTFOUND, "%s: no audit log here", dir);
	}
	if ((err = load_checkpoint(log)) < 0 || (err = load_entries(log)) < 0)
		return err;
	if (log->tree.size < log->cp_size)
		return rb_err_set(RB_E_VERIFY, "%s: the checkpoint covers %" PRIu64 " entries but "
				  "only %" PRIu64 " are readable (entry %" PRIu64 " is missing or "
				  "damaged); run 'rombsr audit verify'", dir, log->cp_size,
				  log->tree.size, log->tree.size);
	if (log->cp_size) {
		if ((err = audit_log_root(log, log->cp_size, root)) < 0)
			return err;
		if (memcmp(root, log->cp_root, MERKLE_HASH_LEN) != 0)
			return rb_err_set(RB_E_VERIFY, "%s: the entries do not hash to the checkpoint's "
					  "root; run 'rombsr audit verify' to find the entry", dir);
	}
	*ret = TAKE_PTR(log);
	return RB_OK;
}

int audit_log_open(const char *dir, const char *origin, struct audit_log **ret)
{
	return log_open(dir, origin, false, ret);
}

int audit_log_open_readonly(const char *dir, const char *origin, struct audit_log **ret)
{
	return log_open(dir, origin, true, ret);
}

void audit_log_close(struct audit_log *log)
{
	if (!log)
		return;
	audit_tree_clear(&log->tree);
	rb_buf_free(&log->tail);
	free(log->map);
	free(log->dir);
	free(log->origin);
	free(log);
}

/* --- reading ------------------------------------------------------------- */

uint64_t audit_log_size(const struct audit_log *log)
{
	return log->tree.size;
}

uint64_t audit_log_checkpoint_size(const struct audit_log *log)
{
	return log->cp_size;
}

int audit_log_root(struct audit_log *log, uint64_t size, uint8_t ret[MERKLE_HASH_LEN])
{
	struct merkle_source src;

	if (size > log->tree.size)
		return rb_err_set(RB_E_INVAL, "root of size %" PRIu64 ": the log has %" PRIu64
				  " entries", size, log->tree.size);
	audit_tree_source(&log->tree, &src);
	return merkle_range_root(&src, 0, size, ret);
}

int audit_log_leaf_hash(struct audit_log *log, uint64_t index, uint8_t ret[MERKLE_HASH_LEN])
{
	if (index >= log->tree.size)
		return rb_err_set(RB_E_NOTFOUND, "entry %" PRIu64 ": the log has %" PRIu64 " entries",
				  index, log->tree.size);
	memcpy(ret, log->tree.lv[0][index], MERKLE_HASH_LEN);
	return RB_OK;
}

struct pick {
	unsigned want, at;
	uint8_t *out;
	size_t len;
};

static int pick_cb(void *ctx, const uint8_t *e, size_t len)
{
	struct pick *p = ctx;

	if (p->at++ == p->want) {
		if (!(p->out = malloc(len ? len : 1)))
			return RB_E_NOMEM;
		memcpy(p->out, e, len);
		p->len = len;
	}
	return RB_OK;
}

int audit_log_entry(struct audit_log *log, uint64_t index, uint8_t **ret, size_t *ret_len)
{
	uint64_t tail_start = log->tree.size - log->tree.size % TILE_WIDTH;

	if (index >= log->tree.size)
		return rb_err_set(RB_E_NOTFOUND, "entry %" PRIu64 ": the log has %" PRIu64 " entries",
				  index, log->tree.size);
	if (index >= tail_start) {
		unsigned k = (unsigned)(index - tail_start);
		uint32_t off = log->tail_off[k];
		uint16_t elen = (uint16_t)(log->tail.data[off] << 8 | log->tail.data[off + 1]);
		uint8_t *p = malloc(elen ? elen : 1);

		if (!p)
			return RB_E_NOMEM;
		memcpy(p, log->tail.data + off + 2, elen);
		*ret = p;
		*ret_len = elen;
		return RB_OK;
	} else {
		char rel[TILE_PATH_MAX];
		_cleanup_free_ uint8_t *data = NULL;
		struct pick p = { (unsigned)(index % TILE_WIDTH), 0, NULL, 0 };
		size_t len, good;
		unsigned n;
		int err;

		tile_path(TILE_ENTRIES, index / TILE_WIDTH, TILE_WIDTH, rel);
		if ((err = read_rel(log, rel, AUDIT_BUNDLE_MAX, &data, &len)) < 0)
			return err;
		err = audit_bundle_walk(data, len, TILE_WIDTH, pick_cb, &p, &n, &good);
		if (!p.out)
			return rb_err_set(err < 0 ? err : RB_E_PARSE, "%s/%s: entry %" PRIu64 " unreadable",
					  log->dir, rel, index);
		*ret = p.out;
		*ret_len = p.len;
		return RB_OK;
	}
}

static int entry_request_matches(struct audit_log *log, uint64_t index, const char *rid,
				 struct json_value **ret)
{
	_cleanup_free_ uint8_t *e = NULL;
	_cleanup_json_ struct json_value *v = NULL;
	const char *got;
	size_t len;
	int err;

	if ((err = audit_log_entry(log, index, &e, &len)) < 0 ||
	    (err = audit_entry_parse(e, len, &v, NULL)) < 0)
		return err;
	got = sign_request_id(v);
	if (!got || strcmp(got, rid) != 0)
		return 0;
	if (ret)
		*ret = TAKE_PTR(v);
	return 1;
}

int audit_log_find(struct audit_log *log, const char *request_id_hex, uint64_t *ret_index,
		   struct json_value **ret_entry)
{
	uint64_t key = rid_key(request_id_hex);

	if (!log->map_cap)
		return RB_E_NOTFOUND;
	for (size_t j = key & (log->map_cap - 1); log->map[j].index_plus1;
	     j = (j + 1) & (log->map_cap - 1)) {
		struct json_value *v = NULL;
		int r;

		if (log->map[j].key != key)
			continue;
		r = entry_request_matches(log, log->map[j].index_plus1 - 1, request_id_hex,
					  ret_entry ? &v : NULL);
		if (r < 0)
			return r;
		if (r) {
			if (ret_index)
				*ret_index = log->map[j].index_plus1 - 1;
			if (ret_entry)
				*ret_entry = v;
			return RB_OK;
		}
	}
	return RB_E_NOTFOUND;
}

int audit_log_inclusion_proof(struct audit_log *log, uint64_t index, uint64_t tree_size,
			      struct merkle_proof *ret)
{
	struct merkle_source src;

	if (tree_size > log->tree.size)
		return rb_err_set(RB_E_INVAL, "proof for size %" PRIu64 ": the log has %" PRIu64
				  " entries", tree_size, log->tree.size);
	audit_tree_source(&log->tree, &src);
	return merkle_inclusion_prove(&src, index, tree_size, ret);
}

int audit_log_consistency_proof(struct audit_log *log, uint64_t old_size, uint64_t new_size,
				struct merkle_proof *ret)
{
	struct merkle_source src;

	if (new_size > log->tree.size)
		return rb_err_set(RB_E_INVAL, "proof for size %" PRIu64 ": the log has %" PRIu64
				  " entries", new_size, log->tree.size);
	audit_tree_source(&log->tree, &src);
	return merkle_consistency_prove(&src, old_size, new_size, ret);
}

/* --- appending ----------------------------------------------------------- */

struct prepared {
	struct rb_buf bytes;
	uint8_t leaf[MERKLE_HASH_LEN];
	const char *rid;
};

static void prepared_free(struct prepared *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		rb_buf_free(&p[i].bytes);
	free(p);
}

static int prepare(struct audit_log *log, const struct json_value *const *entries, size_t n,
		   struct prepared *p)
{
	/* Request ids seen in this batch: open addressing over indices + 1. */
	size_t cap = 16;
	_cleanup_free_ size_t *seen = NULL;
	int err;

	while (cap < 2 * n)
		cap *= 2;
	if (!(seen = calloc(cap, sizeof(*seen))))
		return RB_E_NOMEM;

	for (size_t i = 0; i < n; i++) {
		if ((err = audit_entry_check(entries[i])) < 0)
			return audit_err_prefix(RB_E_INVAL, "audit entry %zu of the batch", i);
		p[i].bytes.cap = AUDIT_ENTRY_MAX;
		if ((err = json_emit(entries[i], JSON_CANONICAL, &p[i].bytes)) < 0)
			return err == RB_E_TOOBIG ? rb_err_set(err, "audit entry %zu of the batch is over "
							       "%u bytes", i, AUDIT_ENTRY_MAX) : err;
		merkle_hash_leaf(p[i].bytes.data, p[i].bytes.len, p[i].leaf);
		p[i].rid = sign_request_id(entries[i]);
		if (!p[i].rid)
			continue;
		/* A request is signed at most once: the log refuses a second
		 * sign record, so a replayed request cannot be recorded (and
		 * therefore not released) twice. */
		err = audit_log_find(log, p[i].rid, NULL, NULL);
		if (err == 0)
			return rb_err_set(RB_E_EXISTS, "request %.128s was already signed (it is in the "
					  "audit log); publish the logged signature instead", p[i].rid);
		if (err != RB_E_NOTFOUND)
			return err;
		for (size_t j = rid_key(p[i].rid) & (cap - 1);; j = (j + 1) & (cap - 1)) {
			if (!seen[j]) {
				seen[j] = i + 1;
				break;
			}
			if (strcmp(p[seen[j] - 1].rid, p[i].rid) == 0)
				return rb_err_set(RB_E_EXISTS, "request %.128s is signed twice in one batch",
						  p[i].rid);
		}
	}
	return RB_OK;
}

static void unlink_entry_partial(struct audit_log *log, uint64_t n, unsigned w)
{
	char rel[TILE_PATH_MAX];

	if (w == 0 || tile_path(TILE_ENTRIES, n, w, rel) < 0)
		return;
	/* The checkpoint's partial stays: clients of that checkpoint fetch it. */
	if (n * TILE_WIDTH + w == log->cp_size)
		return;
	log_unlink(log, rel);
}

static void unlink_all_partials(struct audit_log *log, uint64_t n)
{
	unsigned ws[TILE_WIDTH];
	size_t nw = 0;
	char rel[TILE_PATH_MAX + 4];
	_cleanup_free_ char *path = NULL;

	if (list_partials(log, n, ws, &nw) < 0)
		return;
	for (size_t i = 0; i < nw; i++) {
		tile_path(TILE_ENTRIES, n, ws[i], rel);
		log_unlink(log, rel);
	}
	tile_path(TILE_ENTRIES, n, TILE_WIDTH, rel);
	strcat(rel, ".p");
	if (log_path(log, rel, &path) == 0)
		rmdir(path);
}

int audit_log_append_batch(struct audit_log *log, const struct json_value *const *entries,
			   size_t n, uint64_t *ret_first)
{
	struct prepared *p = NULL;
	uint64_t size = log->tree.size, first = size;
	unsigned old_w = (unsigned)(size % TILE_WIDTH);
	int err;

	if (log->broken)
		return rb_err_set(RB_E_STATE, "%s: an earlier write failed; reopen the log", log->dir);
	if (log->readonly)
		return rb_err_set(RB_E_STATE, "%s: opened read-only", log->dir);
	if (n == 0)
		return rb_err_set(RB_E_INVAL, "empty audit batch");
	if (!(p = calloc(n, sizeof(*p))))
		return RB_E_NOMEM;
	if ((err = prepare(log, entries, n, p)) < 0)
		goto out;
	/* From here on, disk moves first and memory follows; a failure leaves
	 * disk ahead, so the log refuses further use until it is reopened. */
	for (size_t i = 0; i < n; i++) {
		unsigned w = (unsigned)(size % TILE_WIDTH);

		log->tail_off[w] = (uint32_t)log->tail.len;
		if ((err = rb_buf_put_u16be(&log->tail, (uint16_t)p[i].bytes.len)) < 0 ||
		    (err = rb_buf_put(&log->tail, p[i].bytes.data, p[i].bytes.len)) < 0)
			goto broken;
		size++;
		if (w + 1 == TILE_WIDTH) {
			char rel[TILE_PATH_MAX];
			uint64_t tn = (size - 1) / TILE_WIDTH;

			tile_path(TILE_ENTRIES, tn, TILE_WIDTH, rel);
			if ((err = log_write(log, rel, log->tail.data, log->tail.len)) < 0)
				goto broken;
			log->tail.len = 0;
		}
	}
	if (size % TILE_WIDTH) {
		char rel[TILE_PATH_MAX];
		uint64_t tn = size / TILE_WIDTH;

		tile_path(TILE_ENTRIES, tn, (unsigned)(size % TILE_WIDTH), rel);
		if ((err = log_write(log, rel, log->tail.data, log->tail.len)) < 0)
			goto broken;
	}
	if ((err = log_sync(log)) < 0)
		goto broken;
	/* Durable now: drop what the new bundles supersede. */
	for (uint64_t tn = first / TILE_WIDTH; tn < size / TILE_WIDTH; tn++)
		unlink_all_partials(log, tn);
	if (size % TILE_WIDTH && first / TILE_WIDTH == size / TILE_WIDTH)
		unlink_entry_partial(log, size / TILE_WIDTH, old_w);
	for (size_t i = 0; i < n; i++) {
		uint64_t index = log->tree.size;

		if ((err = audit_tree_push(&log->tree, p[i].leaf)) < 0 ||
		    (p[i].rid && (err = map_insert(log, rid_key(p[i].rid), index)) < 0))
			goto broken;
	}
	*ret_first = first;
	err = RB_OK;
	goto out;
broken:
	log->broken = true;
out:
	prepared_free(p, n);
	return err;
}

int audit_log_append(struct audit_log *log, const struct json_value *entry, uint64_t *ret_index)
{
	return audit_log_append_batch(log, &entry, 1, ret_index);
}

/* --- checkpoints --------------------------------------------------------- */

int audit_log_checkpoint(struct audit_log *log, const struct rb_signer *audit_key,
			 char **ret_checkpoint)
{
	uint64_t size = log->tree.size, old = log->cp_size;
	uint8_t root[MERKLE_HASH_LEN];
	_cleanup_free_ char *text = NULL, *note = NULL;
	char rel[TILE_PATH_MAX];
	int err;

	if (log->broken)
		return rb_err_set(RB_E_STATE, "%s: an earlier write failed; reopen the log", log->dir);
	if (log->readonly)
		return rb_err_set(RB_E_STATE, "%s: opened read-only", log->dir);
	/* Tiles first: a checkpoint on disk always has its tiles. */
	for (int l = 0; l <= TILE_MAX_LEVEL; l++) {
		uint64_t full, old_full;
		unsigned w, old_w;

		tile_count(size, l, &full, &w);
		tile_count(old, l, &old_full, &old_w);
		if (full == 0 && w == 0)
			break;
		for (uint64_t t = old_full; t < full; t++) {
			struct rb_buf b = RB_BUF_INIT;

			tile_path(l, t, TILE_WIDTH, rel);
			err = audit_tile_bytes(&log->tree, l, t, TILE_WIDTH, &b);
			if (err == 0)
				err = log_write(log, rel, b.data, b.len);
			rb_buf_free(&b);
			if (err < 0)
				return err;
		}
		if (w) {
			struct rb_buf b = RB_BUF_INIT;

			tile_path(l, full, w, rel);
			err = audit_tile_bytes(&log->tree, l, full, w, &b);
			if (err == 0)
				err = log_write(log, rel, b.data, b.len);
			rb_buf_free(&b);
			if (err < 0)
				return err;
		}
	}
	if ((err = audit_log_root(log, size, root)) < 0 ||
	    (err = checkpoint_format(log->origin, size, root, &text)) < 0 ||
	    (err = note_sign(text, log->origin, audit_key, &note)) < 0)
		return err;
	/* Tiles durable first, then the checkpoint that points at them. */
	if ((err = log_sync(log)) < 0 ||
	    (err = log_write(log, AUDIT_CHECKPOINT_FILE, note, strlen(note))) < 0 ||
	    (err = log_sync(log)) < 0)
		return err;
	/* The previous checkpoint's partial tiles are superseded now. */
	for (int l = 0; l <= TILE_MAX_LEVEL; l++) {
		uint64_t full, old_full;
		unsigned w, old_w;

		tile_count(size, l, &full, &w);
		tile_count(old, l, &old_full, &old_w);
		if (old_w && (old_full != full || old_w != w)) {
			tile_path(l, old_full, old_w, rel);
			log_unlink(log, rel);
			if (l == 0 && old_full == full) {
				/* the entry bundle of the old checkpoint, same tile */
				log->cp_size = size;
				unlink_entry_partial(log, old_full, old_w);
			}
		}
		if (!old_w && !old_full)
			break;
	}
	log->cp_size = size;
	memcpy(log->cp_root, root, MERKLE_HASH_LEN);
	if (ret_checkpoint)
		*ret_checkpoint = TAKE_PTR(note);
	return RB_OK;
}
