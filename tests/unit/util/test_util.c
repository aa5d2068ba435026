#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/idmap.h"
#include "util/secret.h"
#include "util/tree.h"

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

/* A detail belongs to the error it was set with: an earlier failure's
 * detail, naming another input, is never the message of a later error of
 * another code that came back bare. */
static void test_err_stale_detail(void)
{
	char saved[RB_ERR_DETAIL_MAX];

	rb_err_clear();
	CHECK(!rb_err_has_detail(RB_E_PARSE));
	CHECK(strcmp(rb_err_message(RB_E_PARSE), rb_strerror(RB_E_PARSE)) == 0);
	CHECK_ERR(rb_err_set(RB_E_NOTFOUND, "first.json: no such file"), RB_E_NOTFOUND);
	CHECK(rb_err_has_detail(RB_E_NOTFOUND));
	CHECK(strcmp(rb_err_message(RB_E_NOTFOUND), "first.json: no such file") == 0);
	/* A later, different error that set no detail of its own. */
	CHECK(!rb_err_has_detail(RB_E_PARSE));
	CHECK(strstr(rb_err_message(RB_E_PARSE), "first.json") == NULL);
	CHECK(strcmp(rb_err_message(RB_E_PARSE), "malformed input") == 0);
	/* Wrapping and saving a bare error do not pick the stale detail up. */
	CHECK_ERR(rb_err_prefix(RB_E_PARSE, "second.json"), RB_E_PARSE);
	CHECK(strcmp(rb_err_message(RB_E_PARSE), "second.json: malformed input") == 0);
	rb_err_set(RB_E_IO, "third.json: disk full");
	rb_err_save(RB_E_VERIFY, saved);
	CHECK(strcmp(saved, "verification failed") == 0);
	rb_err_save(RB_E_IO, saved);
	CHECK(strcmp(saved, "third.json: disk full") == 0);
	/* A parse failure reported as "does not verify" keeps its detail;
	 * recoding an error that has none moves nothing. */
	rb_err_set(RB_E_PARSE, "record 3 is cut short");
	CHECK(rb_err_prefix(rb_err_recode(RB_E_PARSE, RB_E_VERIFY), "entry 3") == RB_E_VERIFY);
	CHECK(strcmp(rb_err_message(RB_E_VERIFY), "entry 3: record 3 is cut short") == 0);
	CHECK(rb_err_recode(RB_E_IO, RB_E_STATE) == RB_E_STATE);
	CHECK(!rb_err_has_detail(RB_E_STATE) && rb_err_has_detail(RB_E_VERIFY));
	/* RB_OK never has a detail; clearing forgets it. */
	CHECK(!rb_err_has_detail(RB_OK));
	rb_err_clear();
	CHECK(!rb_err_has_detail(RB_E_IO));
	CHECK(strcmp(rb_err_message(RB_E_IO), "I/O error") == 0);
}

/* One table maps each error to its text and exit code (docs/EXIT-CODES.md). */
static void test_err_table(void)
{
	for (int e = RB_E_LAST; e <= RB_OK; e++) {
		CHECK(strcmp(rb_strerror(e), "unknown error") != 0);
		CHECK(rb_exit_code(e) >= EXIT_OK && rb_exit_code(e) <= EXIT_RETRY);
	}
	CHECK(rb_exit_code(RB_OK) == EXIT_OK);
	CHECK(rb_exit_code(RB_E_INVAL) == EXIT_USAGE);
	CHECK(rb_exit_code(RB_E_PARSE) == EXIT_BAD_INPUT && rb_exit_code(RB_E_TOOBIG) == EXIT_BAD_INPUT);
	CHECK(rb_exit_code(RB_E_KEY) == EXIT_NOT_FOUND && rb_exit_code(RB_E_TOKEN) == EXIT_NOT_FOUND);
	CHECK(rb_exit_code(RB_E_PIN) == EXIT_AUTH && rb_exit_code(RB_E_PERM) == EXIT_AUTH);
	CHECK(rb_exit_code(RB_E_LIMIT) == EXIT_HSM && rb_exit_code(RB_E_STATE) == EXIT_HSM);
	CHECK(rb_exit_code(RB_E_VERIFY) == EXIT_VERIFY);
	CHECK(rb_exit_code(RB_E_ROLLBACK) == EXIT_ROLLBACK);
	CHECK(rb_exit_code(RB_E_AGAIN) == EXIT_RETRY && rb_exit_code(RB_E_GONE) == EXIT_RETRY);
	CHECK(rb_exit_code(RB_E_CRYPTO) == EXIT_INTERNAL && rb_exit_code(RB_E_NOMEM) == EXIT_INTERNAL);
	/* Outside the table. */
	CHECK(rb_exit_code(RB_E_LAST - 1) == EXIT_INTERNAL && rb_exit_code(1) == EXIT_INTERNAL);
	CHECK(strcmp(rb_strerror(RB_E_LAST - 1), "unknown error") == 0);
	CHECK(strcmp(rb_strerror(RB_E_PARSE), "malformed input") == 0);
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

	/* rb_base64_check() accepts exactly what the decoder accepts. */
	CHECK(rb_base64_check("Zm9v", 4, true, &n) && n == 3);
	CHECK(rb_base64_check("Zm8=", 4, true, &n) && n == 2);
	CHECK(rb_base64_check("Zg==", 4, true, &n) && n == 1);
	CHECK(rb_base64_check("", 0, true, &n) && n == 0);
	CHECK(rb_base64_check("Zg", 2, false, &n) && n == 1);
	CHECK(!rb_base64_check("Zh==", 4, true, &n));  /* trailing bits set */
	CHECK(!rb_base64_check("Zg=", 3, true, &n));   /* short padding */
	CHECK(!rb_base64_check("Z===", 4, true, &n));  /* three '=' */
	CHECK(!rb_base64_check("====", 4, true, &n));
	CHECK(!rb_base64_check("Zg==Zg==", 8, true, &n)); /* padding inside */
	CHECK(!rb_base64_check("Zg==", 4, false, &n)); /* padding where none belongs */
	CHECK(!rb_base64_check("Zm9vZ", 5, false, &n)); /* a lone digit */
	CHECK(!rb_base64_check("Zm9\0", 4, true, &n));
	CHECK(!rb_base64_check("Zm-_", 4, true, &n));  /* base64url is not base64 */
	CHECK_ERR(rb_base64_decode("Zh==", 4, true, &out, &n), RB_E_PARSE);
	CHECK_ERR(rb_base64_decode("Zm9vZ", 5, false, &out, &n), RB_E_PARSE);
	CHECK(rb_base64_digit('A') == 0 && rb_base64_digit('/') == 63 && rb_base64_digit('=') == -1 &&
	      rb_base64_digit((char)0xc3) == -1);
	/* Every length round-trips, with and without padding. */
	for (size_t len = 0; len < 40; len++) {
		uint8_t in[40];

		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)(i * 37 + len);
		for (int pad = 0; pad < 2; pad++) {
			CHECK_OK(rb_base64_encode(in, len, pad, &s));
			CHECK(rb_base64_check(s, strlen(s), pad, &n) && n == len);
			CHECK_OK(rb_base64_decode(s, strlen(s), pad, &out, &n));
			CHECK(n == len && memcmp(out, in, len) == 0);
			free(out);
			free(s);
		}
	}
}

/* The one hex encoder and lowercase-hex checker: rombsr writes and accepts
 * lowercase only (ids, digests, commit ids), uppercase only where gpg
 * prints a fingerprint. */
static void test_hex_lower(void)
{
	const uint8_t id[4] = { 0x00, 0xab, 0x7f, 0xff };
	uint8_t out[4] = { 0 }, keep[4] = { 1, 2, 3, 4 };
	char s[9];

	rb_hex_format(id, 4, s);
	CHECK(strcmp(s, "00ab7fff") == 0);
	rb_hex_format_upper(id, 4, s);
	CHECK(strcmp(s, "00AB7FFF") == 0);
	rb_hex_format(id, 0, s);
	CHECK(s[0] == '\0');

	CHECK(rb_hex_is_lower("0123456789abcdef", 16));
	CHECK(rb_hex_is_lower("", 0));
	CHECK(!rb_hex_is_lower("00AB", 4));
	CHECK(!rb_hex_is_lower("00g0", 4));
	/* A NUL inside the length is not hex: a short string never passes. */
	CHECK(!rb_hex_is_lower("00a", 4));
	/* Only n chars are looked at. */
	CHECK(rb_hex_is_lower("00aZ", 3));

	CHECK_OK(rb_hex_decode_lower("00ab7fff", 8, out, 4));
	CHECK(memcmp(out, id, 4) == 0);
	memcpy(out, keep, 4);
	CHECK_ERR(rb_hex_decode_lower("00AB7FFF", 8, out, 4), RB_E_PARSE);
	CHECK_ERR(rb_hex_decode_lower("00ab7ff", 7, out, 4), RB_E_PARSE);
	CHECK_ERR(rb_hex_decode_lower("00ab7fff00", 10, out, 4), RB_E_PARSE);
	CHECK_ERR(rb_hex_decode_lower("00ab 7ff", 8, out, 4), RB_E_PARSE);
	CHECK(memcmp(out, keep, 4) == 0);

	CHECK(rb_hex_digit('F') == 15 && rb_hex_digit('a') == 10 && rb_hex_digit('9') == 9);
	CHECK(rb_hex_digit('g') == -1 && rb_hex_digit((char)0xe1) == -1 && rb_hex_digit('\0') == -1);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* rb_fd_write_all: every byte through a pipe that takes a little at a time
 * (short writes) while signals interrupt the writer (EINTR); an error is
 * -1 with errno, never a silent partial write. */
static void test_fd_write_all(void)
{
	const size_t len = 4u << 20;
	_cleanup_free_ uint8_t *data = malloc(len);
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval tick = { { 0, 2000 }, { 0, 2000 } }, stop = { { 0, 0 }, { 0, 0 } };
	int p[2], status, fd;
	pid_t pid;

	CHECK(data != NULL);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 12));
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		uint8_t buf[1000];
		size_t got = 0;
		ssize_t n;
		bool same = true;

		close(p[1]);
		/* The pipe fills while this sleeps: the writer's next call
		 * blocks before writing anything, and the timer's signal makes
		 * it EINTR. */
		usleep(20000);
		while ((n = read(p[0], buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				same &= buf[i] == (uint8_t)((got + (size_t)i) * 7 + ((got + (size_t)i) >> 12));
			got += (size_t)n;
			/* Slower than the writer: short writes too. */
			if (got % (64u << 10) < sizeof(buf))
				usleep(1000);
		}
		_exit(got == len && same ? 0 : 1);
	}
	close(p[0]);
	/* No SA_RESTART: a blocked write() returns EINTR or a short count. */
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGALRM, &sa, &old) == 0);
	CHECK(setitimer(ITIMER_REAL, &tick, NULL) == 0);
	CHECK(rb_fd_write_all(p[1], data, len) == 0);
	CHECK(setitimer(ITIMER_REAL, &stop, NULL) == 0);
	CHECK(sigaction(SIGALRM, &old, NULL) == 0);
	close(p[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A full disk is an error with its errno. */
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		errno = 0;
		CHECK(rb_fd_write_all(fd, data, 10) == -1 && errno == ENOSPC);
		close(fd);
	}
	/* Nothing to write is success, even on a bad descriptor. */
	CHECK(rb_fd_write_all(-1, data, 0) == 0);
	errno = 0;
	CHECK(rb_fd_write_all(-1, data, 1) == -1 && errno == EBADF);
}

/* The one hash table: every key found after growing, a second put keeps
 * the first value, keys that share their first 8 bytes (one slot) are
 * told apart by all 32, and clear leaves an empty, usable map. */
static void test_idmap(void)
{
	struct rb_idmap m = RB_IDMAP_INIT;
	uint8_t k[RB_IDMAP_KEY_LEN], same8[RB_IDMAP_KEY_LEN];
	uint64_t *v;
	bool had;

	memset(k, 0, sizeof(k));
	CHECK(rb_idmap_get(&m, k) == NULL);
	for (uint32_t i = 0; i < 5000; i++) {
		rb_idmap_key_str((const char *)&i, sizeof(i), k);
		CHECK_OK(rb_idmap_put(&m, k, i, &had, &v));
		CHECK(!had && *v == i);
	}
	CHECK(m.n == 5000 && m.cap >= 10000);
	for (uint32_t i = 0; i < 5000; i++) {
		rb_idmap_key_str((const char *)&i, sizeof(i), k);
		CHECK((v = rb_idmap_get(&m, k)) != NULL && *v == i);
	}
	rb_idmap_key_str("7", 1, k);
	CHECK_OK(rb_idmap_put(&m, k, 1, &had, &v));
	CHECK_OK(rb_idmap_put(&m, k, 2, &had, &v));
	CHECK(had && *v == 1 && m.n == 5001);
	/* The same first 8 bytes, another key. */
	memcpy(same8, k, sizeof(same8));
	same8[31] ^= 1;
	CHECK(rb_idmap_get(&m, same8) == NULL);
	CHECK_OK(rb_idmap_put(&m, same8, 3, &had, NULL));
	CHECK(!had && *rb_idmap_get(&m, same8) == 3 && *rb_idmap_get(&m, k) == 1);
	rb_idmap_clear(&m);
	CHECK(m.n == 0 && m.cap == 0 && rb_idmap_get(&m, k) == NULL);
	CHECK_OK(rb_idmap_put(&m, k, 9, NULL, NULL));
	CHECK(*rb_idmap_get(&m, k) == 9);
	rb_idmap_clear(&m);
	rb_idmap_clear(&m);
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

/* Count the directory's entries (besides . and ..). */
static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return SIZE_MAX;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The temporary every atomic write starts with: its name, its exact mode
 * whatever the umask, O_EXCL, and nothing left behind on failure. */
static void test_file_temp_write(void)
{
	char dir[] = "/tmp/rombsr-test-XXXXXX", path[600];
	_cleanup_close_ int dfd = -1;
	char *name = NULL;
	struct stat st;
	mode_t old;
	int fd = -1;
	uint8_t *data = NULL;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	old = umask(077);
	CHECK_OK(rb_file_temp_write(dfd, ".x.tmp-", "abc", 3, 0644, true, &name, &fd));
	umask(old);
	CHECK(strlen(name) == 7 + 16 && strncmp(name, ".x.tmp-", 7) == 0 && rb_hex_is_lower(name + 7, 16));
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0644 && st.st_size == 3);
	close(fd);
	CHECK(unlinkat(dfd, name, 0) == 0);
	free(name);
	name = NULL;

	/* A failure leaves no file, no name and no descriptor. */
	fd = -1;
	CHECK_ERR(rb_file_temp_write(-1, ".x.tmp-", "abc", 3, 0644, true, &name, &fd), RB_E_IO);
	CHECK(name == NULL && fd == -1);
	CHECK(strstr(rb_err_message(RB_E_IO), ".x.tmp-") != NULL);
	CHECK(dir_entries(dir) == 0);

	/* Replacing: the new bytes, the mode asked for, no temporary left. */
	snprintf(path, sizeof(path), "%s/out.sig", dir);
	CHECK_OK(rb_file_write_atomic(path, "old", 3, 0600));
	CHECK_OK(rb_file_replace_at(dfd, dir, "out.sig", ".out.sig.tmp-", "newer", 5, 0640));
	CHECK_OK(rb_file_read(path, 100, &data, &n));
	CHECK(n == 5 && memcmp(data, "newer", 5) == 0);
	free(data);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);
	CHECK(dir_entries(dir) == 1);
	/* Into a directory that is gone: an error naming it, nothing made. */
	CHECK_ERR(rb_file_write_atomic("/nonexistent-rombsr/x.sig", "x", 1, 0644), RB_E_IO);
	CHECK(strstr(rb_err_message(RB_E_IO), "/nonexistent-rombsr/x.sig") != NULL);
	CHECK(unlink(path) == 0 && rmdir(dir) == 0);
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

static void test_tree_name_valid(void)
{
	CHECK(rb_tree_name_valid("a"));
	CHECK(rb_tree_name_valid("out/fw.bin"));
	CHECK(rb_tree_name_valid("..a/b.."));
	CHECK(!rb_tree_name_valid(""));
	CHECK(!rb_tree_name_valid("/etc/passwd"));
	CHECK(!rb_tree_name_valid("out/../x"));
	CHECK(!rb_tree_name_valid(".."));
	CHECK(!rb_tree_name_valid("./x"));
	CHECK(!rb_tree_name_valid("out//x"));
	CHECK(!rb_tree_name_valid("out/"));
}

static int tree_fixture(char *dir, char *outside)
{
	char p[600];

	if (!mkdtemp(dir) || !mkdtemp(outside))
		return -1;
	snprintf(p, sizeof(p), "%s/out", dir);
	if (mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/out/sub", dir);
	if (mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/link", dir); /* root/link -> outside */
	if (symlink(outside, p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/out/sublink", dir);
	return symlink(outside, p);
}

static void tree_rm(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* A symbolic link at any level is refused, with the component named; so
 * are names that climb out. */
static void test_tree_open_refusals(void)
{
	char dir[] = "/tmp/rombsr-tree-XXXXXX", outside[] = "/tmp/rombsr-outside-XXXXXX";
	_cleanup_close_ int root = -1;
	int fd = -1;
	const char *base;

	CHECK(tree_fixture(dir, outside) == 0);
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	CHECK_OK(rb_tree_open_dir(root, "ROOT", "out/sub", &fd));
	CHECK(fd >= 0);
	close(fd);
	CHECK_OK(rb_tree_open_dir(root, "ROOT", "", &fd));
	close(fd);
	CHECK_OK(rb_tree_open_parent(root, "ROOT", "out/sub/fw.bin", &fd, &base));
	CHECK(strcmp(base, "fw.bin") == 0);
	close(fd);
	CHECK_OK(rb_tree_open_parent(root, "ROOT", "fw.bin", &fd, &base));
	CHECK(strcmp(base, "fw.bin") == 0);
	close(fd);
	CHECK_ERR(rb_tree_open_dir(root, "ROOT", "link", &fd), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROOT/link: a symbolic link") != NULL);
	CHECK_ERR(rb_tree_open_dir(root, "ROOT", "link/x", &fd), RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROOT/link: a symbolic link") != NULL);
	CHECK_ERR(rb_tree_open_parent(root, "ROOT", "out/sublink/fw.bin.sig", &fd, &base),
		  RB_E_INVAL);
	CHECK(strstr(rb_err_detail(), "ROOT/out/sublink: a symbolic link") != NULL);
	CHECK_ERR(rb_tree_open_dir(root, "ROOT", "out/missing", &fd), RB_E_NOTFOUND);
	CHECK_ERR(rb_tree_open_dir(root, "ROOT", "out/../link", &fd), RB_E_INVAL);
	CHECK_ERR(rb_tree_open_dir(root, "ROOT", "..", &fd), RB_E_INVAL);
	CHECK_ERR(rb_tree_open_parent(root, "ROOT", "/etc/passwd", &fd, &base), RB_E_INVAL);
	tree_rm(dir);
	tree_rm(outside);
}

/* Writes go through the descriptor opened before: a directory swapped for
 * a link to elsewhere after it was opened receives nothing; the swapped
 * away directory (still beneath the root) does. */
static void test_tree_write_held_dirfd(void)
{
	char dir[] = "/tmp/rombsr-tree-XXXXXX", outside[] = "/tmp/rombsr-outside-XXXXXX";
	char p[600], q[600];
	_cleanup_close_ int root = -1;
	int fd = -1;
	uint8_t *data = NULL;
	size_t n;
	struct stat st;

	CHECK(tree_fixture(dir, outside) == 0);
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_OK(rb_tree_open_dir(root, "ROOT", "out", &fd));
	snprintf(p, sizeof(p), "%s/out", dir);
	snprintf(q, sizeof(q), "%s/out.moved", dir);
	CHECK(rename(p, q) == 0 && symlink(outside, p) == 0);
	{
		struct rb_tree_out f = { .dirfd = fd, .base = "fw.bin.sig", .what = "ROOT/out/fw.bin.sig",
					 .data = "sig", .len = 3, .mode = 06755 };

		CHECK_OK(rb_tree_write_files(&f, 1));
	}
	CHECK(count_entries(outside) == 0);
	snprintf(p, sizeof(p), "%s/out.moved/fw.bin.sig", dir);
	CHECK_OK(rb_file_read(p, 100, &data, &n));
	CHECK(n == 3 && memcmp(data, "sig", 3) == 0);
	free(data);
	/* No special bit, whatever was asked. */
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755);
	/* Only single components are written. */
	{
		struct rb_tree_out f = { .dirfd = fd, .base = "../x", .what = "ROOT/x", .data = "x",
					 .len = 1, .mode = 0644 };

		CHECK_ERR(rb_tree_write_files(&f, 1), RB_E_INVAL);
	}
	close(fd);
	tree_rm(dir);
	tree_rm(outside);
}

/* As root, a replacement keeps its owner with no chown; if the owner may
 * not create in the directory, nothing is replaced and no temporary is
 * left behind. */
static void test_tree_write_keep_owner(void)
{
	char dir[] = "/tmp/rombsr-tree-XXXXXX", outside[] = "/tmp/rombsr-outside-XXXXXX";
	char p[600], a[600], b[600];
	_cleanup_close_ int root = -1, out = -1;
	uint8_t *data = NULL;
	size_t n;
	struct stat st;

	if (geteuid() != 0) {
		printf("  (skipped: keeping the owner is tested as root)\n");
		return;
	}
	CHECK(tree_fixture(dir, outside) == 0);
	snprintf(p, sizeof(p), "%s/out", dir);
	snprintf(a, sizeof(a), "%s/out/a.bin", dir);
	snprintf(b, sizeof(b), "%s/b.bin", dir);
	CHECK_OK(rb_file_write_atomic(a, "old a", 5, 0644));
	CHECK_OK(rb_file_write_atomic(b, "old b", 5, 0644));
	CHECK(chown(p, 12345, 12345) == 0 && chown(a, 12345, 12346) == 0 &&
	      chmod(a, 06755) == 0 && chown(b, 12345, 12345) == 0);
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_OK(rb_tree_open_dir(root, "ROOT", "out", &out));
	{
		struct rb_tree_out f = { .dirfd = out, .base = "a.bin", .what = "ROOT/out/a.bin",
					 .data = "new a", .len = 5, .mode = 06755, .keep_owner = true,
					 .uid = 12345, .gid = 12346 };

		CHECK_OK(rb_tree_write_files(&f, 1));
	}
	CHECK(stat(a, &st) == 0 && st.st_uid == 12345 && st.st_gid == 12346 &&
	      (st.st_mode & 07777) == 0755);
	CHECK(geteuid() == 0 && (uid_t)setfsuid((uid_t)-1) == 0); /* ids restored */
	/* The root directory is root's 0700: uid 12345 may not create in it. */
	CHECK(chmod(dir, 0700) == 0);
	{
		struct rb_tree_out f[] = {
			{ .dirfd = out, .base = "a.bin", .what = "ROOT/out/a.bin", .data = "newer",
			  .len = 5, .mode = 0644, .keep_owner = true, .uid = 12345, .gid = 12346 },
			{ .dirfd = root, .base = "b.bin", .what = "ROOT/b.bin", .data = "new b",
			  .len = 5, .mode = 0644, .keep_owner = true, .uid = 12345, .gid = 12345 },
		};

		CHECK_ERR(rb_tree_write_files(f, 2), RB_E_PERM);
		CHECK(strstr(rb_err_detail(), "ROOT/b.bin") != NULL);
	}
	CHECK_OK(rb_file_read(a, 100, &data, &n));
	CHECK(n == 5 && memcmp(data, "new a", 5) == 0);
	free(data);
	CHECK(count_entries(p) == 3 && count_entries(dir) == 3); /* no temporary left */
	tree_rm(dir);
	tree_rm(outside);
}

int main(void)
{
	RUN(test_reader_bounds);
	RUN(test_err_stale_detail);
	RUN(test_err_table);
	RUN(test_buf_cap);
	RUN(test_base64_strict);
	RUN(test_hex_lower);
	RUN(test_fd_write_all);
	RUN(test_idmap);
	RUN(test_ct_equal);
	RUN(test_secret_file_excl);
	RUN(test_secret_alloc);
	RUN(test_file_temp_write);
	RUN(test_files_write_atomic);
	RUN(test_tree_name_valid);
	RUN(test_tree_open_refusals);
	RUN(test_tree_write_held_dirfd);
	RUN(test_tree_write_keep_owner);
	TEST_MAIN_END();
}
