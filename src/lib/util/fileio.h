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

/* Atomically replace (or create) path with data, with the given mode. */
int rb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

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
