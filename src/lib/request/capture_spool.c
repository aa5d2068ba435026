/* The spool: one SPOOL/<id_hex>.json per signing request.
 *
 * Writers are build tools in any number of processes; each file appears
 * whole or not at all (capture_write_atomic). The reader (the build
 * node's collect step, the sign node) treats the directory as untrusted:
 * only request files, the module's capture.log and dotfiles may be there,
 * every file is capped and parsed strictly, and its name must be the id of
 * its content. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request/capture-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/encode.h"

#define SPOOL_LOG_NAME "capture.log"

int capture_spool_write(const char *spool_dir, const struct capture_request *r)
{
	struct rb_buf out = RB_BUF_INIT;
	char name[CAPTURE_ID_HEX_LEN + 6];
	int err;

	if (!spool_dir || !*spool_dir || !r)
		return rb_err_set(RB_E_INVAL, "capture spool: missing directory or request");
	if ((err = rb_mkdir_p(spool_dir, 0755)) < 0)
		return err;
	out.cap = CAPTURE_REQUEST_MAX_BYTES;
	if ((err = capture_request_emit(r, &out)) < 0 || (err = rb_buf_put_u8(&out, '\n')) < 0) {
		if (err == RB_E_TOOBIG)
			err = rb_err_set(err, "capture request %s: over %d bytes", r->id_hex,
					 CAPTURE_REQUEST_MAX_BYTES);
		goto out;
	}
	snprintf(name, sizeof(name), "%s.json", r->id_hex);
	err = capture_write_atomic(spool_dir, name, out.data, out.len, 0644);
out:
	rb_buf_free(&out);
	return err;
}

void capture_request_set_free(struct capture_request_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		capture_request_free(s->items[i]);
	free(s->items);
	free(s);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct capture_request_set *, capture_request_set_free)

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* "<64 lowercase hex>.json" */
static bool is_request_name(const char *name)
{
	if (strlen(name) != CAPTURE_ID_HEX_LEN + 5 || strcmp(name + CAPTURE_ID_HEX_LEN, ".json") != 0)
		return false;
	return rb_hex_is_lower(name, CAPTURE_ID_HEX_LEN);
}

static int load_one(int dfd, const char *dir, const char *name, const struct manifest *m,
		    struct capture_request **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_free_ char *path = NULL;
	struct capture_request *r = NULL;
	struct stat st;
	size_t len;
	int err;

	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		path = NULL;
		return RB_E_NOMEM;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot open: %s%s", path, strerror(errno),
				  errno == ELOOP ? " (symbolic links are not allowed in a spool)" : "");
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_PARSE, "%s: not a regular file; a spool holds only request "
				  "files - remove it", path);
	if ((uint64_t)st.st_size > CAPTURE_REQUEST_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the request limit of %d bytes",
				  path, (long long)st.st_size, CAPTURE_REQUEST_MAX_BYTES);
	if ((err = rb_fd_read_all(fd, CAPTURE_REQUEST_MAX_BYTES, &text, &len)) < 0)
		return rb_err_set(err, "%s: %s", path,
				  err == RB_E_TOOBIG ? "exceeds the request size limit" : "read failed");
	if ((err = capture_request_parse((const char *)text, len, path, m, &r)) < 0)
		return err;
	if (strncmp(name, r->id_hex, CAPTURE_ID_HEX_LEN) != 0) {
		err = rb_err_set(RB_E_VERIFY, "%s: holds request %s; a request file must be named "
				 "after its id - the spool was altered", path, r->id_hex);
		capture_request_free(r);
		return err;
	}
	*ret = r;
	return RB_OK;
}

static int cmp_request(const void *a, const void *b)
{
	const struct capture_request *const *x = a, *const *y = b;

	return memcmp((*x)->id, (*y)->id, CAPTURE_ID_LEN);
}

int capture_spool_load(const char *spool_dir, const struct manifest *m,
		       struct capture_request_set **ret)
{
	_cleanup_(capture_request_set_freep) struct capture_request_set *s = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	size_t alloc = 0;
	struct dirent *de;
	int err;

	if (!spool_dir || !*spool_dir || !ret)
		return rb_err_set(RB_E_INVAL, "capture spool: missing directory");
	d = opendir(spool_dir);
	if (!d)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "spool %s: cannot open: %s", spool_dir, strerror(errno));
	s = calloc(1, sizeof(*s));
	if (!s)
		return RB_E_NOMEM;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				return rb_err_set(RB_E_IO, "spool %s: cannot read: %s", spool_dir,
						  strerror(errno));
			break;
		}
		/* ".", "..", temporaries of writers in flight, hidden files. */
		if (de->d_name[0] == '.' || strcmp(de->d_name, SPOOL_LOG_NAME) == 0)
			continue;
		if (!is_request_name(de->d_name))
			return rb_err_set(RB_E_PARSE,
					  "spool %s: unexpected entry \"%.80s\"; a spool holds only "
					  "<id>.json request files and " SPOOL_LOG_NAME " - move it away",
					  spool_dir, de->d_name);
		if (s->n >= CAPTURE_SPOOL_MAX_REQUESTS)
			return rb_err_set(RB_E_TOOBIG, "spool %s: more than %d requests; split the "
					  "build", spool_dir, CAPTURE_SPOOL_MAX_REQUESTS);
		if (s->n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			struct capture_request **ni = realloc(s->items, na * sizeof(*ni));

			if (!ni)
				return RB_E_NOMEM;
			s->items = ni;
			alloc = na;
		}
		if ((err = load_one(dirfd(d), spool_dir, de->d_name, m, &s->items[s->n])) < 0)
			return err;
		s->n++;
	}
	if (s->n > 1)
		qsort(s->items, s->n, sizeof(*s->items), cmp_request);
	*ret = TAKE_PTR(s);
	return RB_OK;
}

const struct capture_request *capture_request_set_find(const struct capture_request_set *s,
							const uint8_t id[CAPTURE_ID_LEN])
{
	size_t lo = 0, hi;

	if (!s || !id)
		return NULL;
	hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->items[mid]->id, id, CAPTURE_ID_LEN);

		if (c == 0)
			return s->items[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
