/* The module's log file. PKCS#11 has no error strings, so the reason for a
 * failed C_Initialize or a refused request goes here (and to stderr). One
 * write(2) per line on an O_APPEND descriptor, so lines from parallel
 * processes do not interleave. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture-module.h"
#include "util/timefmt.h"
#include "util/fileio.h"

#define CM_LOG_LINE_MAX 2048

/* Copy s into out, escaping anything that is not printable ASCII, so a
 * hostile file name or tool name cannot forge log lines. */
static void sanitise(const char *s, char *out, size_t size)
{
	size_t j = 0;

	for (; *s && j + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[j++] = (char)c;
		else
			j += (size_t)snprintf(out + j, size - j, "\\x%02x", c);
	}
	out[j] = '\0';
}

static char *log_path(const struct capture_config *config)
{
	const char *p;
	char *path = NULL;

	if (config && config->log_path)
		return strdup(config->log_path);
	if (config && config->spool_dir) {
		if (asprintf(&path, "%s/capture.log", config->spool_dir) < 0)
			return NULL;
		return path;
	}
	/* No configuration: the environment may still say where to log. */
	if ((p = getenv("ROMBSR_CAPTURE_LOG")) && *p)
		return strdup(p);
	if ((p = getenv("ROMBSR_CAPTURE_SPOOL")) && *p) {
		if (asprintf(&path, "%s/capture.log", p) < 0)
			return NULL;
		return path;
	}
	return NULL;
}

/* Append "<time> rombsr-capture[pid]: text\n"; false if there is no log
 * file or it cannot be written. */
static bool log_append(const struct capture_config *config, const char *text)
{
	char line[CM_LOG_LINE_MAX], ts[RB_TIME_LEN + 1];
	char *path = log_path(config);
	int fd, n, saved = errno;
	bool ok = false;

	if (!path)
		return false;
	rb_time_format((int64_t)time(NULL), ts);
	n = snprintf(line, sizeof(line), "%s rombsr-capture[%ld]: %s\n", ts, (long)getpid(), text);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd >= 0) {
		/* One write(2) for the line, unless a signal or the kernel
		 * cuts it short: then the rest follows rather than being lost. */
		ok = rb_fd_write_all(fd, line, (size_t)n) == 0;
		close(fd);
	}
out:
	free(path);
	errno = saved;
	return ok;
}

void cm_log(const struct capture_config *config, const char *fmt, ...)
{
	char raw[CM_LOG_LINE_MAX], clean[CM_LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitise(raw, clean, sizeof(clean));
	log_append(config, clean);
}

void cm_log_failure(const struct capture_config *config, const char *reason, const char *todo)
{
	char raw[CM_LOG_LINE_MAX], clean[CM_LOG_LINE_MAX];

	snprintf(raw, sizeof(raw), "%s: %s", reason, todo);
	sanitise(raw, clean, sizeof(clean));
	fprintf(stderr, "rombsr-capture: %s\n", clean);
	log_append(config, clean);
}
