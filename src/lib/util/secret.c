#include "util/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/err.h"

void rb_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

bool rb_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

int rb_secret_new(size_t max, struct rb_secret **ret)
{
	struct rb_secret *s;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size;
	void *p;

	if (max > 1024 * 1024)
		return RB_E_TOOBIG;
	size = (max + 1 + page - 1) / page * page;
	s = calloc(1, sizeof(*s));
	if (!s)
		return RB_E_NOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(s);
		return RB_E_NOMEM;
	}
	/* Both are best effort: an unprivileged process may exceed
	 * RLIMIT_MEMLOCK, and the secret is still wiped on free. */
	(void)mlock(p, size);
	(void)madvise(p, size, MADV_DONTDUMP);
	s->data = p;
	s->size = size - 1;
	s->len = 0;
	*ret = s;
	return RB_OK;
}

void rb_secret_free(struct rb_secret *s)
{
	if (!s)
		return;
	if (s->data) {
		size_t size = s->size + 1;

		explicit_bzero(s->data, size);
		munlock(s->data, size);
		munmap(s->data, size);
	}
	free(s);
}

int rb_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n > 256 ? 256 : n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return rb_err_set(RB_E_IO, "getrandom: %s", strerror(errno));
		}
		p += r;
		n -= (size_t)r;
	}
	return RB_OK;
}

void rb_secret_harden_process(void)
{
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
