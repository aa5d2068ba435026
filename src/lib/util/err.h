/* rombsr error codes.
 *
 * Every library function returns int: 0 on success, a negative rb_err on
 * failure. Library code never prints; it may attach a one-line detail to
 * the calling thread with rb_err_set(), which the CLI prints next to
 * rb_strerror(). The detail names the input and, where possible, the fix.
 */
#ifndef ROMBSR_UTIL_ERR_H
#define ROMBSR_UTIL_ERR_H

#include <stdbool.h>

enum rb_err {
	RB_OK = 0,
	RB_E_NOMEM = -1,        /* allocation failed */
	RB_E_INVAL = -2,        /* caller passed an invalid argument */
	RB_E_PARSE = -3,        /* malformed input */
	RB_E_TOOBIG = -4,       /* input exceeds a size cap */
	RB_E_IO = -5,           /* read/write/fsync/rename failed */
	RB_E_NOTFOUND = -6,     /* file, object or entry does not exist */
	RB_E_EXISTS = -7,       /* refusing to overwrite */
	RB_E_UNSUPPORTED = -8,  /* algorithm, mechanism or version not supported */
	RB_E_CRYPTO = -9,       /* OpenSSL reported an error */
	RB_E_VERIFY = -10,      /* a signature or hash did not verify */
	RB_E_P11 = -11,         /* a PKCS#11 call failed (see detail) */
	RB_E_PIN = -12,         /* PIN incorrect, locked or unavailable */
	RB_E_MODULE = -13,      /* PKCS#11 module missing or unloadable */
	RB_E_TOKEN = -14,       /* token not found */
	RB_E_KEY = -15,         /* key not found or unusable */
	RB_E_PERM = -16,        /* permission or policy refused */
	RB_E_STATE = -17,       /* object in the wrong state for the call */
	RB_E_LIMIT = -18,       /* a configured bound was reached */
	RB_E_ROLLBACK = -19,    /* state older than what was already published
				 * (the sign node's audit log lost or rolled back) */
	RB_E_AGAIN = -20,       /* an operation failed for a reason that passes (a process
	                         * could not start, a resource ran out): nothing was
	                         * decided; retry */
	RB_E_GONE = -21,        /* the token, or a session or object on it, went away
	                         * (HSM restart, removal): reopen it and retry */
	RB_E_LAST = RB_E_GONE,  /* the last one: err.c has a row for each */
};

/* Exit codes of rombsr and rombsr-sign, documented in docs/EXIT-CODES.md
 * and rombsr(1). */
enum rb_exit {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,     /* unexpected failure (out of memory, bug) */
	EXIT_USAGE = 2,        /* bad command line */
	EXIT_BAD_INPUT = 3,    /* malformed or oversized input file */
	EXIT_NOT_FOUND = 4,    /* file, token or key does not exist */
	EXIT_AUTH = 5,         /* PIN wrong/missing/locked, or permission refused */
	EXIT_HSM = 6,          /* PKCS#11 module or token failure */
	EXIT_VERIFY = 7,       /* a signature or hash did not verify */
	EXIT_UNSUPPORTED = 8,  /* algorithm/format/version not supported */
	EXIT_IO = 9,           /* read/write failure */
	EXIT_EXISTS = 10,      /* refusing to overwrite existing state */
	EXIT_REJECTED = 11,    /* apply: the sign node rejected requests; nothing written */
	EXIT_ROLLBACK = 12,    /* sign node: its audit log is missing, rolled back or forked
				* from what it published; nothing signed */
	EXIT_RETRY = 13,       /* a temporary failure: nothing was decided or lost; run again */
};

/* The exit code for an rb_err (RB_OK is EXIT_OK; an unknown value is
 * EXIT_INTERNAL). */
int rb_exit_code(int err);

#define RB_ERR_DETAIL_MAX 512

/* Human-readable name of an rb_err ("malformed input"). Never NULL. */
const char *rb_strerror(int err);

/* Attach a detail to the calling thread and return err unchanged, so a
 * failure path reads: return rb_err_set(RB_E_PARSE, "%s: ...", path);
 * The detail remembers err: it describes that error and no other. */
int rb_err_set(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What to tell a user about err: the calling thread's detail if it was
 * set with err (and is not empty), else rb_strerror(err). A function that
 * returns a bare RB_E_* leaves behind whatever an earlier, unrelated
 * failure set, and that detail may name another input; this never prints
 * it for an error with another code. Valid until the next
 * rb_err_set/rb_err_clear on this thread. Never NULL. */
const char *rb_err_message(int err);

/* Whether the calling thread holds a detail set with err. */
bool rb_err_has_detail(int err);

/* The calling thread's last detail ("" if none), whatever error it was set
 * with. Only for code that knows the detail is fresh (it just cleared it
 * and made one call); everything that reports an error uses
 * rb_err_message(). */
const char *rb_err_detail(void);

/* Copy rb_err_message(err) into out, so that a call made while handling
 * the error (a probe, an audit append) cannot overwrite it. */
void rb_err_save(int err, char out[RB_ERR_DETAIL_MAX]);

/* Forget the detail. Each command of the CLI and each batch of the sign
 * node starts with it, so that a detail of the same code left by an
 * earlier command cannot pass for this one's. */
void rb_err_clear(void);

/* A caller that reports an error from below under another code (a parse
 * failure that means "does not verify"): the detail err left, if any, now
 * belongs to to. Returns to. */
int rb_err_recode(int err, int to);

/* rb_err_set(err, "<fmt>: <rb_err_message(err)>"): says where an error
 * from below happened without losing what it was. Under another code:
 * rb_err_prefix(rb_err_recode(err, RB_E_VERIFY), ...). */
int rb_err_prefix(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
