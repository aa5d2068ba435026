#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util/cleanup.h"
#include "util/err.h"

int cli_parse_uint(const char *verb, const char *opt, const char *arg, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || !*arg || *arg == '-' || *arg == '+' || *end || v > max)
		return cli_usage_error(verb, "%s takes a number from 0 to %u", opt, max);
	*ret = (unsigned)v;
	return EXIT_OK;
}

/* What the running verb works on, for a failure that comes without a
 * detail of its own. */
static char working_on[256];

void cli_working_on(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(working_on, sizeof(working_on), fmt, ap);
	va_end(ap);
}

void cli_begin(void)
{
	working_on[0] = '\0';
	rb_err_clear();
}

int cli_fail(const char *verb, int err)
{
	if (rb_err_has_detail(err))
		fprintf(stderr, "rombsr %s: %s\n", verb, rb_err_message(err));
	else if (working_on[0])
		fprintf(stderr, "rombsr %s: %s: %s\n", verb, working_on, rb_strerror(err));
	else
		fprintf(stderr, "rombsr %s: %s\n", verb, rb_strerror(err));
	return rb_exit_code(err);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rombsr %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'rombsr %s --help'\n", verb);
	return EXIT_USAGE;
}

