/* age-tool: drives src/lib/age from tests/integration/age-interop.sh.
 *   age-tool keygen IDENTITY_OUT          prints the recipient
 *   age-tool encrypt [-a] -r RCPT... < in > out
 *   age-tool encrypt [-a] -p PASSFILE < in > out
 *   age-tool decrypt -i IDFILE | -p PASSFILE < in > out
 *   age-tool recipient IDFILE
 * Exit 0 on success; on failure print "<class>: <detail>" and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "age/age.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

static struct rb_secret *read_secret_file(const char *path, bool strip_newline)
{
	_cleanup_free_ uint8_t *p = NULL;
	struct rb_secret *s = NULL;
	size_t n = 0;

	if (rb_file_read(path, 64 * 1024, &p, &n) < 0 || rb_secret_new(n, &s) < 0) {
		fprintf(stderr, "age-tool: %s: %s\n", path, rb_err_detail());
		exit(2);
	}
	if (strip_newline && n && p[n - 1] == '\n')
		n--;
	memcpy(s->data, p, n);
	s->len = n;
	rb_wipe(p, n);
	return s;
}

static int fail(int r)
{
	fprintf(stderr, "%s: %s (%s)\n", age_failure_name(age_last_failure()), rb_strerror(r),
		rb_err_detail());
	return 1;
}

static int write_all(const uint8_t *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *in = NULL, *out = NULL;
	size_t inlen = 0, outlen = 0;
	int r;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "keygen") && argc == 3) {
		struct rb_secret *id = NULL;
		char *rcpt = NULL;

		r = age_x25519_generate(&id, &rcpt);
		if (r == 0)
			r = rb_file_create_secret(argv[2], id->data, id->len);
		if (r < 0)
			return fail(r);
		printf("%s\n", rcpt);
		free(rcpt);
		rb_secret_free(id);
		return 0;
	}
	if (!strcmp(argv[1], "recipient") && argc == 3) {
		struct rb_secret *id = read_secret_file(argv[2], false);
		char *rcpt = NULL;

		r = age_identity_to_recipient(id, &rcpt);
		rb_secret_free(id);
		if (r < 0)
			return fail(r);
		printf("%s\n", rcpt);
		free(rcpt);
		return 0;
	}
	if (rb_fd_read_all(STDIN_FILENO, 96u << 20, &in, &inlen) < 0)
		return fail(RB_E_IO);
	if (!strcmp(argv[1], "encrypt")) {
		struct age_encrypt_opts o = { 0 };
		const char *rc[16];
		struct rb_secret *pass = NULL;
		size_t n = 0;
		int i;

		for (i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "-a"))
				o.armor = true;
			else if (!strcmp(argv[i], "-r") && i + 1 < argc && n < 16)
				rc[n++] = argv[++i];
			else if (!strcmp(argv[i], "-p") && i + 1 < argc)
				pass = read_secret_file(argv[++i], true);
			else
				return 2;
		}
		o.recipients = rc;
		o.n_recipients = n;
		o.passphrase = pass;
		r = age_encrypt(in, inlen, &o, &out, &outlen);
		rb_secret_free(pass);
		if (r < 0)
			return fail(r);
		return write_all(out, outlen);
	}
	if (!strcmp(argv[1], "decrypt") && argc == 4) {
		struct rb_secret *s = NULL, *plain = NULL;
		const struct rb_secret *ids[1];
		struct age_decrypt_opts o = { 0 };

		if (!strcmp(argv[2], "-i")) {
			s = read_secret_file(argv[3], false);
			ids[0] = s;
			o.identities = ids;
			o.n_identities = 1;
		} else if (!strcmp(argv[2], "-p")) {
			s = read_secret_file(argv[3], true);
			o.passphrase = s;
		} else {
			return 2;
		}
		r = age_decrypt_secret(in, inlen, &o, &plain);
		rb_secret_free(s);
		if (r < 0)
			return fail(r);
		r = write_all(plain->data, plain->len);
		rb_secret_free(plain);
		return r;
	}
	return 2;
}
