/* The orchestrator's syscall allow-list (sandbox.h). */
#include <string.h>

#include <seccomp.h>

#include "signd/sandbox.h"
#include "util/err.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

/* Grouped by what needs them; a name the running kernel's architecture
 * lacks is skipped. */
static const char *const sandbox_allowed[] = {
	/* memory */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mlock", "munlock", "mlockall",
	"munlockall", "membarrier",
	/* files: the queue clone, the state directory, the audit log */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "open", "openat",
	"close", "close_range", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"lseek", "access", "faccessat", "faccessat2", "fcntl", "flock", "fsync", "fdatasync", "sync_file_range",
	"truncate", "ftruncate", "fallocate", "fadvise64", "getdents", "getdents64", "getcwd", "chdir",
	"fchdir",
	"rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink",
	"unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
	"umask", "utimensat", "copy_file_range", "sendfile", "dup", "dup2", "dup3", "pipe", "pipe2",
	"ioctl", "memfd_create", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	/* waiting and time */
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "eventfd2", "nanosleep", "clock_nanosleep", "clock_gettime",
	"clock_getres", "gettimeofday", "time", "futex", "sched_yield", "sched_getaffinity",
	"restart_syscall", "alarm", "setitimer", "getitimer", "timerfd_create", "timerfd_settime",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigsuspend",
	"sigaltstack", "kill", "tgkill", "tkill",
	/* processes: gpg for commit signatures, the next key holder */
	"clone", "clone3", "fork", "vfork", "execve", "wait4", "waitid", "exit", "exit_group",
	"set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl",
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
	"getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "setsid", "setpgid",
	"getrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority", "sysinfo", "times",
	"uname", "capget", "capset", "getrandom", "sched_getparam", "sched_getscheduler",
	/* sockets: the key holder, the queue remote, gpg's own sockets */
	"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto",
	"recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname",
	"getpeername", "setsockopt", "getsockopt",
};

int signd_sandbox_enter(void)
{
	scmp_filter_ctx ctx;
	int rc;

	if (!(ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)))
		return RB_E_NOMEM;
	/* Every thread (gpgme and libgit2 may have started some). */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(sandbox_allowed[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			goto fail;
	}
#ifdef SANDBOX_SANITIZED
	/* LeakSanitizer stops the threads with ptrace at exit. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 0)) < 0)
		goto fail;
#endif
	if ((rc = seccomp_load(ctx)) < 0)
		goto fail;
	seccomp_release(ctx);
	return RB_OK;
fail:
	seccomp_release(ctx);
	return rb_err_set(RB_E_UNSUPPORTED, "cannot put the sign orchestrator under its syscall allow-list: %s; "
			  "the kernel needs seccomp filters (CONFIG_SECCOMP_FILTER)", strerror(-rc));
}
