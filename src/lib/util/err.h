/* rombsr error codes.
 *
 * Every library function returns int: 0 on success, a negative rb_err on
 * failure. Library code never prints; it may attach a one-line detail to
 * the calling thread with rb_err_set(), which the CLI prints next to
 * rb_strerror(). The detail names the input and, where possible, the fix.
 */
#ifndef ROMBSR_UTIL_ERR_H
#define ROMBSR_UTIL_ERR_H

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
};

#define RB_ERR_DETAIL_MAX 512

/* Human-readable name of an rb_err ("malformed input"). Never NULL. */
const char *rb_strerror(int err);

/* Attach a detail to the calling thread and return err unchanged, so a
 * failure path reads: return rb_err_set(RB_E_PARSE, "%s: ...", path); */
int rb_err_set(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The calling thread's last detail ("" if none). Valid until the next
 * rb_err_set/rb_err_clear on this thread. */
const char *rb_err_detail(void);
void rb_err_clear(void);

/* rb_err_set(err, "<fmt>: <the current detail>"): says where an error
 * from below happened without losing what it was. */
int rb_err_prefix(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
