/* Minimal unit-test harness: each test is a function; a failed check
 * prints file:line and the expression, and the binary exits non-zero. */
#ifndef ROMBSR_TEST_HARNESS_H
#define ROMBSR_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int t_failed_checks;
extern const char *t_current;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, \
				__LINE__, t_current, #cond);                     \
			t_failed_checks++;                                       \
		}                                                                \
	} while (0)

#define CHECK_OK(expr)                                                             \
	do {                                                                       \
		int _r = (expr);                                                   \
		if (_r != 0) {                                                     \
			fprintf(stderr, "%s:%d: %s: %s returned %d (%s)\n", __FILE__, \
				__LINE__, t_current, #expr, _r, rb_err_detail());  \
			t_failed_checks++;                                         \
		}                                                                  \
	} while (0)

#define CHECK_ERR(expr, want)                                                      \
	do {                                                                       \
		int _r = (expr);                                                   \
		if (_r != (want)) {                                                \
			fprintf(stderr, "%s:%d: %s: %s returned %d, want %d\n",    \
				__FILE__, __LINE__, t_current, #expr, _r, (int)(want)); \
			t_failed_checks++;                                         \
		}                                                                  \
	} while (0)

#define RUN(fn)                                                          \
	do {                                                             \
		int _before = t_failed_checks;                           \
		t_current = #fn;                                         \
		fn();                                                    \
		printf("%s %s\n", t_failed_checks == _before ? "ok" : "FAIL", #fn); \
	} while (0)

#define TEST_MAIN_END() return t_failed_checks ? 1 : 0

#define HARNESS_GLOBALS                   \
	int t_failed_checks;              \
	const char *t_current = "?"

#endif
