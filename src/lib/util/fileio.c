#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

int rb_fd_read_all(int fd, size_t cap, uint8_t **ret, size_t *ret_len)
{
	size_t len = 0, alloc = 4096;
	uint8_t *p = malloc(alloc), *np;
	int err;

	if (!p)
		return RB_E_NOMEM;
	for (;;) {
		ssize_t n;

		if (len + 1 >= alloc) {
			if (alloc > cap + 1) {
				rb_wipe(p, alloc);
				free(p);
				return rb_err_set(RB_E_TOOBIG, "more than %zu bytes", cap);
			}
			np = malloc(alloc * 2);
			if (!np) {
				rb_wipe(p, alloc);
				free(p);
				return RB_E_NOMEM;
			}
			memcpy(np, p, len);
			rb_wipe(p, alloc);
			free(p);
			p = np;
			alloc *= 2;
		}
		n = read(fd, p + len, alloc - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = rb_err_set(RB_E_IO, "read failed: %s", strerror(errno));
			rb_wipe(p, alloc);
			free(p);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			rb_wipe(p, alloc);
			free(p);
			return rb_err_set(RB_E_TOOBIG, "more than %zu bytes", cap);
		}
	}
	p[len] = '\0';
	*ret = p;
	*ret_len = len;
	return RB_OK;
}

int rb_file_read(const char *path, size_t cap, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return rb_err_set(RB_E_IO, "%s: is a directory, expected a file", path);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > cap)
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the limit of %zu bytes",
				  path, (long long)st.st_size, cap);
	err = rb_fd_read_all(fd, cap, ret, ret_len);
	if (err == RB_E_TOOBIG)
		return rb_err_set(err, "%s: exceeds the limit of %zu bytes", path, cap);
	if (err < 0)
		return rb_err_set(err, "%s: read failed: %s", path, strerror(errno));
	return RB_OK;
}

int rb_fd_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		/* Linux writes at most about 2 GiB at once anyway. */
		ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int rb_fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return rb_err_set(RB_E_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
	return RB_OK;
}

int rb_path_parent(const char *path, char **ret)
{
	_cleanup_free_ char *copy = strdup(path);
	char *d;

	if (!copy)
		return RB_E_NOMEM;
	d = strdup(dirname(copy));
	if (!d)
		return RB_E_NOMEM;
	*ret = d;
	return RB_OK;
}

int rb_file_temp_write(int dfd, const char *prefix, const void *data, size_t len, mode_t mode, bool sync,
		       char **ret_name, int *ret_fd)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t rnd[8];
	char hex[17];
	int err, saved;

	if ((err = rb_random_bytes(rnd, sizeof(rnd))) < 0)
		return rb_err_set(err, "%s: no randomness for a temporary name", prefix);
	rb_hex_format(rnd, sizeof(rnd), hex);
	if (asprintf(&name, "%s%s", prefix, hex) < 0) {
		name = NULL;
		return RB_E_NOMEM;
	}
	/* 64 random bits: unique across processes and threads; O_EXCL turns
	 * the impossible collision into an error, not a clobber. */
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot create: %s", name, strerror(errno));
	if (fchmod(fd, mode & 07777) < 0 || rb_fd_write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0) ||
	    (!ret_fd && close(TAKE_FD(fd)) < 0)) {
		saved = errno;
		unlinkat(dfd, name, 0);
		return rb_err_set(RB_E_IO, "%s: write failed: %s", name, strerror(saved));
	}
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	*ret_name = TAKE_PTR(name);
	return RB_OK;
}

int rb_file_replace_at(int dfd, const char *dir, const char *name, const char *tmp_prefix, const void *data,
		       size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	int err, saved;

	if ((err = rb_file_temp_write(dfd, tmp_prefix, data, len, mode, true, &tmp, NULL)) < 0)
		return rb_err_prefix(err, "%s", dir);
	if (renameat(dfd, tmp, dfd, name) < 0) {
		saved = errno;
		unlinkat(dfd, tmp, 0);
		return rb_err_set(RB_E_IO, "%s/%s: rename failed: %s", dir, name, strerror(saved));
	}
	if (fsync(dfd) < 0)
		return rb_err_set(RB_E_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
	return RB_OK;
}

int rb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *dir = NULL, *prefix = NULL;
	_cleanup_close_ int dfd = -1;
	const char *base = strrchr(path, '/');
	int err;

	base = base ? base + 1 : path;
	if (!*base)
		return rb_err_set(RB_E_INVAL, "%s: not a file name", path);
	if ((err = rb_path_parent(path, &dir)) < 0)
		return err;
	if (asprintf(&prefix, "%s.tmp-", base) < 0) {
		prefix = NULL;
		return RB_E_NOMEM;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot open its directory: %s", path, strerror(errno));
	return rb_file_replace_at(dfd, dir, base, prefix, data, len, mode);
}

int rb_file_create_secret(const char *path, const void *data, size_t len)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;
	int err;

	if ((err = rb_path_parent(path, &dir)) < 0)
		return err;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rb_err_set(errno == EEXIST ? RB_E_EXISTS : RB_E_IO,
				  "%s: cannot create secret file: %s%s", path, strerror(errno),
				  errno == EEXIST ? " (refusing to overwrite; move it away first)" : "");
	if (fchmod(fd, 0600) < 0 || rb_fd_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		err = rb_err_set(RB_E_IO, "%s: write failed: %s", path, strerror(errno));
		unlink(path);
		return err;
	}
	return rb_fsync_dir(dir);
}

int rb_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return RB_E_NOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return rb_err_set(RB_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return rb_err_set(RB_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
	return RB_OK;
}

int rb_file_lock(const char *path, int *ret_fd)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot open the lock file: %s; check the permissions of its "
				  "directory", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;

			close(fd);
			return rb_err_set(RB_E_IO, "%s: cannot lock: %s", path, strerror(e));
		}
	}
	*ret_fd = fd;
	return RB_OK;
}

/* Many files at once, as `rombsr apply` writes a build's signatures: the
 * same guarantees as rb_file_write_atomic for each file, but the data of
 * all of them is made durable with one syncfs() instead of two fsyncs a
 * file, and each directory is synced once. Every temporary is written
 * before any file is replaced, so a failure while writing replaces
 * nothing. */
int rb_files_write_atomic(const struct rb_file_out *files, size_t n)
{
	char **tmps = calloc(n ? n : 1, sizeof(*tmps));
	char **dirs = calloc(n ? n : 1, sizeof(*dirs));
	size_t n_dirs = 0, k = 0;
	int err = RB_OK, syncfd = -1;

	if (!tmps || !dirs) {
		free(tmps);
		free(dirs);
		return RB_E_NOMEM;
	}
	for (k = 0; k < n && err == RB_OK; k++) {
		_cleanup_free_ char *prefix = NULL;
		_cleanup_close_ int fd = -1;

		if (asprintf(&prefix, "%s.tmp-", files[k].path) < 0) {
			prefix = NULL;
			err = RB_E_NOMEM;
			break;
		}
		/* Not synced one by one: one syncfs below covers them all. */
		if ((err = rb_file_temp_write(AT_FDCWD, prefix, files[k].data, files[k].len, files[k].mode, false,
					      &tmps[k], syncfd < 0 ? &fd : NULL)) < 0)
			break;
		if (fd >= 0)
			syncfd = TAKE_FD(fd);
	}
	/* One flush for the whole file system; per-file fsync if syncfs is
	 * not available. */
	if (err == RB_OK && syncfd >= 0 && syncfs(syncfd) < 0) {
		for (size_t i = 0; i < n && err == RB_OK; i++) {
			_cleanup_close_ int fd = open(tmps[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

			if (fd < 0 || fsync(fd) < 0)
				err = rb_err_set(RB_E_IO, "%s: fsync failed: %s", tmps[i], strerror(errno));
		}
	}
	if (syncfd >= 0)
		close(syncfd);
	if (err < 0) {
		for (size_t i = 0; i < n; i++)
			if (tmps[i])
				unlink(tmps[i]);
		goto out;
	}
	for (k = 0; k < n; k++) {
		char *dir = NULL;
		bool seen = false;

		if (rename(tmps[k], files[k].path) < 0) {
			err = rb_err_set(RB_E_IO, "%s: rename failed: %s", files[k].path, strerror(errno));
			for (size_t i = k; i < n; i++)
				unlink(tmps[i]);
			break;
		}
		if ((err = rb_path_parent(files[k].path, &dir)) < 0)
			break;
		for (size_t d = 0; d < n_dirs && !seen; d++)
			seen = strcmp(dirs[d], dir) == 0;
		if (seen)
			free(dir);
		else
			dirs[n_dirs++] = dir;
	}
	for (size_t d = 0; d < n_dirs; d++) {
		int e = rb_fsync_dir(dirs[d]);

		if (err == RB_OK)
			err = e;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(tmps[i]);
	for (size_t d = 0; d < n_dirs; d++)
		free(dirs[d]);
	free(tmps);
	free(dirs);
	return err;
}
