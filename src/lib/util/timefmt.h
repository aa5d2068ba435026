/* RFC 3339 UTC timestamps, the only time format in rombsr documents:
 * "2026-11-22T08:30:00Z" (exactly 20 characters, always UTC). */
#ifndef ROMBSR_UTIL_TIMEFMT_H
#define ROMBSR_UTIL_TIMEFMT_H

#include <stdint.h>

#define RB_TIME_LEN 20

/* Format t into buf (at least RB_TIME_LEN + 1 bytes). */
void rb_time_format(int64_t t, char buf[RB_TIME_LEN + 1]);
/* Parse exactly that form; RB_E_PARSE for anything else. */
int rb_time_parse(const char *s, int64_t *ret);

#endif
