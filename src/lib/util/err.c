#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[RB_ERR_DETAIL_MAX];
/* The error detail was set with; 0 (RB_OK) when there is none. */
static _Thread_local int detail_err;

/* One row per error: what it is called and how rombsr exits on it. One
 * table, so that a new error cannot get a name and no exit code. */
static const struct {
	const char *text;
	int exit;
} errors[] = {
	[0] = { "success", EXIT_OK },
	[-RB_E_NOMEM] = { "out of memory", EXIT_INTERNAL },
	[-RB_E_INVAL] = { "invalid argument", EXIT_USAGE },
	[-RB_E_PARSE] = { "malformed input", EXIT_BAD_INPUT },
	[-RB_E_TOOBIG] = { "input too large", EXIT_BAD_INPUT },
	[-RB_E_IO] = { "I/O error", EXIT_IO },
	[-RB_E_NOTFOUND] = { "not found", EXIT_NOT_FOUND },
	[-RB_E_EXISTS] = { "already exists", EXIT_EXISTS },
	[-RB_E_UNSUPPORTED] = { "not supported", EXIT_UNSUPPORTED },
	[-RB_E_CRYPTO] = { "cryptographic library error", EXIT_INTERNAL },
	[-RB_E_VERIFY] = { "verification failed", EXIT_VERIFY },
	[-RB_E_P11] = { "PKCS#11 error", EXIT_HSM },
	[-RB_E_PIN] = { "PIN rejected", EXIT_AUTH },
	[-RB_E_MODULE] = { "PKCS#11 module error", EXIT_HSM },
	[-RB_E_TOKEN] = { "token not found", EXIT_NOT_FOUND },
	[-RB_E_KEY] = { "key not found or unusable", EXIT_NOT_FOUND },
	[-RB_E_PERM] = { "permission denied", EXIT_AUTH },
	[-RB_E_STATE] = { "wrong state", EXIT_HSM },
	[-RB_E_LIMIT] = { "limit reached", EXIT_HSM },
	[-RB_E_ROLLBACK] = { "older than what was published", EXIT_ROLLBACK },
	[-RB_E_AGAIN] = { "temporary failure; retry", EXIT_RETRY },
	[-RB_E_GONE] = { "the token or its session went away; reopen and retry", EXIT_RETRY },
};

_Static_assert(sizeof(errors) / sizeof(errors[0]) == 1 - RB_E_LAST, "one row per rb_err");

const char *rb_strerror(int err)
{
	if (err > 0 || err < RB_E_LAST || !errors[-err].text)
		return "unknown error";
	return errors[-err].text;
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

int rb_err_recode(int err, int to)
{
	if (rb_err_has_detail(err))
		detail_err = to;
	return to;
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
	if (err > 0 || err < RB_E_LAST || !errors[-err].text)
		return EXIT_INTERNAL;
	return errors[-err].exit;
}

void rb_err_save(int err, char out[RB_ERR_DETAIL_MAX])
{
	snprintf(out, RB_ERR_DETAIL_MAX, "%s", rb_err_message(err));
}
