/* Handling of secrets: PINs, passphrases, shares, unwrapped key bytes.
 *
 * Secrets live in rb_secret buffers: page-aligned, mlock()ed where the
 * system allows, excluded from core dumps (MADV_DONTDUMP), and wiped
 * before they are unmapped. Compare them only with rb_ct_equal().
 */
#ifndef ROMBSR_UTIL_SECRET_H
#define ROMBSR_UTIL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wipe memory so the compiler cannot elide it. Accepts NULL. */
void rb_wipe(void *p, size_t n);

/* Constant-time equality: time depends only on the lengths. */
bool rb_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

struct rb_secret {
	uint8_t *data; /* locked, no-dump storage; NUL-terminated */
	size_t len;    /* bytes in use, excluding the terminator */
	size_t size;   /* usable bytes (len <= size) */
};

/* Allocate a zeroed secret buffer able to hold max bytes (plus a NUL).
 * The caller frees with rb_secret_free(). */
int rb_secret_new(size_t max, struct rb_secret **ret);
/* Wipe and free. Accepts NULL. */
void rb_secret_free(struct rb_secret *s);

/* Fill buf with n bytes from the kernel CSPRNG (getrandom). */
int rb_random_bytes(void *buf, size_t n);

/* Mark the process as not dumpable (no core files, no ptrace by peers of
 * the same uid) - for every process that holds PINs or key handles. */
void rb_secret_harden_process(void);

#endif
