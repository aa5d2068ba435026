/* The audit log store: entry bundles on disk, the tree in memory, appends
 * that are durable before they return (see log.h for the recovery rules). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "audit/audit-internal.h"
#include "audit/log.h"
#include "audit/tile.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"
#include "util/encode.h"

struct rid_slot {
	uint64_t key;
	uint64_t index_plus1; /* 0: empty */
};

/* log_write's temporary of a file: "<name>" AUDIT_TMP_TAG "<16 hex>". */
#define AUDIT_TMP_TAG ".tmp-"
#define AUDIT_TMP_HEX 16

/* Threads that fdatasync a batch's files together (see sync_pending). */
#define AUDIT_SYNC_THREADS 8

struct audit_pending {
	int fd;
	int err;     /* errno of its fdatasync, 0 if it succeeded */
	char *tmp;   /* written here */
	char *path;  /* renamed to here by log_sync */
};

struct audit_log {
	char *dir;
	char *origin;
	struct audit_tree tree;
	uint64_t cp_size;                /* checkpoint on disk */
	uint8_t cp_root[MERKLE_HASH_LEN];
	struct rb_buf tail;              /* bundle of entries [size & ~255, size) */
	struct rb_buf batch;             /* the entries of the batch being appended */
	uint32_t tail_off[TILE_WIDTH];   /* record offsets in tail */
	struct rid_slot *map;            /* request id -> index of its sign entry */
	size_t map_cap, map_n;
	struct audit_pending *pend;      /* files written, not yet synced (log_write) */
	size_t n_pend, cap_pend;
	char **dirty;                    /* directories to fsync (log_sync) */
	size_t n_dirty, cap_dirty;
	bool broken;                     /* an I/O error left disk ahead of memory */
	bool readonly;                   /* audit_log_open_readonly: never writes */
	int lock_fd;                     /* DIR/.lock, held (flock) by the one writer */
};

/* --- request id index ---------------------------------------------------- */

static uint64_t rid_key_n(const char *rid, size_t n)
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t k;

	/* Memory only (the index is rebuilt at open). merkle_hash_leaf uses
	 * the low-level SHA-256 calls: SHA256() looks the algorithm up on
	 * every call, which costs more than hashing a request id. */
	merkle_hash_leaf(rid, n, h);
	memcpy(&k, h, sizeof(k));
	return k;
}

static uint64_t rid_key(const char *rid)
{
	return rid_key_n(rid, strlen(rid));
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

/* A directory whose entries changed since the last log_sync() (a file
 * renamed into it, a directory created in it): fsynced by log_sync. */
static int dirty_dir_add(struct audit_log *log, const char *dir)
{
	char **n;

	for (size_t i = 0; i < log->n_dirty; i++)
		if (strcmp(log->dirty[i], dir) == 0)
			return RB_OK;
	if (log->n_dirty == log->cap_dirty) {
		size_t cap = log->cap_dirty ? 2 * log->cap_dirty : 8;

		if (!(n = realloc(log->dirty, cap * sizeof(*n))))
			return RB_E_NOMEM;
		log->dirty = n;
		log->cap_dirty = cap;
	}
	if (!(log->dirty[log->n_dirty] = strdup(dir)))
		return RB_E_NOMEM;
	log->n_dirty++;
	return RB_OK;
}

/* Create the parent directories of rel; every directory that gains an
 * entry (the parents of the new ones) is made durable by log_sync. */
static int ensure_parent(struct audit_log *log, const char *rel)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	char *slash;
	size_t root = strlen(log->dir);
	int err;

	if ((err = log_path(log, rel, &path)) < 0)
		return err;
	if (!(slash = strrchr(path, '/')))
		return RB_OK;
	*slash = '\0';
	if (stat(path, &st) == 0)
		return RB_OK;
	/* The directories that gain an entry: the nearest one that exists
	 * (it gains the first new one) and every new one. */
	{
		_cleanup_free_ char *up = strdup(path);
		char *cut;

		if (!up)
			return RB_E_NOMEM;
		if ((err = dirty_dir_add(log, up)) < 0)
			return err;
		while ((cut = strrchr(up, '/')) && (size_t)(cut - up) >= root) {
			*cut = '\0';
			if ((err = dirty_dir_add(log, up)) < 0)
				return err;
			if (stat(up, &st) == 0)
				break;
		}
	}
	return rb_mkdir_p(path, 0755);
}

/* Drop the writes not yet synced: close and remove their temp files. */
static void log_discard(struct audit_log *log)
{
	for (size_t i = 0; i < log->n_pend; i++) {
		close(log->pend[i].fd);
		unlink(log->pend[i].tmp);
		free(log->pend[i].tmp);
		free(log->pend[i].path);
	}
	log->n_pend = 0;
	for (size_t i = 0; i < log->n_dirty; i++)
		free(log->dirty[i]);
	log->n_dirty = 0;
}

/* Stage data as the new content of rel: a temp file, written, with its
 * write-back started (sync_file_range) so that the fdatasync() calls in
 * log_sync() find the data on its way and share one journal commit. The
 * rename into place happens in log_sync(), after the data is durable, so
 * a crash leaves the old file or the complete new one. Only the log's own
 * files are synced - not the whole file system, which on a shared
 * machine means everyone else's dirty data too. */
static int log_write(struct audit_log *log, const char *rel, const void *data, size_t len)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL, *prefix = NULL;
	struct audit_pending *pe;
	int fd, err;
	char *slash;

	if ((err = ensure_parent(log, rel)) < 0 || (err = log_path(log, rel, &path)) < 0)
		return err;
	if (log->n_pend == log->cap_pend) {
		size_t cap = log->cap_pend ? 2 * log->cap_pend : 64;

		if (!(pe = realloc(log->pend, cap * sizeof(*pe))))
			return RB_E_NOMEM;
		log->pend = pe;
		log->cap_pend = cap;
	}
	/* The name is what open() sweeps after a crash (is_log_temp). Not
	 * synced here: the batch's commit syncs every pending file at once. */
	if (asprintf(&prefix, "%s" AUDIT_TMP_TAG, path) < 0) {
		prefix = NULL;
		return RB_E_NOMEM;
	}
	if ((err = rb_file_temp_write(AT_FDCWD, prefix, data, len, 0644, false, &tmp, &fd)) < 0)
		return err;
	/* A hint: errors (e.g. ENOSYS) only lose the overlap. */
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	slash = strrchr(path, '/');
	*slash = '\0';
	err = dirty_dir_add(log, path);
	*slash = '/';
	if (err < 0) {
		close(fd);
		unlink(tmp);
		return err;
	}
	pe = &log->pend[log->n_pend++];
	pe->fd = fd;
	pe->err = 0;
	pe->tmp = TAKE_PTR(tmp);
	pe->path = TAKE_PTR(path);
	return RB_OK;
}

struct sync_stripe {
	struct audit_pending *pend;
	size_t n, first, step;
	bool dirs;       /* fsync (directories) instead of fdatasync */
	pthread_t thread;
	bool started;
};

static void *sync_stripe_run(void *arg)
{
	struct sync_stripe *st = arg;

	for (size_t i = st->first; i < st->n; i += st->step) {
		int r;

		if (st->pend[i].fd < 0)
			continue; /* could not be opened: err says why */
		r = st->dirs ? fsync(st->pend[i].fd) : fdatasync(st->pend[i].fd);

		st->pend[i].err = r < 0 ? errno : 0;
	}
	return NULL;
}

/* fdatasync every staged file. In parallel: each fdatasync of a file
 * that the previous one's journal commit already covered still waits
 * for its own cache flush, and concurrent flushes are merged by the
 * block layer (40 bundles: about 10 ms instead of 60-170 ms one after
 * the other, the same as one syncfs of an idle file system). */
static void sync_fds(struct audit_pending *pend, size_t n, bool dirs)
{
	struct sync_stripe st[AUDIT_SYNC_THREADS];
	size_t nt = n < AUDIT_SYNC_THREADS ? n : AUDIT_SYNC_THREADS;

	for (size_t k = 0; k < nt; k++) {
		st[k] = (struct sync_stripe){ pend, n, k, nt, dirs, 0, false };
		/* The calling thread takes stripe 0; a thread that cannot be
		 * started leaves its stripe to the caller too. */
		if (k > 0)
			st[k].started = pthread_create(&st[k].thread, NULL, sync_stripe_run, &st[k]) == 0;
	}
	for (size_t k = 0; k < nt; k++)
		if (!st[k].started)
			sync_stripe_run(&st[k]);
	for (size_t k = 1; k < nt; k++)
		if (st[k].started)
			pthread_join(st[k].thread, NULL);
}

/* Make everything staged durable and visible: fdatasync and rename each
 * file, then fsync each directory that changed. */
static int log_sync(struct audit_log *log)
{
	int err = RB_OK;
	size_t i;

	sync_fds(log->pend, log->n_pend, false);
	for (i = 0; i < log->n_pend; i++) {
		struct audit_pending *pe = &log->pend[i];

		if (pe->err || close(pe->fd) < 0) {
			err = rb_err_set(RB_E_IO, "%s: cannot sync: %s; the last entries are not durable",
					 pe->tmp, strerror(pe->err ? pe->err : errno));
			if (pe->err)
				close(pe->fd);
			pe->fd = -1;
			break;
		}
		pe->fd = -1;
		if (rename(pe->tmp, pe->path) < 0) {
			err = rb_err_set(RB_E_IO, "%s: rename failed: %s", pe->path, strerror(errno));
			break;
		}
		free(pe->tmp);
		free(pe->path);
	}
	if (err < 0) {
		/* Close and remove what was not renamed. */
		for (size_t k = i; k < log->n_pend; k++) {
			if (log->pend[k].fd >= 0)
				close(log->pend[k].fd);
			unlink(log->pend[k].tmp);
			free(log->pend[k].tmp);
			free(log->pend[k].path);
		}
		log->n_pend = 0;
		for (size_t k = 0; k < log->n_dirty; k++)
			free(log->dirty[k]);
		log->n_dirty = 0;
		return err;
	}
	log->n_pend = 0;
	/* The directories, in parallel too (they reuse the pending array,
	 * which is empty now). */
	if (log->n_dirty > log->cap_pend) {
		struct audit_pending *pe = realloc(log->pend, log->n_dirty * sizeof(*pe));

		if (!pe) {
			err = RB_E_NOMEM;
			goto dirs_done;
		}
		log->pend = pe;
		log->cap_pend = log->n_dirty;
	}
	for (i = 0; i < log->n_dirty; i++) {
		log->pend[i].fd = open(log->dirty[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		log->pend[i].err = log->pend[i].fd < 0 ? errno : 0;
	}
	sync_fds(log->pend, log->n_dirty, true);
	for (i = 0; i < log->n_dirty; i++) {
		if (err == 0 && log->pend[i].err)
			err = rb_err_set(RB_E_IO, "%s: cannot sync the directory: %s; the last entries are "
					 "not durable", log->dirty[i], strerror(log->pend[i].err));
		if (log->pend[i].fd >= 0)
			close(log->pend[i].fd);
	}
dirs_done:
	for (i = 0; i < log->n_dirty; i++)
		free(log->dirty[i]);
	log->n_dirty = 0;
	return err;
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
	return audit_file_read(path, cap, ret, ret_len);
}

static int rel_exists(const struct audit_log *log, const char *rel)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	return log_path(log, rel, &path) == 0 && stat(path, &st) == 0;
}

/* Whether name is one of log_write's temporaries, "<stem>.tmp-<16
 * lower-case hex>" (any stem if stem is NULL), and nothing else. */
static bool is_log_temp(const char *name, const char *stem)
{
	size_t n = strlen(name), tl = strlen(AUDIT_TMP_TAG), sl;

	if (n <= tl + AUDIT_TMP_HEX)
		return false;
	sl = n - tl - AUDIT_TMP_HEX;
	if (memcmp(name + sl, AUDIT_TMP_TAG, tl) != 0 || (stem && (strlen(stem) != sl || memcmp(name, stem, sl) != 0)))
		return false;
	return rb_hex_is_lower(name + sl + tl, n - sl - tl);
}

static int unlink_temp(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	if (flag == FTW_F && is_log_temp(path + f->base, NULL))
		unlink(path);
	return 0;
}

/* A crash between writing the checkpoint's temporary and renaming it
 * leaves DIR/checkpoint.tmp-<hex> behind. Only the writer removes it,
 * holding the lock: no other process is between a write and a rename. */
static void unlink_checkpoint_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (is_log_temp(de->d_name, AUDIT_CHECKPOINT_FILE))
			(void)unlinkat(dirfd(d), de->d_name, 0); /* never a directory */
	closedir(d);
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
	struct audit_entry_view view;
	bool is_sign;
	int err;

	/* The fast reader accepts exactly what audit_entry_parse() does. */
	if ((err = audit_entry_validate(e, len, &view)) < 0)
		return rb_err_prefix(err, "record %u", s->n);
	merkle_hash_leaf(e, len, s->leaf[s->n]);
	is_sign = view.type == AUDIT_SIGN;
	s->has_rid[s->n] = is_sign;
	s->rid[s->n] = is_sign ? rid_key_n(view.request_id, view.request_id_len) : 0;
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
		return rb_err_prefix(err, "%s/checkpoint", log->dir);
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
	rb_buf_free(&log->batch);
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
			if ((err = stage_bundle(log, rel, TILE_WIDTH, s, NULL, NULL)) == 0) {
				if ((err = commit_staged(log, s)) < 0)
					return err;
				continue;
			}
			if ((n + 1) * TILE_WIDTH <= log->cp_size)
				return rb_err_prefix(rb_err_recode(err, RB_E_VERIFY), "%s/%s: entry %" PRIu64 " is damaged "
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
	if (!(log = calloc(1, sizeof(*log))))
		return RB_E_NOMEM;
	log->lock_fd = -1;
	if (!(log->dir = strdup(dir)) || !(log->origin = strdup(origin)))
		return RB_E_NOMEM;
	log->tail.cap = AUDIT_BUNDLE_MAX;
	log->readonly = readonly;
	if (!readonly) {
		struct stat st;

		/* A log is never made here: audit_log_create() does that, on
		 * purpose. A missing log is a lost one until someone says
		 * otherwise - a new empty log in its place would fork from
		 * every checkpoint already handed out. */
		if ((err = audit_path_join(dir, "tile/entries", &tiles)) < 0)
			return err;
		if (stat(tiles, &st) < 0 || !S_ISDIR(st.st_mode))
			return rb_err_set(RB_E_NOTFOUND, "%s: no audit log here (no tile/entries/); a new "
					  "log is created only on purpose (rombsr audit init)", dir);
		free(tiles);
		tiles = NULL;
		/* One writer at a time: the sign node, hsm-revoke and the
		 * ceremony all append, and two writers would each extend the
		 * tree they read at open. Readers need no lock: every file is
		 * replaced atomically. */
		if ((err = audit_path_join(dir, ".lock", &tiles)) < 0)
			return err;
		log->lock_fd = open(tiles, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (log->lock_fd < 0)
			return rb_err_set(RB_E_IO, "%s: %s", tiles, strerror(errno));
		if (flock(log->lock_fd, LOCK_EX | LOCK_NB) < 0)
			return rb_err_set(errno == EWOULDBLOCK ? RB_E_STATE : RB_E_IO,
					  "%s: the audit log is open for writing in another process (the sign node, rombsr-sign?); stop it and try again",
					  dir);
		free(tiles);
		tiles = NULL;
		if ((err = audit_path_join(dir, "tile", &tiles)) < 0)
			return err;
		nftw(tiles, unlink_temp, 16, FTW_PHYS);
		unlink_checkpoint_temps(dir);
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

int audit_log_create(const char *dir, const char *origin, struct audit_log **ret)
{
	_cleanup_free_ char *tile = NULL, *entries = NULL, *cp = NULL, *parent = NULL;
	struct stat st;
	int err;

	if (!note_name_valid(origin))
		return rb_err_set(RB_E_INVAL, "log origin '%.64s' must be printable ASCII without "
				  "spaces or '+'", origin);
	if ((err = audit_path_join(dir, "tile", &tile)) < 0 ||
	    (err = audit_path_join(dir, "tile/entries", &entries)) < 0 ||
	    (err = audit_path_join(dir, AUDIT_CHECKPOINT_FILE, &cp)) < 0)
		return err;
	if (lstat(tile, &st) == 0 || lstat(cp, &st) == 0)
		return rb_err_set(RB_E_EXISTS, "%s holds an audit log already: it is used as it is; move "
				  "it away first only if it really is to be replaced", dir);
	if ((err = rb_mkdir_p(entries, 0755)) < 0)
		return err;
	/* Durable before anyone relies on it: the new directories and the
	 * entries that name them. */
	if ((err = rb_fsync_dir(entries)) < 0 || (err = rb_fsync_dir(tile)) < 0 ||
	    (err = rb_fsync_dir(dir)) < 0 || (err = rb_path_parent(dir, &parent)) < 0 ||
	    (err = rb_fsync_dir(parent)) < 0)
		return err;
	return log_open(dir, origin, false, ret);
}

void audit_log_close(struct audit_log *log)
{
	if (!log)
		return;
	log_discard(log);
	free(log->pend);
	free(log->dirty);
	audit_tree_clear(&log->tree);
	rb_buf_free(&log->tail);
	rb_buf_free(&log->batch);
	free(log->map);
	free(log->dir);
	free(log->origin);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
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

struct walk_ctx {
	audit_log_walk_cb cb;
	void *ctx;
	uint64_t index;
};

static int walk_record(void *ctx, const uint8_t *e, size_t len)
{
	struct walk_ctx *w = ctx;
	int err = w->cb(w->ctx, w->index, e, len);

	w->index++;
	return err;
}

int audit_log_walk(struct audit_log *log, audit_log_walk_cb cb, void *ctx)
{
	uint64_t full = log->tree.size / TILE_WIDTH;
	struct walk_ctx w = { cb, ctx, 0 };
	unsigned n;
	size_t good;
	int err;

	/* A bundle at a time: the full ones from disk, the tail from memory. */
	for (uint64_t t = 0; t < full; t++) {
		char rel[TILE_PATH_MAX];
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;

		tile_path(TILE_ENTRIES, t, TILE_WIDTH, rel);
		if ((err = read_rel(log, rel, AUDIT_BUNDLE_MAX, &data, &len)) < 0)
			return err;
		w.index = t * TILE_WIDTH;
		if ((err = audit_bundle_walk(data, len, TILE_WIDTH, walk_record, &w, &n, &good)) < 0)
			return err;
		if (n != TILE_WIDTH)
			return rb_err_set(RB_E_VERIFY, "%s/%s: %u entries, expected %u", log->dir, rel, n,
					  TILE_WIDTH);
	}
	w.index = full * TILE_WIDTH;
	if (log->tree.size % TILE_WIDTH &&
	    (err = audit_bundle_walk(log->tail.data, log->tail.len, TILE_WIDTH, walk_record, &w, &n,
				     &good)) < 0)
		return err;
	return RB_OK;
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

/* A batch serialised once: every entry emitted canonical into one
 * buffer, and the bundles written from those bytes. */
struct prepared {
	struct rb_buf *bytes;       /* the entries, back to back (the log's batch buffer) */
	size_t *off, *len;          /* entry i is bytes.data[off[i] .. + len[i]) */
	uint8_t (*leaf)[MERKLE_HASH_LEN];
	size_t *rid_off, *rid_len;  /* request id of a sign entry (rid_len 0: none) */
	uint64_t *rid_key;
};

static void prepared_free(struct prepared *p)
{
	/* The buffer stays with the log for the next batch (no new pages to
	 * fault in every time), unless an unusually large batch grew it. */
	if (p->bytes) {
		p->bytes->len = 0;
		if (p->bytes->alloc > ((size_t)64 << 20))
			rb_buf_free(p->bytes);
	}
	free(p->off);
	free(p->len);
	free(p->leaf);
	free(p->rid_off);
	free(p->rid_len);
	free(p->rid_key);
}

/* Is there a sign entry for the request id rid[0..n) in the log? key is
 * rid_key_n(rid, n). 1 yes, 0 no, or an error. */
static int log_has_request(struct audit_log *log, const char *rid, size_t n, uint64_t key)
{
	char buf[AUDIT_FIELD_MAX + 1];

	if (!log->map_cap)
		return 0;
	/* Ids are lowercase hex of at most 128 digits. */
	if (n > AUDIT_FIELD_MAX)
		return 0;
	memcpy(buf, rid, n);
	buf[n] = '\0';
	for (size_t j = key & (log->map_cap - 1); log->map[j].index_plus1;
	     j = (j + 1) & (log->map_cap - 1)) {
		int r;

		if (log->map[j].key != key)
			continue;
		r = entry_request_matches(log, log->map[j].index_plus1 - 1, buf, NULL);
		if (r != 0)
			return r;
	}
	return 0;
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
	if (!(seen = calloc(cap, sizeof(*seen))) || !(p->off = calloc(n, sizeof(*p->off))) ||
	    !(p->len = calloc(n, sizeof(*p->len))) || !(p->leaf = calloc(n, sizeof(*p->leaf))) ||
	    !(p->rid_off = calloc(n, sizeof(*p->rid_off))) ||
	    !(p->rid_len = calloc(n, sizeof(*p->rid_len))) ||
	    !(p->rid_key = calloc(n, sizeof(*p->rid_key))))
		return RB_E_NOMEM;
	/* Room for a typical batch up front (entries are about 1 KB), so
	 * the buffer is not copied over and over while it grows. */
	p->bytes->cap = SIZE_MAX / 2;
	if (rb_buf_reserve(p->bytes, n < (64u << 10) ? n * 1024 : (size_t)64 << 20) < 0)
		return RB_E_NOMEM;

	for (size_t i = 0; i < n; i++) {
		struct audit_entry_view view;
		const uint8_t *e;

		p->off[i] = p->bytes->len;
		/* The cap makes an oversized entry fail while it is emitted. */
		p->bytes->cap = p->bytes->len + AUDIT_ENTRY_MAX;
		if ((err = audit_entry_emit(entries[i], p->bytes)) < 0)
			return err == RB_E_TOOBIG ? rb_err_set(err, "audit entry %zu of the batch is over "
							       "%u bytes", i, AUDIT_ENTRY_MAX) : err;
		p->len[i] = p->bytes->len - p->off[i];
		e = p->bytes->data + p->off[i];
		/* What is appended is exactly what readers accept: the bytes
		 * themselves are checked, with the reader's check
		 * (audit_entry_validate accepts what audit_entry_parse accepts,
		 * and a tree passes audit_entry_check exactly when its canonical
		 * bytes parse). One emission, no tree walk. */
		if ((err = audit_entry_validate(e, p->len[i], &view)) < 0)
			return rb_err_prefix(rb_err_recode(err, RB_E_INVAL), "audit entry %zu of the batch", i);
		merkle_hash_leaf(e, p->len[i], p->leaf[i]);
		if (view.type != AUDIT_SIGN)
			continue;
		p->rid_off[i] = (size_t)((const uint8_t *)view.request_id - p->bytes->data);
		p->rid_len[i] = view.request_id_len;
		p->rid_key[i] = rid_key_n(view.request_id, view.request_id_len);
		/* A request is signed at most once: the log refuses a second
		 * sign record, so a replayed request cannot be recorded (and
		 * therefore not released) twice. */
		err = log_has_request(log, view.request_id, view.request_id_len, p->rid_key[i]);
		if (err < 0)
			return err;
		if (err > 0)
			return rb_err_set(RB_E_EXISTS, "request %.*s was already signed (it is in the "
					  "audit log); publish the logged signature instead",
					  (int)view.request_id_len, view.request_id);
		for (size_t j = p->rid_key[i] & (cap - 1);; j = (j + 1) & (cap - 1)) {
			size_t o;

			if (!seen[j]) {
				seen[j] = i + 1;
				break;
			}
			o = seen[j] - 1;
			if (p->rid_len[o] == p->rid_len[i] &&
			    memcmp(p->bytes->data + p->rid_off[o], p->bytes->data + p->rid_off[i],
				   p->rid_len[i]) == 0)
				return rb_err_set(RB_E_EXISTS, "request %.*s is signed twice in one batch",
						  (int)view.request_id_len, view.request_id);
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

	if (list_partials(log, n, ws, &nw) < 0 || nw == 0)
		return; /* nothing to remove (nearly always: no .p directory) */
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
	struct prepared p = { &log->batch, NULL, NULL, NULL, NULL, NULL, NULL };
	uint64_t size = log->tree.size, first = size;
	unsigned old_w = (unsigned)(size % TILE_WIDTH);
	int err;

	if (log->broken)
		return rb_err_set(RB_E_STATE, "%s: an earlier write failed; reopen the log", log->dir);
	if (log->readonly)
		return rb_err_set(RB_E_STATE, "%s: opened read-only", log->dir);
	if (n == 0)
		return rb_err_set(RB_E_INVAL, "empty audit batch");
	if ((err = prepare(log, entries, n, &p)) < 0)
		goto out;
	/* From here on, disk moves first and memory follows; a failure leaves
	 * disk ahead, so the log refuses further use until it is reopened. */
	for (size_t i = 0; i < n; i++) {
		unsigned w = (unsigned)(size % TILE_WIDTH);

		log->tail_off[w] = (uint32_t)log->tail.len;
		if ((err = rb_buf_put_u16be(&log->tail, (uint16_t)p.len[i])) < 0 ||
		    (err = rb_buf_put(&log->tail, p.bytes->data + p.off[i], p.len[i])) < 0)
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

		if ((err = audit_tree_push(&log->tree, p.leaf[i])) < 0 ||
		    (p.rid_len[i] && (err = map_insert(log, p.rid_key[i], index)) < 0))
			goto broken;
	}
	*ret_first = first;
	err = RB_OK;
	goto out;
broken:
	log_discard(log);
	log->broken = true;
out:
	prepared_free(&p);
	return err;
}

int audit_log_append(struct audit_log *log, const struct json_value *entry, uint64_t *ret_index)
{
	return audit_log_append_batch(log, &entry, 1, ret_index);
}

/* --- checkpoints --------------------------------------------------------- */

static int checkpoint_write(struct audit_log *log, const struct rb_signer *audit_key,
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

int audit_log_checkpoint(struct audit_log *log, const struct rb_signer *audit_key,
			 char **ret_checkpoint)
{
	int err = checkpoint_write(log, audit_key, ret_checkpoint);

	/* Tiles staged but not synced are dropped: the next checkpoint
	 * writes them again (they are derived from the entries). */
	if (err < 0)
		log_discard(log);
	return err;
}
