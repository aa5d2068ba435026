/* One pass over an artifact for all of a build's placeholders.
 *
 * Each pattern (a raw placeholder, and for ECDSA also its DER form) is
 * indexed by its first eight bytes in an open-addressing hash table. The
 * scan computes the eight-byte window at every position and probes the
 * table; a 64 Ki-entry bitmap of the patterns' first two bytes rejects
 * almost every position before the probe, so the cost is one table probe
 * per rare candidate and O(len + n) overall. Placeholders are
 * pseudo-random, so eight bytes practically never collide and a full
 * memcmp runs only on true hits. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/locate.h"
#include "util/cleanup.h"
#include "util/err.h"

#define LOCATE_HEAD_LEN 8
#define LOCATE_ECDSA_DER_LEN 70
#define LOCATE_NO_SLOT SIZE_MAX

struct locate_pattern {
	uint64_t head;
	const uint8_t *bytes;
	size_t len;
	size_t req;           /* index into reqs / counts */
	size_t next;          /* next pattern with the same head, or LOCATE_NO_SLOT */
};

struct locate_index {
	struct locate_pattern *pats;
	size_t np;
	uint8_t *der;         /* n * 70 bytes of DER forms */
	size_t *slots;        /* pattern index of a chain's first entry */
	size_t mask;          /* slot count - 1 (a power of two) */
	uint8_t bitmap[65536 / 8];
};

static uint64_t locate_load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < LOCATE_HEAD_LEN; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t locate_hash(uint64_t head)
{
	/* Heads are pseudo-random already; the multiply spreads structured
	 * ones (the DER prefix 30 44 02 20 is shared by every DER form). */
	return (size_t)((head * UINT64_C(0x9e3779b97f4a7c15)) >> 17);
}

static void locate_index_free(struct locate_index *ix)
{
	if (!ix)
		return;
	free(ix->pats);
	free(ix->der);
	free(ix->slots);
	free(ix);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct locate_index *, locate_index_free)

static void locate_der_form(const uint8_t raw[64], uint8_t out[LOCATE_ECDSA_DER_LEN])
{
	out[0] = 0x30;
	out[1] = 0x44;
	out[2] = 0x02;
	out[3] = 0x20;
	memcpy(out + 4, raw, 32);
	out[36] = 0x02;
	out[37] = 0x20;
	memcpy(out + 38, raw + 32, 32);
}

static void locate_index_add(struct locate_index *ix, const uint8_t *bytes, size_t len, size_t req)
{
	struct locate_pattern *p = &ix->pats[ix->np];
	unsigned h2 = (unsigned)bytes[0] << 8 | bytes[1];
	size_t slot;

	*p = (struct locate_pattern){ locate_load_be64(bytes), bytes, len, req, LOCATE_NO_SLOT };
	ix->bitmap[h2 >> 3] |= (uint8_t)(1u << (h2 & 7));
	/* Chain patterns of equal head (e.g. the same request passed twice)
	 * so each is counted; distinct heads get distinct slots. */
	for (slot = locate_hash(p->head) & ix->mask; ix->slots[slot] != LOCATE_NO_SLOT;
	     slot = (slot + 1) & ix->mask) {
		if (ix->pats[ix->slots[slot]].head == p->head) {
			p->next = ix->slots[slot];
			ix->slots[slot] = ix->np++;
			return;
		}
	}
	ix->slots[slot] = ix->np++;
}

static int locate_index_build(const struct capture_request *const *reqs, size_t n,
			      struct locate_index **ret)
{
	_cleanup_(locate_index_freep) struct locate_index *ix = NULL;
	size_t nslots = 16;

	for (size_t i = 0; i < n; i++) {
		if (!reqs[i] || !reqs[i]->placeholder)
			return rb_err_set(RB_E_INVAL, "locate: request %zu is missing", i);
		if (reqs[i]->placeholder_len < LOCATE_HEAD_LEN)
			return rb_err_set(RB_E_INVAL, "locate: request %s has a %zu-byte placeholder; "
					  "placeholders are at least 64 bytes", reqs[i]->id_hex,
					  reqs[i]->placeholder_len);
	}
	if (n > SIZE_MAX / 8 / sizeof(struct locate_pattern))
		return RB_E_NOMEM;
	while (nslots < 4 * n)
		nslots *= 2;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return RB_E_NOMEM;
	ix->pats = calloc(2 * n + 1, sizeof(*ix->pats));
	ix->der = calloc(n + 1, LOCATE_ECDSA_DER_LEN);
	ix->slots = malloc(nslots * sizeof(*ix->slots));
	if (!ix->pats || !ix->der || !ix->slots)
		return RB_E_NOMEM;
	for (size_t s = 0; s < nslots; s++)
		ix->slots[s] = LOCATE_NO_SLOT;
	ix->mask = nslots - 1;
	for (size_t i = 0; i < n; i++) {
		const struct capture_request *r = reqs[i];

		locate_index_add(ix, r->placeholder, r->placeholder_len, i);
		if (r->scheme == RB_SIG_ECDSA_SHA256 && r->placeholder_len == 64) {
			uint8_t *d = ix->der + i * LOCATE_ECDSA_DER_LEN;

			locate_der_form(r->placeholder, d);
			locate_index_add(ix, d, LOCATE_ECDSA_DER_LEN, i);
		}
	}
	*ret = TAKE_PTR(ix);
	return RB_OK;
}

static void locate_scan(const struct locate_index *ix, const uint8_t *data, size_t len,
			size_t *counts)
{
	if (len < LOCATE_HEAD_LEN)
		return;
	for (size_t i = 0; i + LOCATE_HEAD_LEN <= len; i++) {
		unsigned h2 = (unsigned)data[i] << 8 | data[i + 1];
		uint64_t head;
		size_t slot, k;

		if (!(ix->bitmap[h2 >> 3] & (1u << (h2 & 7))))
			continue;
		head = locate_load_be64(data + i);
		for (slot = locate_hash(head) & ix->mask; (k = ix->slots[slot]) != LOCATE_NO_SLOT;
		     slot = (slot + 1) & ix->mask)
			if (ix->pats[k].head == head)
				break;
		for (; k != LOCATE_NO_SLOT; k = ix->pats[k].next) {
			const struct locate_pattern *p = &ix->pats[k];

			if (p->len <= len - i && memcmp(data + i, p->bytes, p->len) == 0)
				counts[p->req]++;
		}
	}
}

int apply_locate_placeholders(const uint8_t *data, size_t len,
			      const struct capture_request *const *reqs, size_t n,
			      size_t *ret_counts)
{
	_cleanup_(locate_index_freep) struct locate_index *ix = NULL;
	_cleanup_free_ size_t *counts = NULL;
	int err;

	if ((!data && len > 0) || (n > 0 && (!reqs || !ret_counts)))
		return rb_err_set(RB_E_INVAL, "locate: missing argument");
	if (n == 0)
		return RB_OK;
	if ((err = locate_index_build(reqs, n, &ix)) < 0)
		return err;
	counts = calloc(n, sizeof(*counts));
	if (!counts)
		return RB_E_NOMEM;
	locate_scan(ix, data, len, counts);
	memcpy(ret_counts, counts, n * sizeof(*counts));
	return RB_OK;
}

int apply_locate_file(const char *path, const struct capture_request *const *reqs, size_t n,
		      size_t *ret_counts)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	void *map;
	size_t size;
	int err;

	if (!path || !*path)
		return rb_err_set(RB_E_INVAL, "locate: no artifact path");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : errno == ELOOP ? RB_E_INVAL : RB_E_IO,
				  "%s: cannot open: %s%s", path, strerror(errno),
				  errno == ELOOP ? " (a symbolic link; name the file itself)" : "");
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_INVAL, "%s: not a regular file; artifacts are regular files",
				  path);
	if ((uint64_t)st.st_size > CAPTURE_ARTIFACT_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the artifact limit of %zu bytes",
				  path, (long long)st.st_size, CAPTURE_ARTIFACT_MAX_BYTES);
	size = (size_t)st.st_size;
	if (size == 0)
		return apply_locate_placeholders(NULL, 0, reqs, n, ret_counts);
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return rb_err_set(RB_E_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(errno));
	/* A file truncated while mapped raises SIGBUS; artifacts are scanned
	 * after the build has finished writing them, as the request says. */
	(void)madvise(map, size, MADV_SEQUENTIAL);
	err = apply_locate_placeholders(map, size, reqs, n, ret_counts);
	munmap(map, size);
	if (err < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return rb_err_set(err, "%s: %s", path, detail);
	}
	return RB_OK;
}
