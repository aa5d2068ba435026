/* Shared by the APK unit tests: the files run.sh made, manifest keys, and
 * little-endian writers for hand-built structures (the APK Signing Block
 * and everything in it is little-endian). */
#ifndef ROMBSR_TEST_APK_H
#define ROMBSR_TEST_APK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keys/manifest.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"

/* Set by main() from run.sh's environment. */
static const char *apk_dir;
static struct manifest *man;

struct blob {
	uint8_t *p;
	size_t len;
};

/* A file run.sh left in TEST_APK_DIR; exits if it cannot be read. */
static inline struct blob load(const char *name)
{
	char path[4096];
	struct blob b;

	snprintf(path, sizeof(path), "%s/%s", apk_dir, name);
	if (rb_file_read(path, 64u * 1024 * 1024, &b.p, &b.len) < 0) {
		fprintf(stderr, "cannot read %s: %s\n", path, rb_err_detail());
		exit(1);
	}
	return b;
}

static inline const struct manifest_key *mkey(const char *name)
{
	const struct manifest_key *k = manifest_find(man, name);

	if (!k)
		abort();
	return k;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le32(struct rb_buf *b, uint32_t v)
{
	uint8_t x[4];

	wr32(x, v);
	if (rb_buf_put(b, x, 4) < 0)
		abort();
}

static inline void put_lp(struct rb_buf *b, const void *p, size_t n)
{
	put_le32(b, (uint32_t)n);
	if (rb_buf_put(b, p, n) < 0)
		abort();
}

/* put_lp of a buffer, which is then freed */
static inline void put_lp_buf(struct rb_buf *b, struct rb_buf *inner)
{
	put_lp(b, inner->data, inner->len);
	rb_buf_free(inner);
}

/* A signed-data block as apksigner lays it out, from its encoded parts
 * (which are freed): digests, certificates, [v3: SDK 24..max], attributes,
 * [v2: one empty element]. */
static inline void put_signed_data(struct rb_buf *sd, int scheme, struct rb_buf *digests,
				   struct rb_buf *certs, struct rb_buf *attrs)
{
	put_lp_buf(sd, digests);
	put_lp_buf(sd, certs);
	if (scheme == 3) {
		put_le32(sd, 24);
		put_le32(sd, 0x7fffffff);
	}
	put_lp_buf(sd, attrs);
	if (scheme == 2)
		put_le32(sd, 0);
}

#endif
