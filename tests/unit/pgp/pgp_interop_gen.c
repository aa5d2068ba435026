/* Writes OpenPGP certificates and detached signatures made with test-only
 * software keys (RSA-4096, Ed25519) into DIR, for
 * tests/integration/pgp-interop.sh to check with gpg, sq and pacman-key.
 * The soft signer stands in for the HSM so that the format is proven
 * independently of the token.
 *
 * usage: pgp_interop_gen DIR
 *
 * DIR/data.bin                 document (binary, 96 KiB)
 * DIR/data.txt                 document (text, LF line ends)
 * DIR/<alg>.cert, .cert.asc    certificate, binary and armored
 * DIR/<alg>.fpr                fingerprint, 40 uppercase hex digits
 * DIR/<alg>.uid                the certificate's user ID
 * DIR/<alg>.sig, .sig.asc      SHA-512 binary signature over data.bin
 *                              (pgp_sign_fd), and its armored form
 * DIR/<alg>.sha256.sig         SHA-256 over data.bin, made from a hash
 *                              state the caller fed (remote-client path)
 * DIR/<alg>.text.sig           canonical text signature over data.txt
 * DIR/<alg>.zero.sig, .zero.data   a signature whose MPI (RSA s, or
 *                              EdDSA r or s) has a leading zero octet,
 *                              and the data it covers
 * <alg> is rsa4096 or ed25519.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgp/pgp-internal.h"
#include "pgp/pgp.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fileio.h"

/* Fixed, like a key manifest's creation time, and before "now". */
#define KEY_CREATED 1700000000
#define ZERO_SEARCH_MAX 20000u

static const char *dir;

static int write_file(const char *name, const void *data, size_t len)
{
	char path[4096];
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return rb_err_set(RB_E_INVAL, "%s/%s: path too long", dir, name);
	if ((err = rb_file_write_atomic(path, data, len, 0644)) < 0)
		return err;
	return RB_OK;
}

static int write_buf(const char *alg, const char *suffix, const struct rb_buf *b)
{
	char name[256];

	snprintf(name, sizeof(name), "%s%s", alg, suffix);
	return write_file(name, b->data, b->len);
}

static int make_documents(struct rb_buf *bin, struct rb_buf *txt)
{
	int err;

	/* Every byte value, so a tool that mangled binary input would fail. */
	for (unsigned i = 0; i < 96 * 1024; i++)
		if ((err = rb_buf_put_u8(bin, (uint8_t)((i * 2654435761u) >> 13))) < 0)
			return err;
	for (unsigned i = 0; i < 200; i++)
		if ((err = rb_buf_printf(txt, "line %u of a release note, with \"quotes\" and tabs\t.\n",
					 i)) < 0)
			return err;
	if ((err = write_file("data.bin", bin->data, bin->len)) < 0 ||
	    (err = write_file("data.txt", txt->data, txt->len)) < 0)
		return err;
	return RB_OK;
}

/* Sign varying data until the signature's MPI loses a leading octet. */
static int make_zero_sig(const struct pgp_key *key, const char *alg, int64_t now)
{
	size_t full = key->algo == PGP_PK_RSA ? (size_t)EVP_PKEY_get_size(key->signer->pub) : 32;
	int err;

	for (unsigned i = 0; i < ZERO_SEARCH_MAX; i++) {
		struct rb_buf sig = RB_BUF_INIT;
		struct pgp_sig_parsed ps;
		char data[64];
		int n = snprintf(data, sizeof(data), "leading-zero probe %u\n", i);
		bool hit = false;

		if ((err = pgp_sign_buffer(key, PGP_SIG_BINARY, PGP_HASH_SHA512, now, data, (size_t)n,
					   &sig)) < 0 ||
		    (err = pgp_sig_parse(sig.data, sig.len, &ps)) < 0) {
			rb_buf_free(&sig);
			return err;
		}
		for (unsigned m = 0; m < ps.n_mpi; m++)
			hit = hit || ps.mpi_len[m] < full;
		if (hit) {
			struct rb_buf d = { (uint8_t *)data, (size_t)n, 0, 0 };

			err = write_buf(alg, ".zero.sig", &sig);
			rb_buf_free(&sig);
			if (err == 0)
				err = write_buf(alg, ".zero.data", &d);
			if (err == 0)
				printf("%s: leading-zero MPI after %u signatures\n", alg, i + 1);
			return err;
		}
		rb_buf_free(&sig);
	}
	return rb_err_set(RB_E_LIMIT, "%s: no leading-zero signature in %u tries", alg, ZERO_SEARCH_MAX);
}

static int make_alg(const char *alg, const struct rb_buf *bin, const struct rb_buf *txt)
{
	struct rb_signer signer;
	struct pgp_key *key = NULL;
	struct pgp_sig_ctx ctx = { 0 };
	struct rb_buf cert = RB_BUF_INIT, asc = RB_BUF_INIT, sig = RB_BUF_INIT, tmp = RB_BUF_INIT;
	EVP_MD_CTX *state = NULL;
	char uid[128], path[4096];
	char *fpr = NULL;
	int64_t now = (int64_t)time(NULL);
	int fd = -1, err;

	if ((err = soft_signer_new(alg, &signer)) < 0)
		return rb_err_set(err, "%s: cannot create a soft key", alg);
	snprintf(uid, sizeof(uid), "rombsr interop test (%s) <interop-%s@rombsr.invalid>", alg, alg);

	if ((err = pgp_cert_write(&signer, KEY_CREATED, uid, now, &cert)) < 0 ||
	    (err = pgp_armor(PGP_ARMOR_PUBLIC_KEY, cert.data, cert.len, &asc)) < 0 ||
	    (err = write_buf(alg, ".cert", &cert)) < 0 || (err = write_buf(alg, ".cert.asc", &asc)) < 0)
		goto out;
	if ((err = pgp_key_new(&signer, KEY_CREATED, &key)) < 0 ||
	    (err = pgp_key_fingerprint_hex(key, &fpr)) < 0)
		goto out;
	tmp.len = 0;
	if ((err = rb_buf_printf(&tmp, "%s\n", fpr)) < 0 || (err = write_buf(alg, ".fpr", &tmp)) < 0)
		goto out;
	tmp.len = 0;
	if ((err = rb_buf_printf(&tmp, "%s\n", uid)) < 0 || (err = write_buf(alg, ".uid", &tmp)) < 0)
		goto out;

	/* SHA-512 over the file, read through an fd. */
	snprintf(path, sizeof(path), "%s/data.bin", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = rb_err_set(RB_E_IO, "%s: cannot open", path);
		goto out;
	}
	asc.len = 0;
	if ((err = pgp_sign_fd(key, PGP_SIG_BINARY, PGP_HASH_SHA512, now, fd, &sig)) < 0 ||
	    (err = pgp_armor(PGP_ARMOR_SIGNATURE, sig.data, sig.len, &asc)) < 0 ||
	    (err = write_buf(alg, ".sig", &sig)) < 0 || (err = write_buf(alg, ".sig.asc", &asc)) < 0)
		goto out;

	/* SHA-256 from a hash state fed elsewhere, in two pieces. */
	state = EVP_MD_CTX_new();
	if (!state || EVP_DigestInit_ex(state, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(state, bin->data, bin->len / 3) != 1) {
		err = RB_E_CRYPTO;
		goto out;
	}
	if ((err = pgp_sig_init_from_state(&ctx, key, state, now)) < 0)
		goto out;
	if (EVP_DigestUpdate(pgp_sig_md(&ctx), bin->data + bin->len / 3, bin->len - bin->len / 3) != 1) {
		err = RB_E_CRYPTO;
		goto out;
	}
	sig.len = 0;
	if ((err = pgp_sig_finish(&ctx, &sig)) < 0 || (err = write_buf(alg, ".sha256.sig", &sig)) < 0)
		goto out;

	sig.len = 0;
	if ((err = pgp_sign_buffer(key, PGP_SIG_TEXT, PGP_HASH_SHA512, now, txt->data, txt->len,
				   &sig)) < 0 ||
	    (err = write_buf(alg, ".text.sig", &sig)) < 0)
		goto out;

	err = make_zero_sig(key, alg, now);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(state);
	pgp_sig_ctx_clear(&ctx);
	free(fpr);
	pgp_key_free(key);
	rb_buf_free(&cert);
	rb_buf_free(&asc);
	rb_buf_free(&sig);
	rb_buf_free(&tmp);
	soft_signer_free(&signer);
	return err;
}

int main(int argc, char **argv)
{
	static const char *const algs[] = { "rsa4096", "ed25519" };
	struct rb_buf bin = RB_BUF_INIT, txt = RB_BUF_INIT;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if ((err = make_documents(&bin, &txt)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if ((err = make_alg(algs[i], &bin, &txt)) < 0)
			goto out;
out:
	rb_buf_free(&bin);
	rb_buf_free(&txt);
	if (err < 0) {
		fprintf(stderr, "pgp_interop_gen: %s: %s\n", rb_strerror(err), rb_err_detail());
		return 1;
	}
	return 0;
}
