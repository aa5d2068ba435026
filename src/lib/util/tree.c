#include "util/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"
#include "util/fileio.h"

bool rb_tree_name_valid(const char *name)
{
	const char *p = name, *slash;

	if (!name || !*name || *name == '/')
		return false;
	for (;;) {
		size_t n;

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* The component that failed, named as the user sees it. */
static int tree_component_error(int parent, const char *what, const char *name, size_t upto,
				const char *comp, int e)
{
	struct stat st;
	const char *why = strerror(e);
	int code = RB_E_IO;

	if (e == ENOENT) {
		code = RB_E_NOTFOUND;
	} else if (e == ELOOP || e == ENOTDIR || e == EXDEV) {
		code = RB_E_INVAL;
		if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			why = "a symbolic link; rombsr follows no link beneath the root, replace it "
			      "with the directory itself";
		else
			why = "not a directory";
	}
	return rb_err_set(code, "%s/%.*s: %s", what, (int)upto, name, why);
}

/* The portable walk: one O_NOFOLLOW|O_DIRECTORY openat per component. */
static int tree_walk(int dirfd, const char *what, const char *name, int *ret_fd)
{
	_cleanup_free_ char *copy = strdup(name);
	_cleanup_close_ int cur = -1;
	char *comp, *slash;

	if (!copy)
		return RB_E_NOMEM;
	cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return rb_err_set(RB_E_IO, "%s: %s", what, strerror(errno));
	for (comp = copy; comp; comp = slash ? slash + 1 : NULL) {
		int next;

		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return tree_component_error(cur, what, name,
						    (size_t)(comp - copy) + strlen(comp), comp, errno);
		close(cur);
		cur = next;
	}
	*ret_fd = TAKE_FD(cur);
	return RB_OK;
}

int rb_tree_open_dir(int dirfd, const char *what, const char *name, int *ret_fd)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!what || !name || !ret_fd)
		return rb_err_set(RB_E_INVAL, "tree: missing argument");
	if (!*name) {
		fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return rb_err_set(RB_E_IO, "%s: %s", what, strerror(errno));
		*ret_fd = (int)fd;
		return RB_OK;
	}
	if (!rb_tree_name_valid(name))
		return rb_err_set(RB_E_INVAL, "%s/%s: not a plain relative name (an empty, \".\" or "
				  "\"..\" component, or an absolute path)", what, name);
	fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd >= 0) {
		*ret_fd = (int)fd;
		return RB_OK;
	}
	/* The walk names the component on refusal, and does the whole job on
	 * kernels (or sandboxes) without openat2. */
	return tree_walk(dirfd, what, name, ret_fd);
}

int rb_tree_open_parent(int dirfd, const char *what, const char *name, int *ret_fd,
			const char **ret_base)
{
	_cleanup_free_ char *parent = NULL;
	const char *slash;
	int err;

	if (!name || !rb_tree_name_valid(name))
		return rb_err_set(RB_E_INVAL, "%s/%s: not a plain relative name (an empty, \".\" or "
				  "\"..\" component, or an absolute path)", what ? what : "?",
				  name ? name : "");
	slash = strrchr(name, '/');
	if (slash && !(parent = strndup(name, (size_t)(slash - name))))
		return RB_E_NOMEM;
	if ((err = rb_tree_open_dir(dirfd, what, parent ? parent : "", ret_fd)) < 0)
		return err;
	*ret_base = slash ? slash + 1 : name;
	return RB_OK;
}

/* Create the temporary, as the owner of the file it will replace when
 * asked to and running as root. */
static int tree_create_temp(const struct rb_tree_out *f, const char *tmp, int *ret_fd)
{
	bool as_owner = f->keep_owner && geteuid() == 0 &&
			(f->uid != geteuid() || f->gid != getegid());
	int fd, e;

	if (as_owner) {
		setfsgid(f->gid);
		setfsuid(f->uid);
		if ((uid_t)setfsuid((uid_t)-1) != f->uid || (gid_t)setfsgid((gid_t)-1) != f->gid) {
			setfsuid(geteuid());
			setfsgid(getegid());
			return rb_err_set(RB_E_IO, "%s: cannot take the owner's ids %u:%u to replace it",
					  f->what, (unsigned)f->uid, (unsigned)f->gid);
		}
	}
	fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    f->mode & 0777);
	e = errno;
	if (as_owner) {
		setfsuid(geteuid());
		setfsgid(getegid());
	}
	if (fd < 0 && as_owner && (e == EACCES || e == EPERM))
		return rb_err_set(RB_E_PERM, "%s: its owner (uid %u) may not create files in its "
				  "directory, so it cannot be replaced keeping its owner; make the "
				  "directory writable by the owner, or run apply as the owner",
				  f->what, (unsigned)f->uid);
	if (fd < 0)
		return rb_err_set(RB_E_IO, "%s: cannot create a temporary next to it: %s", f->what,
				  strerror(e));
	*ret_fd = fd;
	return RB_OK;
}

int rb_tree_write_files(const struct rb_tree_out *files, size_t n)
{
	char (*tmps)[40] = calloc(n ? n : 1, sizeof(*tmps));
	bool *created = calloc(n ? n : 1, sizeof(*created));
	int err = RB_OK, syncfd = -1;
	size_t k;

	if (!tmps || !created) {
		free(tmps);
		free(created);
		return RB_E_NOMEM;
	}
	for (k = 0; k < n && err == RB_OK; k++) {
		const struct rb_tree_out *f = &files[k];
		_cleanup_close_ int fd = -1;
		uint8_t rnd[8];

		if (!f->base || !f->what || strchr(f->base, '/') || !rb_tree_name_valid(f->base)) {
			err = rb_err_set(RB_E_INVAL, "%s: not one file name inside its directory",
					 f->what ? f->what : "?");
			break;
		}
		if ((err = rb_random_bytes(rnd, sizeof(rnd))) < 0)
			break;
		memcpy(tmps[k], ".rombsr-tmp-", 12);
		rb_hex_format(rnd, sizeof(rnd), tmps[k] + 12);
		if ((err = tree_create_temp(f, tmps[k], &fd)) < 0)
			break;
		created[k] = true;
		/* The creation mode went through the umask; the file gets exactly
		 * the permission bits asked for, never a special bit. */
		if (fchmod(fd, f->mode & 0777) < 0 || rb_fd_write_all(fd, f->data, f->len) < 0)
			err = rb_err_set(RB_E_IO, "%s: write failed: %s", f->what, strerror(errno));
		if (syncfd < 0 && err == RB_OK)
			syncfd = dup(fd);
	}
	/* One flush for the whole file system; per-file fsync if syncfs
	 * fails. */
	if (err == RB_OK && syncfd >= 0 && syncfs(syncfd) < 0) {
		for (size_t i = 0; i < n && err == RB_OK; i++) {
			_cleanup_close_ int fd = openat(files[i].dirfd, tmps[i],
							O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

			if (fd < 0 || fsync(fd) < 0)
				err = rb_err_set(RB_E_IO, "%s: fsync failed: %s", files[i].what,
						 strerror(errno));
		}
	}
	if (syncfd >= 0)
		close(syncfd);
	for (k = 0; k < n && err == RB_OK; k++) {
		if (renameat(files[k].dirfd, tmps[k], files[k].dirfd, files[k].base) < 0) {
			err = rb_err_set(RB_E_IO, "%s: rename failed: %s", files[k].what,
					 strerror(errno));
			break;
		}
		created[k] = false;
	}
	for (size_t i = 0; i < n; i++)
		if (created[i])
			unlinkat(files[i].dirfd, tmps[i], 0);
	/* Each directory once: the renames are durable when this returns. */
	for (size_t i = 0; i < k; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = files[j].dirfd == files[i].dirfd;
		if (!seen && fsync(files[i].dirfd) < 0 && err == RB_OK)
			err = rb_err_set(RB_E_IO, "%s: cannot sync its directory: %s", files[i].what,
					 strerror(errno));
	}
	free(tmps);
	free(created);
	return err;
}
