/* Differential tests of the fast entry validator (audit_entry_validate)
 * against the strict reader (audit_entry_parse: strict JSON, field table,
 * canonical re-emission): over every entry type, hand-made edge cases, the
 * fuzz corpus and a few hundred thousand mutated entries, both must accept
 * and reject the same byte strings, and agree on what they read. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit-internal.h"
#include "audit/entry.h"
#include "harness.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static size_t n_compared, n_accepted;

/* Both readers on the same bytes: same verdict, and on acceptance the
 * same type, request id and signature. Returns the verdict (1 accepted). */
static int compare(const void *b, size_t len)
{
	struct json_value *v = NULL;
	struct audit_entry_view view;
	enum audit_event type = 0;
	int strict = audit_entry_parse(b, len, &v, &type);
	int fast = audit_entry_validate(b, len, &view);

	n_compared++;
	if ((strict == 0) != (fast == 0)) {
		fprintf(stderr, "disagreement (strict %d, fast %d; %s) on %zu bytes: %.*s\n", strict, fast,
			rb_err_detail(), len, (int)(len > 300 ? 300 : len), (const char *)b);
		CHECK(!"strict and fast readers disagree");
		json_free(v);
		return -1;
	}
	if (strict == 0) {
		const char *rid = NULL, *sig = NULL;

		n_accepted++;
		CHECK(view.type == type);
		CHECK(view.time && json_get_string(v, "time", &sig) == 0 &&
		      memcmp(view.time, sig, 20) == 0);
		sig = NULL;
		if (type == AUDIT_SIGN || type == AUDIT_REJECT) {
			CHECK(json_get_string(v, "request_id", &rid) == 0);
			CHECK(view.request_id && strlen(rid) == view.request_id_len &&
			      memcmp(rid, view.request_id, view.request_id_len) == 0);
		} else {
			CHECK(view.request_id == NULL);
		}
		if (type == AUDIT_SIGN) {
			CHECK(json_get_string(v, "signature", &sig) == 0);
			CHECK(view.signature && strlen(sig) == view.signature_len &&
			      memcmp(sig, view.signature, view.signature_len) == 0);
		} else {
			CHECK(view.signature == NULL);
		}
		if (type == AUDIT_INTENT) {
			const struct json_value *ids = json_object_get(v, "request_ids");
			size_t pos = 0, k = 0, idn;
			const char *id, *want;

			while (audit_entry_view_next_id(&view, &pos, &id, &idn)) {
				CHECK(k < json_array_size(ids));
				if (k >= json_array_size(ids))
					break;
				CHECK(json_expect_string(json_array_get(ids, k), &want) == 0);
				CHECK(strlen(want) == idn && memcmp(want, id, idn) == 0);
				k++;
			}
			CHECK(k == json_array_size(ids));
		} else {
			CHECK(view.request_ids == NULL);
		}
	}
	json_free(v);
	return strict == 0;
}

/* json_emit's canonical bytes, checked against the log's own emitter. */
static struct rb_buf emit(struct json_value *e)
{
	struct rb_buf b = RB_BUF_INIT, fast = RB_BUF_INIT;

	if (!e || json_emit(e, JSON_CANONICAL, &b) < 0)
		abort();
	CHECK_OK(rb_buf_put(&fast, "x", 1));
	CHECK_OK(audit_entry_emit(e, &fast));
	CHECK(fast.len == b.len + 1 && memcmp(fast.data + 1, b.data, b.len) == 0);
	rb_buf_free(&fast);
	json_free(e);
	return b;
}

/* Shapes the fast emitter leaves to json_emit (non-ASCII keys, nested
 * objects, booleans, integer arrays) and strings that need escapes: the
 * bytes are json_emit's either way. */
static void test_emitter_matches(void)
{
	static const char *const texts[] = {
		"{\"b\":\"x\\u0001\\n\\\"\\\\y\",\"a\":[\"\\t\",\"\u00e9\"],\"c\":-9223372036854775808}",
		"{\"\u00e9\":1,\"z\":2,\"\ue000\":3,\"\U0001F511\":4}",
		"{\"a\":{\"b\":1},\"c\":true,\"d\":null}",
		"{\"a\":[1,2],\"b\":[]}",
		"[1,2]",
		"\"s\"",
		"{}",
		"{\"key_fingerprint\":\"x\",\"key\":\"y\",\"keys\":\"z\",\"ke\":\"w\"}",
	};

	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		struct json_value *v = NULL;
		struct rb_buf a = RB_BUF_INIT, b = RB_BUF_INIT;

		CHECK_OK(json_parse(texts[i], strlen(texts[i]), NULL, &v));
		if (!v)
			continue;
		CHECK_OK(json_emit(v, JSON_CANONICAL, &a));
		CHECK_OK(audit_entry_emit(v, &b));
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		rb_buf_free(&a);
		rb_buf_free(&b);
		json_free(v);
	}
}

/* One entry of every type (and variants with optional keys left out). */
static size_t make_seeds(struct rb_buf *out)
{
	static const uint8_t fpr[32] = { 0xab, 0x01 }, node[20] = { 0x12 };
	uint8_t digest[64], sig[512];
	const char *approvals[] = { "alice@example.org", "b\xc3\xb6" "b \"q\" \\ \x01\t\x7f" };
	struct json_value *e = NULL;
	size_t n = 0;

	memset(digest, 0xcd, sizeof(digest));
	memset(sig, 0x5a, sizeof(sig));
	{
		struct audit_sign_info in = {
			.time = 1795000000, .request_id = "00ff", .build_id = "build-1\n\xe2\x82\xac",
			.node_fpr = node, .key_name = "platform", .key_fpr = fpr,
			.scheme = RB_SIG_RSA_PKCS1_SHA256, .artifact_name = "system.img",
			.artifact_sha256 = fpr, .digest = digest, .digest_len = 32, .sig = sig,
			.sig_len = 256, .approvals = approvals, .n_approvals = 2,
		};

		CHECK_OK(audit_entry_sign(&in, &e));
		out[n++] = emit(e);
		in.n_approvals = 0;
		in.sig_len = 65;
		in.digest_len = 64;
		in.scheme = RB_SIG_ED25519;
		CHECK_OK(audit_entry_sign(&in, &e));
		out[n++] = emit(e);
	}
	{
		struct audit_reject_info r = {
			.time = 1795000001, .request_id = "abcd", .build_id = "b", .node_fpr = node,
			.key_name = "k", .artifact_name = "a", .reason = "quota-hour",
		};

		CHECK_OK(audit_entry_reject(&r, &e));
		out[n++] = emit(e);
		r.node_fpr = NULL;
		r.key_name = NULL;
		r.artifact_name = NULL;
		CHECK_OK(audit_entry_reject(&r, &e));
		out[n++] = emit(e);
		/* A whole commit refused: no build id is believed. */
		r.build_id = NULL;
		r.artifact_name = "requests/builder1/b.json";
		CHECK_OK(audit_entry_reject(&r, &e));
		out[n++] = emit(e);
		r.node_fpr = node;
		CHECK_OK(audit_entry_reject(&r, &e));
		out[n++] = emit(e);
	}
	{
		struct audit_key_info k = {
			.time = 0, .actor = "admin", .key_name = "platform", .key_fpr = fpr,
			.new_key_name = "platform-2", .new_key_fpr = fpr, .detail = "rotated \xf0\x9f\x94\x91",
		};

		CHECK_OK(audit_entry_key(AUDIT_ROTATE, &k, &e));
		out[n++] = emit(e);
		k.new_key_name = NULL;
		k.new_key_fpr = NULL;
		for (enum audit_event t = AUDIT_KEYGEN; t <= AUDIT_REVOKE; t++) {
			CHECK_OK(audit_entry_key(t, &k, &e));
			out[n++] = emit(e);
		}
		k.detail = NULL;
		CHECK_OK(audit_entry_key(AUDIT_KEYGEN, &k, &e));
		out[n++] = emit(e);
	}
	CHECK_OK(audit_entry_provision(253402300799, "admin", "rombsr", fpr, &e));
	out[n++] = emit(e);
	CHECK_OK(audit_entry_policy_change(1795000000, "admin", fpr, &e));
	out[n++] = emit(e);
	CHECK_OK(audit_entry_login_failure(1795000000, "operator", "rombsr", "CKR_PIN_INCORRECT", &e));
	out[n++] = emit(e);
	CHECK_OK(audit_entry_hsm_outage(1795000001, "rombsr", "C_Sign on key 'media': CKR_OBJECT_HANDLE_INVALID",
					&e));
	out[n++] = emit(e);
	{
		static char ids[AUDIT_INTENT_IDS_MAX][129];
		const char *idp[AUDIT_INTENT_IDS_MAX];
		struct audit_intent_info in = {
			.time = 1795000002, .key_name = "media \"x\"", .key_fpr = fpr,
			.request_ids = idp, .n_request_ids = 1,
		};

		for (size_t i = 0; i < AUDIT_INTENT_IDS_MAX; i++) {
			/* 2..128 digits: the shortest and longest ids too */
			size_t len = i == 1 ? 2 : i == 2 ? 128 : 64;

			for (size_t j = 0; j < len; j++)
				ids[i][j] = "0123456789abcdef"[(i * 7 + j) % 16];
			ids[i][len] = '\0';
			idp[i] = ids[i];
		}
		CHECK_OK(audit_entry_intent(&in, &e));
		out[n++] = emit(e);
		in.n_request_ids = 3;
		CHECK_OK(audit_entry_intent(&in, &e));
		out[n++] = emit(e);
		in.n_request_ids = AUDIT_INTENT_IDS_MAX;
		CHECK_OK(audit_entry_intent(&in, &e));
		out[n++] = emit(e);
		/* The builder refuses what the readers refuse. */
		in.n_request_ids = 0;
		CHECK_ERR(audit_entry_intent(&in, &e), RB_E_INVAL);
		in.n_request_ids = AUDIT_INTENT_IDS_MAX + 1;
		CHECK_ERR(audit_entry_intent(&in, &e), RB_E_INVAL);
		in.n_request_ids = 1;
		ids[0][3] = 'A';
		CHECK_ERR(audit_entry_intent(&in, &e), RB_E_INVAL);
		ids[0][3] = "0123456789abcdef"[3 % 16];
	}
	return n;
}

static void test_seeds_accepted(void)
{
	struct rb_buf seeds[32];
	size_t n = make_seeds(seeds);

	for (size_t i = 0; i < n; i++) {
		CHECK(compare(seeds[i].data, seeds[i].len) == 1);
		rb_buf_free(&seeds[i]);
	}
}

/* Replace the first occurrence of from in the seed by to, and compare. */
static int edited(const struct rb_buf *seed, const char *from, const char *to)
{
	const char *s = (const char *)seed->data;
	const char *at = memmem(s, seed->len, from, strlen(from));
	struct rb_buf b = RB_BUF_INIT;
	int r;

	if (!at) {
		fprintf(stderr, "edit: '%s' not in the seed\n", from);
		CHECK(!"edit target missing");
		return -1;
	}
	if (rb_buf_put(&b, s, (size_t)(at - s)) < 0 || rb_buf_put(&b, to, strlen(to)) < 0 ||
	    rb_buf_put(&b, at + strlen(from), seed->len - (size_t)(at - s) - strlen(from)) < 0)
		abort();
	r = compare(b.data, b.len);
	rb_buf_free(&b);
	return r;
}

static void test_edge_cases(void)
{
	struct rb_buf seeds[32];
	size_t n = make_seeds(seeds);
	const struct rb_buf *sign = &seeds[0];
	static const struct {
		const char *from, *to;
		int accept;
	} cases[] = {
		{ "\"version\":1", "\"version\":1", 1 },
		{ "\"version\":1", "\"version\":2", 0 },
		{ "\"version\":1", "\"version\":01", 0 },
		{ "\"version\":1", "\"version\":1.0", 0 },
		{ "\"version\":1", "\"version\":\"1\"", 0 },
		{ "\"version\":1", "\"version\":1 ", 0 },
		{ "\"version\":1", "\"version\":10", 0 },
		{ "\"approvals\"", "\"\\u0061pprovals\"", 0 },
		{ "\"approvals\"", " \"approvals\"", 0 },
		{ "\"approvals\":[", "\"approvals\":[\"x\",", 1 },
		{ "\"approvals\":[", "\"approvals\":[\"\",", 0 },
		{ "\"approvals\":[", "\"approvals\":[1,", 0 },
		{ "\"approvals\":[", "\"approvals\":[[],", 0 },
		{ "build-1\\n", "build-1\\u000a", 0 },
		{ "build-1\\n", "build-1\\u0001", 1 },
		{ "build-1\\n", "build-1\\u001f", 1 },
		{ "build-1\\n", "build-1\\u001F", 0 },
		{ "build-1\\n", "build-1\\u0000", 0 },
		{ "build-1\\n", "build-1\\/", 0 },
		{ "build-1\\n", "build-1/", 1 },
		{ "build-1\\n", "build-1\x7f", 1 },
		{ "build-1\\n", "build-1\x01", 0 },
		{ "build-1\\n", "build-1\xc0\x80", 0 },
		{ "build-1\\n", "build-1\xed\xa0\x80", 0 },
		{ "build-1\\n", "build-1\xef\xbf\xbf", 1 },
		{ "build-1\\n", "build-1\xf4\x90\x80\x80", 0 },
		{ "build-1\\n", "build-1\xf4\x8f\xbf\xbf", 1 },
		{ "build-1\\n", "build-1\\ud83d\\udd11", 0 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"00FF\"", 0 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"0ff\"", 0 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"\"", 0 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"0\\u0030ff\"", 0 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"00ff00ff\"", 1 },
		{ "\"request_id\":\"00ff\"", "\"request_id\":\"00ff", 0 },
		{ "\"signature\":\"", "\"signature\":\"\\/", 0 },
		{ "\"signature\":\"", "\"signature\":\"====", 0 },
		{ "\"signature\":\"", "\"signature\":\"AA==", 0 },
		{ "\"scheme\":\"rsa-pkcs1-sha256\"", "\"scheme\":\"rsa-pkcs1-sha257\"", 0 },
		{ "\"time\":\"2026-11-18T", "\"time\":\"2026-02-30T", 0 },
		{ "\"type\":\"sign\"", "\"type\":\"reject\"", 0 },
		{ "\"type\":\"sign\"", "\"type\":\"Sign\"", 0 },
		{ "\"format\":\"rombsr-audit-entry\"", "\"format\":\"rombsr-audit-entrz\"", 0 },
		{ "\"format\":\"rombsr-audit-entry\",", "", 0 },
		{ "\"format\":\"rombsr-audit-entry\",", "\"format\":\"rombsr-audit-entry\",\"format\":\"rombsr-audit-entry\",", 0 },
		{ "{", "{\"actor\":\"x\",", 0 },
		{ "{", "{\"zzz\":\"x\",", 0 },
		{ "{", " {", 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int r = edited(sign, cases[i].from, cases[i].to);

		if (r != cases[i].accept)
			fprintf(stderr, "case %zu (%s -> %s): got %d\n", i, cases[i].from, cases[i].to, r);
		CHECK(r == cases[i].accept);
	}
	/* An intent's request ids. */
	{
		const struct rb_buf *intent = &seeds[n - 2]; /* three ids */
		const char *first = memmem(intent->data, intent->len, "\"request_ids\":[\"", 16);
		char id0[65];
		static const struct {
			const char *to;
			int accept;
		} idcases[] = {
			{ "\"request_ids\":[]", 0 },
			{ "\"request_ids\":[\"00\"]", 1 },
			{ "\"request_ids\":[\"0\"]", 0 },
			{ "\"request_ids\":[\"\"]", 0 },
			{ "\"request_ids\":[\"00\",\"00\"]", 1 },
			{ "\"request_ids\":[\"00\",]", 0 },
			{ "\"request_ids\":[\"00\" ]", 0 },
			{ "\"request_ids\":[\"0A\"]", 0 },
			{ "\"request_ids\":[\"0\\u0030\"]", 0 },
			{ "\"request_ids\":[00]", 0 },
			{ "\"request_ids\":\"00\"", 0 },
			{ "\"request_ids\":[[\"00\"]]", 0 },
		};

		CHECK(first != NULL);
		memcpy(id0, first + 16, 64);
		id0[64] = '\0';
		for (size_t i = 0; i < ELEMENTSOF(idcases); i++) {
			/* Replace the whole array: up to its closing bracket. */
			const char *end = memchr(first, ']', intent->len - (size_t)(first - (const char *)intent->data));
			_cleanup_free_ char *from = NULL;
			int r;

			CHECK(end != NULL);
			from = strndup(first, (size_t)(end + 1 - first));
			r = edited(intent, from, idcases[i].to);
			if (r != idcases[i].accept)
				fprintf(stderr, "intent case %zu (%s): got %d\n", i, idcases[i].to, r);
			CHECK(r == idcases[i].accept);
		}
		/* One id more than the cap, and a sign entry's key in an intent. */
		{
			const struct rb_buf *full = &seeds[n - 1];
			_cleanup_free_ char *more = NULL;

			CHECK(asprintf(&more, "\"request_ids\":[\"%s\",", id0) > 0);
			CHECK(edited(full, "\"request_ids\":[", more) == 0);
			CHECK(edited(intent, "\"request_ids\"", "\"request_id\":\"00\",\"request_ids\"") == 0);
			CHECK(edited(intent, "\"type\":\"intent\"", "\"type\":\"sign\"") == 0);
		}
	}
	/* Trailing bytes and a truncated entry. */
	{
		struct rb_buf b = RB_BUF_INIT;

		CHECK_OK(rb_buf_put(&b, sign->data, sign->len));
		CHECK_OK(rb_buf_put(&b, "\n", 1));
		CHECK(compare(b.data, b.len) == 0);
		CHECK(compare(b.data, sign->len - 1) == 0);
		CHECK(compare(b.data, 0) == 0);
		rb_buf_free(&b);
	}
	/* The signature's trailing bits must be canonical. */
	{
		const char *p = memmem(sign->data, sign->len, "\"signature\":\"", 13);
		struct rb_buf b = RB_BUF_INIT;
		char *q;

		CHECK(p != NULL);
		CHECK_OK(rb_buf_put(&b, sign->data, sign->len));
		q = (char *)b.data + (p - (const char *)sign->data) + 13;
		q = strchr(q, '"');
		/* 256 bytes end in "g==": the last character carries 2 data
		 * bits and 4 zero bits; 'B' sets one of those. */
		CHECK(q[-1] == '=' && q[-2] == '=' && q[-3] == 'g');
		q[-3] = 'B';
		CHECK(compare(b.data, b.len) == 0);
		rb_buf_free(&b);
	}
	for (size_t i = 0; i < n; i++)
		rb_buf_free(&seeds[i]);
}

/* Every file of the audit_entry fuzz corpus, and every record of the
 * bundles in it. */
static size_t corpus_dir(const char *name)
{
	const char *src = getenv("ROMBSR_SOURCE_DIR");
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;
	size_t files = 0;

	if (!src)
		src = ".";
	CHECK(asprintf(&dir, "%s/fuzz/corpus/%s", src, name) >= 0);
	d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		CHECK(asprintf(&path, "%s/%s", dir, de->d_name) >= 0);
		if (rb_file_read(path, 1 << 20, &data, &len) < 0)
			continue;
		files++;
		compare(data, len);
		/* a bundle: records of u16 length + entry */
		for (size_t off = 0; off + 2 <= len;) {
			size_t el = (size_t)data[off] << 8 | data[off + 1];

			if (off + 2 + el > len)
				break;
			compare(data + off + 2, el);
			off += 2 + el;
		}
	}
	closedir(d);
	return files;
}

static void test_fuzz_corpus(void)
{
	size_t before = n_accepted;

	CHECK(corpus_dir("audit_entry") >= 5);
	CHECK(corpus_dir("audit_entry_diff") >= 8);
	CHECK(n_accepted - before >= 10);
}

/* xorshift: reproducible mutations. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mutate(struct rb_buf *b)
{
	static const char *const tokens[] = {
		"\"", "\\", "\\u00", "\\n", "\\u0001", ",", ":", "{", "}", "[", "]", " ", "1", "0",
		"-", "=", "\xc3\xa9", "\xed\xa0\x80", "\xf0\x9f\x94\x91", "\x7f", "\"x\"",
		"\"key\":\"k\",", "\"detail\":\"d\",", "\"node\":\"", "null", "true",
	};
	size_t pos = b->len ? rnd() % b->len : 0;

	switch (rnd() % 6) {
	case 0: /* flip a bit */
		if (b->len)
			b->data[pos] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 1: /* set a byte */
		if (b->len)
			b->data[pos] = (uint8_t)rnd();
		break;
	case 2: /* delete a run */
		if (b->len) {
			size_t n = 1 + rnd() % 8;

			if (n > b->len - pos)
				n = b->len - pos;
			memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
			b->len -= n;
		}
		break;
	default: { /* insert a token */
		const char *t = tokens[rnd() % ELEMENTSOF(tokens)];
		size_t n = strlen(t);

		if (rb_buf_reserve(b, n) < 0)
			abort();
		memmove(b->data + pos + n, b->data + pos, b->len - pos);
		memcpy(b->data + pos, t, n);
		b->len += n;
		break;
	}
	}
}

static void test_mutations(void)
{
	struct rb_buf seeds[32];
	size_t n = make_seeds(seeds), before = n_accepted;
	const unsigned rounds = 40000;

	for (unsigned r = 0; r < rounds; r++) {
		const struct rb_buf *s = &seeds[r % n];
		struct rb_buf b = RB_BUF_INIT;
		unsigned k = 1 + (unsigned)(rnd() % 3);

		CHECK_OK(rb_buf_put(&b, s->data, s->len));
		for (unsigned j = 0; j < k; j++) {
			mutate(&b);
			compare(b.data, b.len);
		}
		rb_buf_free(&b);
	}
	/* Some mutations must keep an entry valid (e.g. a changed hex digit),
	 * or this test would not be testing acceptance. */
	CHECK(n_accepted - before > 100);
	for (size_t i = 0; i < n; i++)
		rb_buf_free(&seeds[i]);
}

/* The one schema both checkers read: keys sorted by bytes (canonical
 * order and bsearch), each found by its exact name only, every type's
 * required keys among its allowed ones, the common four in every type. */
static void test_schema_table(void)
{
	const uint32_t common = AUDIT_KEY_BIT(AUDIT_K_FORMAT) | AUDIT_KEY_BIT(AUDIT_K_TIME) |
				AUDIT_KEY_BIT(AUDIT_K_TYPE) | AUDIT_KEY_BIT(AUDIT_K_VERSION);

	for (int k = 0; k < AUDIT_KEY_COUNT; k++) {
		const struct audit_key_def *d = &audit_keys[k];
		char longer[64];

		CHECK(d->name && d->len == strlen(d->name) && d->kind != 0);
		if (k > 0)
			CHECK(strcmp(audit_keys[k - 1].name, d->name) < 0);
		CHECK(audit_key_lookup((const uint8_t *)d->name, d->len) == k);
		CHECK(audit_key_rank(d->name, d->len) == k);
		CHECK(audit_key_lookup((const uint8_t *)d->name, d->len - 1) != k);
		snprintf(longer, sizeof(longer), "%s_", d->name);
		CHECK(audit_key_lookup((const uint8_t *)longer, d->len + 1) == -1);
	}
	CHECK(audit_key_lookup((const uint8_t *)"", 0) == -1);
	for (int t = AUDIT_SIGN; t <= AUDIT_HSM_OUTAGE; t++) {
		struct audit_key_mask m = audit_key_masks_of((enum audit_event)t);

		CHECK(audit_event_name((enum audit_event)t) != NULL);
		CHECK((m.required & ~m.allowed) == 0);
		CHECK((m.required & common) == common);
	}
	CHECK(audit_key_masks_of((enum audit_event)(AUDIT_HSM_OUTAGE + 1)).allowed == 0);
}

int main(void)
{
	RUN(test_schema_table);
	RUN(test_seeds_accepted);
	RUN(test_emitter_matches);
	RUN(test_edge_cases);
	RUN(test_fuzz_corpus);
	RUN(test_mutations);
	fprintf(stderr, "compared %zu inputs, %zu accepted\n", n_compared, n_accepted);
	TEST_MAIN_END();
}
