/* Unit tests for audit/merkle and audit/tile: every case of the
 * transparency-dev/merkle test data (must-fail ones included), the RFC 6962
 * known answers, generated proofs for every leaf and size pair of small
 * trees checked against a naive MTH, and the C2SP tile path examples. */
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "audit/merkle.h"
#include "audit/tile.h"
#include "harness.h"
#include "json/json.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

/* --- transparency-dev/merkle test data ---------------------------------- */

static size_t n_cases, n_must_fail;

/* Numbers in the vectors go up to 2^63+2, beyond the int64 profile of the
 * project's JSON parser: read them as uint64 from the text, and parse a
 * copy with every number replaced by 0 for the rest. */
static int raw_u64(const char *text, const char *key, uint64_t *ret)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if (!(p = strstr(text, pat)))
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	*ret = strtoull(p, NULL, 10);
	return 0;
}

static char *zero_numbers(const char *text)
{
	char *s = strdup(text);

	for (char *p = s; p && *p; p++) {
		if (*p == ':') {
			char *q = p + 1;

			while (*q == ' ')
				q++;
			if (*q >= '0' && *q <= '9') {
				*q++ = '0';
				while (*q >= '0' && *q <= '9')
					*q++ = ' ';
			}
		}
	}
	return s;
}

/* Decode base64 field key of v into buf; the length may be anything. */
static size_t b64_field(const struct json_value *v, const char *key, uint8_t *buf, size_t cap)
{
	const char *s;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t len = 0;

	if (json_get_string(v, key, &s) < 0 || rb_base64_decode(s, strlen(s), true, &raw, &len) < 0)
		return 0;
	if (len > cap)
		len = cap;
	memcpy(buf, raw, len);
	return len;
}

/* Build the proof; a hash of the wrong length makes the proof bad. */
static int vec_proof(const struct json_value *v, struct merkle_proof *p)
{
	const struct json_value *arr = json_object_get(v, "proof");

	memset(p, 0, sizeof(*p));
	if (json_value_type(arr) == JSON_NULL)
		return 0;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *s;
		_cleanup_free_ uint8_t *raw = NULL;
		size_t len;
		int err;

		if (json_expect_string(json_array_get(arr, i), &s) < 0 ||
		    rb_base64_decode(s, strlen(s), true, &raw, &len) < 0)
			return RB_E_PARSE;
		if ((err = merkle_proof_add(p, raw, len)) < 0)
			return err;
	}
	return 0;
}

static int run_vector(const char *path, const char *kind)
{
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_free_ char *zeroed = NULL;
	_cleanup_json_ struct json_value *v = NULL;
	struct merkle_proof proof;
	uint8_t a[64], b[64];
	size_t alen, blen;
	uint64_t x = 0, y = 0, z = 0;
	bool want_err;
	size_t len;
	int rc;

	if (rb_file_read(path, 1 << 20, &text, &len) < 0)
		return -1;
	zeroed = zero_numbers((const char *)text);
	if (json_parse(zeroed, len, NULL, &v) < 0 || json_get_bool(v, "wantErr", &want_err) < 0) {
		fprintf(stderr, "%s: cannot parse: %s\n", path, rb_err_detail());
		return -1;
	}
	rc = vec_proof(v, &proof);
	if (strcmp(kind, "inclusion") == 0) {
		raw_u64((char *)text, "leafIdx", &x);
		raw_u64((char *)text, "treeSize", &y);
		alen = b64_field(v, "leafHash", a, sizeof(a));
		blen = b64_field(v, "root", b, sizeof(b));
		if (rc == 0)
			rc = merkle_inclusion_verify(x, y, a, alen, &proof, b, blen);
	} else if (strcmp(kind, "consistency") == 0) {
		raw_u64((char *)text, "size1", &x);
		raw_u64((char *)text, "size2", &y);
		alen = b64_field(v, "root1", a, sizeof(a));
		blen = b64_field(v, "root2", b, sizeof(b));
		if (rc == 0)
			rc = merkle_consistency_verify(x, y, a, alen, b, blen, &proof);
	} else if (strcmp(kind, "subtreeinclusion") == 0) {
		raw_u64((char *)text, "leafIdx", &x);
		raw_u64((char *)text, "start", &y);
		raw_u64((char *)text, "end", &z);
		alen = b64_field(v, "leafHash", a, sizeof(a));
		blen = b64_field(v, "root", b, sizeof(b));
		if (rc == 0)
			rc = merkle_subtree_inclusion_verify(x, y, z, a, alen, &proof, b, blen);
	} else {
		uint64_t size = 0;

		raw_u64((char *)text, "start", &x);
		raw_u64((char *)text, "end", &y);
		raw_u64((char *)text, "size", &size);
		alen = b64_field(v, "root1", a, sizeof(a));
		blen = b64_field(v, "root2", b, sizeof(b));
		if (rc == 0)
			rc = merkle_subtree_consistency_verify(x, y, size, a, alen, b, blen, &proof);
	}
	n_cases++;
	if (want_err)
		n_must_fail++;
	if ((rc != 0) != want_err) {
		fprintf(stderr, "%s: got %d (%s), wantErr %d\n", path, rc, rb_err_detail(), want_err);
		return 1;
	}
	return 0;
}

static const char *walk_kind;
static int walk_bad;

static int walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F && strstr(path, ".json")) {
		int r = run_vector(path, walk_kind);

		if (r)
			walk_bad++;
	}
	return 0;
}

static char *vec_path(const char *rel)
{
	const char *src = getenv("ROMBSR_SOURCE_DIR");
	char *p = NULL;

	if (asprintf(&p, "%s/tests/vectors/%s", src ? src : ".", rel) < 0)
		abort();
	return p;
}

static void test_transparency_dev_vectors(void)
{
	static const char *const kinds[] = { "inclusion", "consistency", "subtreeinclusion",
					     "subtreeconsistency" };

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		_cleanup_free_ char *rel = NULL, *dir = NULL;

		CHECK(asprintf(&rel, "merkle/testdata/%s", kinds[i]) > 0);
		dir = vec_path(rel);
		walk_kind = kinds[i];
		walk_bad = 0;
		CHECK(nftw(dir, walk_cb, 16, FTW_PHYS) == 0);
		CHECK(walk_bad == 0);
	}
	/* All 518 cases ran, and most of them must fail. */
	CHECK(n_cases == 518);
	CHECK(n_must_fail == 482);
}

/* --- RFC 6962 known answers and generated trees ------------------------- */

struct mem_tree {
	uint64_t n;
	uint8_t (*levels[64])[MERKLE_HASH_LEN];
};

static int mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct mem_tree *t = ctx;

	if (level >= 64 || !t->levels[level] || index >= (t->n >> level))
		return RB_E_NOTFOUND;
	memcpy(out, t->levels[level][index], MERKLE_HASH_LEN);
	return 0;
}

static void mem_tree_build(struct mem_tree *t, const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	for (unsigned l = 0; (n >> l) > 0; l++) {
		uint64_t cnt = n >> l;

		t->levels[l] = calloc(cnt, MERKLE_HASH_LEN);
		for (uint64_t i = 0; i < cnt; i++) {
			if (l == 0)
				memcpy(t->levels[0][i], leaves[i], MERKLE_HASH_LEN);
			else
				merkle_hash_node(t->levels[l - 1][2 * i], t->levels[l - 1][2 * i + 1],
						 t->levels[l][i]);
		}
	}
}

static void mem_tree_free(struct mem_tree *t)
{
	for (unsigned l = 0; l < 64; l++)
		free(t->levels[l]);
}

/* The definition, straight from RFC 6962 2.1. */
static void naive_mth(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k = 1;

	if (n == 0) {
		merkle_hash_empty(out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	naive_mth(leaves, k, l);
	naive_mth(leaves + k, n - k, r);
	merkle_hash_node(l, r, out);
}

static int hex_eq(const uint8_t *h, const char *hex)
{
	_cleanup_free_ char *s = NULL;

	return rb_hex_encode(h, 32, &s) == 0 && strcmp(s, hex) == 0;
}

static void test_rfc6962_kat(void)
{
	_cleanup_free_ char *path = vec_path("rfc6962-kat.json");
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_json_ struct json_value *v = NULL;
	const struct json_value *leaves, *roots, *kat;
	uint8_t lh[8][32], h[32];
	struct mem_tree t;
	const char *s;
	size_t len;

	CHECK_OK(rb_file_read(path, 1 << 20, &text, &len));
	CHECK_OK(json_parse(text, len, NULL, &v));
	CHECK_OK(json_get_string(v, "empty_root", &s));
	merkle_hash_empty(h);
	CHECK(hex_eq(h, s));
	CHECK_OK(json_get_array(v, "leaves_hex", &leaves));
	CHECK_OK(json_get_array(v, "roots_by_size_1_to_8_hex", &roots));
	CHECK(json_array_size(leaves) == 8 && json_array_size(roots) == 8);
	for (size_t i = 0; i < 8; i++) {
		_cleanup_free_ uint8_t *d = NULL;
		size_t dlen = 0;

		CHECK_OK(json_expect_string(json_array_get(leaves, i), &s));
		CHECK_OK(rb_hex_decode(s, strlen(s), &d, &dlen));
		merkle_hash_leaf(d ? d : (const uint8_t *)"", dlen, lh[i]);
	}
	mem_tree_build(&t, (const uint8_t (*)[32])lh, 8);
	for (uint64_t n = 1; n <= 8; n++) {
		struct merkle_source src = { mem_get, &t };

		CHECK_OK(json_expect_string(json_array_get(roots, n - 1), &s));
		CHECK_OK(merkle_range_root(&src, 0, n, h));
		CHECK(hex_eq(h, s));
	}
	mem_tree_free(&t);
	CHECK_OK(json_get_object(v, "hasher_kat", &kat));
	CHECK_OK(json_get_string(kat, "HashLeaf('L123456')", &s));
	merkle_hash_leaf("L123456", 7, h);
	CHECK(hex_eq(h, s));
	{
		/* The KAT hashes 4-byte strings, not 32-byte nodes, so it checks
		 * the 0x01 prefix by hand. */
		uint8_t buf[9] = { 0x01, 'N', '1', '2', '3', 'N', '4', '5', '6' };
		uint8_t want[32];

		CHECK_OK(json_get_string(kat, "HashChildren('N123','N456')", &s));
		SHA256(buf, sizeof(buf), want);
		CHECK(hex_eq(want, s));
	}
}

/* Every inclusion proof for every leaf of trees 1..70, every consistency
 * proof between sizes 1..70, each verified, each rejected when altered. */
static void test_generated_proofs(void)
{
	enum { N = 70 };
	uint8_t leaves[N][32], roots[N + 1][32];
	struct mem_tree t;
	struct merkle_source src = { mem_get, &t };
	size_t bad = 0;

	for (unsigned i = 0; i < N; i++) {
		char e[16];

		snprintf(e, sizeof(e), "entry %u", i);
		merkle_hash_leaf(e, strlen(e), leaves[i]);
	}
	mem_tree_build(&t, (const uint8_t (*)[32])leaves, N);
	for (uint64_t n = 1; n <= N; n++) {
		uint8_t h[32];

		naive_mth((const uint8_t (*)[32])leaves, n, roots[n]);
		CHECK_OK(merkle_range_root(&src, 0, n, h));
		CHECK(memcmp(h, roots[n], 32) == 0);
	}
	for (uint64_t n = 1; n <= N; n++) {
		for (uint64_t i = 0; i < n; i++) {
			struct merkle_proof p;

			if (merkle_inclusion_prove(&src, i, n, &p) < 0 ||
			    merkle_inclusion_verify(i, n, leaves[i], 32, &p, roots[n], 32) < 0) {
				fprintf(stderr, "inclusion %" PRIu64 "/%" PRIu64 ": %s\n", i, n, rb_err_detail());
				bad++;
				continue;
			}
			/* A wrong index or a flipped bit fails. */
			if (n > 1 && merkle_inclusion_verify((i + 1) % n, n, leaves[i], 32, &p,
							     roots[n], 32) == 0)
				bad++;
			/* (A different size can share the proof's shape - 5 and 6 do for
			 * leaves 0..3 - so only the signed size binds it; not tested.) */
			if (p.n) {
				p.hash[p.n - 1][5] ^= 0x10;
				if (merkle_inclusion_verify(i, n, leaves[i], 32, &p, roots[n], 32) == 0)
					bad++;
			}
		}
		for (uint64_t m = 1; m <= n; m++) {
			struct merkle_proof p;

			if (merkle_consistency_prove(&src, m, n, &p) < 0 ||
			    merkle_consistency_verify(m, n, roots[m], 32, roots[n], 32, &p) < 0) {
				fprintf(stderr, "consistency %" PRIu64 "/%" PRIu64 ": %s\n", m, n, rb_err_detail());
				bad++;
				continue;
			}
			if (m < n && merkle_consistency_verify(m, n, roots[m], 32, roots[m], 32, &p) == 0)
				bad++;
			if (p.n) {
				p.hash[0][0] ^= 1;
				if (merkle_consistency_verify(m, n, roots[m], 32, roots[n], 32, &p) == 0)
					bad++;
			}
		}
	}
	CHECK(bad == 0);
	{
		struct merkle_proof p;

		CHECK_ERR(merkle_inclusion_prove(&src, N, N, &p), RB_E_INVAL);
		CHECK_ERR(merkle_consistency_prove(&src, 0, N, &p), RB_E_INVAL);
		CHECK_ERR(merkle_consistency_prove(&src, N, N - 1, &p), RB_E_INVAL);
		/* A 31-byte hash is refused when the proof is built. */
		memset(&p, 0, sizeof(p));
		CHECK_ERR(merkle_proof_add(&p, leaves[0], 31), RB_E_VERIFY);
		CHECK(p.n == 0);
	}
	mem_tree_free(&t);
}

/* --- tiles --------------------------------------------------------------- */

static void test_tile_paths(void)
{
	char p[TILE_PATH_MAX];
	uint64_t full;
	unsigned part;

	/* C2SP tlog-tiles: "x001/x234/067" for 1234067. */
	CHECK_OK(tile_index_path(1234067, p));
	CHECK(strcmp(p, "x001/x234/067") == 0);
	CHECK_OK(tile_index_path(0, p));
	CHECK(strcmp(p, "000") == 0);
	CHECK_OK(tile_index_path(1000, p));
	CHECK(strcmp(p, "x001/000") == 0);
	CHECK_OK(tile_index_path(UINT64_MAX, p));
	CHECK(strcmp(p, "x018/x446/x744/x073/x709/x551/615") == 0);
	CHECK_OK(tile_path(0, 1234067, 256, p));
	CHECK(strcmp(p, "tile/0/x001/x234/067") == 0);
	CHECK_OK(tile_path(TILE_ENTRIES, 1234067, 8, p));
	CHECK(strcmp(p, "tile/entries/x001/x234/067.p/8") == 0);
	CHECK_OK(tile_path(TILE_ENTRIES, UINT64_MAX, 255, p));
	CHECK(strlen(p) < TILE_PATH_MAX);
	CHECK_ERR(tile_path(0, 1, 0, p), RB_E_INVAL);
	CHECK_ERR(tile_path(0, 1, 257, p), RB_E_INVAL);
	CHECK_ERR(tile_path(8, 1, 1, p), RB_E_INVAL);

	/* C2SP: a tree of size 70,000 has 273 full level-0 tiles and a partial
	 * of 112 hashes (tile/0/273.p/112), level 1 holds 273 hashes: one full
	 * tile and tile/1/001.p/17, level 2 one hash: tile/2/000.p/1. */
	tile_count(70000, 0, &full, &part);
	CHECK(full == 273 && part == 112);
	CHECK_OK(tile_path(0, full, part, p));
	CHECK(strcmp(p, "tile/0/273.p/112") == 0);
	tile_count(70000, 1, &full, &part);
	CHECK(full == 1 && part == 17);
	CHECK_OK(tile_path(1, full, part, p));
	CHECK(strcmp(p, "tile/1/001.p/17") == 0);
	tile_count(70000, 2, &full, &part);
	CHECK(full == 0 && part == 1);
	CHECK_OK(tile_path(2, full, part, p));
	CHECK(strcmp(p, "tile/2/000.p/1") == 0);
	tile_count(70000, 3, &full, &part);
	CHECK(full == 0 && part == 0);
}

int main(void)
{
	RUN(test_transparency_dev_vectors);
	RUN(test_rfc6962_kat);
	RUN(test_generated_proofs);
	RUN(test_tile_paths);
	TEST_MAIN_END();
}
