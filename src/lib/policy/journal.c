#include "policy/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

struct journal {
	int fd;
	size_t size;
	size_t max_bytes;
	char *path;
	bool deferred;  /* appends are written now and made durable by journal_sync() */
	bool dirty;
};

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

static int journal_replay(struct journal *j, const uint8_t *data, size_t len, const char *magic,
			  journal_replay_fn replay, void *ctx, size_t *ret_complete)
{
	size_t start = 0, lineno = 1, ml = strlen(magic);

	/* A file holding only a prefix of the magic line was torn while it
	 * was created: nothing was ever recorded in it. */
	if (len > 0 && len <= ml && memcmp(data, magic, len) == 0) {
		*ret_complete = 0;
		return RB_OK;
	}
	if (len > 0) {
		if (len <= ml || memcmp(data, magic, ml) != 0 || data[ml] != '\n')
			return rb_err_set(RB_E_UNSUPPORTED, "%s: not a '%s' journal (first line); is it another file or version?",
					  j->path, magic);
		start = ml + 1;
		lineno = 2;
	}
	int err;

	for (size_t i = start; i < len; i++) {
		if (data[i] == '\0')
			return rb_err_set(RB_E_PARSE, "%s: line %zu holds a NUL byte; the journal is damaged, restore it from backup",
					  j->path, lineno);
		if (data[i] != '\n')
			continue;
		if (i - start > JOURNAL_LINE_MAX)
			return rb_err_set(RB_E_PARSE, "%s: line %zu is longer than %d bytes; the journal is damaged",
					  j->path, lineno, JOURNAL_LINE_MAX);
		if (replay && (err = replay(ctx, (const char *)data + start, i - start)) < 0)
			return err;
		start = i + 1;
		lineno++;
	}
	*ret_complete = start;
	return RB_OK;
}

int journal_open(const char *path, const char *magic, size_t max_bytes, journal_replay_fn replay,
		 void *ctx, struct journal **ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct journal *j;
	size_t len = 0, complete = 0;
	int err;

	j = calloc(1, sizeof(*j));
	if (!j)
		return RB_E_NOMEM;
	j->fd = -1;
	j->max_bytes = max_bytes;
	if (!(j->path = strdup(path))) {
		journal_close(j);
		return RB_E_NOMEM;
	}
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		err = rb_err_set(RB_E_IO, "%s: cannot open journal: %s", path, strerror(errno));
		journal_close(j);
		return err;
	}
	if ((err = rb_fd_read_all(j->fd, max_bytes, &data, &len)) < 0) {
		if (err == RB_E_TOOBIG)
			err = rb_err_set(err, "%s: journal is over %zu bytes", path, max_bytes);
		else
			err = rb_err_set(err, "%s: cannot read journal", path);
		journal_close(j);
		return err;
	}
	if ((err = journal_replay(j, data, len, magic, replay, ctx, &complete)) < 0) {
		journal_close(j);
		return err;
	}
	if (complete == 0) {
		/* New, or torn before its magic was complete: start it over. */
		size_t ml = strlen(magic);

		j->size = 0;
		if (ftruncate(j->fd, 0) < 0) {
			err = rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
			journal_close(j);
			return err;
		}
		len = 0;
		{
			char line[JOURNAL_LINE_MAX + 2];

			snprintf(line, sizeof(line), "%s\n", magic);
			if ((err = journal_append(j, line, ml + 1)) < 0) {
				journal_close(j);
				return err;
			}
		}
		complete = ml + 1;
		{
			_cleanup_free_ char *dir = strdup(path);
			char *slash = dir ? strrchr(dir, '/') : NULL;

			if (!dir) {
				journal_close(j);
				return RB_E_NOMEM;
			}
			if (slash)
				*slash = '\0';
			/* The new name must survive a crash as well as its content. */
			if ((err = rb_fsync_dir(slash ? (dir[0] ? dir : "/") : ".")) < 0) {
				journal_close(j);
				return err;
			}
		}
	}
	if (len && complete != len) {
		/* A torn last record: its append never returned, so nobody
		 * acted on it. Cut it so the next append starts a fresh line. */
		if (ftruncate(j->fd, (off_t)complete) < 0 || fdatasync(j->fd) < 0) {
			err = rb_err_set(RB_E_IO, "%s: cannot cut a torn last record: %s", path, strerror(errno));
			journal_close(j);
			return err;
		}
	}
	j->size = complete;
	*ret = j;
	return RB_OK;
}

int journal_append(struct journal *j, const char *text, size_t len)
{

	if (!j || !text || len == 0 || text[len - 1] != '\n')
		return RB_E_INVAL;
	if (len > j->max_bytes - j->size)
		return rb_err_set(RB_E_LIMIT, "%s: journal would exceed %zu bytes; archive it and start a new one",
				  j->path, j->max_bytes);
	if (rb_fd_write_all(j->fd, text, len) < 0) {
		int e = errno;

		/* Leave no half record behind for the next append. */
		if (ftruncate(j->fd, (off_t)j->size) == 0)
			(void)fdatasync(j->fd);
		return rb_err_set(RB_E_IO, "%s: append failed: %s", j->path, strerror(e));
	}
	if (j->deferred) {
		j->size += len;
		j->dirty = true;
		return RB_OK;
	}
	if (fdatasync(j->fd) < 0)
		return rb_err_set(RB_E_IO, "%s: fdatasync failed: %s", j->path, strerror(errno));
	j->size += len;
	return RB_OK;
}

void journal_defer_sync(struct journal *j, bool defer)
{
	if (j)
		j->deferred = defer;
}

int journal_sync(struct journal *j)
{
	if (!j)
		return RB_E_INVAL;
	j->deferred = false;
	if (!j->dirty)
		return RB_OK;
	if (fdatasync(j->fd) < 0)
		return rb_err_set(RB_E_IO, "%s: fdatasync failed: %s", j->path, strerror(errno));
	j->dirty = false;
	return RB_OK;
}
