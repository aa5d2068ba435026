/* Reading artifacts and signature files without following links.
 *
 * Artifact names come from the request document, which the build node
 * wrote; request_artifact_name_valid keeps them inside the root, but a
 * symbolic link on disk (ROOT/out -> /etc) would still lead outside. So
 * the plan opens each directory beneath the root (util/tree.h) and files
 * are opened with O_NOFOLLOW relative to it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/apply-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

static int file_open_error(const char *what, int e)
{
	return rb_err_set(e == ENOENT ? RB_E_NOTFOUND : e == ELOOP || e == ENOTDIR ? RB_E_INVAL : RB_E_IO,
			  "%s: cannot open: %s%s", what, strerror(e),
			  e == ELOOP ? " (a symbolic link; rombsr does not follow links here)" : "");
}

static int file_read_fd(int fd, const char *what, size_t cap, uint8_t **ret, size_t *ret_len,
			struct stat *ret_st)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	size_t size, got = 0;
	uint8_t extra;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", what, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_INVAL, "%s: not a regular file", what);
	if ((uint64_t)st.st_size > cap)
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the limit of %zu bytes", what,
				  (long long)st.st_size, cap);
	size = (size_t)st.st_size;
	data = malloc(size + 1);
	if (!data)
		return rb_err_set(RB_E_NOMEM, "%s: no memory for %zu bytes", what, size);
	while (got < size) {
		n = read(fd, data + got, size - got > (1u << 30) ? (1u << 30) : size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_err_set(RB_E_IO, "%s: read failed: %s", what, strerror(errno));
		if (n == 0)
			return rb_err_set(RB_E_STATE, "%s: file shrank while being read; run again when "
					  "nothing writes to it", what);
		got += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (n != 0)
		return rb_err_set(RB_E_STATE, "%s: file grew while being read; run again when "
				  "nothing writes to it", what);
	data[size] = '\0';
	*ret = TAKE_PTR(data);
	*ret_len = size;
	if (ret_st)
		*ret_st = st;
	return RB_OK;
}

int apply_read_at(int dirfd, const char *base, const char *what, size_t cap, uint8_t **ret,
		  size_t *ret_len, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;

	if (!base || !*base || strchr(base, '/') || !what)
		return rb_err_set(RB_E_INVAL, "apply: bad file name");
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return file_open_error(what, errno);
	return file_read_fd(fd, what, cap, ret, ret_len, ret_st);
}

int apply_read_path(const char *path, size_t cap, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;

	if (!path || !*path)
		return rb_err_set(RB_E_INVAL, "apply: no path");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return file_open_error(path, errno);
	return file_read_fd(fd, path, cap, ret, ret_len, NULL);
}

int apply_pgp_key_for(const struct manifest_key *k, struct rb_signer *ret_signer,
		      struct pgp_key **ret)
{
	struct pgp_key *pk = NULL;
	int err;

	*ret_signer = (struct rb_signer){ .name = k->name, .alg = k->alg, .pub = k->pub };
	if ((err = pgp_key_new(ret_signer, k->created, &pk)) < 0)
		return err;
	*ret = pk;
	return RB_OK;
}
