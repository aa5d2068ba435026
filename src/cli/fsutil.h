#ifndef ROMBSR_CLI_FSUTIL_H
#define ROMBSR_CLI_FSUTIL_H

/* rm -rf, without following symlinks. Used only to undo a directory this
 * process created itself when a verb fails half-way. */
int cli_remove_tree(const char *path);

#endif
