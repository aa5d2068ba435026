/* The orchestrator's syscall allow-list (libseccomp).
 *
 * Once the key holder runs and the orchestrator has opened its queue,
 * keyring and state, signd_open() puts the process (every thread, and
 * every program it starts: gpg, the next key holder) under a filter that
 * kills it at the first system call outside the list. The list holds
 * what git, gpgme, OpenSSL and the C library need to read the queue,
 * verify commits, write the state and audit log and publish; it leaves
 * out what a parser exploit would reach for next: reading or tracing
 * another process (ptrace, process_vm_readv/writev - the key holder's
 * memory), loading kernel code, new namespaces, mounts, BPF, keyrings,
 * io_uring (which bypasses the filter), personality and clock changes.
 *
 * A debugger still attaches from outside (the filter binds this process,
 * not its tracer). Sanitizer builds allow ptrace, which LeakSanitizer
 * needs at exit.
 */
#ifndef ROMBSR_SIGND_SANDBOX_H
#define ROMBSR_SIGND_SANDBOX_H

/* Load the filter. RB_E_UNSUPPORTED if the kernel refuses it (no
 * seccomp): the caller stops rather than run unconfined. */
int signd_sandbox_enter(void);

#endif
