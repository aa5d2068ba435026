#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "p11/p11.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

/* Read from fd into s, at most P11_PIN_MAX bytes, without ever placing
 * the PIN in unlocked memory. */
static int read_fd_into(int fd, struct rb_secret *s, const char *what)
{
	for (;;) {
		ssize_t n;

		if (s->len >= P11_PIN_MAX)
			return rb_err_set(RB_E_TOOBIG, "%s: PIN longer than %d bytes", what, P11_PIN_MAX);
		n = read(fd, s->data + s->len, P11_PIN_MAX + 1 - s->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rb_err_set(RB_E_IO, "%s: %s", what, strerror(errno));
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
		if (s->len > P11_PIN_MAX)
			return rb_err_set(RB_E_TOOBIG, "%s: PIN longer than %d bytes", what, P11_PIN_MAX);
	}
	return RB_OK;
}

static int finish(struct rb_secret *s, const char *what)
{
	if (s->len > 0 && s->data[s->len - 1] == '\n')
		s->len--;
	if (s->len > 0 && s->data[s->len - 1] == '\r')
		s->len--;
	s->data[s->len] = '\0';
	if (s->len == 0)
		return rb_err_set(RB_E_PIN, "%s: PIN is empty", what);
	if (memchr(s->data, '\n', s->len) || memchr(s->data, '\0', s->len))
		return rb_err_set(RB_E_PIN, "%s: PIN must be a single line", what);
	return RB_OK;
}

static int read_file(const char *path, struct rb_secret *s)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	int err;

	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "PIN file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return rb_err_set(RB_E_IO, "PIN file %s: not a regular file", path);
	/* Like ssh with private keys: a PIN others can read is not secret. */
	if (st.st_mode & 077)
		return rb_err_set(RB_E_PERM, "PIN file %s is accessible by group or others (mode %03o); "
				  "run: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
	if ((err = read_fd_into(fd, s, path)) < 0)
		return err;
	return finish(s, path);
}

static int read_env(const char *name, struct rb_secret *s)
{
	char *v = getenv(name);
	size_t n;

	if (!v)
		return rb_err_set(RB_E_PIN, "environment variable %s is not set; export it or use "
				  "--pin-file", name);
	n = strlen(v);
	if (n > P11_PIN_MAX) {
		rb_wipe(v, n);
		unsetenv(name);
		return rb_err_set(RB_E_TOOBIG, "environment variable %s: PIN longer than %d bytes",
				  name, P11_PIN_MAX);
	}
	memcpy(s->data, v, n);
	s->len = n;
	/* Do not leave the PIN where a child process or /proc/self/environ
	 * would see it. */
	rb_wipe(v, n);
	unsetenv(name);
	return finish(s, name);
}

static int read_prompt(const char *prompt, struct rb_secret *s)
{
	_cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	struct termios old, quiet;
	int err;
	size_t i;

	if (fd < 0)
		return rb_err_set(RB_E_PIN, "no terminal to prompt for the PIN; use --pin-file, "
				  "--pin-fd or --pin-env");
	if (tcgetattr(fd, &old) < 0)
		return rb_err_set(RB_E_PIN, "cannot read the terminal settings: %s", strerror(errno));
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		return rb_err_set(RB_E_PIN, "cannot prompt on the terminal: %s", strerror(errno));
	/* Read one line byte by byte so nothing beyond it is consumed. */
	err = RB_OK;
	for (i = 0; i <= P11_PIN_MAX; i++) {
		ssize_t n = read(fd, s->data + i, 1);

		if (n < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (n <= 0 || s->data[i] == '\n')
			break;
		s->len = i + 1;
	}
	if (i > P11_PIN_MAX)
		err = rb_err_set(RB_E_TOOBIG, "PIN longer than %d bytes", P11_PIN_MAX);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* nothing useful to do */
	}
	if (err < 0)
		return err;
	return finish(s, "terminal");
}

int p11_pin_read(const struct p11_pin_source *src, struct rb_secret **ret)
{
	struct rb_secret *s = NULL;
	char what[64];
	long fd;
	char *end;
	int err;

	if (!src || src->kind == P11_PIN_NONE)
		return rb_err_set(RB_E_PIN, "no PIN source; use --pin-file FILE, --pin-fd N or --pin-env VAR");
	if ((err = rb_secret_new(P11_PIN_MAX + 1, &s)) < 0)
		return err;
	switch (src->kind) {
	case P11_PIN_FILE:
		err = read_file(src->value, s);
		break;
	case P11_PIN_FD:
		errno = 0;
		fd = strtol(src->value, &end, 10);
		if (errno || *end || end == src->value || fd < 0 || fd > INT_MAX) {
			err = rb_err_set(RB_E_INVAL, "--pin-fd '%s' is not a file descriptor number",
					 src->value);
			break;
		}
		snprintf(what, sizeof(what), "PIN descriptor %ld", fd);
		err = read_fd_into((int)fd, s, what);
		if (err == RB_OK)
			err = finish(s, what);
		close((int)fd);
		break;
	case P11_PIN_ENV:
		err = read_env(src->value, s);
		break;
	case P11_PIN_PROMPT:
		err = read_prompt(src->value ? src->value : "PIN: ", s);
		break;
	default:
		err = RB_E_INVAL;
	}
	if (err < 0) {
		rb_secret_free(s);
		return err;
	}
	*ret = s;
	return RB_OK;
}
