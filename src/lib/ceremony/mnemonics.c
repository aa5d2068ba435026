/* Mnemonic files and decrypted share files: untrusted text, read into
 * locked memory and split into one mnemonic per line. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ceremony/ceremony.h"
#include "util/cleanup.h"
#include "util/err.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free)

int ceremony_secret_file_read(const char *path, struct rb_secret **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(rb_secret_freep) struct rb_secret *s = NULL;
	struct stat st;
	int err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return rb_err_set(RB_E_IO, "%s: not a regular file", path);
	/* Shares others can read are not secret: refuse, as for PIN files. */
	if (st.st_mode & 077)
		return rb_err_set(RB_E_PERM, "%s is accessible by group or others (mode %03o); run: chmod 600 %s",
				  path, (unsigned)(st.st_mode & 0777), path);
	if ((err = rb_secret_new(CEREMONY_MNEMONIC_FILE_MAX + 1, &s)) < 0)
		return err;
	for (;;) {
		ssize_t n = read(fd, s->data + s->len, CEREMONY_MNEMONIC_FILE_MAX + 1 - s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_err_set(RB_E_IO, "%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		s->len += (size_t)n;
		if (s->len > CEREMONY_MNEMONIC_FILE_MAX)
			return rb_err_set(RB_E_TOOBIG, "%s: larger than %u bytes; a share file holds a few mnemonics",
					  path, CEREMONY_MNEMONIC_FILE_MAX);
	}
	s->data[s->len] = '\0';
	*ret = TAKE_PTR(s);
	return RB_OK;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Check one mnemonic's words and checksum; on failure the detail names
 * the line as well as slip39_decode's word position. */
static int check_line(const char *line, size_t len, const char *source, size_t lineno)
{
	struct slip39_share *sh = NULL;
	int err;

	if (len > SLIP39_MAX_MNEMONIC_LEN)
		return rb_err_set(RB_E_PARSE, "%s line %zu: longer than a SLIP-0039 mnemonic (%d bytes)", source,
				  lineno, SLIP39_MAX_MNEMONIC_LEN);
	err = slip39_decode(line, len, &sh);
	slip39_share_free(sh);
	if (err < 0)
		return rb_err_set(err, "%s line %zu: %s", source, lineno, rb_err_message(err));
	return RB_OK;
}

int ceremony_mnemonics_parse(const struct rb_secret *text, const char *source,
			     struct rb_secret ***ret, size_t *ret_n)
{
	struct rb_secret *out[CEREMONY_MAX_SHARES];
	struct rb_secret **arr = NULL;
	size_t n = 0, pos = 0, lineno = 0;
	int err = RB_OK;

	if (!text || !source)
		return rb_err_set(RB_E_INVAL, "ceremony_mnemonics_parse: NULL argument");
	if (text->len > CEREMONY_MNEMONIC_FILE_MAX)
		return rb_err_set(RB_E_TOOBIG, "%s: larger than %u bytes", source, CEREMONY_MNEMONIC_FILE_MAX);
	while (pos < text->len && err == RB_OK) {
		const uint8_t *p = text->data + pos, *nl = memchr(p, '\n', text->len - pos);
		size_t len = nl ? (size_t)(nl - p) : text->len - pos;
		size_t a = 0, b = len;

		pos += len + (nl ? 1 : 0);
		lineno++;
		while (a < b && is_space(p[a]))
			a++;
		while (b > a && is_space(p[b - 1]))
			b--;
		if (a == b || p[a] == '#')
			continue;
		if (memchr(p + a, '\0', b - a)) {
			err = rb_err_set(RB_E_PARSE, "%s line %zu: contains a NUL byte", source, lineno);
			break;
		}
		if (n == CEREMONY_MAX_SHARES) {
			err = rb_err_set(RB_E_TOOBIG, "%s: more than %d mnemonics", source, CEREMONY_MAX_SHARES);
			break;
		}
		if ((err = check_line((const char *)p + a, b - a, source, lineno)) < 0)
			break;
		if ((err = rb_secret_new(b - a, &out[n])) < 0)
			break;
		memcpy(out[n]->data, p + a, b - a);
		out[n]->len = b - a;
		n++;
	}
	if (err == RB_OK && n == 0)
		err = rb_err_set(RB_E_PARSE, "%s holds no mnemonic", source);
	if (err == RB_OK && !(arr = calloc(n, sizeof(*arr))))
		err = RB_E_NOMEM;
	if (err < 0) {
		for (size_t i = 0; i < n; i++)
			rb_secret_free(out[i]);
		return err;
	}
	memcpy(arr, out, n * sizeof(*arr));
	*ret = arr;
	*ret_n = n;
	return RB_OK;
}

int ceremony_mnemonic_ids(const struct rb_secret *mnemonic, uint16_t *ret_identifier, uint8_t *ret_group,
			  uint8_t *ret_member)
{
	struct slip39_share *sh = NULL;
	int err;

	if (!mnemonic)
		return rb_err_set(RB_E_INVAL, "ceremony_mnemonic_ids: NULL mnemonic");
	if ((err = slip39_decode((const char *)mnemonic->data, mnemonic->len, &sh)) < 0)
		return err;
	*ret_identifier = sh->identifier;
	*ret_group = sh->group_index;
	*ret_member = sh->member_index;
	slip39_share_free(sh);
	return RB_OK;
}
