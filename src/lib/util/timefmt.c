#include "util/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

void rb_time_format(int64_t t, char buf[RB_TIME_LEN + 1])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, RB_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int rb_time_parse(const char *s, int64_t *ret)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = { 0 };
	char again[RB_TIME_LEN + 1];
	time_t t;

	if (strlen(s) != RB_TIME_LEN)
		return rb_err_set(RB_E_PARSE, "not a time like 2026-11-22T08:30:00Z (RFC 3339, UTC, whole seconds)");
	for (size_t i = 0; i < RB_TIME_LEN; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return rb_err_set(RB_E_PARSE, "not a time like 2026-11-22T08:30:00Z (RFC 3339, UTC, "
					  "whole seconds)");
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return rb_err_set(RB_E_PARSE, "not a time like 2026-11-22T08:30:00Z");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return rb_err_set(RB_E_PARSE, "a time out of range");
	/* Reject dates timegm normalised (Feb 30, 25:00, ...). */
	rb_time_format(t, again);
	if (strcmp(again, s) != 0)
		return rb_err_set(RB_E_PARSE, "not a date and time of the calendar (a day or hour that does not "
				  "exist)");
	*ret = t;
	return RB_OK;
}
