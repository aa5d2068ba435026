#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[RB_ERR_DETAIL_MAX];
/* The error detail was set with; 0 (RB_OK) when there is none. */
static _Thread_local int detail_err;

const char *rb_strerror(int err)
{
	switch (err) {
	case RB_OK: return "success";
	case RB_E_NOMEM: return "out of memory";
	case RB_E_INVAL: return "invalid argument";
	case RB_E_PARSE: return "malformed input";
	case RB_E_TOOBIG: return "input too large";
	case RB_E_IO: return "I/O error";
	case RB_E_NOTFOUND: return "not found";
	case RB_E_EXISTS: return "already exists";
	case RB_E_UNSUPPORTED: return "not supported";
	case RB_E_CRYPTO: return "cryptographic library error";
	case RB_E_VERIFY: return "verification failed";
	case RB_E_P11: return "PKCS#11 error";
	case RB_E_PIN: return "PIN rejected";
	case RB_E_MODULE: return "PKCS#11 module error";
	case RB_E_TOKEN: return "token not found";
	case RB_E_KEY: return "key not found or unusable";
	case RB_E_PERM: return "permission denied";
	case RB_E_STATE: return "wrong state";
	case RB_E_LIMIT: return "limit reached";
	case RB_E_ROLLBACK: return "older than what was published";
	case RB_E_AGAIN: return "temporary failure; retry";
	case RB_E_GONE: return "the token or its session went away; reopen and retry";
	}
	return "unknown error";
}

int rb_err_set(int err, const char *fmt, ...)
{
	char next[RB_ERR_DETAIL_MAX];
	va_list ap;

	/* Format into a copy first: callers often pass rb_err_detail() itself
	 * as an argument, to wrap an inner detail in an outer one, and
	 * vsnprintf() must not read the buffer it is writing. */
	va_start(ap, fmt);
	vsnprintf(next, sizeof(next), fmt, ap);
	va_end(ap);
	memcpy(detail, next, sizeof(detail));
	detail_err = err;
	return err;
}

bool rb_err_has_detail(int err)
{
	return err != RB_OK && err == detail_err && detail[0];
}

const char *rb_err_message(int err)
{
	return rb_err_has_detail(err) ? detail : rb_strerror(err);
}

const char *rb_err_detail(void)
{
	return detail;
}

void rb_err_clear(void)
{
	detail[0] = '\0';
	detail_err = RB_OK;
}

int rb_err_prefix(int err, const char *fmt, ...)
{
	char head[RB_ERR_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	/* rb_err_set copes with its own detail as an argument. */
	return rb_err_set(err, "%s: %s", head, rb_err_message(err));
}

int rb_exit_code(int err)
{
	switch (err) {
	case RB_OK: return EXIT_OK;
	case RB_E_PARSE:
	case RB_E_TOOBIG:
		return EXIT_BAD_INPUT;
	case RB_E_NOTFOUND:
	case RB_E_TOKEN:
	case RB_E_KEY:
		return EXIT_NOT_FOUND;
	case RB_E_PIN:
	case RB_E_PERM:
		return EXIT_AUTH;
	case RB_E_MODULE:
	case RB_E_P11:
	case RB_E_STATE:
	case RB_E_LIMIT:
		return EXIT_HSM;
	case RB_E_VERIFY:
		return EXIT_VERIFY;
	case RB_E_UNSUPPORTED:
		return EXIT_UNSUPPORTED;
	case RB_E_IO:
		return EXIT_IO;
	case RB_E_EXISTS:
		return EXIT_EXISTS;
	case RB_E_INVAL:
		return EXIT_USAGE;
	case RB_E_ROLLBACK:
		return EXIT_ROLLBACK;
	case RB_E_AGAIN:
	case RB_E_GONE:
		return EXIT_RETRY;
	}
	return EXIT_INTERNAL;
}

void rb_err_save(int err, char out[RB_ERR_DETAIL_MAX])
{
	snprintf(out, RB_ERR_DETAIL_MAX, "%s", rb_err_message(err));
}
