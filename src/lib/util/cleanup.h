/* Scope-bound cleanup, in the style of systemd's _cleanup_.
 *
 *   _cleanup_free_ char *s = NULL;     freed when s leaves scope
 *   return TAKE_PTR(s);                hand ownership to the caller
 *
 * Every *_free() function in rombsr accepts NULL, so these are safe on
 * every path. */
#ifndef ROMBSR_UTIL_CLEANUP_H
#define ROMBSR_UTIL_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Define a cleanup helper foo_freep() for a type with foo_free(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
	static inline void func##p(type *p)              \
	{                                                \
		if (*p)                                  \
			func(*p);                        \
	}

#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _ptr_ = (p);   \
		(p) = NULL;                  \
		_ptr_;                       \
	})

#define TAKE_FD(fd)                  \
	({                           \
		int _fd_ = (fd);     \
		(fd) = -1;           \
		_fd_;                \
	})

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#endif
