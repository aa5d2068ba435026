/* Atomic replacement of one file in a directory, safe with concurrent
 * writers: every writer has its own temporary (a dotfile, so spool readers
 * skip it), and rename() makes one complete version visible at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request/capture-internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"
#include "util/fileio.h"

int capture_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	char tmp[160];
	uint8_t rnd[8];
	int err, saved;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "%s: cannot open directory: %s", dir, strerror(errno));
	if ((err = rb_random_bytes(rnd, sizeof(rnd))) < 0)
		return rb_err_set(err, "%s/%s: no randomness for a temporary name", dir, name);
	/* pid + 64 random bits: unique across processes and across threads;
	 * O_EXCL turns the impossible collision into an error, not a clobber. */
	snprintf(tmp, sizeof(tmp), ".tmp.%.80s.%ld.%02x%02x%02x%02x%02x%02x%02x%02x", name,
		 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s/%s: cannot create: %s", dir, tmp, strerror(errno));
	if (fchmod(fd, mode & 07777) < 0 || rb_fd_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		unlinkat(dfd, tmp, 0);
		return rb_err_set(RB_E_IO, "%s/%s: write failed: %s", dir, name, strerror(saved));
	}
	if (close(TAKE_FD(fd)) < 0) {
		saved = errno;
		unlinkat(dfd, tmp, 0);
		return rb_err_set(RB_E_IO, "%s/%s: write failed: %s", dir, name, strerror(saved));
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		saved = errno;
		unlinkat(dfd, tmp, 0);
		return rb_err_set(RB_E_IO, "%s/%s: rename failed: %s", dir, name, strerror(saved));
	}
	if (fsync(dfd) < 0)
		return rb_err_set(RB_E_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
	return RB_OK;
}
