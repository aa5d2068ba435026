/* Unit tests for src/lib/age: every C2SP CCTV vector for the features
 * rombsr implements (counted; the run fails if any is unexpected or
 * missing), a real age CLI file to an ssh-ed25519 key, round trips across
 * chunk boundaries, armor, Bech32, and the attacks decryption must refuse:
 * truncation, extension, header and stanza tampering, mixed scrypt,
 * low-order shares, encrypted SSH keys. */
#include <dirent.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "age/age-internal.h"
#include "age/age.h"
#include "age/bech32.h"
#include "harness.h"
#include "test_keys.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

HARNESS_GLOBALS;

/* 143 CCTV vectors; the 19 ML-KEM hybrid ones are out of scope. */
#define CCTV_TOTAL 143
#define CCTV_SKIPPED 19

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

static const char *src_dir(void)
{
	const char *d = getenv("ROMBSR_SOURCE_DIR");

	return d ? d : ".";
}

static uint8_t *inflate_all(const uint8_t *in, size_t len, size_t *ret_len)
{
	size_t cap = 1 << 20, n;
	uint8_t *out = malloc(cap);
	z_stream z = { 0 };

	for (;;) {
		int r;

		if (!out || inflateInit(&z) != Z_OK)
			abort();
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		r = inflate(&z, Z_FINISH);
		n = z.total_out;
		inflateEnd(&z);
		if (r == Z_STREAM_END)
			break;
		if (r != Z_BUF_ERROR) {
			free(out);
			return NULL;
		}
		cap *= 4;
		out = realloc(out, cap);
	}
	*ret_len = n;
	return out;
}

struct cctv {
	char expect[32];
	char payload_hex[65];
	char identities[4096];
	char passphrase[256];
	bool armored, compressed, has_pass;
	const uint8_t *body;
	size_t body_len;
};

/* Copy a header value; a value that does not fit makes the vector invalid. */
static bool set_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static int cctv_parse(const uint8_t *text, size_t len, struct cctv *v)
{
	size_t pos = 0;

	memset(v, 0, sizeof(*v));
	while (pos < len) {
		const uint8_t *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - text - pos) : len - pos;
		char line[4096];

		if (l == 0) {
			v->body = text + pos + 1;
			v->body_len = len - pos - 1;
			return 0;
		}
		if (l >= sizeof(line))
			return -1;
		memcpy(line, text + pos, l);
		line[l] = '\0';
		if (!strncmp(line, "expect: ", 8)) {
			if (!set_field(v->expect, sizeof(v->expect), line + 8))
				return -1;
		} else if (!strncmp(line, "payload: ", 9)) {
			if (!set_field(v->payload_hex, sizeof(v->payload_hex), line + 9))
				return -1;
		}
		else if (!strncmp(line, "identity: ", 10)) {
			strncat(v->identities, line + 10, sizeof(v->identities) - strlen(v->identities) - 2);
			strcat(v->identities, "\n");
		} else if (!strncmp(line, "passphrase: ", 12)) {
			if (!set_field(v->passphrase, sizeof(v->passphrase), line + 12))
				return -1;
			v->has_pass = true;
		} else if (!strcmp(line, "armored: yes"))
			v->armored = true;
		else if (!strcmp(line, "compressed: zlib"))
			v->compressed = true;
		pos += l + 1;
	}
	return -1;
}

static bool cctv_run_one(const char *name, const uint8_t *text, size_t len)
{
	struct cctv v;
	_cleanup_free_ uint8_t *inflated = NULL, *out = NULL;
	struct rb_secret *id = NULL, *pass = NULL;
	const struct rb_secret *ids[1];
	struct age_decrypt_opts o = { 0 };
	const uint8_t *file;
	size_t flen, olen = 0;
	bool ok;
	int r;

	if (cctv_parse(text, len, &v) < 0) {
		fprintf(stderr, "cctv %s: unparseable vector\n", name);
		return false;
	}
	file = v.body;
	flen = v.body_len;
	if (v.compressed) {
		inflated = inflate_all(v.body, v.body_len, &flen);
		if (!inflated) {
			fprintf(stderr, "cctv %s: zlib body does not inflate\n", name);
			return false;
		}
		file = inflated;
	}
	if (v.identities[0]) {
		id = secret_str(v.identities);
		ids[0] = id;
		o.identities = ids;
		o.n_identities = 1;
	}
	if (v.has_pass) {
		pass = secret_str(v.passphrase);
		o.passphrase = pass;
	}
	o.armored = v.armored;
	rb_err_clear();
	r = age_decrypt(file, flen, &o, &out, &olen);
	if (!strcmp(v.expect, "success")) {
		uint8_t h[32];
		_cleanup_free_ char *hex = NULL;

		ok = r == 0;
		if (ok) {
			SHA256(out, olen, h);
			ok = rb_hex_encode(h, 32, &hex) == 0 && !strcmp(hex, v.payload_hex);
		}
		if (!ok)
			fprintf(stderr, "cctv %s: want success, got %d %s (%s)\n", name, r,
				age_failure_name(age_last_failure()), rb_err_detail());
	} else {
		ok = r < 0 && !out && !strcmp(age_failure_name(age_last_failure()), v.expect);
		if (!ok)
			fprintf(stderr, "cctv %s: want %s, got %d %s (%s)\n", name, v.expect, r,
				r ? age_failure_name(age_last_failure()) : "success", rb_err_detail());
	}
	rb_secret_free(id);
	rb_secret_free(pass);
	return ok;
}

static void test_cctv(void)
{
	char dir[4096], path[4352];
	struct dirent *de;
	size_t passed = 0, failed = 0, skipped = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/vectors/age", src_dir());
	d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ uint8_t *text = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		/* mlkem768x25519 (post-quantum hybrid) needs ML-KEM, which
		 * OpenSSL 3.0 lacks */
		if (!strncmp(de->d_name, "hybrid", 6) || !strcmp(de->d_name, "armor_hybrid")) {
			skipped++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (rb_file_read(path, 16u << 20, &text, &len) < 0) {
			failed++;
			continue;
		}
		if (cctv_run_one(de->d_name, text, len))
			passed++;
		else
			failed++;
	}
	closedir(d);
	printf("cctv: %zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
	CHECK(failed == 0);
	CHECK(skipped == CCTV_SKIPPED);
	CHECK(passed == CCTV_TOTAL - CCTV_SKIPPED);
}

static int encrypt_to(const char *rcpt, const uint8_t *pt, size_t len, bool armor, uint8_t **ret,
		      size_t *ret_len)
{
	const char *r[1] = { rcpt };
	struct age_encrypt_opts o = { .recipients = r, .n_recipients = 1, .armor = armor };

	return age_encrypt(pt, len, &o, ret, ret_len);
}

static int decrypt_with(const struct rb_secret *id, const uint8_t *in, size_t len, uint8_t **ret,
			size_t *ret_len)
{
	const struct rb_secret *ids[1] = { id };
	struct age_decrypt_opts o = { .identities = ids, .n_identities = 1 };

	return age_decrypt(in, len, &o, ret, ret_len);
}

/* Sizes around the 64 KiB chunk boundary, binary and armored. */
static void test_roundtrip_x25519(void)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 3 * 65536, 200000 };
	struct rb_secret *id = NULL;
	char *rcpt = NULL, *rcpt2 = NULL;
	uint8_t *pt = malloc(200000);
	size_t i;

	CHECK_OK(age_x25519_generate(&id, &rcpt));
	if (!id || !pt)
		return;
	CHECK(!strncmp((char *)id->data, "AGE-SECRET-KEY-1", 16) && !strncmp(rcpt, "age1", 4));
	CHECK_OK(age_identity_to_recipient(id, &rcpt2));
	CHECK(rcpt2 && !strcmp(rcpt, rcpt2));
	CHECK_OK(age_recipient_check(rcpt));
	CHECK_OK(rb_random_bytes(pt, 200000));
	for (i = 0; i < ELEMENTSOF(sizes); i++) {
		for (int armor = 0; armor < 2; armor++) {
			_cleanup_free_ uint8_t *ct = NULL, *back = NULL;
			size_t clen = 0, blen = 0;

			CHECK_OK(encrypt_to(rcpt, pt, sizes[i], armor, &ct, &clen));
			CHECK_OK(decrypt_with(id, ct, clen, &back, &blen));
			CHECK(back && blen == sizes[i] && !memcmp(back, pt, blen));
			CHECK(age_last_failure() == AGE_FAIL_NONE);
		}
	}
	/* the rb_secret variant */
	{
		_cleanup_free_ uint8_t *ct = NULL;
		const struct rb_secret *ids[1] = { id };
		struct age_decrypt_opts o = { .identities = ids, .n_identities = 1 };
		struct rb_secret *s = NULL;
		size_t clen = 0;

		CHECK_OK(encrypt_to(rcpt, (const uint8_t *)"wrap key share", 14, true, &ct, &clen));
		CHECK_OK(age_decrypt_secret(ct, clen, &o, &s));
		CHECK(s && rb_ct_equal(s->data, s->len, "wrap key share", 14));
		rb_secret_free(s);
	}
	/* locked memory is capped at 1 MiB: a bigger plaintext is refused
	 * whole, never truncated */
	{
		const size_t big = AGE_MAX_SECRET_PLAINTEXT + 1;
		uint8_t *p = calloc(1, big);
		_cleanup_free_ uint8_t *ct = NULL;
		const struct rb_secret *ids[1] = { id };
		struct age_decrypt_opts o = { .identities = ids, .n_identities = 1 };
		struct rb_secret *s = NULL;
		size_t clen = 0;

		CHECK_OK(encrypt_to(rcpt, p, big, false, &ct, &clen));
		CHECK_ERR(age_decrypt_secret(ct, clen, &o, &s), RB_E_TOOBIG);
		CHECK(!s && age_last_failure() == AGE_FAIL_OTHER);
		free(p);
	}
	free(pt);
	free(rcpt);
	free(rcpt2);
	rb_secret_free(id);
}

static void test_multiple_recipients(void)
{
	struct rb_secret *a = NULL, *b = NULL, *c = NULL;
	char *ra = NULL, *rb = NULL, *rc = NULL;
	_cleanup_free_ uint8_t *ct = NULL, *out = NULL;
	size_t clen = 0, olen = 0;

	CHECK_OK(age_x25519_generate(&a, &ra));
	CHECK_OK(age_x25519_generate(&b, &rb));
	CHECK_OK(age_x25519_generate(&c, &rc));
	{
		const char *r[3] = { ra, rb, test_ssh_key1_pub };
		struct age_encrypt_opts o = { .recipients = r, .n_recipients = 3 };

		CHECK_OK(age_encrypt((const uint8_t *)"x", 1, &o, &ct, &clen));
	}
	CHECK_OK(decrypt_with(b, ct, clen, &out, &olen));
	CHECK(olen == 1 && out && out[0] == 'x');
	free(out);
	out = NULL;
	/* a non-recipient: no match, and no output */
	CHECK_ERR(decrypt_with(c, ct, clen, &out, &olen), RB_E_KEY);
	CHECK(age_last_failure() == AGE_FAIL_NO_MATCH && !out);
	{
		struct rb_secret *k = secret_str(test_ssh_key1);

		CHECK_OK(decrypt_with(k, ct, clen, &out, &olen));
		CHECK(olen == 1 && out && out[0] == 'x');
		rb_secret_free(k);
	}
	rb_secret_free(a);
	rb_secret_free(b);
	rb_secret_free(c);
	free(ra);
	free(rb);
	free(rc);
}

static void test_ssh(void)
{
	struct rb_secret *k1 = secret_str(test_ssh_key1), *k2 = secret_str(test_ssh_key2_encrypted);
	_cleanup_free_ uint8_t *out = NULL, *ct = NULL, *back = NULL;
	char *rcpt = NULL;
	size_t olen = 0, clen = 0, blen = 0;

	/* a file from the real age CLI */
	CHECK_OK(decrypt_with(k1, (const uint8_t *)test_age_cli_to_key1, strlen(test_age_cli_to_key1),
			      &out, &olen));
	CHECK(out && olen == 27 && !memcmp(out, "share file for custodian 1\n", 27));
	/* the recipient derived from the private key is the .pub line */
	CHECK_OK(age_identity_to_recipient(k1, &rcpt));
	CHECK(rcpt && !strncmp(rcpt, test_ssh_key1_pub, strlen(rcpt)));
	CHECK_OK(encrypt_to(test_ssh_key1_pub, (const uint8_t *)"abc", 3, false, &ct, &clen));
	CHECK_OK(decrypt_with(k1, ct, clen, &back, &blen));
	CHECK(blen == 3 && back && !memcmp(back, "abc", 3));
	/* passphrase-protected OpenSSH keys are refused, clearly */
	free(back);
	back = NULL;
	rb_err_clear();
	CHECK_ERR(decrypt_with(k2, ct, clen, &back, &blen), RB_E_UNSUPPORTED);
	CHECK(strstr(rb_err_detail(), "passphrase-protected") != NULL && !back);
	/* other SSH key types and corrupted blobs are refused when encrypting */
	CHECK_ERR(age_recipient_check("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCSxG4W0hn"),
		  RB_E_UNSUPPORTED);
	CHECK_ERR(age_recipient_check("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL3o/i9dSfuc33OT5Kx0FpgHj/67B7oTyjH/GTvhK34"),
		  RB_E_PARSE);
	free(rcpt);
	rb_secret_free(k1);
	rb_secret_free(k2);
}

static void test_scrypt(void)
{
	struct rb_secret *pass = secret_str("correct horse battery"), *bad = secret_str("wrong");
	struct age_encrypt_opts eo = { .passphrase = pass, .scrypt_log_n = 10, .armor = true };
	struct age_decrypt_opts d1 = { .passphrase = pass }, d2 = { .passphrase = bad };
	_cleanup_free_ uint8_t *ct = NULL, *out = NULL;
	size_t clen = 0, olen = 0;
	char *rcpt = NULL;
	struct rb_secret *id = NULL;

	CHECK_OK(age_encrypt((const uint8_t *)"pp", 2, &eo, &ct, &clen));
	CHECK_OK(age_decrypt(ct, clen, &d1, &out, &olen));
	CHECK(olen == 2 && out && !memcmp(out, "pp", 2));
	free(out);
	out = NULL;
	CHECK_ERR(age_decrypt(ct, clen, &d2, &out, &olen), RB_E_KEY);
	CHECK(age_last_failure() == AGE_FAIL_NO_MATCH);
	/* the work factor of a file is capped: 10 over a cap of 9 is refused
	 * before any scrypt work */
	d1.scrypt_max_log_n = 9;
	CHECK_ERR(age_decrypt(ct, clen, &d1, &out, &olen), RB_E_PARSE);
	CHECK(age_last_failure() == AGE_FAIL_HEADER);
	/* scrypt cannot be combined with recipients */
	CHECK_OK(age_x25519_generate(&id, &rcpt));
	{
		const char *r[1] = { rcpt };
		struct age_encrypt_opts both = { .recipients = r, .n_recipients = 1, .passphrase = pass };
		uint8_t *x = NULL;
		size_t xl = 0;

		CHECK_ERR(age_encrypt((const uint8_t *)"pp", 2, &both, &x, &xl), RB_E_INVAL);
		CHECK(!x);
	}
	{
		struct age_encrypt_opts hi = { .passphrase = pass, .scrypt_log_n = 23 };
		uint8_t *x = NULL;
		size_t xl = 0;

		CHECK_ERR(age_encrypt((const uint8_t *)"pp", 2, &hi, &x, &xl), RB_E_INVAL);
	}
	free(rcpt);
	rb_secret_free(id);
	rb_secret_free(pass);
	rb_secret_free(bad);
}

/* Tampering: every modification of a file must be refused with the
 * right class, and no plaintext is released. */
static void test_tamper(void)
{
	struct rb_secret *id = NULL;
	char *rcpt = NULL;
	uint8_t *pt = calloc(1, 150000);
	_cleanup_free_ uint8_t *ct = NULL;
	size_t clen = 0, hdr_end, i;
	uint8_t *out = NULL;
	size_t olen = 0;

	CHECK_OK(age_x25519_generate(&id, &rcpt));
	CHECK_OK(encrypt_to(rcpt, pt, 150000, false, &ct, &clen));
	if (!ct || !pt)
		return;
	hdr_end = (size_t)((uint8_t *)memmem(ct, clen, "\n--- ", 5) - ct) + 1;

	/* truncation at a chunk boundary: the new last chunk was sealed as
	 * non-final */
	CHECK_ERR(decrypt_with(id, ct, clen - (150000 - 2 * 65536) - 16, &out, &olen), RB_E_CRYPTO);
	CHECK(age_last_failure() == AGE_FAIL_PAYLOAD && !out);
	/* truncation inside a chunk, extension, a flipped payload bit */
	CHECK_ERR(decrypt_with(id, ct, clen - 1, &out, &olen), RB_E_CRYPTO);
	{
		uint8_t *ext = malloc(clen + 17);

		memcpy(ext, ct, clen);
		memset(ext + clen, 0, 17);
		CHECK_ERR(decrypt_with(id, ext, clen + 17, &out, &olen), RB_E_CRYPTO);
		CHECK(!out);
		free(ext);
	}
	ct[clen - 100] ^= 1;
	CHECK_ERR(decrypt_with(id, ct, clen, &out, &olen), RB_E_CRYPTO);
	ct[clen - 100] ^= 1;
	/* a changed stanza body: the file key no longer unwraps */
	for (i = 0; i < hdr_end && ct[i] != '\n'; i++)
		;
	i = (size_t)((uint8_t *)memchr(ct + i + 1, '\n', clen - i - 1) - ct) + 1; /* body line */
	{
		uint8_t orig = ct[i + 3];

		ct[i + 3] = orig == 'A' ? 'B' : 'A';
		CHECK(decrypt_with(id, ct, clen, &out, &olen) < 0 && !out);
		ct[i + 3] = orig;
	}
	/* an added grease stanza keeps the file key but breaks the MAC */
	{
		const char grease[] = "-> grease x\n\n";
		size_t glen = strlen(grease), first = (size_t)((uint8_t *)memchr(ct, '\n', clen) - ct) + 1;
		uint8_t *g = malloc(clen + glen);

		memcpy(g, ct, first);
		memcpy(g + first, grease, glen);
		memcpy(g + first + glen, ct + first, clen - first);
		CHECK_ERR(decrypt_with(id, g, clen + glen, &out, &olen), RB_E_VERIFY);
		CHECK(age_last_failure() == AGE_FAIL_HMAC && !out);
		free(g);
	}
	/* the untouched file still opens */
	CHECK_OK(decrypt_with(id, ct, clen, &out, &olen));
	CHECK(olen == 150000);
	free(out);
	free(pt);
	free(rcpt);
	rb_secret_free(id);
}

static void test_bech32(void)
{
	uint8_t buf[64];
	size_t n = 0;
	char *s = NULL;
	static const uint8_t data[5] = { 0, 1, 2, 3, 255 };

	/* BIP-173 valid strings */
	CHECK_OK(bech32_decode("A12UEL5L", 8, "a", buf, sizeof(buf), &n));
	CHECK(n == 0);
	CHECK_OK(bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", 45, "abcdef", buf,
			       sizeof(buf), &n));
	CHECK(n == 20);
	/* mixed case, bad checksum, wrong prefix, bad character */
	CHECK_ERR(bech32_decode("A12uEL5L", 8, "a", buf, sizeof(buf), &n), RB_E_PARSE);
	CHECK_ERR(bech32_decode("A12UEL5K", 8, "a", buf, sizeof(buf), &n), RB_E_PARSE);
	CHECK_ERR(bech32_decode("A12UEL5L", 8, "b", buf, sizeof(buf), &n), RB_E_PARSE);
	CHECK_ERR(bech32_decode("a1bqpzry9x8", 11, "a", buf, sizeof(buf), &n), RB_E_PARSE);
	CHECK_OK(bech32_encode("age", data, sizeof(data), false, &s));
	CHECK_OK(bech32_decode(s, strlen(s), "age", buf, sizeof(buf), &n));
	CHECK(n == 5 && !memcmp(buf, data, 5));
	/* a single mistyped character in a recipient is caught */
	s[6] = s[6] == 'q' ? 'p' : 'q';
	CHECK_ERR(bech32_decode(s, strlen(s), "age", buf, sizeof(buf), &n), RB_E_PARSE);
	free(s);
	CHECK_ERR(age_recipient_check("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gr"),
		  RB_E_PARSE);
	CHECK_OK(age_recipient_check("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"));
	CHECK_ERR(age_recipient_check("AGE1XYZ"), RB_E_PARSE);
}

static void test_identity_files(void)
{
	struct rb_secret *id = NULL, *file, *bad;
	char *rcpt = NULL, text[512];
	_cleanup_free_ uint8_t *ct = NULL, *out = NULL;
	size_t clen = 0, olen = 0;

	CHECK_OK(age_x25519_generate(&id, &rcpt));
	snprintf(text, sizeof(text), "# created: now\r\n# public key: %s\n\n%s\n", rcpt,
		 (char *)id->data);
	file = secret_str(text);
	CHECK_OK(encrypt_to(rcpt, (const uint8_t *)"k", 1, false, &ct, &clen));
	CHECK_OK(decrypt_with(file, ct, clen, &out, &olen));
	bad = secret_str("AGE-SECRET-KEY-1QQQ\n");
	rb_err_clear();
	CHECK_ERR(decrypt_with(bad, ct, clen, &out, &olen), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "line 1") != NULL);
	rb_secret_free(bad);
	rb_secret_free(file);
	rb_secret_free(id);
	free(rcpt);
}

static void test_args(void)
{
	uint8_t *out = NULL;
	size_t olen = 0;
	struct age_decrypt_opts none = { 0 };
	struct age_encrypt_opts eo = { 0 };

	/* no identity and no passphrase: nothing can match */
	CHECK_ERR(age_decrypt((const uint8_t *)"x", 1, &none, &out, &olen), RB_E_PARSE);
	CHECK_ERR(age_encrypt((const uint8_t *)"x", 1, &eo, &out, &olen), RB_E_INVAL);
	CHECK_ERR(age_encrypt(NULL, (size_t)AGE_MAX_PLAINTEXT + 1, &eo, &out, &olen), RB_E_INVAL);
	CHECK(!out);
	CHECK(!strcmp(age_failure_name(AGE_FAIL_ARMOR), "armor failure"));
}

int main(void)
{
	RUN(test_cctv);
	RUN(test_bech32);
	RUN(test_roundtrip_x25519);
	RUN(test_multiple_recipients);
	RUN(test_ssh);
	RUN(test_scrypt);
	RUN(test_tamper);
	RUN(test_identity_files);
	RUN(test_args);
	TEST_MAIN_END();
}
