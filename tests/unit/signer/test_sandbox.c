/* The sign orchestrator's syscall allow-list (src/signd/sandbox.h): a
 * process under it that reaches for another process's memory
 * (process_vm_readv, the key holder's) or for a new namespace is killed
 * by SIGSYS; what the orchestrator needs (files, sockets, starting gpg)
 * still works under it. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "signd/sandbox.h"
#include "util/err.h"

HARNESS_GLOBALS;

/* Run fn in a child under the filter; its wait status. */
static int run_confined(void (*fn)(void))
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		if (signd_sandbox_enter() < 0)
			_exit(100);
		fn();
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

static void read_parent_memory(void)
{
	char buf[16];
	struct iovec local = { buf, sizeof(buf) }, remote = { (void *)&buf, sizeof(buf) };

	(void)syscall(SYS_process_vm_readv, getppid(), &local, 1, &remote, 1, 0);
	_exit(1); /* survived: the filter let it through */
}

static void new_namespace(void)
{
	(void)syscall(SYS_unshare, 0);
	_exit(1);
}

static void allowed_work(void)
{
	int sv[2], fd;
	pid_t pid;
	int status;

	/* files, a socketpair, a child program: what a batch does */
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 || write(fd, "x", 1) != 1 || close(fd) < 0)
		_exit(2);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		_exit(3);
	if ((pid = fork()) == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(4);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		_exit(5);
}

static void test_forbidden_kills(void)
{
	int st = run_confined(read_parent_memory);

	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = run_confined(new_namespace);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
}

static void test_allowed_works(void)
{
	int st = run_confined(allowed_work);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	RUN(test_forbidden_kills);
	RUN(test_allowed_works);
	TEST_MAIN_END();
}
