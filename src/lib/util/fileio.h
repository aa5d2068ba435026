/* File I/O with the guarantees rombsr promises users:
 *
 * - reads are capped (an oversized file is RB_E_TOOBIG, never a huge malloc);
 * - writes are atomic: temp file in the same directory, fsync, rename,
 *   fsync of the directory - a crash leaves the old file or the new one;
 * - secret files are created 0600 with O_EXCL|O_NOFOLLOW and never replace
 *   an existing file.
 *
 * All functions set an rb_err detail naming the path on failure.
 */
#ifndef ROMBSR_UTIL_FILEIO_H
#define ROMBSR_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole regular file of at most cap bytes. *ret is NUL-terminated
 * (not counted in *ret_len); the caller frees it. */
int rb_file_read(const char *path, size_t cap, uint8_t **ret, size_t *ret_len);

/* Read everything from fd, at most cap bytes. Same ownership as above. */
int rb_fd_read_all(int fd, size_t cap, uint8_t **ret, size_t *ret_len);

/* Write all of data to fd, through short writes and EINTR. 0, or -1 with
 * errno set (EIO for a write that makes no progress). */
int rb_fd_write_all(int fd, const void *data, size_t len);

/* Atomically replace (or create) path with data, with the given mode. The
 * temporary is "<path>.tmp-<16 hex>". */
int rb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same inside the directory dfd (named dir in messages): the temporary
 * is "<tmp_prefix><16 hex>" in dfd (a dotfile prefix keeps it from readers
 * that list the directory), renamed to name, and dfd is fsynced. Safe with
 * concurrent writers of the same name: each has its own temporary, and
 * the last rename wins whole. */
int rb_file_replace_at(int dfd, const char *dir, const char *name, const char *tmp_prefix, const void *data,
		       size_t len, mode_t mode);

/* The first half of every atomic write: a new file "<prefix><16 random
 * lowercase hex>" in dfd (AT_FDCWD: prefix is a path), created with
 * O_EXCL|O_NOFOLLOW (never an existing file or a link), exactly mode
 * (not the umask's), holding data, fsynced if sync. *ret_name is its name
 * as created (malloc()ed; caller frees and, unless it renames it, unlinks
 * it). With ret_fd the descriptor stays open for the caller (who closes
 * it); without, it is closed here and a close error is a write error. On
 * failure nothing is left: no file, no name, no descriptor. */
int rb_file_temp_write(int dfd, const char *prefix, const void *data, size_t len, mode_t mode, bool sync,
		       char **ret_name, int *ret_fd);

/* Atomically replace (or create) many files, each with its mode. All
 * temporaries are written first (a failure replaces nothing), made
 * durable together, then renamed into place; each directory is fsynced
 * once. A failure while renaming may leave the files before it replaced
 * and the rest untouched. */
struct rb_file_out {
	const char *path;
	const void *data;
	size_t len;
	mode_t mode;
};
int rb_files_write_atomic(const struct rb_file_out *files, size_t n);

/* Create a new 0600 file; RB_E_EXISTS if anything is at path already.
 * The data is fsynced, and so is the directory. */
int rb_file_create_secret(const char *path, const void *data, size_t len);

/* mkdir -p with the given mode for created components. */
int rb_mkdir_p(const char *path, mode_t mode);

/* Take an exclusive lock (flock) on path, created 0600 if it is missing,
 * waiting while another process holds it. *ret_fd holds the lock until
 * it is closed; it goes when the process dies, too. */
int rb_file_lock(const char *path, int *ret_fd);

/* fsync a directory so a rename or create inside it is durable. */
int rb_fsync_dir(const char *dir);
/* The directory path holds (dirname(3)), malloc()ed; caller frees. */
int rb_path_parent(const char *path, char **ret);

#endif
