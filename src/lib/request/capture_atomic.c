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
	_cleanup_close_ int dfd = -1;
	char prefix[120];

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "%s: cannot open directory: %s", dir, strerror(errno));
	/* pid as well as the random part: which process left a temporary is
	 * plain to see. */
	snprintf(prefix, sizeof(prefix), ".tmp.%.80s.%ld.", name, (long)getpid());
	return rb_file_replace_at(dfd, dir, name, prefix, data, len, mode);
}
