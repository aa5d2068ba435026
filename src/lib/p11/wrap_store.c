/* The store directory: one NAME.json per wrapped key, added once, never replaced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

int wrap_store_path(const char *dir, const char *name, char **ret)
{
	char *p;

	/* The name becomes a file name: only [a-z0-9_-], so no '/', no "..". */
	if (!wrap_name_valid(name))
		return rb_err_set(RB_E_INVAL, "key name '%.64s' must be 1-64 characters of a-z, 0-9, '_' or '-'",
				  name);
	if (asprintf(&p, "%s/%s.json", dir, name) < 0)
		return RB_E_NOMEM;
	*ret = p;
	return RB_OK;
}

int wrap_store_load(const char *dir, const char *name, struct wrap_meta **ret)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *text = NULL;
	struct wrap_meta *m = NULL;
	struct stat st;
	size_t len;
	int err;

	if ((err = wrap_store_path(dir, name, &path)) < 0)
		return err;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return rb_err_set(RB_E_NOTFOUND, "%s: no wrapped key '%s' in the store; check the key's "
				  "name, or wrap it first", path, name);
	if ((err = rb_file_read(path, WRAP_META_MAX_BYTES, &text, &len)) < 0)
		return err;
	if ((err = wrap_meta_parse((const char *)text, len, path, &m)) < 0)
		return err;
	/* A file copied under another name must not stand in for that key. */
	if (strcmp(m->name, name) != 0) {
		err = rb_err_set(RB_E_VERIFY, "%s: holds key '%s', not '%s'; the store was edited - restore it "
				 "from a backup", path, m->name, name);
		wrap_meta_free(m);
		return err;
	}
	*ret = m;
	return RB_OK;
}

int wrap_store_add(const char *dir, const struct wrap_meta *m)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL, *prefix = NULL;
	struct rb_buf out = RB_BUF_INIT;
	int err;

	if ((err = wrap_store_path(dir, m->name, &path)) < 0)
		return err;
	if ((err = rb_mkdir_p(dir, 0755)) < 0)
		return err;
	if (access(path, F_OK) == 0)
		return rb_err_set(RB_E_EXISTS, "%s exists; a wrapped key is never replaced - pick another name",
				  path);
	if ((err = wrap_meta_emit(m, &out)) < 0)
		return err;
	if (asprintf(&prefix, "%s/.%s.tmp-", dir, m->name) < 0) {
		prefix = NULL;
		err = RB_E_NOMEM;
		goto out;
	}
	if ((err = rb_file_temp_write(AT_FDCWD, prefix, out.data, out.len, 0644, true, &tmp, NULL)) < 0)
		goto out;
	/* link() fails if path exists, unlike rename(): a concurrent writer
	 * of the same name loses instead of replacing the other's key. */
	if (link(tmp, path) < 0) {
		err = errno == EEXIST ? rb_err_set(RB_E_EXISTS, "%s exists; a wrapped key is never replaced - "
						   "pick another name", path)
				      : rb_err_set(RB_E_IO, "%s: cannot create: %s", path, strerror(errno));
		goto out_unlink;
	}
	unlink(tmp);
	err = rb_fsync_dir(dir);
	goto out;
out_unlink:
	unlink(tmp);
out:
	rb_buf_free(&out);
	return err;
}
