/* Unit tests for src/lib/slip39: the 45 trezor vectors (passphrase
 * "TREZOR", the must-fail ones included), split -> combine round trips with
 * random parameters, every K-subset of an N-share split, the GF(256)
 * field, and each attack or mistake combine must refuse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json/json.h"
#include "slip39/slip39-internal.h"
#include "slip39/slip39.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

HARNESS_GLOBALS;

#define VECTOR_COUNT 45

static struct rb_secret *secret_from(const void *p, size_t n)
{
	struct rb_secret *s = NULL;

	if (rb_secret_new(n, &s) < 0)
		abort();
	memcpy(s->data, p, n);
	s->len = n;
	return s;
}

static struct rb_secret *secret_str(const char *p)
{
	return secret_from(p, strlen(p));
}

static void free_list(struct rb_secret **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rb_secret_free(l[i]);
}

static void test_vectors(void)
{
	_cleanup_free_ uint8_t *text = NULL;
	struct json_value *root = NULL;
	struct json_limits lim = { .max_input = 1 << 20 };
	struct rb_secret *pass = secret_str("TREZOR");
	size_t len, i, ok_success = 0, ok_fail = 0;
	char path[4096];

	snprintf(path, sizeof(path), "%s/tests/vectors/slip39-vectors.json",
		 getenv("ROMBSR_SOURCE_DIR") ? getenv("ROMBSR_SOURCE_DIR") : ".");
	CHECK_OK(rb_file_read(path, 1 << 20, &text, &len));
	if (!text)
		return;
	CHECK_OK(json_parse(text, len, &lim, &root));
	if (!root)
		return;
	CHECK(json_array_size(root) == VECTOR_COUNT);
	for (i = 0; i < json_array_size(root); i++) {
		const struct json_value *c = json_array_get(root, i);
		const struct json_value *ms = json_array_get(c, 1);
		const char *desc = NULL, *want_hex = NULL;
		struct rb_secret *m[64];
		struct rb_secret *got = NULL;
		size_t k, nm = json_array_size(ms);
		int r;

		CHECK_OK(json_expect_string(json_array_get(c, 0), &desc));
		CHECK_OK(json_expect_string(json_array_get(c, 2), &want_hex));
		if (!desc || !want_hex || nm > 64) {
			CHECK(0);
			continue;
		}
		for (k = 0; k < nm; k++) {
			const char *w = NULL;

			CHECK_OK(json_expect_string(json_array_get(ms, k), &w));
			m[k] = secret_str(w ? w : "");
		}
		rb_err_clear();
		r = slip39_combine((const struct rb_secret *const *)m, nm, pass, &got);
		if (want_hex[0] == '\0') {
			if (r == 0) {
				fprintf(stderr, "vector \"%s\": combined, must fail\n", desc);
				t_failed_checks++;
			} else if (!rb_err_detail()[0]) {
				fprintf(stderr, "vector \"%s\": failed without a detail\n", desc);
				t_failed_checks++;
			} else {
				printf("  refused \"%s\": %s\n", desc, rb_err_detail());
				ok_fail++;
			}
		} else {
			_cleanup_free_ uint8_t *want = NULL;
			size_t wlen = 0;

			CHECK_OK(rb_hex_decode(want_hex, strlen(want_hex), &want, &wlen));
			if (r != 0 || !got || !rb_ct_equal(got->data, got->len, want, wlen)) {
				fprintf(stderr, "vector \"%s\": r=%d (%s)\n", desc, r, rb_err_detail());
				t_failed_checks++;
			} else {
				ok_success++;
			}
		}
		rb_secret_free(got);
		free_list(m, nm);
	}
	printf("slip39 vectors: %zu combined, %zu refused as expected\n", ok_success, ok_fail);
	/* 15 vectors carry a secret, 30 must be refused */
	CHECK(ok_success == 15 && ok_fail == 30);
	json_free(root);
	rb_secret_free(pass);
}

static void test_gf256(void)
{
	unsigned a, b;

	/* every nonzero element times its inverse is 1; multiplication
	 * agrees with the reference log/exp definition on a generator */
	for (a = 1; a < 256; a++)
		CHECK(slip39_gf_mul((uint8_t)a, slip39_gf_inv((uint8_t)a)) == 1);
	CHECK(slip39_gf_inv(0) == 0);
	CHECK(slip39_gf_mul(0x53, 0xCA) == 0x01); /* the AES field's textbook pair */
	for (a = 0; a < 256; a += 7)
		for (b = 0; b < 256; b += 11)
			CHECK(slip39_gf_mul((uint8_t)a, (uint8_t)b) ==
			      slip39_gf_mul((uint8_t)b, (uint8_t)a));
}

static unsigned rnd(unsigned n)
{
	uint32_t v;

	if (rb_random_bytes(&v, sizeof(v)) < 0)
		abort();
	return v % n;
}

/* Split with random parameters; combine a random sufficient subset. */
static void test_roundtrip_random(void)
{
	int iter;

	/* each combine runs 10000 PBKDF2 iterations, which allocate under
	 * OpenSSL and are slow under ASan's malloc unwinding: keep it modest */
	for (iter = 0; iter < 16; iter++) {
		struct slip39_group_spec groups[SLIP39_MAX_SHARES];
		uint8_t raw[32];
		size_t len = 16 + 2 * rnd(9), ng = 1 + rnd(4), n = 0, g, i;
		uint8_t gt = (uint8_t)(1 + rnd((unsigned)ng));
		struct rb_secret **m = NULL, *master, *pass, *got = NULL;
		const struct rb_secret *pick[SLIP39_MAX_SHARES * SLIP39_MAX_SHARES];
		size_t np = 0, off = 0, gpick[SLIP39_MAX_SHARES];
		bool ext = rnd(2);

		CHECK_OK(rb_random_bytes(raw, len));
		master = secret_from(raw, len);
		pass = iter % 3 ? secret_str("correct horse") : secret_str("");
		for (g = 0; g < ng; g++) {
			groups[g].count = (uint8_t)(1 + rnd(5));
			groups[g].threshold =
				groups[g].count == 1 ? 1 : (uint8_t)(2 + rnd(groups[g].count - 1));
		}
		CHECK_OK(slip39_split(master, gt, groups, ng, pass, 0, ext, &m, &n));
		if (!m)
			continue;
		/* choose gt distinct random groups, then threshold members of each */
		for (g = 0; g < ng; g++)
			gpick[g] = g;
		for (g = 0; g < ng; g++) {
			size_t j = g + rnd((unsigned)(ng - g)), t = gpick[g];

			gpick[g] = gpick[j];
			gpick[j] = t;
		}
		for (g = 0; g < gt; g++) {
			size_t base = 0, gi = gpick[g];

			for (i = 0; i < gi; i++)
				base += groups[i].count;
			for (i = 0; i < groups[gi].threshold; i++)
				pick[np++] = m[base + (i + off) % groups[gi].count];
			off++;
		}
		CHECK_OK(slip39_combine(pick, np, pass, &got));
		CHECK(got && rb_ct_equal(got->data, got->len, master->data, master->len));
		rb_secret_free(got);
		got = NULL;
		/* the wrong passphrase gives a different secret, by design
		 * (plausible deniability), never an error */
		if (iter % 4 == 0) {
			struct rb_secret *other = secret_str("wrong");

			CHECK_OK(slip39_combine(pick, np, other, &got));
			CHECK(got && !rb_ct_equal(got->data, got->len, master->data, master->len));
			rb_secret_free(other);
			rb_secret_free(got);
		}
		slip39_mnemonics_free(m, n);
		rb_secret_free(master);
		rb_secret_free(pass);
	}
}

/* Every K-subset of a K-of-N split recombines to the same secret, and
 * every (K-1)-subset is refused. */
static void test_every_subset(void)
{
	const uint8_t K = 3, N = 6;
	struct slip39_group_spec grp = { K, N };
	struct rb_secret **m = NULL, *master, *got = NULL;
	uint8_t raw[32];
	size_t n = 0, count = 0;
	unsigned mask;

	CHECK_OK(rb_random_bytes(raw, sizeof(raw)));
	master = secret_from(raw, sizeof(raw));
	CHECK_OK(slip39_split(master, 1, &grp, 1, NULL, 0, true, &m, &n));
	CHECK(n == N);
	if (!m)
		return;
	for (mask = 0; mask < (1u << N); mask++) {
		const struct rb_secret *pick[16];
		size_t np = 0, i;
		int r;

		for (i = 0; i < N; i++)
			if (mask & (1u << i))
				pick[np++] = m[i];
		if (np != K && np != (size_t)(K - 1))
			continue;
		r = slip39_combine(pick, np, NULL, &got);
		if (np == K) {
			CHECK(r == 0 && got && rb_ct_equal(got->data, got->len, master->data, master->len));
			count++;
		} else {
			CHECK(r == RB_E_INVAL && !got);
		}
		rb_secret_free(got);
		got = NULL;
	}
	CHECK(count == 20); /* C(6,3) */
	slip39_mnemonics_free(m, n);
	rb_secret_free(master);
}

static void test_errors(void)
{
	struct slip39_group_spec g23 = { 2, 3 }, g11 = { 1, 1 }, g12 = { 1, 2 };
	struct slip39_group_spec two[2] = { { 2, 3 }, { 2, 2 } };
	struct rb_secret **m = NULL, **m2 = NULL, *master, *got = NULL, *bad, *odd;
	const struct rb_secret *pick[4];
	uint8_t raw[16] = { 1, 2, 3 };
	size_t n = 0, n2 = 0;
	char *words, *sp;
	unsigned w;

	master = secret_from(raw, sizeof(raw));
	odd = secret_from(raw, 15);
	CHECK_ERR(slip39_split(odd, 1, &g11, 1, NULL, 0, false, &m, &n), RB_E_INVAL);
	CHECK_ERR(slip39_split(master, 2, &g11, 1, NULL, 0, false, &m, &n), RB_E_INVAL);
	CHECK_ERR(slip39_split(master, 1, &g12, 1, NULL, 0, false, &m, &n), RB_E_INVAL);
	CHECK_ERR(slip39_split(master, 1, &g11, 1, NULL, 16, false, &m, &n), RB_E_INVAL);
	{
		struct rb_secret *np = secret_str("caf\xc3\xa9");

		CHECK_ERR(slip39_split(master, 1, &g11, 1, np, 0, false, &m, &n), RB_E_INVAL);
		rb_secret_free(np);
	}
	CHECK(!m);
	CHECK_OK(slip39_split(master, 1, &g23, 1, NULL, 0, false, &m, &n));
	CHECK_OK(slip39_split(master, 2, two, 2, NULL, 0, false, &m2, &n2));
	if (!m || !m2)
		return;

	/* a mistyped word is reported with its position */
	words = strdup((const char *)m[0]->data);
	sp = words;
	for (w = 0; w < 6; w++)
		sp = strchr(sp, ' ') + 1;
	memcpy(sp, "zzzz", 4);
	bad = secret_str(words);
	pick[0] = bad;
	pick[1] = m[1];
	rb_err_clear();
	CHECK_ERR(slip39_combine(pick, 2, NULL, &got), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "mnemonic 1: word 7 ") != NULL);
	rb_secret_free(bad);
	free(words);

	/* a valid word swapped in: the checksum catches it before combining */
	words = malloc(m[1]->len + 16);
	memcpy(words, m[1]->data, m[1]->len + 1);
	sp = strrchr(words, ' ') + 1;
	strcpy(sp, strcmp(sp, "academic") ? "academic" : "acid");
	bad = secret_str(words);
	pick[0] = m[0];
	pick[1] = bad;
	rb_err_clear();
	CHECK_ERR(slip39_combine(pick, 2, NULL, &got), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "mnemonic 2: checksum") != NULL);
	rb_secret_free(bad);
	free(words);

	/* insufficient, duplicate, mixed sets */
	pick[0] = m[0];
	CHECK_ERR(slip39_combine(pick, 1, NULL, &got), RB_E_INVAL);
	pick[1] = m[0];
	rb_err_clear();
	CHECK_ERR(slip39_combine(pick, 2, NULL, &got), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "same share") != NULL);
	pick[1] = m2[0];
	rb_err_clear();
	CHECK_ERR(slip39_combine(pick, 2, NULL, &got), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "another share set") != NULL ||
	      strstr(rb_err_detail(), "other group parameters") != NULL);
	/* two groups needed: one complete group is not enough */
	pick[0] = m2[0];
	pick[1] = m2[1];
	CHECK_ERR(slip39_combine(pick, 2, NULL, &got), RB_E_INVAL);
	pick[2] = m2[3];
	pick[3] = m2[4];
	CHECK_OK(slip39_combine(pick, 4, NULL, &got));
	CHECK(got && rb_ct_equal(got->data, got->len, master->data, master->len));
	rb_secret_free(got);
	got = NULL;
	CHECK(!got);

	/* decode exposes the fields for validation */
	{
		struct slip39_share *s = NULL;

		CHECK_OK(slip39_decode((const char *)m2[4]->data, m2[4]->len, &s));
		CHECK(s && s->group_index == 1 && s->member_index == 1 && s->group_threshold == 2 &&
		      s->group_count == 2 && s->member_threshold == 2 && s->value->len == 16 &&
		      !s->extendable);
		slip39_share_free(s);
		s = NULL;
		CHECK_ERR(slip39_decode("academic acid", 13, &s), RB_E_PARSE);
		CHECK(!s);
	}
	CHECK(slip39_word_index("ACADEMIC", 8) == 0);
	CHECK(slip39_word_index("zero", 4) == 1023);
	CHECK(slip39_word_index("acidx", 5) == -1);
	CHECK(slip39_word_index("aci", 3) == -1);
	/* found by fuzz_slip39: a NUL inside a word matched the list padding */
	CHECK(slip39_word_index("acne\0", 5) == -1);
	CHECK(slip39_word_index("ac1d", 4) == -1);
	CHECK(strcmp(slip39_word(1023), "zero") == 0 && slip39_word(1024) == NULL);

	slip39_mnemonics_free(m, n);
	slip39_mnemonics_free(m2, n2);
	slip39_share_free(NULL);
	slip39_mnemonics_free(NULL, 0);
	rb_secret_free(master);
	rb_secret_free(odd);
}

int main(void)
{
	RUN(test_gf256);
	RUN(test_vectors);
	RUN(test_roundtrip_random);
	RUN(test_every_subset);
	RUN(test_errors);
	TEST_MAIN_END();
}
