/* fault-shim.so: operating-system faults for the integration tests,
 * injected with LD_PRELOAD into rombsr and every process it starts (gpg
 * and git inherit the environment). Each fault is off unless its
 * variable is set:
 *
 *   ROMBSR_FAULT_FORK=FILE    while FILE exists, fork() fails with EAGAIN
 *                             (the process table or memory is full): how
 *                             gpgme starts gpg.
 *   ROMBSR_FAULT_SPAWN=FILE   while FILE exists, posix_spawn() and
 *                             posix_spawnp() fail with EAGAIN: how rombsr
 *                             starts git.
 *                             Both only in the process started under the
 *                             shim, not in the gpg and git it runs (git
 *                             forks for a local fetch).
 *   ROMBSR_FAULT_ENOSPC=DIR   write(), writev() and pwrite() on a regular
 *                             file under DIR fail with ENOSPC (a full disk).
 *   ROMBSR_FAULT_KILL_RENAME=TEXT
 *                             rename() of a path containing TEXT kills the
 *                             process (SIGKILL) before it renames: a power
 *                             cut between writing a temporary file and
 *                             putting it in place.
 *
 * A flag file, not a counter, turns a fault on and off, so that a test
 * can hold it exactly as long as it needs (until it has seen the failure
 * it waits for) without sleeping. The shim is built without sanitizers:
 * it is preloaded into gpg and git as well, which are not instrumented. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The first process that loads the shim names itself here; its
 * children inherit the variable and know they are not it. */
#define ROOT_VAR "ROMBSR_FAULT_ROOT_PID"

static pid_t root_pid;

__attribute__((constructor)) static void fault_shim_init(void)
{
	const char *root = getenv(ROOT_VAR);
	char pid[32];

	if (root) {
		root_pid = (pid_t)atol(root);
		return;
	}
	root_pid = getpid();
	snprintf(pid, sizeof(pid), "%ld", (long)root_pid);
	setenv(ROOT_VAR, pid, 1);
}

/* A process fault (fork, spawn) is on: its flag file exists, and this is
 * the process started under the shim. */
static int flag_set(const char *var)
{
	const char *flag = getenv(var);
	struct stat st;

	return getpid() == root_pid && flag && *flag && stat(flag, &st) == 0;
}

static void *next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn) {
		static const char msg[] = "fault-shim: a libc function is missing\n";

		(void)!write(2, msg, sizeof(msg) - 1);
		abort();
	}
	return fn;
}

pid_t fork(void)
{
	if (flag_set("ROMBSR_FAULT_FORK")) {
		errno = EAGAIN;
		return -1;
	}
	return ((pid_t(*)(void))next("fork"))();
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
			char *const[], char *const[]);

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	/* posix_spawn reports its error as the return value. */
	if (flag_set("ROMBSR_FAULT_SPAWN"))
		return EAGAIN;
	return ((spawn_fn)next("posix_spawn"))(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (flag_set("ROMBSR_FAULT_SPAWN"))
		return EAGAIN;
	return ((spawn_fn)next("posix_spawnp"))(pid, file, fa, attr, argv, envp);
}

/* Whether fd is a regular file under ROMBSR_FAULT_ENOSPC. */
static int disk_full(int fd)
{
	const char *dir = getenv("ROMBSR_FAULT_ENOSPC");
	char link[64], path[4096];
	struct stat st;
	ssize_t n;
	size_t dl;

	if (!dir || !*dir || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return 0;
	path[n] = '\0';
	dl = strlen(dir);
	return strncmp(path, dir, dl) == 0 && (path[dl] == '/' || path[dl] == '\0');
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (disk_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return ((ssize_t(*)(int, const void *, size_t))next("write"))(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (disk_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return ((ssize_t(*)(int, const struct iovec *, int))next("writev"))(fd, iov, cnt);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (disk_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return ((ssize_t(*)(int, const void *, size_t, off_t))next("pwrite"))(fd, buf, n, off);
}

int rename(const char *from, const char *to)
{
	const char *text = getenv("ROMBSR_FAULT_KILL_RENAME");

	if (text && *text && strstr(from, text))
		kill(getpid(), SIGKILL);
	return ((int (*)(const char *, const char *))next("rename"))(from, to);
}
