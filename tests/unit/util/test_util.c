#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

HARNESS_GLOBALS;

static void test_reader_bounds(void)
{
	const uint8_t data[] = { 1, 2, 3, 4, 5 };
	struct rb_reader r;
	uint32_t v32;
	uint16_t v16;
	const uint8_t *p;

	rb_reader_init(&r, data, sizeof(data));
	CHECK_OK(rb_reader_get_u32be(&r, &v32));
	CHECK(v32 == 0x01020304);
	/* A short read fails and leaves the reader where it was. */
	CHECK_ERR(rb_reader_get_u16be(&r, &v16), RB_E_PARSE);
	CHECK(r.len == 1);
	CHECK_ERR(rb_reader_expect_end(&r), RB_E_PARSE);
	CHECK_ERR(rb_reader_get_bytes(&r, SIZE_MAX, &p), RB_E_PARSE);
	CHECK_OK(rb_reader_skip(&r, 1));
	CHECK_OK(rb_reader_expect_end(&r));
}

static void test_buf_cap(void)
{
	struct rb_buf b = RB_BUF_INIT;

	b.cap = 8;
	CHECK_OK(rb_buf_put(&b, "12345678", 8));
	CHECK_ERR(rb_buf_put_u8(&b, 'x'), RB_E_TOOBIG);
	CHECK(b.len == 8);
	rb_buf_free(&b);
	CHECK(b.data == NULL);
}

static void test_base64_strict(void)
{
	uint8_t *out = NULL;
	size_t n;
	char *s = NULL;

	CHECK_OK(rb_base64_encode((const uint8_t *)"fo", 2, true, &s));
	CHECK(strcmp(s, "Zm8=") == 0);
	free(s);
	CHECK_OK(rb_base64_decode("Zm8=", 4, true, &out, &n));
	CHECK(n == 2 && memcmp(out, "fo", 2) == 0);
	free(out);
	/* non-canonical trailing bits, bad chars and missing padding are rejected */
	CHECK_ERR(rb_base64_decode("Zm9=", 4, true, &out, &n), RB_E_PARSE);
	CHECK_ERR(rb_base64_decode("Zm*=", 4, true, &out, &n), RB_E_PARSE);
	CHECK_ERR(rb_base64_decode("Zm8", 3, true, &out, &n), RB_E_PARSE);
	CHECK_OK(rb_base64_decode("Zm8", 3, false, &out, &n));
	free(out);
	CHECK_ERR(rb_hex_decode("0g", 2, &out, &n), RB_E_PARSE);
}

static void test_ct_equal(void)
{
	CHECK(rb_ct_equal("abc", 3, "abc", 3));
	CHECK(!rb_ct_equal("abc", 3, "abd", 3));
	CHECK(!rb_ct_equal("abc", 3, "abcd", 4));
}

static void test_secret_file_excl(void)
{
	char dir[] = "/tmp/rombsr-test-XXXXXX";
	char path[512];
	struct stat st;
	uint8_t *data = NULL;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/secret", dir);
	CHECK_OK(rb_file_create_secret(path, "pin", 3));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* never overwrites */
	CHECK_ERR(rb_file_create_secret(path, "new", 3), RB_E_EXISTS);
	CHECK_OK(rb_file_read(path, 100, &data, &n));
	CHECK(n == 3 && memcmp(data, "pin", 3) == 0);
	free(data);
	/* oversized input is refused without reading it all */
	CHECK_ERR(rb_file_read(path, 2, &data, &n), RB_E_TOOBIG);
	CHECK_OK(rb_file_write_atomic(path, "replaced", 8, 0644));
	CHECK_OK(rb_file_read(path, 100, &data, &n));
	CHECK(n == 8);
	free(data);
	unlink(path);
	rmdir(dir);
}

static size_t count_entries(const char *dir)
{
	char cmd[600];
	FILE *f;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	if (!(f = popen(cmd, "r")))
		return (size_t)-1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

static void test_files_write_atomic(void)
{
	char dir[] = "/tmp/rombsr-test-XXXXXX";
	char a[512], b[512], sub[512], c[512], bad[512];
	struct stat st;
	uint8_t *data = NULL;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(a, sizeof(a), "%s/a.sig", dir);
	snprintf(b, sizeof(b), "%s/b.apk", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(c, sizeof(c), "%s/sub/c.asc", dir);
	snprintf(bad, sizeof(bad), "%s/missing/d.sig", dir);
	CHECK(mkdir(sub, 0755) == 0);
	CHECK_OK(rb_file_write_atomic(b, "old apk", 7, 0644));
	{
		struct rb_file_out files[] = {
			{ a, "sig-a", 5, 0644 }, { b, "new apk", 7, 0755 }, { c, "sig-c", 5, 0600 },
		};

		CHECK_OK(rb_files_write_atomic(files, 3));
	}
	CHECK_OK(rb_file_read(b, 100, &data, &n));
	CHECK(n == 7 && memcmp(data, "new apk", 7) == 0);
	free(data);
	CHECK(stat(b, &st) == 0 && (st.st_mode & 0777) == 0755);
	CHECK(stat(c, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(count_entries(dir) == 3 && count_entries(sub) == 1); /* no temporaries left */
	/* One file that cannot be written: nothing is replaced. */
	{
		struct rb_file_out files[] = { { b, "newer!!", 7, 0644 }, { bad, "x", 1, 0644 } };

		CHECK_ERR(rb_files_write_atomic(files, 2), RB_E_IO);
	}
	CHECK_OK(rb_file_read(b, 100, &data, &n));
	CHECK(n == 7 && memcmp(data, "new apk", 7) == 0);
	free(data);
	CHECK(count_entries(dir) == 3);
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(sub);
	rmdir(dir);
}

static void test_secret_alloc(void)
{
	struct rb_secret *s = NULL;

	CHECK_OK(rb_secret_new(100, &s));
	CHECK(s && s->size >= 100 && s->data[0] == 0);
	rb_secret_free(s);
	rb_secret_free(NULL);
	CHECK_ERR(rb_secret_new(64 * 1024 * 1024, &s), RB_E_TOOBIG);
}

int main(void)
{
	RUN(test_reader_bounds);
	RUN(test_buf_cap);
	RUN(test_base64_strict);
	RUN(test_ct_equal);
	RUN(test_secret_file_excl);
	RUN(test_secret_alloc);
	RUN(test_files_write_atomic);
	TEST_MAIN_END();
}
