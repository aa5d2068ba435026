/* The APK's bytes, wherever they are. Files are read with pread so the
 * verifier never needs the whole APK in memory. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "apk/apk-internal.h"
#include "util/err.h"

int apk_source_view(const struct apk_source *s, uint64_t off, size_t len, uint8_t *scratch,
		    const uint8_t **ret)
{
	size_t done = 0;

	if (off > s->size || len > s->size - off)
		return rb_err_set(RB_E_PARSE, "%s: %zu bytes at offset %llu run past the end of the file (%llu bytes)",
				  s->name, len, (unsigned long long)off, (unsigned long long)s->size);
	if (s->mem) {
		*ret = s->mem + off;
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(s->fd, scratch + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_err_set(RB_E_IO, "%s: read at offset %llu: %s", s->name,
					  (unsigned long long)(off + done), strerror(errno));
		/* The size came from fstat; a shorter file now means it is
		 * being changed under us, and nothing read is trustworthy. */
		if (n == 0)
			return rb_err_set(RB_E_IO, "%s: file shrank while being verified (end at offset %llu); verify a copy nobody writes to",
					  s->name, (unsigned long long)(off + done));
		done += (size_t)n;
	}
	*ret = scratch;
	return 0;
}
