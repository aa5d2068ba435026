/* Files beneath a directory descriptor, never outside it.
 *
 * `rombsr apply` writes into a tree the build node controls, possibly as
 * root. A name checked as a path and then written as a path can be raced:
 * a directory swapped for a symbolic link between the check and the write
 * sends the write elsewhere. So every name here is resolved relative to a
 * directory descriptor, component by component, refusing a symbolic link
 * at any level ("..", ".", empty components and absolute names are refused
 * before any lookup). openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) does
 * the walk where the kernel has it; elsewhere each component is opened with
 * O_NOFOLLOW | O_DIRECTORY relative to its parent.
 *
 * The descriptors returned are what later reads and writes go through, so
 * what a caller checked is what it replaces.
 *
 * Ownership: every returned descriptor belongs to the caller, who closes
 * it. Names and data are borrowed. Every error sets an rb_err detail that
 * names the path (the caller's `what`, the display name of the tree, joined
 * with the name).
 */
#ifndef ROMBSR_UTIL_TREE_H
#define ROMBSR_UTIL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A relative name rombsr accepts under a tree: non-empty, '/'-separated,
 * no leading or trailing '/', no empty, "." or ".." component. */
bool rb_tree_name_valid(const char *name);

/* Open the directory name (rb_tree_name_valid, or "" for dirfd itself)
 * beneath dirfd. *ret_fd is an O_DIRECTORY descriptor.
 * Errors: RB_E_INVAL a bad name, a symbolic link or a non-directory in any
 * component; RB_E_NOTFOUND a missing component; RB_E_IO otherwise. */
int rb_tree_open_dir(int dirfd, const char *what, const char *name, int *ret_fd);

/* Open the directory that holds name beneath dirfd; *ret_base points into
 * name at its last component. Errors as rb_tree_open_dir. */
int rb_tree_open_parent(int dirfd, const char *what, const char *name, int *ret_fd,
			const char **ret_base);

/* One file to write: base is a single component inside dirfd. mode is
 * masked with 0777 - no setuid, setgid or sticky file is ever created.
 * With keep_owner, and only when the process runs as root, the file is
 * created with the filesystem ids uid:gid (setfsuid/setfsgid around the
 * create), so the replacement keeps the owner of the file it replaces
 * without any chown, and root creates it with no more right in the
 * directory than that owner has. */
struct rb_tree_out {
	int dirfd;
	const char *base;
	const char *what;   /* display path, for messages */
	const void *data;
	size_t len;
	mode_t mode;
	bool keep_owner;
	uid_t uid;
	gid_t gid;
};

/* Atomically replace (or create) every file: all temporaries are created
 * (openat O_EXCL|O_NOFOLLOW) and written first, made durable with one
 * syncfs (per-file fsync where syncfs fails), then renamed into place with
 * renameat within their directory descriptor, and each distinct directory
 * is fsynced once. A failure before the first rename replaces nothing.
 * Errors: RB_E_INVAL a base that is not one component, RB_E_PERM the
 * owner may not create in the directory (keep_owner), RB_E_IO. */
int rb_tree_write_files(const struct rb_tree_out *files, size_t n);

#endif
