/* Putting the real signatures where the placeholders are.
 *
 * Everything is checked before a single byte changes: each signature must
 * verify over its request's input with the request's key, have the
 * placeholder's length and (ECDSA) shape, and each placeholder may occur
 * at most once. Placeholders are searched in one pass over the artifact
 * (an artifact may be gigabytes and a build may have thousands of
 * requests): a 64 Ki-entry bitmap of the patterns' first two bytes skips
 * almost every position, and candidates are looked up by their first
 * eight bytes in a sorted table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request/capture-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

struct pattern {
	uint64_t head;      /* first 8 bytes, big-endian */
	const uint8_t *bytes;
	size_t len;
	size_t res;         /* index into the resolutions */
	bool der;           /* the ECDSA DER form */
};

struct hit {
	size_t off;
	size_t len;
	size_t res;
	bool der;
};

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int cmp_pattern(const void *a, const void *b)
{
	const struct pattern *x = a, *y = b;

	return x->head < y->head ? -1 : x->head > y->head;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static int check_resolution(const struct capture_resolution *rs, size_t i)
{
	const struct capture_request *r = rs->request;
	uint8_t fpr[32];

	if (!r || !rs->pub || !rs->sig)
		return rb_err_set(RB_E_INVAL, "resolution %zu: missing request, key or signature", i);
	if (rb_pkey_fingerprint(rs->pub, fpr) < 0 || memcmp(fpr, r->key_spki_sha256, 32) != 0)
		return rb_err_set(RB_E_VERIFY, "request %s: the public key given is not key \"%s\" "
				  "of the request", r->id_hex, r->key_name);
	if (rs->sig_len != r->placeholder_len)
		return rb_err_set(RB_E_INVAL, "request %s: signature is %zu bytes, the placeholder "
				  "%zu; it cannot replace it in place", r->id_hex, rs->sig_len,
				  r->placeholder_len);
	if (r->scheme == RB_SIG_ECDSA_SHA256 && !capture_ecdsa_sig_fits(rs->sig))
		return rb_err_set(RB_E_INVAL, "request %s: ECDSA signature has a top byte outside "
				  "0x01..0x7f, so its DER form is not 70 bytes; sign it with "
				  "capture_request_sign", r->id_hex);
	if (rb_sig_verify(rs->pub, r->scheme, r->input, r->input_len, rs->sig, rs->sig_len) < 0)
		return rb_err_set(RB_E_VERIFY, "request %s: the signature does not verify over the "
				  "request's input with key \"%s\"; nothing was replaced",
				  r->id_hex, r->key_name);
	return RB_OK;
}

/* Count every occurrence of every pattern; remember the first of each. */
static void scan(const uint8_t *data, size_t len, const struct pattern *pats, size_t np,
		 const uint8_t *bitmap, struct capture_resolve_result *results, struct hit *first)
{
	if (len < 8)
		return;
	for (size_t i = 0; i + 8 <= len; i++) {
		unsigned h2 = (unsigned)data[i] << 8 | data[i + 1];
		uint64_t head;
		size_t lo = 0, hi = np;

		if (!(bitmap[h2 >> 3] & (1u << (h2 & 7))))
			continue;
		head = load_be64(data + i);
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (pats[mid].head < head)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < np && pats[j].head == head; j++) {
			const struct pattern *p = &pats[j];

			if (p->len > len - i || memcmp(data + i, p->bytes, p->len) != 0)
				continue;
			if (results[p->res].found++ == 0)
				first[p->res] = (struct hit){ i, p->len, p->res, p->der };
		}
	}
}

int capture_resolve_buffer(uint8_t *data, size_t len, const struct capture_resolution *res,
			   size_t n, struct capture_resolve_result *results)
{
	_cleanup_free_ struct pattern *pats = NULL;
	_cleanup_free_ struct hit *first = NULL, *hits = NULL;
	_cleanup_free_ uint8_t *der = NULL, *bitmap = NULL;
	size_t np = 0, nh = 0;
	int err;

	if (n == 0)
		return RB_OK;
	if (!res || !results || (!data && len > 0))
		return rb_err_set(RB_E_INVAL, "resolve: missing argument");
	for (size_t i = 0; i < n; i++)
		results[i] = (struct capture_resolve_result){ 0, false };
	for (size_t i = 0; i < n; i++) {
		if ((err = check_resolution(&res[i], i)) < 0)
			return err;
		for (size_t j = 0; j < i; j++)
			if (memcmp(res[j].request->id, res[i].request->id, CAPTURE_ID_LEN) == 0)
				return rb_err_set(RB_E_INVAL, "request %s is given twice",
						  res[i].request->id_hex);
	}

	pats = calloc(2 * n, sizeof(*pats));
	first = calloc(n, sizeof(*first));
	hits = calloc(n, sizeof(*hits));
	der = calloc(n, CAPTURE_ECDSA_DER_LEN);
	bitmap = calloc(1, 65536 / 8);
	if (!pats || !first || !hits || !der || !bitmap)
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct capture_request *r = res[i].request;

		pats[np++] = (struct pattern){ load_be64(r->placeholder), r->placeholder,
					       r->placeholder_len, i, false };
		if (r->scheme == RB_SIG_ECDSA_SHA256) {
			uint8_t *d = der + i * CAPTURE_ECDSA_DER_LEN;

			capture_ecdsa_der70(r->placeholder, d);
			pats[np++] = (struct pattern){ load_be64(d), d, CAPTURE_ECDSA_DER_LEN, i, true };
		}
	}
	for (size_t j = 0; j < np; j++) {
		unsigned h2 = (unsigned)pats[j].bytes[0] << 8 | pats[j].bytes[1];

		bitmap[h2 >> 3] |= (uint8_t)(1u << (h2 & 7));
	}
	qsort(pats, np, sizeof(*pats), cmp_pattern);
	scan(data, len, pats, np, bitmap, results, first);

	for (size_t i = 0; i < n; i++) {
		if (results[i].found > 1)
			return rb_err_set(RB_E_STATE,
					  "request %s: placeholder occurs %zu times in the artifact; "
					  "which one to replace is ambiguous, nothing was replaced",
					  res[i].request->id_hex, results[i].found);
		if (results[i].found == 1)
			hits[nh++] = first[i];
	}
	qsort(hits, nh, sizeof(*hits), cmp_hit);
	for (size_t k = 1; k < nh; k++)
		if (hits[k - 1].off + hits[k - 1].len > hits[k].off)
			return rb_err_set(RB_E_STATE, "requests %s and %s: placeholders overlap in the "
					  "artifact; nothing was replaced",
					  res[hits[k - 1].res].request->id_hex,
					  res[hits[k].res].request->id_hex);

	for (size_t k = 0; k < nh; k++) {
		const struct capture_resolution *rs = &res[hits[k].res];

		if (hits[k].der)
			capture_ecdsa_der70(rs->sig, data + hits[k].off);
		else
			memcpy(data + hits[k].off, rs->sig, rs->sig_len);
		results[hits[k].res].replaced = true;
	}
	return RB_OK;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t got = read(fd, p, n > (1u << 30) ? (1u << 30) : n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EAGAIN;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int capture_resolve_file(const char *path, const struct capture_resolution *res, size_t n,
			 struct capture_resolve_result *results)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_free_ char *dir = NULL;
	const char *slash, *base;
	struct stat st, again;
	uint8_t extra;
	size_t size;
	bool changed = false;
	int err, rc;

	if (!path || !*path)
		return rb_err_set(RB_E_INVAL, "resolve: no artifact path");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : errno == ELOOP ? RB_E_INVAL : RB_E_IO,
				  "%s: cannot open: %s%s", path, strerror(errno),
				  errno == ELOOP ? " (a symbolic link; pass the file it points to)" : "");
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_INVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > CAPTURE_ARTIFACT_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %lld bytes exceeds the artifact limit of %zu bytes",
				  path, (long long)st.st_size, CAPTURE_ARTIFACT_MAX_BYTES);
	size = (size_t)st.st_size;
	data = malloc(size ? size : 1);
	if (!data)
		return rb_err_set(RB_E_NOMEM, "%s: no memory for %zu bytes", path, size);
	if ((rc = read_exact(fd, data, size)) < 0)
		return rb_err_set(rc == -EAGAIN ? RB_E_STATE : RB_E_IO, "%s: read failed: %s", path,
				  rc == -EAGAIN ? "file shrank while being read" : strerror(-rc));
	while ((rc = (int)read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (rc != 0)
		return rb_err_set(RB_E_STATE, "%s: file grew while being read; resolve it when the "
				  "build has finished writing it", path);

	if ((err = capture_resolve_buffer(data, size, res, n, results)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return rb_err_set(err, "%s: %s", path, detail);
	}
	for (size_t i = 0; i < n; i++)
		changed |= results[i].replaced;
	if (!changed)
		return RB_OK;

	if (fstat(fd, &again) < 0 || !same_file_state(&st, &again))
		return rb_err_set(RB_E_STATE, "%s: changed while being resolved; nothing was written",
				  path);
	slash = strrchr(path, '/');
	if (!slash) {
		dir = strdup(".");
		base = path;
	} else {
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		base = slash + 1;
	}
	if (!dir)
		return RB_E_NOMEM;
	if (!*base)
		return rb_err_set(RB_E_INVAL, "%s: not a file name", path);
	if ((err = capture_write_atomic(dir, base, data, size, st.st_mode & 07777)) < 0) {
		for (size_t i = 0; i < n; i++)
			results[i].replaced = false;
		return err;
	}
	return RB_OK;
}
