/* Commit signatures through gpgme: one context per GnuPG home. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpgme.h>
#include <openssl/evp.h>

#include "keys/manifest.h"
#include "queue/config.h"
#include "queue/gpgsig.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/encode.h"

struct gpgsig {
	gpgme_ctx_t ctx;
	char *homedir; /* NULL: the default home */
	int lock_fd;   /* the keyring's lock (gpgsig_open_keyring), or -1 */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(gpgme_data_t, gpgme_data_release)
DEFINE_TRIVIAL_CLEANUP_FUNC(gpgme_key_t, gpgme_key_unref)

static int gpg_fail(int err, const char *what, gpgme_error_t e)
{
	return rb_err_set(err, "%s: %s", what, gpgme_strerror(e));
}

/* An error of gpgme itself, not of what gpg said about the data: gpg
 * could not be started (fork failed), or a pipe or memory ran out, or
 * gpg could not be run at all when the context was made. Such an error
 * is no verdict on a signature or a certificate; the caller must try
 * again. Errors gpg reports about the data come with gpg's own error
 * source or, through its status lines, as codes that name no system
 * error; they stay verdicts, so a crafted signature cannot pass for an
 * outage (and stall the queue). */
static bool gpg_operational(gpgme_error_t e)
{
	gpgme_err_code_t c = gpgme_err_code(e);

	if (e == GPG_ERR_NO_ERROR || gpgme_err_source(e) != GPG_ERR_SOURCE_GPGME)
		return false;
	return gpgme_err_code_to_errno(c) != 0 || c == GPG_ERR_UNSUPPORTED_PROTOCOL;
}

static int gpg_again(const char *what, const char *home, gpgme_error_t e)
{
	return rb_err_set(RB_E_AGAIN, "%s%s%s: gpg could not run: %s; nothing was decided, try again", what,
			  home ? " in " : "", home ? home : "", gpgme_strerror(e));
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool init_done;

/* gpgme's own initialisation, before any context: it runs
 * gpg --version. A failure to start gpg is RB_E_AGAIN and is not kept
 * here; gpgme keeps what its first look found, though, so a process whose
 * first look failed must be started again (rombsr-sign exits 12). */
int gpgsig_global_init(void)
{
	gpgme_engine_info_t info;
	gpgme_error_t e;
	int err = RB_OK;

	pthread_mutex_lock(&init_lock);
	if (init_done)
		goto out;
	/* Without gpgconf, gpgme finds gpg on PATH instead of asking gpgconf
	 * where the engines are: two fewer processes in every rombsr process
	 * that touches the queue (the sign node, each guard run, submit). */
	gpgme_set_global_flag("disable-gpgconf", "1");
	if (!gpgme_check_version(NULL)) {
		err = rb_err_set(RB_E_UNSUPPORTED, "gpgme: the library failed its version check; reinstall libgpgme");
		goto out;
	}
	gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
	e = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (e == GPG_ERR_NO_ERROR) {
		init_done = true;
		goto out;
	}
	/* gpg is on PATH but did not tell a usable version: when it could not
	 * be started, gpgme records a placeholder (1.0.0) older than any
	 * gpg it accepts. No gpg that old is in use; that one passes. */
	if (gpgme_get_engine_info(&info) == GPG_ERR_NO_ERROR) {
		for (; info && info->protocol != GPGME_PROTOCOL_OpenPGP; info = info->next)
			;
		if (info && info->file_name && access(info->file_name, X_OK) == 0) {
			err = rb_err_set(RB_E_AGAIN, "gpgme: %s did not tell its version (%s): it could not be "
					 "started (try again), or it is older than gpgme needs (install a current gnupg)",
					 info->file_name, gpgme_strerror(e));
			goto out;
		}
	}
	err = rb_err_set(RB_E_UNSUPPORTED, "gpgme: no usable OpenPGP engine (%s); install gnupg (gpg)",
			 gpgme_strerror(e));
out:
	pthread_mutex_unlock(&init_lock);
	return err;
}

static const char *home_name(const struct gpgsig *g)
{
	return g->homedir ? g->homedir : "the default GnuPG home";
}

int gpgsig_open(const char *homedir, struct gpgsig **ret)
{
	struct gpgsig *g;
	gpgme_error_t e;
	int err;

	if (!ret)
		return RB_E_INVAL;
	if ((err = gpgsig_global_init()) < 0)
		return err;
	if (!(g = calloc(1, sizeof(*g))))
		return RB_E_NOMEM;
	g->lock_fd = -1;
	if (homedir && !(g->homedir = strdup(homedir))) {
		gpgsig_free(g);
		return RB_E_NOMEM;
	}
	if ((e = gpgme_new(&g->ctx)) != GPG_ERR_NO_ERROR) {
		gpgsig_free(g);
		return gpg_fail(RB_E_CRYPTO, "gpgme: cannot create a context", e);
	}
	if ((e = gpgme_set_protocol(g->ctx, GPGME_PROTOCOL_OpenPGP)) != GPG_ERR_NO_ERROR ||
	    (homedir && (e = gpgme_ctx_set_engine_info(g->ctx, GPGME_PROTOCOL_OpenPGP, NULL, homedir)) !=
				GPG_ERR_NO_ERROR)) {
		err = gpg_operational(e) ? gpg_again("opening a context", home_name(g), e)
					 : rb_err_set(RB_E_CRYPTO, "gpgme: cannot use GnuPG home %s: %s",
						      homedir ? homedir : "(default)", gpgme_strerror(e));
		gpgsig_free(g);
		return err;
	}
	/* Never fetch keys from the network: only the keyring decides. */
	gpgme_set_offline(g->ctx, 1);
	gpgme_set_armor(g->ctx, 1);
	/* Every status line reaches a status callback (import_status_cb). */
	(void)gpgme_set_ctx_flag(g->ctx, "full-status", "1");
	*ret = g;
	return RB_OK;
}

void gpgsig_free(struct gpgsig *g)
{
	if (!g)
		return;
	if (g->ctx)
		gpgme_release(g->ctx);
	if (g->lock_fd >= 0)
		close(g->lock_fd);
	free(g->homedir);
	free(g);
}

/* The first system error gpg reports in an ERROR or FAILURE status line
 * of an import: gpgme keeps only the counts, and a keyring that cannot be
 * written (a full disk, a read-only directory) would otherwise read as
 * "no certificate found". */
struct import_status {
	gpgme_error_t io;
	char where[64];
};

static gpgme_error_t import_status_cb(void *opaque, const char *keyword, const char *args)
{
	struct import_status *st = opaque;
	const char *sp;
	unsigned long code;
	char *end;

	if (st->io || !args || (strcmp(keyword, "ERROR") != 0 && strcmp(keyword, "FAILURE") != 0) ||
	    !(sp = strchr(args, ' ')))
		return GPG_ERR_NO_ERROR;
	errno = 0;
	code = strtoul(sp + 1, &end, 10);
	if (errno || end == sp + 1 || code > UINT32_MAX ||
	    gpgme_err_code_to_errno(gpgme_err_code((gpgme_error_t)code)) == 0)
		return GPG_ERR_NO_ERROR;
	st->io = (gpgme_error_t)code;
	snprintf(st->where, sizeof(st->where), "%.*s", (int)(sp - args), args);
	return GPG_ERR_NO_ERROR;
}

int gpgsig_import(struct gpgsig *g, const uint8_t *cert, size_t len)
{
	_cleanup_(gpgme_data_releasep) gpgme_data_t in = NULL;
	struct import_status st = { 0 };
	gpgme_import_result_t r;
	gpgme_error_t e;

	if (!g || !cert || len == 0 || len > GPGSIG_MAX_CERT_BYTES)
		return rb_err_set(RB_E_INVAL, "gpgsig_import: certificate missing or larger than %zu bytes",
				  GPGSIG_MAX_CERT_BYTES);
	if ((e = gpgme_data_new_from_mem(&in, (const char *)cert, len, 0)) != GPG_ERR_NO_ERROR)
		return gpg_fail(RB_E_NOMEM, "gpgme", e);
	gpgme_set_status_cb(g->ctx, import_status_cb, &st);
	e = gpgme_op_import(g->ctx, in);
	gpgme_set_status_cb(g->ctx, NULL, NULL);
	if (gpg_operational(e))
		return gpg_again("importing a certificate", home_name(g), e);
	if (e != GPG_ERR_NO_ERROR)
		return rb_err_set(RB_E_PARSE, "importing a certificate into %s: %s", home_name(g), gpgme_strerror(e));
	r = gpgme_op_import_result(g->ctx);
	if ((!r || (r->imported + r->unchanged) == 0) && st.io)
		return rb_err_set(RB_E_IO, "importing into %s: gpg cannot write the keyring there: %s (%s); free "
				  "space on its file system or make it writable, then try again", home_name(g),
				  gpgme_strerror(st.io), st.where);
	if (!r || r->considered == 0 || (r->imported + r->unchanged) == 0)
		return rb_err_set(RB_E_PARSE, "importing into %s: no OpenPGP certificate found in the data",
				  home_name(g));
	if (r->secret_read > 0)
		return rb_err_set(RB_E_PARSE, "importing into %s: the data holds a secret key; give only the "
				  "public certificate", home_name(g));
	return RB_OK;
}

/* The one key whose (primary or subkey) fingerprint is fpr, listed on g's
 * own context: gpgme_get_key() would start a second engine (one more
 * `gpg --version`) for every lookup. GPG_ERR_AMBIGUOUS_NAME if two keys
 * match, as gpgme_get_key() reports. */
static gpgme_error_t key_lookup(struct gpgsig *g, const char *fpr, int secret, gpgme_key_t *ret)
{
	gpgme_key_t key = NULL, extra = NULL;
	gpgme_error_t e;

	if ((e = gpgme_op_keylist_start(g->ctx, fpr, secret)) != GPG_ERR_NO_ERROR)
		return e;
	e = gpgme_op_keylist_next(g->ctx, &key);
	if (e == GPG_ERR_NO_ERROR && gpgme_op_keylist_next(g->ctx, &extra) == GPG_ERR_NO_ERROR) {
		gpgme_key_unref(extra);
		gpgme_key_unref(key);
		key = NULL;
		e = gpg_error(GPG_ERR_AMBIGUOUS_NAME);
	}
	gpgme_op_keylist_end(g->ctx);
	if (e != GPG_ERR_NO_ERROR)
		return gpgme_err_code(e) == GPG_ERR_EOF ? gpg_error(GPG_ERR_NO_PUBKEY) : e;
	*ret = key;
	return GPG_ERR_NO_ERROR;
}

/* Every fingerprint in fprs must be the primary key of a key in the
 * keyring; sources[i] names where fprs[i] came from, for the error. One
 * key listing for all of them. */
static int keyring_has_primaries(struct gpgsig *g, const char *const *fprs, const char *const *sources,
				 size_t n)
{
	_cleanup_free_ const char **patterns = NULL;
	_cleanup_free_ bool *found = NULL;
	gpgme_key_t key;
	gpgme_error_t e;

	if (n == 0)
		return RB_OK;
	patterns = calloc(n + 1, sizeof(*patterns));
	found = calloc(n, sizeof(*found));
	if (!patterns || !found)
		return RB_E_NOMEM;
	memcpy(patterns, fprs, n * sizeof(*patterns));
	if ((e = gpgme_op_keylist_ext_start(g->ctx, patterns, 0, 0)) != GPG_ERR_NO_ERROR)
		return gpg_operational(e) ? gpg_again("listing the keyring", home_name(g), e)
					  : gpg_fail(RB_E_CRYPTO, "gpgme: cannot list the keyring", e);
	while ((e = gpgme_op_keylist_next(g->ctx, &key)) == GPG_ERR_NO_ERROR) {
		for (size_t i = 0; i < n; i++)
			if (key->subkeys && key->subkeys->fpr && strcasecmp(key->subkeys->fpr, fprs[i]) == 0)
				found[i] = true;
		gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(g->ctx);
	/* A listing cut short says nothing about the keys it did not reach. */
	if (gpgme_err_code(e) != GPG_ERR_EOF)
		return gpg_operational(e) ? gpg_again("listing the keyring", home_name(g), e)
					  : rb_err_set(RB_E_CRYPTO, "listing the keyring in %s failed: %s",
						       home_name(g), gpgme_strerror(e));
	for (size_t i = 0; i < n; i++)
		if (!found[i])
			return rb_err_set(RB_E_VERIFY, "%s does not contain the primary key %s named in the "
					  "configuration; export the right certificate (gpg --export %s)",
					  sources[i], fprs[i], fprs[i]);
	return RB_OK;
}

/* A growing buffer of certificates for one import: each gpg run costs
 * tens of milliseconds, at every batch and every push. Armored and binary
 * certificates go into separate imports, since gpg reads a stream as one
 * or the other. */
struct cert_batch {
	uint8_t *data;
	size_t len;
};

static int cert_batch_add(struct cert_batch *b, const uint8_t *data, size_t n, bool armored)
{
	uint8_t *grown;

	if (!(grown = realloc(b->data, b->len + n + 1)))
		return RB_E_NOMEM;
	memcpy(grown + b->len, data, n);
	b->data = grown;
	b->len += n;
	/* An armored block that lacks its last newline stays apart from the
	 * next; binary packets follow each other directly. */
	if (armored)
		b->data[b->len++] = '\n';
	return RB_OK;
}

static bool cert_is_armored(const uint8_t *data, size_t n)
{
	static const char begin[] = "-----BEGIN PGP";
	size_t i = 0;

	while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	return n - i >= sizeof(begin) - 1 && memcmp(data + i, begin, sizeof(begin) - 1) == 0;
}

static int import_cert_files(struct gpgsig *g, const char *const *paths, size_t n)
{
	struct cert_batch batch[2] = { { 0 } }; /* [0] binary, [1] armored */
	bool ok = true;
	int err = RB_OK;

	for (size_t i = 0; i < n && err == RB_OK; i++) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;
		bool armored;

		if ((err = rb_file_read(paths[i], GPGSIG_MAX_CERT_BYTES, &data, &len)) < 0)
			break;
		armored = cert_is_armored(data, len);
		err = cert_batch_add(&batch[armored], data, len, armored);
	}
	for (size_t k = 0; k < 2 && err == RB_OK && ok; k++) {
		int e = batch[k].len > 0 ? gpgsig_import(g, batch[k].data, batch[k].len) : RB_OK;

		/* Only a certificate gpg refused (or a batch over the size
		 * cap) is for the files one by one; a keyring that cannot be
		 * written, or a gpg that cannot run, is no file's fault. */
		if (e == RB_E_PARSE || e == RB_E_INVAL)
			ok = false;
		else
			err = e;
	}
	free(batch[0].data);
	free(batch[1].data);
	if (err < 0 || ok)
		return err;
	/* Name the file that is at fault: import them one by one. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ uint8_t *one = NULL;
		size_t one_len;

		if ((err = rb_file_read(paths[i], GPGSIG_MAX_CERT_BYTES, &one, &one_len)) < 0)
			return err;
		if ((err = gpgsig_import(g, one, one_len)) < 0)
			return rb_err_set(err, "%s: %s", paths[i], rb_err_message(err));
	}
	return rb_err_set(RB_E_PARSE, "importing the certificate files into %s failed", home_name(g));
}

/* A verification keyring holds public keys only, so gpg never needs an
 * agent there: without one, no gpg-agent is started per keyring and none
 * lingers after a guard run or a throw-away `queue verify` home. The file is
 * rombsr's own; it is rewritten whenever it differs. */
static int keyring_write_conf(const char *homedir)
{
	static const char conf[] = "# written by rombsr: a verification-only keyring\nno-autostart\n";
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *have = NULL;
	size_t have_len;
	int err;

	if (asprintf(&path, "%s/gpg.conf", homedir) < 0)
		return RB_E_NOMEM;
	if (rb_file_read(path, 4096, &have, &have_len) == RB_OK && have_len == sizeof(conf) - 1 &&
	    memcmp(have, conf, have_len) == 0)
		return RB_OK;
	rb_err_clear();
	if ((err = rb_file_write_atomic(path, conf, sizeof(conf) - 1, 0600)) < 0)
		return rb_err_set(err, "%s; free space on its file system or make %s writable, then try again",
				  rb_err_message(err), homedir);
	return RB_OK;
}

/* What the keyring was built from, and its key file as gpg left it: the
 * certificates (fingerprint and SHA-256 of each file), the queue key's,
 * and pubring.kbx's inode, size and modification time. A guard runs for
 * every push; one whose keyring matches this needs no import and no
 * listing. A changed or added certificate, or a keyring touched by
 * anything else, imports again. out is "" when there is no key file. */
static int keyring_stamp(const char *homedir, const char *const *paths, const char *const *fprs, size_t n_files,
			 const char *queue_fpr, const uint8_t *queue_cert, size_t queue_len, uint8_t out[32],
			 bool *ret_have)
{
	_cleanup_free_ char *kbx = NULL;
	EVP_MD_CTX *md = NULL;
	struct stat st;
	char line[128];
	int err = RB_OK;

	*ret_have = false;
	if (asprintf(&kbx, "%s/pubring.kbx", homedir) < 0)
		return RB_E_NOMEM;
	if (stat(kbx, &st) < 0)
		return RB_OK;
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		err = RB_E_CRYPTO;
		goto out;
	}
	snprintf(line, sizeof(line), "rombsr-keyring-stamp-v1\n%llu %lld %lld.%09ld\n", (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	if (EVP_DigestUpdate(md, line, strlen(line)) != 1)
		err = RB_E_CRYPTO;
	for (size_t i = 0; i < n_files && err == RB_OK; i++) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;

		if ((err = rb_file_read(paths[i], GPGSIG_MAX_CERT_BYTES, &data, &len)) < 0)
			break;
		snprintf(line, sizeof(line), "%s %zu\n", fprs[i], len);
		if (EVP_DigestUpdate(md, line, strlen(line)) != 1 || EVP_DigestUpdate(md, data, len) != 1)
			err = RB_E_CRYPTO;
	}
	if (err == RB_OK && queue_cert) {
		snprintf(line, sizeof(line), "queue %s %zu\n", queue_fpr, queue_len);
		if (EVP_DigestUpdate(md, line, strlen(line)) != 1 || EVP_DigestUpdate(md, queue_cert, queue_len) != 1)
			err = RB_E_CRYPTO;
	}
	if (err == RB_OK && EVP_DigestFinal_ex(md, out, NULL) != 1)
		err = RB_E_CRYPTO;
	*ret_have = err == RB_OK;
out:
	EVP_MD_CTX_free(md);
	return err;
}

int gpgsig_open_keyring(const char *homedir, const struct sign_config *cfg, const struct manifest *m,
			struct gpgsig **ret)
{
	_cleanup_gpgsig_ struct gpgsig *g = NULL;
	_cleanup_free_ const char **paths = NULL;
	_cleanup_free_ const char **fprs = NULL;
	_cleanup_free_ char *lock = NULL, *stamp_path = NULL;
	_cleanup_free_ uint8_t *old = NULL;
	const struct manifest_key *qk;
	char queue_fpr[GPGSIG_FPR_HEX + 1] = "";
	uint8_t stamp[32];
	size_t old_len;
	bool have_stamp;
	struct stat st;
	size_t n = 0, n_certs;
	int err, lock_fd;

	if (!homedir || !cfg || !ret)
		return RB_E_INVAL;
	if ((err = rb_mkdir_p(homedir, 0700)) < 0)
		return err;
	/* gpg refuses (and we must not use) a home others can write to. */
	if (stat(homedir, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: %s", homedir, strerror(errno));
	if ((st.st_mode & 0077) && chmod(homedir, 0700) < 0)
		return rb_err_set(RB_E_PERM, "%s: cannot make the GnuPG home private (mode 0700): %s", homedir,
				  strerror(errno));
	if (asprintf(&lock, "%s/%s", homedir, GPGSIG_KEYRING_LOCK) < 0) {
		lock = NULL;
		return RB_E_NOMEM;
	}
	/* One process at a time builds and uses the keyring: gpg keeps its
	 * own locks only per write, and two guard runs that import into one
	 * home at once see each other's half-written keyring. */
	if ((err = rb_file_lock(lock, &lock_fd)) < 0)
		return err;
	if ((err = keyring_write_conf(homedir)) < 0 || (err = gpgsig_open(homedir, &g)) < 0) {
		close(lock_fd);
		return err;
	}
	g->lock_fd = lock_fd;
	/* paths[i] holds fprs[i]; one more slot for the manifest's queue key. */
	n_certs = cfg->n_nodes + cfg->n_approvers;
	paths = calloc(n_certs + 1, sizeof(*paths));
	fprs = calloc(n_certs + 1, sizeof(*fprs));
	if (!paths || !fprs)
		return RB_E_NOMEM;
	for (size_t i = 0; i < cfg->n_nodes; i++, n++) {
		paths[n] = cfg->nodes[i].public_key;
		fprs[n] = cfg->nodes[i].fingerprint;
	}
	for (size_t i = 0; i < cfg->n_approvers; i++, n++) {
		paths[n] = cfg->approvers[i].public_key;
		fprs[n] = cfg->approvers[i].fingerprint;
	}
	qk = m ? manifest_find(m, "queue") : NULL;
	if (qk && !qk->openpgp)
		qk = NULL;
	if (qk)
		rb_hex_format_upper(qk->openpgp_fpr, 20, queue_fpr);
	if (asprintf(&stamp_path, "%s/%s", homedir, GPGSIG_KEYRING_STAMP) < 0) {
		stamp_path = NULL;
		return RB_E_NOMEM;
	}
	if ((err = keyring_stamp(homedir, paths, fprs, n, queue_fpr, qk ? qk->openpgp : NULL,
				 qk ? qk->openpgp_len : 0, stamp, &have_stamp)) < 0)
		return err;
	if (have_stamp && rb_file_read(stamp_path, 64, &old, &old_len) == RB_OK && old_len == sizeof(stamp) &&
	    memcmp(old, stamp, sizeof(stamp)) == 0) {
		*ret = TAKE_PTR(g);
		return RB_OK;
	}
	rb_err_clear();
	if ((err = import_cert_files(g, paths, n)) < 0)
		return err;
	if (qk) {
		if ((err = gpgsig_import(g, qk->openpgp, qk->openpgp_len)) < 0)
			return rb_err_set(err, "the manifest's queue key: %s", rb_err_message(err));
		paths[n] = "the manifest's queue key certificate";
		fprs[n++] = queue_fpr;
	}
	if ((err = keyring_has_primaries(g, fprs, paths, n)) < 0)
		return err;
	/* The stamp of the keyring just checked (its key file has changed). */
	if ((err = keyring_stamp(homedir, paths, fprs, qk ? n - 1 : n, queue_fpr, qk ? qk->openpgp : NULL,
				 qk ? qk->openpgp_len : 0, stamp, &have_stamp)) < 0)
		return err;
	if (have_stamp && (err = rb_file_write_atomic(stamp_path, stamp, sizeof(stamp), 0600)) < 0)
		return rb_err_set(err, "%s; free space on its file system or make %s writable, then try again",
				  rb_err_message(err), homedir);
	*ret = TAKE_PTR(g);
	return RB_OK;
}

int gpgsig_sign_detached(struct gpgsig *g, const char *signer_fpr, const uint8_t *data, size_t len,
			 char **ret_armored, size_t *ret_len)
{
	_cleanup_(gpgme_data_releasep) gpgme_data_t in = NULL, out = NULL;
	_cleanup_(gpgme_key_unrefp) gpgme_key_t key = NULL;
	gpgme_sign_result_t r;
	gpgme_error_t e;
	char *mem, *s;
	size_t n;

	if (!g || !signer_fpr || !data || !ret_armored)
		return RB_E_INVAL;
	if ((e = key_lookup(g, signer_fpr, 1, &key)) != GPG_ERR_NO_ERROR)
		return gpg_operational(e) ? gpg_again("looking up the signing key", home_name(g), e)
					  : rb_err_set(RB_E_KEY, "no secret key %s in %s: %s; check the node's "
						       "signing key", signer_fpr, home_name(g), gpgme_strerror(e));
	gpgme_signers_clear(g->ctx);
	if ((e = gpgme_signers_add(g->ctx, key)) != GPG_ERR_NO_ERROR)
		return gpg_fail(RB_E_KEY, "gpgme: cannot select the signing key", e);
	if ((e = gpgme_data_new_from_mem(&in, (const char *)data, len, 0)) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_data_new(&out)) != GPG_ERR_NO_ERROR)
		return gpg_fail(RB_E_NOMEM, "gpgme", e);
	e = gpgme_op_sign(g->ctx, in, out, GPGME_SIG_MODE_DETACH);
	gpgme_signers_clear(g->ctx);
	if (gpg_operational(e))
		return gpg_again("signing", home_name(g), e);
	if (e != GPG_ERR_NO_ERROR)
		return rb_err_set(RB_E_CRYPTO, "signing with %s in %s: %s", signer_fpr, home_name(g),
				  gpgme_strerror(e));
	r = gpgme_op_sign_result(g->ctx);
	if (!r || !r->signatures || r->signatures->next || r->invalid_signers)
		return rb_err_set(RB_E_CRYPTO, "signing with %s: gpg did not make exactly one signature", signer_fpr);
	mem = gpgme_data_release_and_get_mem(TAKE_PTR(out), &n);
	if (!mem)
		return RB_E_NOMEM;
	s = malloc(n + 1);
	if (s) {
		memcpy(s, mem, n);
		s[n] = '\0';
	}
	gpgme_free(mem);
	if (!s)
		return RB_E_NOMEM;
	*ret_armored = s;
	if (ret_len)
		*ret_len = n;
	return RB_OK;
}

static gpgme_subkey_t subkey_find(gpgme_key_t key, const char *fpr)
{
	for (gpgme_subkey_t sk = key->subkeys; sk; sk = sk->next)
		if (sk->fpr && strcasecmp(sk->fpr, fpr) == 0)
			return sk;
	return NULL;
}

int gpgsig_verify_detached(struct gpgsig *g, const uint8_t *sig, size_t siglen, const uint8_t *data,
			   size_t len, char ret_primary_fpr[GPGSIG_FPR_HEX + 1])
{
	_cleanup_(gpgme_data_releasep) gpgme_data_t dsig = NULL, ddata = NULL;
	_cleanup_(gpgme_key_unrefp) gpgme_key_t key = NULL;
	gpgme_verify_result_t r;
	gpgme_signature_t s;
	gpgme_subkey_t sk;
	gpgme_error_t e;
	const char *fpr;
	char signer[GPGSIG_FPR_HEX * 2 + 1]; /* v4: 40 hex digits; v5/v6: 64 */
	size_t n = 0;

	if (!g || !sig || !data || !ret_primary_fpr)
		return RB_E_INVAL;
	if (siglen == 0 || siglen > GPGSIG_MAX_SIG_BYTES)
		return rb_err_set(RB_E_PARSE, "the signature is empty or larger than %zu bytes", GPGSIG_MAX_SIG_BYTES);
	if ((e = gpgme_data_new_from_mem(&dsig, (const char *)sig, siglen, 0)) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_data_new_from_mem(&ddata, (const char *)data, len, 0)) != GPG_ERR_NO_ERROR)
		return gpg_fail(RB_E_NOMEM, "gpgme", e);
	e = gpgme_op_verify(g->ctx, dsig, ddata, NULL);
	if (gpg_operational(e))
		return gpg_again("verifying a signature", home_name(g), e);
	if (e != GPG_ERR_NO_ERROR)
		return rb_err_set(RB_E_PARSE, "not an OpenPGP signature: %s", gpgme_strerror(e));
	r = gpgme_op_verify_result(g->ctx);
	for (s = r ? r->signatures : NULL; s; s = s->next)
		n++;
	if (n != 1)
		return rb_err_set(RB_E_VERIFY, "%zu signatures where exactly one is allowed", n);
	s = r->signatures;
	fpr = s->fpr ? s->fpr : "(no fingerprint)";
	if (gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY)
		return rb_err_set(RB_E_KEY, "signed by unknown key %s", fpr);
	if (gpgme_err_code(s->status) != GPG_ERR_NO_ERROR)
		return rb_err_set(RB_E_VERIFY, "signature by %s does not verify: %s", fpr, gpgme_strerror(s->status));
	if (s->summary & (GPGME_SIGSUM_KEY_REVOKED | GPGME_SIGSUM_KEY_EXPIRED | GPGME_SIGSUM_SIG_EXPIRED |
			  GPGME_SIGSUM_RED))
		return rb_err_set(RB_E_VERIFY, "signature by %s: the key is revoked or expired, or the signature "
				  "expired", fpr);
	if (s->wrong_key_usage)
		return rb_err_set(RB_E_VERIFY, "signature by %s: the key is not meant for signing", fpr);
	/* The status alone does not cover a disabled key, and a subkey must
	 * map to its primary. The key listing reuses the context and so frees
	 * the verify result: keep the fingerprint. */
	if (!s->fpr || strlen(s->fpr) >= sizeof(signer))
		return rb_err_set(RB_E_UNSUPPORTED, "signature by %s: unsupported fingerprint", fpr);
	memcpy(signer, s->fpr, strlen(s->fpr) + 1);
	fpr = signer;
	r = NULL;
	s = NULL;
	if ((e = key_lookup(g, fpr, 0, &key)) != GPG_ERR_NO_ERROR)
		return gpg_operational(e) ? gpg_again("looking up the signing key", home_name(g), e)
					  : rb_err_set(RB_E_KEY, "signed by unknown key %s", fpr);
	if (key->revoked || key->expired || key->disabled || key->invalid)
		return rb_err_set(RB_E_VERIFY, "signature by %s: the key is %s", fpr,
				  key->revoked ? "revoked" : key->expired ? "expired" : key->disabled ? "disabled"
											: "invalid");
	if (!(sk = subkey_find(key, fpr)) || sk->revoked || sk->expired || sk->disabled || sk->invalid)
		return rb_err_set(RB_E_VERIFY, "signature by %s: the (sub)key is revoked, expired or invalid", fpr);
	if (!key->subkeys->fpr || strlen(key->subkeys->fpr) != GPGSIG_FPR_HEX)
		return rb_err_set(RB_E_UNSUPPORTED, "signature by %s: only OpenPGP v4 keys are supported", fpr);
	for (size_t i = 0; i < GPGSIG_FPR_HEX; i++) {
		char ch = key->subkeys->fpr[i];

		ret_primary_fpr[i] = (char)(ch >= 'a' && ch <= 'f' ? ch - 'a' + 'A' : ch);
	}
	ret_primary_fpr[GPGSIG_FPR_HEX] = '\0';
	return RB_OK;
}
